"""Backups, atomic replacement and removal of CodeWhale's config file.

Every write goes through the project's atomic writer (temporary sibling, fsync, rename), so
CodeWhale never reads half a config, and a failed write leaves the old file as it was.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from modellab._internal.files import atomic_writer, fsync_dir
from modellab.promote._codewhale_config import ConfigSnapshot

__all__ = ["BACKUP_MARK", "current_sha256", "remove_config", "write_backup", "write_config"]

#: Backups are named ``<config name><BACKUP_MARK><UTC time>``, beside the config.
BACKUP_MARK = ".modellab-backup-"


def current_sha256(path: Path) -> str | None:
    """The sha256 of the file at ``path`` now, or ``None`` when there is none."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _backup_path(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}")
    counter = 1
    # Two promotions in one second must not share (and overwrite) a backup.
    while candidate.exists():
        counter += 1
        candidate = path.with_name(f"{path.name}{BACKUP_MARK}{stamp}-{counter}")
    return candidate


def write_backup(snapshot: ConfigSnapshot, now: datetime | None = None) -> Path | None:
    """Copy the config as it was into a timestamped sibling; ``None`` when there was no file.

    The backup is created with mode 0600 whatever the config's mode: it may hold API keys.
    """
    if snapshot.data is None:
        return None
    target = _backup_path(snapshot.path, now or datetime.now(UTC))
    write_config(target, snapshot.data, mode=None)
    return target


def write_config(path: Path, data: bytes, *, mode: int | None) -> str:
    """Replace ``path`` atomically with ``data``; returns its sha256.

    ``mode`` is set on the temporary file before the rename, so the file never appears with
    other permissions; ``None`` keeps the temporary file's 0600.
    """
    with atomic_writer(path) as handle:
        handle.write(data)
        if mode is not None and os.name == "posix":
            os.fchmod(handle.fileno(), mode)
    return hashlib.sha256(data).hexdigest()


def remove_config(path: Path) -> None:
    """Remove the config (a rollback to "there was no file"), durably."""
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
