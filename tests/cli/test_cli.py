"""The ``modellab`` command, run in-process through ``main(argv)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factories import saved_session, write_session
from modellab.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    write_session(
        folder,
        saved_session(
            session_id="aaaa-1",
            created_at="2026-11-01T00:00:00Z",
            updated_at="2026-11-01T01:00:00Z",
            title="first",
        ),
    )
    write_session(
        folder,
        saved_session(
            session_id="bbbb-2",
            created_at="2026-11-02T00:00:00Z",
            updated_at="2026-11-02T01:00:00Z",
            title="second",
        ),
    )
    write_session(
        folder,
        saved_session(
            session_id="cccc-3",
            created_at="2026-11-03T00:00:00Z",
            updated_at="2026-11-03T01:00:00Z",
            title="third",
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "hello"}]},
                {"role": "assistant_interrupted", "content": [{"type": "text", "text": "Hel"}]},
            ],
        ),
    )
    return folder


def test_import_list_show(capsys, sessions_dir):
    code, out, _ = run(capsys, "sessions", "import", str(sessions_dir))
    assert code == 0
    assert "3 new" in out
    code, out, _ = run(capsys, "sessions", "list")
    assert code == 0
    header = out.splitlines()[0].split("  ")
    columns = [c.strip() for c in header if c.strip()]
    assert columns == [
        "id",
        "source",
        "title",
        "date",
        "model",
        "turns",
        "tool calls",
        "errors",
        "outcome",
    ]
    assert "aaaa-1" in out and "success" in out and "interrupted" in out
    code, out, _ = run(capsys, "sessions", "list", "--json")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == ["aaaa-1", "bbbb-2", "cccc-3"]
    assert rows[0]["tool_calls"] == 3 and rows[0]["errors"] == 1
    code, out, _ = run(capsys, "sessions", "show", "aaaa")
    assert code == 0
    assert "Run the tests and fix the failure." in out
    # The shared tool name, as every listing shows it, and the agent's own beside it.
    assert "-> exec_shell(" in out and "(recorded as bash)" in out and "[exit 1]" in out
    assert "<turn_meta>" not in out
    code, out, _ = run(capsys, "sessions", "show", "aaaa", "--json")
    assert json.loads(out)["session_id"] == "aaaa-1"


def test_import_json_reports_per_file_and_exit_code_1_on_failures(capsys, sessions_dir):
    (sessions_dir / "broken.json").write_text('{"schema_version": 1, "metadata": {"id": "x"')
    code, out, _ = run(capsys, "sessions", "import", str(sessions_dir), "--json")
    report = json.loads(out)
    assert code == 1
    assert report["counts"]["files_failed"] == 1
    (failed,) = [f for f in report["files"] if f["status"] == "failed"]
    assert failed["path"].endswith("broken.json") and "JSON" in failed["error"]
    assert report["counts"]["sessions_new"] == 3


def test_unknown_file_given_explicitly_is_reported(capsys, tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    code, out, _ = run(capsys, "sessions", "import", str(stray))
    assert code == 1
    assert "not a session file" in out
    code, _, err = run(capsys, "sessions", "import", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err


def test_capture_uncapture_and_list(capsys, sessions_dir):
    run(capsys, "sessions", "import", str(sessions_dir))
    code, _, err = run(capsys, "capture")
    assert code == 2 and "say which sessions" in err
    code, out, _ = run(capsys, "capture", "--last", "2", "--json")
    assert json.loads(out) == {"captured": ["bbbb-2", "cccc-3"], "total_captured": 2}
    code, out, _ = run(capsys, "capture", "aaaa")
    assert "1 new" in out
    code, out, _ = run(capsys, "capture", "--list", "--json")
    assert {r["id"] for r in json.loads(out)} == {"aaaa-1", "bbbb-2", "cccc-3"}
    code, out, _ = run(capsys, "uncapture", "bbbb-2", "--json")
    assert json.loads(out) == {"uncaptured": ["bbbb-2"]}
    code, out, _ = run(capsys, "capture", "--since", "2026-11-03")
    assert "0 new" in out
    code, _, err = run(capsys, "capture", "nope")
    assert code == 3 and "no such session" in err


def test_bad_values_name_the_flag(capsys, sessions_dir):
    run(capsys, "sessions", "import", str(sessions_dir))
    code, _, err = run(capsys, "sessions", "list", "--since", "last tuesday")
    assert code == 2 and "--since" in err and "hint:" in err
    code, _, err = run(capsys, "sessions", "list", "--label", "test_passed")
    assert code == 2 and "unknown label 'test_passed'" in err and "tests_passed" in err
    code, out, _ = run(capsys, "sessions", "list", "--since", "2026-11-02", "--json")
    assert [r["id"] for r in json.loads(out)] == ["bbbb-2", "cccc-3"]


def test_train_without_a_job_says_what_it_needs(capsys):
    code, _, err = run(capsys, "train")
    assert code == 2 and "train needs DATASET, --base, --backend" in err


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("modellab ")
    code, out, _ = run(capsys)
    assert code == 2 and "exit codes:" in out
    code, out, _ = run(capsys, "sessions")
    assert code == 2 and "usage: modellab sessions" in out and "import" in out
