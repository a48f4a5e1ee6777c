"""What an approval is bound to: the sha256 of every file in the export but our bookkeeping."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from modellab._internal import jsonio
from modellab._internal.files import sha256_file
from modellab.errors import UsageError
from modellab.gate.layout import BOOKKEEPING

__all__ = ["export_files", "files_sha256"]


def export_files(export_dir: Path) -> dict[str, str]:
    """sha256 of every file in the export, by its path relative to it.

    Only :data:`~modellab.gate.layout.BOOKKEEPING` at the top of the folder is left out:
    the lab rewrites those itself (another catalog approving, a ``--force`` claim). A file
    of the same name deeper down, a hidden file, anything else, is counted.
    """
    if not export_dir.is_dir():
        raise UsageError(f"{export_dir}: not an export folder")
    skipped = {export_dir / name for name in BOOKKEEPING}
    return {
        path.relative_to(export_dir).as_posix(): sha256_file(path)
        for path in sorted(export_dir.rglob("*"))
        if path.is_file() and path not in skipped
    }


def files_sha256(files: Mapping[str, str]) -> str:
    """One sha256 over an approval's files and their sha256s: the approval's fingerprint."""
    return hashlib.sha256(jsonio.dumps(dict(files), sort_keys=True)).hexdigest()
