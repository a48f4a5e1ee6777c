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
removed once the lock is held. A block that fails leaves no half-written folder: what it
made is removed (an earlier output it had started to replace too), and a full disk becomes
one :class:`~modellab.errors.DiskFullError` naming the disk and what was kept.

**Full disks.** :func:`is_disk_full` recognises ``ENOSPC``, ``EDQUOT`` and SQLite's
``SQLITE_FULL`` anywhere in an error's chain; :func:`disk_full` builds the error that names
the mount point that filled.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellab.errors import DiskFullError

__all__ = [
    "OUTPUT_MARKER",
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_write_bytes",
    "atomic_writer",
    "check_output_folder",
    "claim_output",
    "disk_full",
    "disk_full_guard",
    "fsync_dir",
    "is_disk_full",
    "is_disk_full_at",
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


# -- full disks ----------------------------------------------------------------------------
#: The OS errors that mean "no room": the device is full, or the user's quota is spent.
_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: SQLite's primary result code for a full disk (``SQLITE_FULL``).
_SQLITE_FULL = 13


def is_disk_full(error: BaseException | None) -> bool:
    """True when ``error``, or an error it was raised from, says the disk or quota is full.

    ``ENOSPC``/``EDQUOT`` from the OS, and SQLite's ``SQLITE_FULL`` ("database or disk is
    full"), which :mod:`sqlite3` raises as ``OperationalError``. The chain is followed
    because writers wrap OS errors in their own (``ExportError`` from ``OSError``).
    """
    from modellab.errors import DiskFullError

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DiskFullError):
            return True
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return True
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        if type(error).__module__ == "sqlite3" and "database or disk is full" in str(error):
            return True  # raised in a worker process: the code does not survive pickling
        error = error.__cause__ or error.__context__
    return False


#: SQLite's primary result code for an I/O error (``SQLITE_IOERR``).
_SQLITE_IOERR = 10
#: Free space below which an I/O error is taken for a full disk (SQLite's shared-memory
#: file alone needs 32 KiB; a write needs a few pages more).
_NEARLY_FULL_BYTES = 1 << 20


def is_disk_full_at(error: BaseException, path: Path | str) -> bool:
    """:func:`is_disk_full`, or an SQLite I/O error while the disk holding ``path`` has no room.

    SQLite reports some writes that fail for lack of space (growing its shared-memory or
    write-ahead file, say) as ``SQLITE_IOERR`` ("disk I/O error") rather than
    ``SQLITE_FULL``; the free space on the disk tells the two apart.
    """
    if is_disk_full(error):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int) or code & 0xFF != _SQLITE_IOERR:
        return False
    try:
        info = os.statvfs(_mount_point(Path(path)))
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return info.f_bavail * info.f_frsize < _NEARLY_FULL_BYTES


def _mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    with contextlib.suppress(OSError):
        current = current.resolve()
    while current != current.parent and not os.path.ismount(current):
        current = current.parent
    return current


def disk_full(path: Path | str, kept: str) -> DiskFullError:
    """The :class:`~modellab.errors.DiskFullError` for writing ``path`` on a full disk.

    ``kept`` says what is on disk now (``"nothing was written to OUT"``, ``"the catalog is
    unchanged"``); the message also names the mount point that filled.
    """
    from modellab.errors import DiskFullError as Full

    return Full(path, _mount_point(Path(path)), kept)


@contextlib.contextmanager
def disk_full_guard(path: Path | str, kept: str) -> Iterator[None]:
    """Turn a full-disk error raised in the block into :func:`disk_full` (``path``, ``kept``).

    A :class:`~modellab.errors.DiskFullError` raised inside passes unchanged: the writer
    nearest the disk knows best what was kept. Other errors pass unchanged.
    """
    from modellab.errors import DiskFullError

    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(path, kept) from exc
        raise


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

    The file gets ``mode`` (default :data:`PRIVATE_FILE`, ``0600``) whatever the umask. A
    full disk raises :class:`~modellab.errors.DiskFullError` (``path`` is then unchanged).
    """
    from modellab.errors import DiskFullError

    kept = f"{path} is unchanged" if path.exists() else f"{path} was not written"
    with disk_full_guard(path, kept):
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
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full(path, kept) from exc
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
            if is_disk_full(exc):
                raise disk_full(out, f"nothing was written to {out_dir}") from exc
            raise UsageError(
                f"--out {out_dir}: cannot write beside it ({exc.strerror or exc})"
            ) from None
        check_output_folder(out_dir, force=force, kind=kind, guarded=guarded)
        _clean_leftovers(out, kind)
        before = _tree_state(out)
        try:
            yield out_dir
        except BaseException as exc:
            kept = _undo_partial(out, out_dir, kind, before)
            if is_disk_full(exc):  # also a DiskFullError of one file: this says what is left
                raise disk_full(out, kept) from exc
            raise


#: What an output folder held when it was claimed: ``None`` when it did not exist, else
#: every entry with its inode, size and modification time (outputs hold a few files).
_TreeState = frozenset[tuple[str, int, int, int]] | None


def _tree_state(out: Path) -> _TreeState:
    if not out.is_dir():
        return None
    state: set[tuple[str, int, int, int]] = set()
    for folder, dirs, files in os.walk(out):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                state.add((os.path.relpath(path, out), info.st_ino, info.st_size, info.st_mtime_ns))
    return frozenset(state)


def _undo_partial(out: Path, out_dir: Path, kind: str, before: _TreeState) -> str:
    """Remove what a failed writer left in ``out``; say what is there now.

    A folder that was absent is removed, one that was empty is emptied again, and one that
    held an earlier output of ``kind`` (``--force``) is left alone if the writer had not
    touched it yet (writers that stage beside it never do), else emptied: half of one
    output and half of another is no output. The lock is still held, so all of it is ours.
    """
    after = _tree_state(out)
    if after == before or after is None:
        if before:
            return f"the earlier {kind} in {out_dir} is unchanged"
        return f"nothing was written to {out_dir}"
    if before is None:
        shutil.rmtree(out, ignore_errors=True)
        return f"nothing was written to {out_dir}"
    if not before or output_kind(out) == kind:
        for entry in list(out.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if not before:
            return f"nothing was written to {out_dir}"
        return (
            f"nothing half-written was kept in {out_dir} (the earlier {kind} there had been "
            "partly replaced, so it was removed)"
        )
    return f"{out_dir} was left as the failed run left it"  # not ours: never removed
