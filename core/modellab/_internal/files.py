"""Atomic file and directory writes, and streaming hashes.

Writers go to a temporary sibling first, are flushed and fsynced, then renamed into place,
so a reader never sees a half-written file and an interrupted run leaves only a temporary
name behind (which the next run removes or ignores).
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
    "atomic_write_bytes",
    "atomic_writer",
    "check_output_folder",
    "fsync_dir",
    "remove_tree_quietly",
    "sha256_file",
]

_CHUNK = 1 << 20


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


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Open a binary handle whose content replaces ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path) as handle:
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
