"""``modellab --help`` from its saved copy: the same text, rebuilt whenever an input changes.

The copy (``$MODELLAB_HOME/cache/help-WIDTH-MODE.txt``) must never show a stale or unsafe
help: a workset enabled or removed, another width, ``--no-worksets``, an edited copy.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.cli._app import build_parser
from modellab.cli._help_cache import load
from modellab.worksets._commands import INDEX_NAME


def _help(*options: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main([*options, "--help"])
    assert exited.value.code == 0
    return out.getvalue()


def _built(no_worksets: bool = False) -> str:
    return build_parser({} if no_worksets else None, command=None).format_help()


def _home() -> Path:
    return Path(os.environ["MODELLAB_HOME"])


def test_the_saved_copy_is_the_built_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    first = _help()
    assert first == _built()
    assert load(98, False) == first  # saved, and read back for the same inputs
    assert _help() == first


def test_a_changed_workset_index_rebuilds_the_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    before = _help()
    index = _home() / "worksets" / INDEX_NAME
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("weather\tweatherset\treport the weather\n", encoding="utf-8")
    after = _help()
    assert "weather" in after and "weather" not in before
    assert after == _built()
    assert "weather" not in _help("--no-worksets")


def test_width_is_an_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    narrow = _help()
    monkeypatch.setenv("COLUMNS", "140")
    wide = _help()
    assert narrow != wide and wide == _built()
    monkeypatch.setenv("COLUMNS", "60")
    assert _help() == narrow == _built()


def test_an_edited_copy_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    _help()
    copy = next((_home() / "cache").glob("help-*.txt"))
    head, _, _ = copy.read_text(encoding="utf-8").partition("\n")
    copy.write_text(head + "\nusage: \x1b]0;owned\x07 modellab\n", encoding="utf-8")
    assert _help() == _built()  # control characters: rebuilt, never printed raw
    copy.write_text("stale inputs\nusage: nothing\n", encoding="utf-8")
    assert _help() == _built()


def test_help_works_where_no_copy_can_be_saved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MODELLAB_HOME", str(blocker / "home"))  # unwritable, even for root
    assert _help() == _built()
    assert _help() == _built()


def test_the_command_line_prints_the_copy_unchanged(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    runs = [
        subprocess.run(
            [sys.executable, "-m", "modellab", "--help"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0].startswith("usage: modellab")
