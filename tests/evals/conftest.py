"""Fixtures for evals: an approved export of synthetic CodeWhale sessions, and its suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from factories import assistant, exported, result, saved_session, user
from modellab.cli import main


def _session(session_id: str, workspace: str, prompt: str, path: str) -> dict[str, Any]:
    messages = [
        user(prompt),
        assistant("Looking first.", (f"{session_id}-1", "bash", {"command": "ls -la src"})),
        result(f"{session_id}-1", "app.py\nutil.py"),
        assistant("", (f"{session_id}-2", "read", {"path": path})),
        result(f"{session_id}-2", "def add(a, b):\n    return a - b\n"),
        assistant(
            "",
            (
                f"{session_id}-3",
                "edit",
                {"path": path, "edits": [{"oldText": "a - b", "newText": "a + b"}]},
            ),
        ),
        result(f"{session_id}-3", f"Successfully replaced 1 block(s) in {path}."),
        assistant("", (f"{session_id}-4", "bash", {"command": "pytest -q tests"})),
        result(f"{session_id}-4", "4 passed in 0.2s"),
        assistant("Fixed: add() subtracted instead of adding."),
    ]
    doc = saved_session(messages, session_id=session_id)
    doc["metadata"]["workspace"] = workspace
    return doc


#: Four sessions in two repositories; each has five decision points (4 calls, 1 answer).
SESSIONS = [
    ("s-alpha-1", "/home/dev/alpha", "Fix the add function in alpha", "src/app.py"),
    ("s-alpha-2", "/home/dev/alpha", "The util helper returns the wrong sum", "src/util.py"),
    ("s-beta-1", "/home/dev/beta", "Beta's calculator adds wrongly, fix it", "calc/ops.py"),
    ("s-beta-2", "/home/dev/beta", "Make the beta tests pass again please", "calc/core.py"),
]
CASES_PER_SESSION = 5


def make_export(tmp_path: Path, *, approve: bool = True) -> Path:
    """Import the sessions, export them redacted, review and (optionally) approve."""
    return exported(tmp_path, [_session(*s) for s in SESSIONS], approve=approve)


@pytest.fixture
def approved_export(tmp_path: Path) -> Path:
    """An export of :data:`SESSIONS` that passed the redaction gate."""
    return make_export(tmp_path)


@pytest.fixture
def suite_dir(approved_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A suite built from :func:`approved_export` through the CLI."""
    out = tmp_path / "suite"
    assert main(["eval", "build", str(approved_export), "--out", str(out)]) == 0
    capsys.readouterr()
    return out
