"""Atomic file and directory writes, private modes, and streaming hashes.

Writers go to a temporary sibling first, are flushed and fsynced, then renamed into place,
so a reader never sees a half-written file and an interrupted run leaves only a temporary
name behind (which the next run removes or ignores).

**Modes.** What Model Lab writes may hold session data (exports, datasets, eval suites,
keys), so one rule holds for the files written here: ``0600`` (:data:`PRIVATE_FILE`), and
``0700`` (:data:`PRIVATE_DIR`) for an output folder made with :func:`private_dir`,
whatever the umask. A writer that must keep another mode (a config file the user owns)
passes it.

**Output folders.** No command destroys what it did not create. Every ``--out`` a command
writes (an export, a dataset, an eval suite) is claimed through :func:`claim_output`, the
one owner of the rule: it may not be, contain or sit inside the lab's home (but for its
``exports/`` sub-folders), a trusted registry, or the folder being read; ``--force``
replaces only a folder carrying our :data:`OUTPUT_MARKER` of the same kind; one writer at a
time holds ``<parent>/.<name>.lock`` (others are refused, exit 11); and leftovers of a
killed writer beside it (``.<name>.partial-*``, ``.<name>.old-*``, marked as ours) are
removed once the lock is held.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OUTPUT_MARKER",
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_write_bytes",
    "atomic_writer",
    "check_output_folder",
    "claim_output",
    "fsync_dir",
    "lab_folders",
    "open_private",
    "output_kind",
    "private_dir",
    "remove_tree_quietly",
    "sha256_file",
    "write_output_marker",
]

_CHUNK = 1 << 20
#: The mode of every file Model Lab writes: read and write for the user alone.
PRIVATE_FILE = 0o600
#: The mode of every output folder a command makes: the user alone may list or enter it.
PRIVATE_DIR = 0o700


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a crash (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) a folder of mode :data:`PRIVATE_DIR`.

    The folder itself is set to ``0700`` even when it existed: it is a command's output
    folder (empty, or replaced with ``--force``). Parents it had to make keep the umask's
    mode, as ``mkdir -p`` gives them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, PRIVATE_DIR)


def open_private(path: Path) -> IO[bytes]:
    """Open ``path`` for writing (created or truncated) with mode :data:`PRIVATE_FILE`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        if os.name == "posix":
            os.fchmod(fd, PRIVATE_FILE)  # an existing file keeps its mode through O_CREAT
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int = PRIVATE_FILE) -> Iterator[IO[bytes]]:
    """Open a binary handle whose content replaces ``path`` only if the block succeeds.

    The file gets ``mode`` (default :data:`PRIVATE_FILE`, ``0600``) whatever the umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = PRIVATE_FILE) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` (default ``0600``)."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)


def remove_tree_quietly(path: Path) -> None:
    """Remove a temporary directory, ignoring a tree that is already gone."""
    shutil.rmtree(path, ignore_errors=True)


# -- output folders -----------------------------------------------------------------------
#: The file every output folder Model Lab writes (an export, a dataset, an eval suite)
#: carries: ``{"format": "modellab-output/1", "kind": KIND}``. ``--force`` replaces only a
#: folder holding one of the same kind; its content is fixed, so outputs stay reproducible.
OUTPUT_MARKER = ".modellab-output"
_MARKER_FORMAT = "modellab-output/1"
#: What a marker may weigh at most (it is a one-line JSON object).
_MARKER_MAX_BYTES = 4096
#: Where exports go by default (``$MODELLAB_HOME/exports/<time>``): the one place inside the
#: lab's home an output may be written.
_OUTPUTS_IN_HOME = "exports"


def write_output_marker(folder: Path, kind: str) -> None:
    """Mark ``folder`` as a Model Lab output of ``kind`` (``export``, ``dataset``, ``suite``)."""
    body = json.dumps({"format": _MARKER_FORMAT, "kind": kind}, sort_keys=True) + "\n"
    atomic_write_bytes(folder / OUTPUT_MARKER, body.encode())


def output_kind(folder: Path) -> str | None:
    """The kind a folder's marker names, or ``None`` when it has no valid marker.

    The marker must be a regular file (not a link) inside the folder itself.
    """
    marker = folder / OUTPUT_MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return None
        if marker.stat().st_size > _MARKER_MAX_BYTES:
            return None
        data: Any = json.loads(marker.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MARKER_FORMAT:
        return None
    kind = data.get("kind")
    return kind if isinstance(kind, str) else None


def _relation(out: Path, guarded: Path) -> str | None:
    """How ``out`` touches ``guarded`` (both resolved): ``is``, ``is inside``, ``contains``."""
    if out == guarded:
        return "is"
    if out.is_relative_to(guarded):
        return "is inside"
    if guarded.is_relative_to(out):
        return "contains"
    return None


def check_output_folder(
    out_dir: Path,
    *,
    force: bool,
    kind: str = "output",
    guarded: Iterable[tuple[Path, str]] = (),
) -> None:
    """Refuse an ``--out`` that would destroy or mix with what Model Lab did not write.

    Refused: a path that is not a folder; one that is, contains or sits inside a
    ``guarded`` folder (``(path, what it is)``: the lab's home, a trusted registry, the
    folder being read; a home's ``exports/`` sub-folders are allowed); a non-empty folder
    without ``force``; and, even with ``force``, a non-empty folder without our
    :data:`OUTPUT_MARKER` for ``kind``. Nothing on disk is changed.

    :raises modellab.errors.UsageError: naming ``--out``, the folder and the reason.
    """
    from modellab.errors import UsageError

    out = out_dir.expanduser().resolve()
    for folder, what in guarded:
        base = folder.expanduser().resolve()
        outputs = base / _OUTPUTS_IN_HOME
        if what == "$MODELLAB_HOME" and out != outputs and out.is_relative_to(outputs):
            continue  # the default place of exports: $MODELLAB_HOME/exports/<name>
        relation = _relation(out, base)
        if relation is not None:
            raise UsageError(
                f"--out {out_dir}: {relation} {what} ({base}); "
                "Model Lab never writes an output there",
                hint="choose a folder of its own (exports may also go under "
                "$MODELLAB_HOME/exports/)",
            )
    if (out_dir.is_symlink() or out.exists()) and not out.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    if not out.is_dir():
        return
    entries = [entry.name for entry in out.iterdir()]
    if not entries or (entries == [OUTPUT_MARKER] and output_kind(out) == kind):
        return  # empty, or holding only the marker an earlier run cut short left
    if not force:
        raise UsageError(
            f"--out {out_dir}: folder is not empty",
            hint=f"choose another folder, or add --force to replace an earlier {kind} there",
        )
    found = output_kind(out)
    if found is None:
        raise UsageError(
            f"--out {out_dir}: folder is not empty and no Model Lab {kind} wrote it (no "
            f"{OUTPUT_MARKER} marker); --force replaces only a folder Model Lab wrote",
            hint="choose another folder, or empty this one yourself",
        )
    if found != kind:
        raise UsageError(
            f"--out {out_dir}: holds a Model Lab {found}, not a {kind}; "
            f"--force replaces only an earlier {kind}",
            hint="choose another folder",
        )


def lab_folders(catalog: Any) -> list[tuple[Path, str]]:
    """The folders no output may touch that ``catalog`` knows of: the lab's home (the
    catalog's own folder) and every trusted registry kept in a local folder."""
    guarded = [(Path(catalog.path).parent, "$MODELLAB_HOME")]
    for name, location in catalog.query("SELECT name, location FROM registries"):
        if isinstance(location, str) and location and "://" not in location:
            guarded.append((Path(location), f"trusted registry {name!r}"))
    return guarded


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def _output_lock(out: Path) -> Iterator[None]:
    """Hold ``<parent>/.<name>.lock`` for writing ``out``, or refuse at once if held.

    An OS lock (``flock``; ``msvcrt.locking`` on Windows): a killed holder releases it. The
    file is removed on release; a lock taken on a file already unlinked is retried.
    """
    from modellab.errors import OutputBusyError

    path = _lock_path(out)
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), PRIVATE_FILE)
        try:
            if not _try_lock(fd):
                raise OutputBusyError(
                    f"--out {out}: another Model Lab command is writing it (lock {path})",
                    hint="wait for it to finish, then run again",
                )
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if not same:  # released and removed by its holder between our open and lock
                continue
            try:
                yield
            finally:
                path.unlink(missing_ok=True)
            return
        finally:
            os.close(fd)  # closing releases the lock
    raise OutputBusyError(f"--out {out}: its lock {path} keeps changing; try again")


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _clean_leftovers(out: Path, kind: str) -> list[Path]:
    """Remove what a killed writer of ``out`` left beside it: ``.<name>.partial-*`` staging
    and ``.<name>.old-<pid>`` folders that carry our marker of ``kind`` (lock held)."""
    pattern = re.compile(re.escape(f".{out.name}.") + r"(partial-[A-Za-z0-9_]{1,32}|old-\d{1,12})")
    removed: list[Path] = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        if output_kind(entry) == kind:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def claim_output(
    out_dir: Path,
    *,
    kind: str,
    force: bool,
    catalog: Any,
    sources: Iterable[tuple[Path, str]] = (),
) -> Iterator[Path]:
    """Check ``out_dir`` (:func:`check_output_folder`, guarding :func:`lab_folders` and
    ``sources``), then hold its lock while the block writes it.

    The check runs before anything touches the disk and again once the lock is held (a
    writer that just finished may have filled the folder). Under the lock, leftovers of
    killed runs of the same kind beside it are removed. Yields the folder to write.

    :raises modellab.errors.UsageError: the folder may not be written.
    :raises modellab.errors.OutputBusyError: another command is writing it now.
    """
    guarded = [*lab_folders(catalog), *sources]
    check_output_folder(out_dir, force=force, kind=kind, guarded=guarded)
    from modellab.errors import UsageError

    out = out_dir.expanduser().absolute()
    with contextlib.ExitStack() as stack:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_output_lock(out))
        except OSError as exc:
            raise UsageError(
                f"--out {out_dir}: cannot write beside it ({exc.strerror or exc})"
            ) from None
        check_output_folder(out_dir, force=force, kind=kind, guarded=guarded)
        _clean_leftovers(out, kind)
        yield out_dir
