"""A full disk is one error line naming the disk and what was kept, exit 15, nothing half-written.

Each command runs in a fresh interpreter with its output (or the lab's home) on a real
tmpfs that is full but for a few pages (``diskfull.run_on_full_disk``). What is left on the
tmpfs afterwards is copied out and checked: no empty or partial ``--out``, no staging
folders, and a catalog that holds whole files' sessions or none.
"""

from __future__ import annotations

import errno
import hashlib
import random
import sqlite3
import sys
from pathlib import Path

import pytest
from evals.chatserver import chat_server, tool_reply
from evals.conftest import make_export
from workset_core.builders import make_workset
from workset_core.conftest import Publisher

from factories import assistant, saved_session, user, write_session
from modellab.cli import _app, main
from modellab.cli._exit import DISK_FULL, EXIT_CODES

from .conftest import publisher
from .diskfull import PAGE, modellab, run_on_full_disk

__all__ = ["publisher"]  # the fixture, used by name


def _one_error(stderr: str, *named: str) -> str:
    """The single ``modellab: error:`` line (a ``hint:`` may follow); no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("modellab: error:")]
    assert len(errors) == 1, stderr
    assert all(line.startswith("hint: ") for line in lines[lines.index(errors[0]) + 1 :]), stderr
    assert "disk full" in errors[0], stderr
    for name in named:
        assert name in errors[0], (name, stderr)
    return errors[0]


def _files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_the_disk_full_code_is_documented() -> None:
    assert DISK_FULL in EXIT_CODES
    assert "disk full" in EXIT_CODES[DISK_FULL]


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database or disk is full"),
        OSError(errno.ENOSPC, "No space left on device", "/somewhere/file"),
        OSError(errno.EDQUOT, "Disk quota exceeded", "/somewhere/file"),
    ],
    ids=["sqlite-full", "enospc", "edquot"],
)
def test_a_full_disk_no_writer_caught_is_still_one_line_and_exit_15(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The net in the CLI: a writer that does not wrap its full disk still gives no traceback."""

    def handler(args: object) -> int:
        raise error

    monkeypatch.setattr(_app, "_handler", lambda args: handler)
    assert main(["sessions", "list"]) == DISK_FULL
    _one_error(capsys.readouterr().err)


# -- writers whose --out is on the full disk ------------------------------------------------
@pytest.fixture
def export(tmp_path: Path) -> Path:
    """An approved export of four sessions, with the lab's home on the ordinary disk."""
    return make_export(tmp_path)


def _sessions_in_catalog(home: Path) -> int:
    with sqlite3.connect(home / "catalog.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["export", "--all"], id="export"),
        pytest.param(["dataset", "build", "EXPORT"], id="dataset-build"),
        pytest.param(["eval", "build", "EXPORT"], id="eval-build"),
    ],
)
@pytest.mark.parametrize("pages", [0, 1, 3])
def test_an_output_on_a_full_disk(
    command: list[str], pages: int, export: Path, tmp_path: Path
) -> None:
    """Full from the start, or filling part-way through the files: nothing is left."""
    disk, snapshot = tmp_path / "disk", tmp_path / "left"
    out = disk / "out"
    argv = [str(export) if arg == "EXPORT" else arg for arg in command]
    done = run_on_full_disk(
        modellab(*argv, "--out", str(out)), disk=disk, free=pages * PAGE, snapshot=snapshot
    )
    assert done.returncode == DISK_FULL, done.stderr
    line = _one_error(done.stderr, str(disk), str(out))
    assert f"nothing was written to {out}" in line, line
    assert _files(snapshot) == [], _files(snapshot)  # no empty --out, no .partial-*, no lock


def test_force_over_an_earlier_output_keeps_it_or_removes_it_whole(
    export: Path, tmp_path: Path
) -> None:
    """``--force`` onto a full disk: the earlier export stays as it was (staged beside)."""
    disk, snapshot, seed = tmp_path / "disk", tmp_path / "left", tmp_path / "seed"
    assert main(["export", "--all", "--out", str(seed / "out")]) == 0
    before = (seed / "out" / "manifest.json").read_bytes()
    out = disk / "out"
    done = run_on_full_disk(
        modellab("export", "--all", "--force", "--out", str(out)),
        disk=disk,
        free=PAGE,
        seed=seed,
        snapshot=snapshot,
    )
    assert done.returncode == DISK_FULL, done.stderr
    line = _one_error(done.stderr, str(disk))
    assert "earlier export" in line and "unchanged" in line, line
    assert (snapshot / "out" / "manifest.json").read_bytes() == before
    assert [name for name in _files(snapshot) if not name.startswith("out")] == []


# -- writers whose catalog is on the full disk ---------------------------------------------
def _session_files(folder: Path, count: int, prefix: str = "s") -> Path:
    for number in range(count):
        filler = "x" * 3000
        doc = saved_session(
            [user(f"Task {number}: {filler}"), assistant(f"Done {number}.")],
            session_id=f"{prefix}-{number:03d}",
        )
        write_session(folder, doc)
    return folder


#: ``sessions import`` with two worker processes (small imports stay in one otherwise).
_IMPORT_IN_WORKERS = (
    "import sys, modellab.importing as importing; importing.choose_jobs = lambda *a: 2; "
    "from modellab.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("workers", [False, True], ids=["in-process", "two-workers"])
def test_import_into_a_catalog_on_a_full_disk(workers: bool, tmp_path: Path) -> None:
    """Some files fit, then the disk fills: those are kept, whole, and the error says so."""
    sessions = _session_files(tmp_path / "sessions", 60)
    disk, snapshot, seed = tmp_path / "disk", tmp_path / "left", tmp_path / "seed"
    home = disk / "home"
    # A catalog made on the ordinary disk, with one session already in it.
    one = _session_files(tmp_path / "first", 1, prefix="first")
    assert main(["sessions", "import", str(one)]) == 0
    seed.mkdir()
    (tmp_path / "home" / ".modellab").rename(seed / "home")
    done = run_on_full_disk(
        [sys.executable, "-c", _IMPORT_IN_WORKERS, "sessions", "import", str(sessions)]
        if workers
        else modellab("sessions", "import", str(sessions)),
        disk=disk,
        free=64 * PAGE,
        seed=seed,
        snapshot=snapshot,
        env={"MODELLAB_HOME": str(home)},
    )
    assert done.returncode == DISK_FULL, done.stderr
    line = _one_error(done.stderr, str(disk), "catalog")
    kept = _sessions_in_catalog(snapshot / "home")
    assert 1 < kept < 61, (kept, line)  # the disk filled part-way
    assert f"kept the {kept - 1} sessions" in line, line
    # Every session row's trajectory is there, and no stored object is an orphan.
    with sqlite3.connect(snapshot / "home" / "catalog.sqlite3") as db:
        digests = {row[0] for row in db.execute("SELECT trajectory_sha256 FROM sessions")}
    objects = {path.name for path in (snapshot / "home" / "objects").rglob("*") if path.is_file()}
    assert objects == digests


def test_eval_run_with_its_catalog_on_a_full_disk(tmp_path: Path) -> None:
    """Answers recorded before the disk filled are kept; the rerun sends only the rest."""
    export = make_export(tmp_path)
    suite = tmp_path / "suite"
    assert main(["eval", "build", str(export), "--out", str(suite)]) == 0
    cases = len((suite / "cases.jsonl").read_text().splitlines())
    disk, snapshot, seed = tmp_path / "disk", tmp_path / "left", tmp_path / "seed"
    seed.mkdir()
    (tmp_path / "home" / ".modellab").rename(seed / "home")
    fast = ["--retries", "0", "--timeout", "5", "--concurrency", "1", "--model", "m"]
    with chat_server(lambda body, count: tool_reply("bash", {"command": "ls"})) as server:
        done = run_on_full_disk(
            modellab("eval", "run", str(suite), "--base-url", server.base_url, *fast),
            disk=disk,
            free=30 * PAGE,
            seed=seed,
            snapshot=snapshot,
            env={"MODELLAB_HOME": str(disk / "home")},
        )
        assert done.returncode == DISK_FULL, done.stderr
        line = _one_error(done.stderr, str(disk), "eval run")
        sent = len(server.requests)
        with sqlite3.connect(snapshot / "home" / "catalog.sqlite3") as db:
            kept = int(db.execute("SELECT count(*) FROM eval_results").fetchone()[0])
        assert 0 < kept < cases, (kept, line)
        assert f"kept the {kept} answer(s)" in line, line
        # On a disk with room, the same command finishes the run, sending only the rest.
        (tmp_path / "home" / ".modellab").parent.mkdir(exist_ok=True)
        (snapshot / "home").rename(tmp_path / "home" / ".modellab")
        assert main(["eval", "run", str(suite), "--base-url", server.base_url, *fast]) == 0
        assert len(server.requests) - sent == cases - kept


def _decisions(home: Path) -> int:
    with sqlite3.connect(home / "catalog.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM redaction_decisions").fetchone()[0])


def test_review_decisions_with_the_catalog_on_a_full_disk(tmp_path: Path) -> None:
    """Decisions are one transaction: all recorded, or (full disk) none, and the export
    itself is untouched."""
    export = make_export(tmp_path, approve=False)
    disk, snapshot, seed = tmp_path / "disk", tmp_path / "left", tmp_path / "seed"
    seed.mkdir()
    home = tmp_path / "home" / ".modellab"
    with sqlite3.connect(home / "catalog.sqlite3") as db:
        db.execute("DELETE FROM redaction_decisions")  # as before any review
    db.close()
    before = {path.name: path.read_bytes() for path in export.iterdir()}
    home.rename(seed / "home")
    done = run_on_full_disk(
        modellab("redact", "review", str(export), "--accept-all"),
        disk=disk,
        free=0,
        seed=seed,
        snapshot=snapshot,
        env={"MODELLAB_HOME": str(disk / "home")},
    )
    assert done.returncode == DISK_FULL, done.stderr
    line = _one_error(done.stderr, str(disk), "catalog is unchanged")
    assert _decisions(snapshot / "home") == 0, line
    assert {path.name: path.read_bytes() for path in export.iterdir()} == before


@pytest.mark.parametrize(
    ("pages", "kept"),
    [
        (0, "the catalog is unchanged"),
        (48, "nothing of hello was installed"),
        (120, ".staging-hello-"),  # uv unpacks, and meets the full disk
    ],
)
def test_workset_install_on_a_full_disk(
    pages: int, kept: str, publisher: Publisher, tmp_path: Path
) -> None:
    """Whether the catalog, the download or uv's unpacking meets the full disk, nothing is
    installed."""
    source = make_workset(publisher.root / "sources", "hello", isolation="venv")
    # 1 MB that packs into a few KB: the download fits where uv's unpacking does not.
    (source / "src" / "modellab_hello" / "blob.txt").write_bytes(b"\0" * 1_000_000)
    publisher.publish(source)
    pinned = hashlib.sha256(
        (source / "src" / "modellab_hello" / "workset.toml").read_bytes()
    ).hexdigest()
    disk, snapshot, seed = tmp_path / "disk", tmp_path / "left", tmp_path / "seed"
    seed.mkdir()
    (tmp_path / "home" / ".modellab").rename(seed / "home")
    before = _files(seed / "home")
    done = run_on_full_disk(
        modellab("worksets", "install", "hello", "--accept-manifest", pinned),
        disk=disk,
        free=pages * PAGE,
        seed=seed,
        snapshot=snapshot,
        env={"MODELLAB_HOME": str(disk / "home")},
    )
    assert done.returncode == DISK_FULL, done.stderr
    _one_error(done.stderr, str(disk), kept)
    home = snapshot / "home"
    # Besides SQLite's own files, the install lock (empty) and the registry's refreshed
    # metadata (the TUF client's cache, each file written whole), no file was added.
    left = [
        name
        for name in _files(home)
        if name not in before
        and not name.startswith(("catalog.sqlite3-", "registries/"))
        and not name.endswith(".lock")
        and not (home / name).is_dir()
    ]
    assert left == [], left
    assert not list((home / "worksets").glob("*/*")), _files(home)
    with sqlite3.connect(snapshot / "home" / "catalog.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM workset_installs").fetchone()[0] == 0


@pytest.mark.parametrize("pages", [0, 2])
def test_registry_build_onto_a_full_disk(pages: int, tmp_path: Path) -> None:
    source = make_workset(tmp_path / "sources", "hello")
    # 200 KB that does not compress: the wheel needs more room than two pages.
    noise = random.Random(0).randbytes(200_000)
    (source / "src" / "modellab_hello" / "blob.bin").write_bytes(noise)
    disk, snapshot = tmp_path / "disk", tmp_path / "left"
    out = disk / "dist"
    done = run_on_full_disk(
        modellab("registry", "build", str(source), "--out", str(out)),
        disk=disk,
        free=pages * PAGE,
        snapshot=snapshot,
    )
    assert done.returncode == DISK_FULL, done.stderr
    _one_error(
        done.stderr, str(disk), f"{out}/modellab_hello-0.1.0-py3-none-any.whl was not written"
    )
    assert _files(snapshot) == [], _files(snapshot)  # no wheel, no temporary file, no --out
