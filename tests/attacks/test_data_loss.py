"""No command destroys what it did not create (issue 12, attacks 5 and 8).

Each attack points a command that deletes or replaces a folder at something the user or
the lab owns: a registry NAME that is a path, an ``--out`` that is (or holds, or sits in)
``$MODELLAB_HOME``, a trusted registry or the export being read, a ``--force`` over a
folder Model Lab never wrote, two writers into one ``--out``, leftovers of a killed run.
Every one must be refused with its documented exit code, and the catalog, the redaction
key and the user's folders must be byte-identical afterwards.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from evals.conftest import make_export

from modellab._internal.files import OUTPUT_MARKER, write_output_marker
from modellab.cli import main
from modellab.settings import Settings
from modellab.store import Catalog
from modellab.worksets import WorksetState
from modellab.worksets._state import check_registry_name

USAGE = 2
BUSY = 11


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (``root`` itself if a file), by relative path, with bytes."""
    if root.is_file():
        return {".": root.read_bytes()}
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


class Guarded:
    """Folders an attack must leave byte-identical, snapshotted once."""

    def __init__(self, *folders: Path) -> None:
        self.folders = folders
        self.before = {folder: _tree(folder) for folder in folders}

    def unchanged(self) -> None:
        for folder in self.folders:
            assert folder.exists(), f"{folder} was deleted"
            assert _tree(folder) == self.before[folder], f"{folder} changed"


@pytest.fixture
def lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Settings, Path]]:
    """(settings, export): sessions imported and one approved export, the key made."""
    export = make_export(tmp_path)
    settings = Settings.from_env()
    assert settings.catalog_path.is_file() and settings.redaction_key_path.is_file()
    capsys.readouterr()
    yield settings, export


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A folder of the user's own, with files Model Lab never wrote."""
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "thesis.tex").write_text("five years of work\n")
    (folder / "notes" / "todo.md").write_text("- back up\n")
    return folder


def _refused(capsys: pytest.CaptureFixture[str], code: int, expected: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == expected, err
    assert "Traceback" not in err
    first = err.strip().splitlines()[0]
    for word in words:
        assert word in first, first
    return err


# -- registry names are plain names, never paths --------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "../..", "a/b", "../mine", "", "-rf", "x" * 65])
def test_add_registry_refuses_a_name_that_is_a_path(lab, user_folder, tmp_path, capsys, name):
    settings, _export = lab
    root = tmp_path / "root.json"
    root.write_text("{}")
    guard = Guarded(settings.home, user_folder)
    code = main(["worksets", "add-registry", "--root", str(root), "--", name, str(tmp_path)])
    _refused(capsys, code, USAGE, "registry NAME", "not a plain name")
    guard.unchanged()
    assert not (settings.home / "registries").exists()


def test_add_registry_refuses_an_absolute_path_as_name(lab, user_folder, tmp_path, capsys):
    """The attack as reported: ``add-registry /abs/dir`` removed a user's folder."""
    settings, _export = lab
    root = tmp_path / "root.json"
    root.write_text("{}")
    guard = Guarded(settings.home, user_folder)
    for name in (str(user_folder), str(settings.home), str(settings.home / "..")):
        code = main(["worksets", "add-registry", name, str(tmp_path), "--root", str(root)])
        _refused(capsys, code, USAGE, "not a plain name")
    guard.unchanged()


def test_registry_names_are_checked_in_the_library_too(lab):
    settings, _export = lab
    for good in ("official", "local-1", "my_registry.v2", "A" * 64):
        assert check_registry_name(good) == good
    for bad in ("..", "/tmp", "a\\b", ".hidden", "tab\there", "new\nline", "\x1b[2K", "é"):
        with pytest.raises(Exception, match="not a plain name"):
            check_registry_name(bad)
    with Catalog(settings.catalog_path) as catalog, pytest.raises(Exception, match="plain"):
        WorksetState(catalog).add_registry("../x", "/tmp", "0" * 64)


# -- --out may not be, hold or sit inside what the lab or the user keeps ---------------------


def test_export_into_modellab_home_with_force_is_refused(lab, capsys):
    """The attack as reported: ``export --out $MODELLAB_HOME --force`` deleted everything."""
    settings, _export = lab
    guard = Guarded(settings.home)
    for out in (
        settings.home,
        settings.home / "registries",
        settings.home / "objects" / "new",
        settings.home / "exports",  # holds every default export
        settings.home.parent,  # contains the home
        settings.home / "exports" / ".." / ".." / ".modellab",
    ):
        code = main(["export", "--all", "--out", str(out), "--force"])
        _refused(capsys, code, USAGE, "--out", "$MODELLAB_HOME")
    guard.unchanged()


def test_a_link_to_the_home_is_seen_through(lab, tmp_path, capsys):
    settings, _export = lab
    link = tmp_path / "innocent"
    link.symlink_to(settings.home, target_is_directory=True)
    guard = Guarded(settings.home)
    code = main(["export", "--all", "--out", str(link), "--force"])
    _refused(capsys, code, USAGE, "is $MODELLAB_HOME")
    guard.unchanged()
    assert link.is_symlink()


def test_the_default_exports_folder_still_works(lab, capsys):
    settings, _export = lab
    assert main(["export", "--all"]) == 0
    out = settings.home / "exports" / "mine"
    assert main(["export", "--all", "--out", str(out)]) == 0
    assert main(["export", "--all", "--out", str(out), "--force"]) == 0
    assert (out / "manifest.json").is_file()


def test_outputs_stay_out_of_a_trusted_registry(lab, tmp_path, capsys):
    settings, export = lab
    registry = tmp_path / "registry"
    (registry / "metadata").mkdir(parents=True)
    (registry / "metadata" / "1.root.json").write_text('{"signed": {}}')
    with Catalog(settings.catalog_path) as catalog:
        WorksetState(catalog).add_registry("local", str(registry), "0" * 64)
    guard = Guarded(settings.home, registry, export)
    for argv in (
        ["export", "--all", "--out", str(registry), "--force"],
        ["export", "--all", "--out", str(registry / "metadata" / "x")],
        ["dataset", "build", str(export), "--out", str(registry), "--force"],
        ["eval", "build", str(export), "--out", str(registry / "new")],
    ):
        _refused(capsys, main(argv), USAGE, "--out", "trusted registry 'local'")
    guard.unchanged()


@pytest.mark.parametrize("command", ["dataset", "eval"])
def test_builds_never_write_into_the_export_they_read(lab, capsys, command):
    settings, export = lab
    guard = Guarded(settings.home, export)
    for out in (export, export / "inside", export.parent):
        code = main([command, "build", str(export), "--out", str(out), "--force"])
        # (export.parent holds $MODELLAB_HOME here too: either reason refuses it)
        _refused(
            capsys,
            code,
            USAGE,
            "--out",
            "the export being read" if out != export.parent else "contains",
        )
    guard.unchanged()


# -- --force replaces only what an earlier output of ours wrote ------------------------------


@pytest.mark.parametrize("command", ["export", "dataset", "eval"])
def test_force_refuses_a_folder_model_lab_did_not_write(lab, user_folder, capsys, command):
    settings, export = lab
    argv = (["export", "--all"] if command == "export" else [command, "build", str(export)]) + [
        "--out",
        str(user_folder),
        "--force",
    ]
    guard = Guarded(settings.home, user_folder)
    _refused(capsys, main(argv), USAGE, str(user_folder), OUTPUT_MARKER)
    guard.unchanged()


def test_a_linked_or_foreign_marker_does_not_count(lab, user_folder, tmp_path, capsys):
    _settings, export = lab
    real = tmp_path / "real-marker"
    real.mkdir()
    write_output_marker(real, "export")
    (user_folder / OUTPUT_MARKER).symlink_to(real / OUTPUT_MARKER)
    guard = Guarded(user_folder)
    code = main(["export", "--all", "--out", str(user_folder), "--force"])
    _refused(capsys, code, USAGE, "no Model Lab export")
    guard.unchanged()
    # A marker of another kind: an export is not a dataset to replace.
    guard = Guarded(export)
    code = main(["dataset", "build", str(export), "--out", str(export.parent / "x")])
    assert code == 0, capsys.readouterr().err
    code = main(["dataset", "build", str(export), "--out", str(export.parent / "x"), "--force"])
    assert code == 0
    other = export.parent / "other-export"
    assert main(["export", "--all", "--out", str(other)]) == 0
    capsys.readouterr()
    code = main(["dataset", "build", str(export), "--out", str(other), "--force"])
    _refused(capsys, code, USAGE, "holds a Model Lab export, not a dataset")
    guard.unchanged()


def test_force_replaces_an_earlier_output_of_the_same_kind(lab, tmp_path, capsys):
    _settings, export = lab
    for argv in (
        ["export", "--all", "--out", str(tmp_path / "e")],
        ["dataset", "build", str(export), "--out", str(tmp_path / "d")],
        ["eval", "build", str(export), "--out", str(tmp_path / "s")],
    ):
        assert main(argv) == 0, capsys.readouterr().err
        assert main([*argv, "--force"]) == 0, capsys.readouterr().err
        out = Path(argv[argv.index("--out") + 1])
        assert (out / OUTPUT_MARKER).is_file()


# -- one writer per --out at a time -----------------------------------------------------------


def _hold_lock(out: Path) -> int:
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.mark.parametrize("command", ["export", "dataset", "eval"])
def test_a_second_writer_is_refused_while_the_first_writes(lab, tmp_path, capsys, command):
    _settings, export = lab
    out = tmp_path / "new-out"
    argv = (["export", "--all"] if command == "export" else [command, "build", str(export)]) + [
        "--out",
        str(out),
    ]
    fd = _hold_lock(out)
    try:
        _refused(capsys, main(argv), BUSY, "--out", "another Model Lab command")
        assert not out.exists()
    finally:
        os.close(fd)
    assert main(argv) == 0, capsys.readouterr().err
    assert not (tmp_path / ".new-out.lock").exists()


@pytest.mark.slow
def test_two_exports_into_one_new_out_never_both_succeed(lab, tmp_path):
    """The attack as reported: five of five tries, both exports said they succeeded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for attempt in range(2):
        out = tmp_path / f"race-{attempt}"
        argv = [sys.executable, "-m", "modellab", "export", "--all", "--out", str(out)]
        procs = [
            subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        results = []
        for proc in procs:
            with proc:
                _out, err = proc.communicate(timeout=120)
                results.append((proc.returncode, err.decode()))
        codes = sorted(code for code, _err in results)
        # Serialised (the second finds a finished export: "not empty") or refused (busy).
        assert codes[0] == 0 and codes[1] in (USAGE, BUSY), results
        assert all("Traceback" not in err for _code, err in results)
        assert (out / "manifest.json").is_file()


# -- leftovers of a killed run are cleaned by the next, and only ours ------------------------


def _leftover(out: Path, *, marked: bool) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    (staging / "trajectories.jsonl").write_text("half\n")
    if marked:
        write_output_marker(staging, "export")
    return staging


def test_a_killed_exports_partial_folder_is_cleaned_by_the_next(lab, tmp_path, capsys):
    out = tmp_path / "out"
    ours = _leftover(out, marked=True)
    old = tmp_path / ".out.old-4242"
    old.mkdir()
    write_output_marker(old, "export")
    theirs = _leftover(out, marked=False)  # same pattern, no marker: not ours
    other = _leftover(tmp_path / "other", marked=True)  # another --out's: not this run's
    guard = Guarded(theirs, other)
    fd = _hold_lock(out)
    try:  # a live writer holds the lock: nothing of its is touched
        _refused(capsys, main(["export", "--all", "--out", str(out)]), BUSY)
        assert ours.is_dir()
    finally:
        os.close(fd)
    assert main(["export", "--all", "--out", str(out)]) == 0
    assert not ours.exists() and not old.exists()
    guard.unchanged()


def test_a_killed_writer_never_blocks_the_next(lab, tmp_path, capsys):
    """The lock is the OS's: a holder killed with SIGKILL releases it; its file is reused."""
    out = tmp_path / "out"
    holder = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    lock = tmp_path / ".out.lock"
    with subprocess.Popen(
        [sys.executable, "-c", holder, str(lock)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        _refused(capsys, main(["export", "--all", "--out", str(out)]), BUSY)
        proc.kill()
        proc.wait(timeout=30)
    assert lock.exists()  # left by the killed holder
    assert main(["export", "--all", "--out", str(out)]) == 0, capsys.readouterr().err
    assert not lock.exists() and (out / "manifest.json").is_file()


def test_a_folder_holding_only_our_marker_needs_no_force(lab, tmp_path, capsys):
    """What a build cut short (a full disk) may leave: the next run may use it as empty."""
    _settings, export = lab
    out = tmp_path / "ds"
    out.mkdir()
    write_output_marker(out, "dataset")
    assert main(["dataset", "build", str(export), "--out", str(out)]) == 0
    # A marker of another kind is not ours to reuse.
    suite = tmp_path / "suite"
    suite.mkdir()
    write_output_marker(suite, "dataset")
    code = main(["eval", "build", str(export), "--out", str(suite), "--force"])
    _refused(capsys, code, USAGE, "holds a Model Lab dataset, not a suite")
