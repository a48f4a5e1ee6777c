"""``modellab eval run`` against real HTTP servers on 127.0.0.1: retries, refusals, resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modellab.cli import main

from .chatserver import Reply, chat_server, conversation_key, text_reply, tool_reply
from .conftest import CASES_PER_SESSION, SESSIONS

TOTAL = len(SESSIONS) * CASES_PER_SESSION
FAST = ["--retries", "3", "--timeout", "5"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | str]:
    capsys.readouterr()
    code = main(["eval", "run", *args])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out)
    except ValueError:
        return code, out + err


def _catalog_bytes(home: Path) -> bytes:
    folder = home / ".modellab"
    return b"".join(p.read_bytes() for p in folder.glob("catalog.sqlite3*"))


def _is_beta(body: dict[str, Any]) -> bool:
    return "beta" in json.dumps(body["messages"]).lower()


def test_recorded_scores_everything(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _run(capsys, str(suite_dir), "--model", "recorded", "--json")
    assert code == 0 and isinstance(report, dict)
    assert report["cases"] == TOTAL and report["score"] == 1.0 and report["pass_rate"] == 1.0
    capsys.readouterr()
    assert main(["eval", "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in runs] == ["finished"] and runs[0]["endpoint"] is None
    run_id = runs[0]["id"]
    # A unique prefix names the run; '_' and '%' are not wildcards.
    assert main(["eval", "compare", run_id[:17], run_id, "--json"]) == 0
    wildcard = run_id[:8] + "_" + run_id[9:]
    assert main(["eval", "compare", wildcard, run_id]) == 12
    assert "no eval run matches" in capsys.readouterr().err


def test_against_recorded_compares_on_the_same_cases(
    suite_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def script(body: dict[str, Any], count: int) -> Reply:
        return tool_reply("bash", {"command": "ls -la src"})

    with chat_server(script) as server:
        code, report = _run(
            capsys,
            str(suite_dir),
            "--base-url",
            server.base_url,
            "--model",
            "always-ls",
            "--against",
            "recorded",
            "--html",
            str(tmp_path / "report.html"),
            "--json",
            *FAST,
        )
    assert code == 0 and isinstance(report, dict)
    stats = report["statistics"]
    assert stats["n"] == TOTAL and stats["sessions"] == len(SESSIONS)
    # Only each session's first action is `ls -la src`: the candidate passes 4 of 20.
    per_case = {c["case_id"]: c for c in stats["per_case"]}
    passed = sorted(cid for cid, c in per_case.items() if c["candidate_passed"])
    assert passed == [f"{s[0]}:0002" for s in sorted(SESSIONS)]
    assert stats["mcnemar"]["b"] == TOTAL - len(SESSIONS) and stats["mcnemar"]["c"] == 0
    assert stats["difference"] < 0 and stats["ci"]["high"] <= 0
    assert report["candidate"]["model"] == "always-ls" and report["baseline"]["label"] == "recorded"
    assert set(stats["slices"]) == {"tool", "repo"}
    assert "<svg" in (tmp_path / "report.html").read_text()
    # One request per case, each with the tools and temperature 0.
    assert len(server.requests) == TOTAL
    assert all(r["temperature"] == 0 and r["tools"] for r in server.requests)


def test_rate_limits_and_server_errors_are_retried(
    suite_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(body: dict[str, Any], count: int) -> Reply:
        if count == 1:
            return 429, {"retry-after": "0"}, {"error": {"message": "slow down"}}
        if count == 2:
            return 503, {}, "overloaded"
        return text_reply("ok")

    with chat_server(script) as server:
        code, report = _run(
            capsys, str(suite_dir), "--base-url", server.base_url, "--model", "m", "--json", *FAST
        )
    assert code == 0 and isinstance(report, dict) and report["cases"] == TOTAL
    assert len(server.requests) == 3 * TOTAL
    assert set(server.asked.values()) == {3}


def test_refusals_are_recorded_as_failures(
    suite_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(body: dict[str, Any], count: int) -> Reply:
        if _is_beta(body):
            return 400, {}, {"error": {"message": "context length exceeded"}}
        return text_reply("ok")

    with chat_server(script) as server:
        code, report = _run(
            capsys, str(suite_dir), "--base-url", server.base_url, "--model", "m", "--json", *FAST
        )
    assert code == 0 and isinstance(report, dict) and report["cases"] == TOTAL
    assert len(server.requests) == TOTAL  # a 400 is not retried
    # Per session: the beta sessions were refused throughout, and are listed first.
    sessions = report["per_session"]
    assert [r["session_id"][:6] for r in sessions] == ["s-beta"] * 2 + ["s-alph"] * 2
    assert [r["refused"] for r in sessions] == [CASES_PER_SESSION] * 2 + [0, 0]
    assert sessions[0]["score"] == 0.0 and sessions[-1]["cases"] == CASES_PER_SESSION
    from modellab.evals import RunStore
    from modellab.settings import Settings
    from modellab.store import Catalog

    with Catalog(Settings.from_env().catalog_path) as catalog:
        store = RunStore(catalog)
        results = store.results(report["candidate_run"])
    refused = [r for r in results.values() if r.status == "refused"]
    assert len(refused) == TOTAL // 2
    assert all(r.score == 0 and "context length" in (r.error or "") for r in refused)


def test_a_wrong_endpoint_stops_the_run(
    suite_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(body: dict[str, Any], count: int) -> Reply:
        return 401, {}, {"error": {"message": "invalid api key"}}

    with chat_server(script) as server:
        code, message = _run(
            capsys, str(suite_dir), "--base-url", server.base_url, "--model", "m", *FAST
        )
    assert code == 12 and "HTTP 401" in str(message)
    # Every worker stops at its first 401; nothing was recorded for any case.
    assert len(server.requests) <= 4


def test_an_interrupted_run_resumes_without_resending(
    suite_dir: Path, capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    answered_first: set[str] = set()

    def flaky(body: dict[str, Any], count: int) -> Reply:
        if _is_beta(body):
            return 500, {}, "down"
        answered_first.add(conversation_key(body))
        return text_reply("ok")

    args = [str(suite_dir), "--model", "m", "--retries", "1", "--timeout", "5"]
    with chat_server(flaky) as first:
        code, message = _run(capsys, *args, "--base-url", first.base_url)
        url = first.base_url
    assert code == 12 and f"{TOTAL // 2} of {TOTAL} cases got no answer" in str(message)
    answered_first = {
        k for k, n in first.asked.items() if not _is_beta(json.loads(f'{{"messages": {k}}}'))
    }
    assert len(answered_first) == TOTAL // 2

    def healthy(body: dict[str, Any], count: int) -> Reply:
        return text_reply("ok")

    # Same model, same URL (the run's identity): the second server takes the same port.
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with chat_server(healthy, port=port) as second:
        code, report = _run(capsys, *args, "--base-url", url, "--json")
    assert code == 0 and isinstance(report, dict) and report["cases"] == TOTAL
    resent = {conversation_key(r) for r in second.requests}
    assert len(second.requests) == TOTAL // 2 and not resent & answered_first
    capsys.readouterr()
    assert main(["eval", "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1 and runs[0]["status"] == "finished"


def test_keys_are_sent_but_never_stored(
    suite_dir: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-test-" + os.urandom(8).hex()
    monkeypatch.setenv("LAB_TEST_KEY", secret)

    def script(body: dict[str, Any], count: int) -> Reply:
        return text_reply("ok")

    with chat_server(script) as server:
        code, out = _run(
            capsys,
            str(suite_dir),
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "--api-key-env",
            "LAB_TEST_KEY",
            *FAST,
        )
    assert code == 0
    assert {h.get("Authorization") for h in server.headers} == {f"Bearer {secret}"}
    assert secret not in str(out)
    assert secret.encode() not in _catalog_bytes(isolated_env)


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--concurrency", "0"], "--concurrency"),
        (["--timeout", "-1"], "--timeout"),
        (["--retries", "-1"], "--retries"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--temperature", "-0.5"], "--temperature"),
    ],
)
def test_bad_run_settings_are_refused_before_anything_is_recorded(
    suite_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    code, message = _run(capsys, str(suite_dir), "--model", "recorded", *flags)
    assert code == 2 and named in str(message)
    capsys.readouterr()
    assert main(["eval", "runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
