"""``eval run`` checks the gate at the moment of use, not only when the suite was built.

A suite records the approval it was built from. Each attack below makes that approval no
longer stand (or never have stood, here) and then runs the suite against a real chat
server on 127.0.0.1: the run must be refused with the gate's exit code 9, naming the
export or suite and why, before a single request reaches the server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evals.chatserver import ChatServer, Reply, chat_server, tool_reply
from evals.conftest import make_export

from modellab.cli import main

GATE_REFUSED = 9


def _always_ls(body: dict[str, Any], count: int) -> Reply:
    return tool_reply("bash", {"command": "ls -la src"})


@pytest.fixture
def server() -> Iterator[ChatServer]:
    """A loopback chat server that counts every request it gets."""
    with chat_server(_always_ls) as running:
        yield running


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """(export, suite): a suite built through the CLI from an approved export."""
    export = make_export(tmp_path)
    suite = tmp_path / "suite"
    assert main(["eval", "build", str(export), "--out", str(suite)]) == 0
    capsys.readouterr()
    return export, suite


def _run(suite: Path, server: ChatServer, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    fast = ["--retries", "0", "--timeout", "5"]
    code = main(["eval", "run", str(suite), "--base-url", server.base_url, "--model", "m", *fast])
    return code, capsys.readouterr().err


def _refused(code: int, err: str, server: ChatServer, *words: str) -> None:
    assert code == GATE_REFUSED, err
    assert server.requests == [], "a request reached the server"
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("modellab: error: "), err
    for word in words:
        assert word in first, (word, err)


def _mark_raw(export: Path) -> None:
    """Make the export's manifest say it was never redacted."""
    manifest = export / "manifest.json"
    data = json.loads(manifest.read_text())
    data["redaction_status"] = "raw"
    manifest.write_text(json.dumps(data))


def test_the_control_run_reaches_the_server(
    built: tuple[Path, Path], server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _, suite = built
    code, err = _run(suite, server, capsys)
    assert code == 0, err
    assert server.requests, "the control run sent nothing: the attacks below prove nothing"
    recorded = json.loads((suite / "suite.json").read_text())["approval"]
    assert set(recorded) >= {"export_dir", "approved_at", "catalog_id", "files_sha256", "files"}


def test_export_made_raw_after_the_build_is_refused(
    built: tuple[Path, Path], server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    export, suite = built
    _mark_raw(export)
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(export.resolve()), "redaction status is 'raw'")


def test_suite_forged_from_a_raw_export_is_refused(
    built: tuple[Path, Path],
    server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Cases from anywhere (here: edited to carry a planted secret), with a suite.json
    copied from a real suite and its id fixed up so that ``cases.jsonl`` hashes right."""
    _, suite = built
    forged = tmp_path / "forged"
    shutil.copytree(suite, forged)
    cases = (forged / "cases.jsonl").read_bytes().replace(b"ls -la src", b"cat ~/.ssh/id_rsa")
    (forged / "cases.jsonl").write_bytes(cases)
    manifest = json.loads((forged / "suite.json").read_text())
    manifest["suite_id"] = hashlib.sha256(cases).hexdigest()
    (forged / "suite.json").write_text(json.dumps(manifest))
    code, err = _run(forged, server, capsys)
    _refused(code, err, server, str(forged), "never built this suite")


def test_suite_without_an_approval_record_is_refused(
    built: tuple[Path, Path], server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _, suite = built
    manifest = json.loads((suite / "suite.json").read_text())
    del manifest["approval"]
    (suite / "suite.json").write_text(json.dumps(manifest))
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(suite), "records no approval")


def test_suite_pointed_at_another_approved_export_is_refused(
    built: tuple[Path, Path],
    server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """suite.json edited to name another export that is approved here: the catalog's own
    record of the suite names the export it was built from, and that one is not it."""
    _, suite = built
    other = make_export(tmp_path / "other")
    manifest = json.loads((suite / "suite.json").read_text())
    manifest["approval"]["export_dir"] = str(other.resolve())
    (suite / "suite.json").write_text(json.dumps(manifest))
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, "never built this suite", str(other.resolve()))


def test_export_changed_after_the_build_is_refused(
    built: tuple[Path, Path], server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    export, suite = built
    trajectories = export / "trajectories.jsonl"
    trajectories.write_bytes(trajectories.read_bytes() + b"\n")
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(export.resolve()), "changed since it was approved")
    assert "trajectories.jsonl" in err


def test_export_reapproved_for_other_files_is_refused(
    built: tuple[Path, Path], server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export changed after the build and was approved again: the approval that stands
    now is for other files than the ones the suite's cases came from."""
    export, suite = built
    trajectories = export / "trajectories.jsonl"
    trajectories.write_bytes(trajectories.read_bytes() + b"\n")
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    assert main(["redact", "approve", str(export)]) == 0
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(export.resolve()), "for other files", "trajectories.jsonl")


def test_suite_copied_to_another_catalog_is_refused(
    built: tuple[Path, Path],
    server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, suite = built
    copy = tmp_path / "elsewhere" / "suite"
    shutil.copytree(suite, copy)
    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "other-home"))
    code, err = _run(copy, server, capsys)
    _refused(code, err, server, str(copy), "another Model Lab home")


def test_raw_export_swapped_in_at_the_same_path_is_refused(
    built: tuple[Path, Path],
    server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The export is moved away and a raw export put in its place (same path)."""
    export, suite = built
    shutil.move(export, tmp_path / "moved-away")
    raw = make_export(tmp_path / "second", approve=False)
    shutil.move(raw, export)
    _mark_raw(export)
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(export.resolve()), "raw")


def test_suite_whose_export_is_gone_is_refused(
    built: tuple[Path, Path],
    server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    export, suite = built
    shutil.move(export, tmp_path / "moved-away")
    code, err = _run(suite, server, capsys)
    _refused(code, err, server, str(export.resolve()), "is gone")


def test_eval_build_records_the_approval_it_was_built_from(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    export, suite = built
    recorded = json.loads((suite / "suite.json").read_text())["approval"]
    assert recorded["export_dir"] == str(export.resolve())
    assert set(recorded["files"]) >= {"manifest.json", "trajectories.jsonl"}
    capsys.readouterr()
    assert main(["eval", "run", str(suite), "--model", "recorded", "--json"]) == 0
