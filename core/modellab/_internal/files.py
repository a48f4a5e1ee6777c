"""Atomic file and directory writes, private modes, and streaming hashes.

Writers go to a temporary sibling first, are flushed and fsynced, then renamed into place,
so a reader never sees a half-written file and an interrupted run leaves only a temporary
name behind (which the next run removes or ignores).

**Modes.** What Model Lab writes may hold session data (exports, datasets, eval suites,
keys), so one rule holds for the files written here: ``0600`` (:data:`PRIVATE_FILE`), and
``0700`` (:data:`PRIVATE_DIR`) for an output folder made with :func:`private_dir`,
whatever the umask. A writer that must keep another mode (a config file the user owns)
passes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_write_bytes",
    "atomic_writer",
    "check_output_folder",
    "fsync_dir",
    "open_private",
    "private_dir",
    "remove_tree_quietly",
    "sha256_file",
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


def check_output_folder(out_dir: Path, *, force: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty folder without ``--force``."""
    from modellab.errors import UsageError

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise UsageError(
            f"--out {out_dir}: folder is not empty", hint="choose another folder or add --force"
        )
