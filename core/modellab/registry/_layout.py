"""Names shared by the maintainer and client sides: folders, roles, file naming rules.

Kept free of TUF imports so the index model can use the filename rule without pulling in
python-tuf.
"""

from __future__ import annotations

import re

__all__ = [
    "INDEX_NAME",
    "METADATA_DIR",
    "ROLES",
    "SAFE_FILENAME",
    "TARGETS_DIR",
    "check_filename",
    "target_file_name",
]

#: The registry's subfolder for signed TUF metadata (``N.root.json``, ``timestamp.json``...).
METADATA_DIR = "metadata"
#: The registry's subfolder for target files, stored as ``<sha256>.<name>``.
TARGETS_DIR = "targets"
#: The target that lists every release.
INDEX_NAME = "index.toml"
#: The four top-level TUF roles, in the order a client loads them after root.
ROLES = ("root", "timestamp", "snapshot", "targets")

# One plain file name: no folders, no leading dot, nothing a shell or URL would mangle. Target
# names become both URL path segments and local file names, so we keep them boring.
SAFE_FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}")


def check_filename(name: str) -> str | None:
    """Return why ``name`` cannot be a registry file name, or ``None`` when it can."""
    if not SAFE_FILENAME.fullmatch(name):
        return (
            f"{name!r} is not a plain file name (letters, digits, '._+-', at most 200 "
            "characters, no folders, no leading dot)"
        )
    if ".." in name:
        return f"{name!r} contains '..'"
    return None


def target_file_name(sha256: str, name: str) -> str:
    """The consistent-snapshot file name of a target: its hash, a dot, then its name."""
    return f"{sha256}.{name}"
