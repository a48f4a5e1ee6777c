"""Synthetic CodeWhale sessions for dataset tests, exported, reviewed and approved for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from factories import assistant, result, saved_session, user
from modellab.cli import main

FAIL = "1 failed, 3 passed in 0.2s\nCommand exited with code 1"
PASS = "4 passed in 0.2s"
LONG_PROMPT = (
    "Refactor the payment module so that invoice totals are rounded half up and add "
    "regression tests covering the rounding of negative amounts and of zero totals"
)


def pytest_run(call_id: str, output: str, command: str = "pytest -q") -> list[dict[str, Any]]:
    """An agent step running the tests, and its result (an error when ``output`` fails)."""
    return [
        assistant("Running the tests.", (call_id, "bash", {"command": command})),
        result(call_id, output, error=output == FAIL),
    ]


def edit(call_id: str, path: str, *, error: bool = False, old: str = "a") -> list[dict[str, Any]]:
    """An agent step editing ``path``, and its result."""
    text = (
        f"Error: oldText not found in {path}"
        if error
        else f"Successfully replaced 1 block(s) in {path}."
    )
    return [
        assistant(
            "", (call_id, "edit", {"path": path, "edits": [{"oldText": old, "newText": "b"}]})
        ),
        result(call_id, text, error=error),
    ]


def session(session_id: str, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A SavedSession with this id."""
    return saved_session(messages, session_id=session_id, **extra)


def success(
    session_id: str, prompt: str, path: str, reply: str = "Done.", **extra: Any
) -> dict[str, Any]:
    """A session that edits ``path``, runs passing tests and replies."""
    return session(
        session_id,
        [
            user(prompt),
            *edit(f"{session_id}-e", path),
            *pytest_run(f"{session_id}-t", PASS),
            assistant(reply),
        ],
        **extra,
    )


def mixed() -> list[dict[str, Any]]:
    """A successful session, a failed one, and one whose first turn fails and second passes."""
    return [
        success("good", "Fix the add function in app.py", "app.py"),
        session(
            "bad",
            [
                user("Make the parser accept tabs"),
                *pytest_run("bad-t", FAIL),
                assistant("The tests still fail."),
            ],
        ),
        session(
            "retry",
            [
                user("Speed up the cache lookup"),
                *pytest_run("r1", FAIL),
                assistant("Failing."),
                user("Try again with a dict"),
                *edit("r2", "cache.py"),
                *pytest_run("r3", PASS),
                assistant("Faster now."),
            ],
        ),
    ]


def build(export: Path, out: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    """``modellab dataset build EXPORT --out OUT --json FLAGS``; its manifest."""
    capsys.readouterr()
    assert main(["dataset", "build", str(export), "--out", str(out), "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def rows(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path``."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
