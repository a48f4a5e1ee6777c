"""Reading the files a verification depends on, with failures that name the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modellab.errors import SignatureError

__all__ = ["file_sha256", "read_bytes", "read_json_object"]


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``path``; ``what`` ("bundle", "artifact", ...) names it in the error."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc


def file_sha256(path: Path, what: str) -> str:
    """The sha256 (hex) of a regular file, read in chunks so large artifacts stay cheap."""
    if not path.is_file():
        raise SignatureError(f"{what} {path} is not a regular file")
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise SignatureError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc


def read_json_object(path: Path, what: str) -> tuple[bytes, dict[str, Any]]:
    """The raw bytes of a JSON file and its top-level object; anything else is refused."""
    raw = read_bytes(path, what)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SignatureError(f"{what} {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SignatureError(f"{what} {path} is not a JSON object")
    return raw, data
