"""Change the config and record it, all or nothing.

Order inside one catalog write transaction: back up the file as it is, replace (or remove)
it atomically, insert the row, commit. If any step fails, the file is put back as it was,
the backup of this attempt is removed and the row is never committed, so the catalog never
records a change that did not happen, and no change happens without its record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modellab.errors import ConfigChangedError, PromotionError
from modellab.promote._codewhale_config import ConfigSnapshot
from modellab.promote._files import current_sha256, remove_config, write_backup, write_config
from modellab.store import Catalog

__all__ = ["Change", "RecordRow", "change_config"]

#: Called inside the transaction with (db, backup path, sha256 after); returns the row id.
RecordRow = Callable[[sqlite3.Connection, Path | None, str | None], int]


@dataclass(frozen=True, slots=True)
class Change:
    """What :func:`change_config` did."""

    row_id: int
    backup_path: Path | None
    sha256_after: str | None


def _put_back(before: ConfigSnapshot) -> None:
    if before.data is None:
        remove_config(before.path)
    else:
        write_config(before.path, before.data, mode=before.mode)


def change_config(
    catalog: Catalog,
    before: ConfigSnapshot,
    new_data: bytes | None,
    *,
    mode: int | None,
    record: RecordRow,
) -> Change:
    """Replace the config read as ``before`` with ``new_data`` (``None``: remove it).

    Raises:
        ConfigChangedError: the file is no longer the one ``before`` read.
        PromotionError: the backup or the new file could not be written (the OS error is
            chained); the config is as it was.
    """
    path = before.path
    if current_sha256(path) != before.sha256:
        raise ConfigChangedError(
            path, "changed while the command ran", hint="run the command again to see the change"
        )
    backup: Path | None = None
    touched = False
    try:
        with catalog.transaction() as db:
            backup = write_backup(before)
            if new_data is None:
                remove_config(path)
                after = None
            else:
                after = write_config(path, new_data, mode=mode)
            touched = True
            row_id = record(db, backup, after)
    except BaseException as exc:
        if touched:
            _put_back(before)
        if backup is not None:
            backup.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            where = exc.filename or path
            raise PromotionError(
                f"{where}: cannot write ({exc.strerror or exc}); the config was left as it was"
            ) from exc
        raise
    return Change(row_id=row_id, backup_path=backup, sha256_after=after)
