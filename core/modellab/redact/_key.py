"""The per-installation key behind the value hashes in redaction reports and allowlists.

Reports travel with exports. A plain sha256 of a short value (an email, a user name, a
phone number) can be confirmed by anyone who guesses it; an HMAC under a key that never
leaves this machine cannot. The key is created once, readable by its owner only.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from modellab._internal.files import fsync_dir
from modellab.errors import RedactionError

__all__ = ["load_or_create_key"]

_KEY_BYTES = 32


def _create(path: Path) -> bytes:
    """Write a new key beside ``path`` and link it into place, unless another process won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(_KEY_BYTES)
    fd, temporary = tempfile.mkstemp(prefix=".redaction-key-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp files are 0600
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        # link, not rename: it fails if a key appeared meanwhile, and a reader never sees
        # a half-written key.
        os.link(temporary, path)
    except FileExistsError:
        return path.read_bytes()
    finally:
        Path(temporary).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return key


def load_or_create_key(path: Path) -> bytes:
    """The key stored at ``path``, created (mode 0600) if there is none yet."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create(path)
    if len(key) != _KEY_BYTES:
        raise RedactionError(
            f"{path}: redaction key has {len(key)} bytes, expected {_KEY_BYTES}",
            hint="restore it from a backup; deleting it makes earlier allowlist entries "
            "and report hashes unmatchable",
        )
    return key
