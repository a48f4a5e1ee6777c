"""The whole loop on real HTTP endpoints: eval a candidate against CodeWhale's current model,
promote it only when it clears the gate, then roll back.

Both "models" are OpenAI-compatible servers on 127.0.0.1. The candidate answers every case
with the action the agent recorded; CodeWhale's current model always lists a folder. The
candidate is clearly better, so the gate passes; the reverse comparison must be refused.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from factories import assistant, exported, result, saved_session, user
from modellab.cli import main
from modellab.evals import read_suite

from .chatserver import Reply, chat_server, conversation_key, tool_reply

USER_CONFIG = """\
# CodeWhale settings, hand-written
reasoning_effort = "low"   # keep it cheap
provider = "baseline-local"
default_text_model = "old-model"

[providers.baseline-local]
kind = "openai-compatible"
base_url = "{url}"
model = "old-model"
auth_mode = "none"

[providers.openrouter]
api_key_env = "OPENROUTER_API_KEY"   # unrelated, must survive
"""


def _session(n: int) -> dict[str, Any]:
    sid = f"loop-{n:02d}"
    path = f"pkg/mod{n}.py"
    messages = [
        user(f"Task {n}: make the tests of module {n} pass"),
        assistant("", (f"{sid}-a", "read", {"path": path})),
        result(f"{sid}-a", "def f():\n    return 1\n"),
        assistant("", (f"{sid}-b", "edit", {"path": path, "edits": [{"old": "1", "new": "2"}]})),
        result(f"{sid}-b", "ok"),
        assistant("", (f"{sid}-c", "bash", {"command": f"pytest -q tests/test_mod{n}.py"})),
        result(f"{sid}-c", "3 passed"),
        assistant(f"Module {n} fixed."),
    ]
    doc = saved_session(messages, session_id=sid)
    doc["metadata"]["workspace"] = f"/home/dev/repo{n % 3}"
    return doc


def _answers(suite: Path) -> dict[str, dict[str, Any]]:
    """What the agent did next, by the conversation that led to it."""
    return {
        conversation_key({"messages": list(c.messages)}): c.expected.to_message()
        for c in read_suite(suite).cases
    }


def test_eval_then_promote_then_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    export = exported(tmp_path, [_session(n) for n in range(12)])
    suite = tmp_path / "suite"
    assert main(["eval", "build", str(export), "--out", str(suite)]) == 0
    answers = _answers(suite)
    assert len(answers) == 48

    def candidate(body: dict[str, Any], count: int) -> Reply:
        message = answers[conversation_key(body)]
        return 200, {}, {"choices": [{"index": 0, "message": message}], "usage": {}}

    def current(body: dict[str, Any], count: int) -> Reply:
        return tool_reply("bash", {"command": "ls"})

    config = tmp_path / "codewhale" / "config.toml"
    monkeypatch.setenv("CODEWHALE_HOME", str(config.parent))
    with chat_server(candidate) as good, chat_server(current) as old:
        config.parent.mkdir()
        original = USER_CONFIG.format(url=old.base_url)
        config.write_text(original)
        capsys.readouterr()
        code = main(
            [
                "eval",
                "run",
                str(suite),
                "--base-url",
                good.base_url,
                "--model",
                "coder-ft",
                "--against",
                "current",
                "--context-window",
                "16384",
                "--json",
            ]
        )
        report = json.loads(capsys.readouterr().out)
    assert code == 0
    stats = report["statistics"]
    assert stats["candidate_score"] == 1.0 and stats["ci"]["low"] > 0.5
    assert report["baseline"]["endpoint"] == old.base_url
    assert report["baseline"]["model"] == "old-model"

    # The window given to `eval run` was recorded with the run; promote needs no flag.
    assert main(["promote", "--if-better", "--json"]) == 0
    capsys.readouterr()
    written = tomllib.loads(config.read_text())
    name = written["provider"]
    assert written["default_text_model"] == "coder-ft"
    assert written["providers"][name] == {
        "kind": "openai-compatible",
        "base_url": good.base_url,
        "model": "coder-ft",
        "context_window": 16384,
        "auth_mode": "none",
    }
    text = config.read_text()
    assert "# CodeWhale settings, hand-written" in text and "# unrelated, must survive" in text
    assert written["providers"]["baseline-local"]["model"] == "old-model"

    # The same runs the other way round: the old model is not better, and nothing changes.
    assert (
        main(["eval", "compare", report["baseline"]["run_id"], report["candidate"]["run_id"]]) == 0
    )
    before = config.read_bytes()
    assert main(["promote", "--if-better", "--context-window", "16384"]) == 13
    assert config.read_bytes() == before

    assert main(["promote", "--rollback"]) == 0
    assert config.read_text() == original
