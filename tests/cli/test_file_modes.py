"""Exports, datasets and eval suites hold session data: all write it private to the user, one
rule for all (files 0600, folders 0700), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from factories import assistant, exported, result, saved_session, user
from modellab._internal.files import (
    OUTPUT_MARKER,
    PRIVATE_DIR,
    PRIVATE_FILE,
    atomic_write_bytes,
    open_private,
    private_dir,
    write_output_marker,
)
from modellab.cli import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def _sessions() -> list[dict]:
    """A session with a failed tool call retried successfully (for every format's rows)."""
    return [
        saved_session(
            [
                user("Fix the add function in app.py"),
                assistant("Testing.", ("t1", "bash", {"command": "pytest -q"})),
                result("t1", "1 failed, 3 passed\nCommand exited with code 1", error=True),
                assistant("Again.", ("t2", "bash", {"command": "pytest -q -x"})),
                result("t2", "4 passed"),
                assistant("Done."),
            ],
            session_id=f"s{n}",
        )
        for n in range(2)
    ]


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """The mode of the folder and of everything in it, by path relative to it."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _expected(modes: dict[str, int], root: Path) -> dict[str, int]:
    return {name: PRIVATE_DIR if (root / name).is_dir() else PRIVATE_FILE for name in modes}


def test_export_and_dataset_build_write_the_same_private_modes(tmp_path, capsys, umask):
    export = exported(tmp_path, _sessions())
    out = tmp_path / "ds"
    formats = "trl-sft,preference,unpaired,nemo,llama-factory"
    assert main(["dataset", "build", str(export), "--out", str(out), "--format", formats]) == 0
    exported_modes = _modes(export)
    dataset_modes = _modes(out)
    assert "trajectories.jsonl" in exported_modes and "redaction-findings.jsonl" in exported_modes
    assert "llama-factory/dataset_info.json" in dataset_modes and "nemo" in dataset_modes
    assert exported_modes == _expected(exported_modes, export)
    assert dataset_modes == _expected(dataset_modes, out)
    # Eval suites hold the same conversations, and follow the same rule.
    suite = tmp_path / "suite"
    assert main(["eval", "build", str(export), "--out", str(suite)]) == 0
    assert "cases.jsonl" in _modes(suite) and _modes(suite) == _expected(_modes(suite), suite)
    # Raw exports (never approved, but written all the same) follow the same rule.
    raw = tmp_path / "raw"
    assert main(["export", "--all", "--raw", "--out", str(raw)]) == 0
    assert _modes(raw) == _expected(_modes(raw), raw)


def test_a_forced_rebuild_tightens_an_existing_folder(tmp_path, capsys, umask):
    export = exported(tmp_path, _sessions())
    out = tmp_path / "ds"
    out.mkdir()
    out.chmod(0o755)
    (out / "dedup-report.json").write_text("{}")
    (out / "dedup-report.json").chmod(0o644)
    write_output_marker(out, "dataset")  # as an earlier build left it: --force may replace it
    (out / OUTPUT_MARKER).chmod(0o644)
    assert main(["dataset", "build", str(export), "--out", str(out), "--force"]) == 0
    assert _modes(out) == _expected(_modes(out), out)


def test_the_shared_writers_apply_the_rule(tmp_path, umask):
    target = tmp_path / "a" / "file.json"
    atomic_write_bytes(target, b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == PRIVATE_FILE
    kept = tmp_path / "config.toml"
    atomic_write_bytes(kept, b"", mode=0o640)  # a file the user owns keeps its mode
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    existing = tmp_path / "existing.jsonl"
    existing.write_bytes(b"old")
    existing.chmod(0o644)
    with open_private(existing) as handle:
        handle.write(b"new")
    assert existing.read_bytes() == b"new"
    assert stat.S_IMODE(existing.stat().st_mode) == PRIVATE_FILE
    folder = tmp_path / "made" / "out"
    private_dir(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == PRIVATE_DIR
