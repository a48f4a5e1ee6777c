"""Sigstore trusted roots: the vendored production root (hash-pinned) and explicit ones.

sigstore-python's own ``Verifier.production(offline=True)`` reads
``~/.cache/sigstore-python/.../trusted_root.json`` without checking it, so anyone who can
write that cache can swap the root (research note §1.3). Model Lab never goes through that
path: every verifier is built from a file it names here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.errors import SignatureError
from modellab.trust._files import read_bytes

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

    from modellab.trust._model import TrustConfig

__all__ = [
    "PRODUCTION_ROOT_SHA256",
    "check_root_digest",
    "load_trusted_root",
    "production_trusted_root",
]

#: sha256 of ``production.trusted_root.json``: Sigstore's public-good root as embedded in
#: sigstore-python 4.5 (Rekor v1 + log2025-1, Fulcio, CT, TSA). Change it only together
#: with the file, after checking the new file against Sigstore's TUF repository.
PRODUCTION_ROOT_SHA256 = "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"

_PRODUCTION_ROOT = Path(__file__).with_name("production.trusted_root.json")


def check_root_digest(path: Path, expected_sha256: str = PRODUCTION_ROOT_SHA256) -> None:
    """Refuse ``path`` unless its sha256 is ``expected_sha256``."""
    actual = hashlib.sha256(read_bytes(path, "trusted root")).hexdigest()
    if actual != expected_sha256:
        raise SignatureError(
            f"trusted root {path} has sha256 {actual}, but {expected_sha256} is pinned: "
            "the vendored Sigstore root was modified",
            hint="reinstall Model Lab; do not edit the vendored trusted root",
        )


def production_trusted_root() -> Path:
    """The vendored Sigstore production ``trusted_root.json``, checked against its pinned hash."""
    check_root_digest(_PRODUCTION_ROOT)
    return _PRODUCTION_ROOT


def load_trusted_root(trust: TrustConfig) -> tuple[Path, TrustedRoot]:
    """The trusted root ``trust`` names (or the pinned production one) and its path."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot

    path = trust.trusted_root if trust.trusted_root is not None else production_trusted_root()
    read_bytes(path, "trusted root")  # a clear error for a missing or unreadable file
    try:
        return path, TrustedRoot.from_file(str(path))
    except (SigstoreError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise SignatureError(
            f"trusted root {path} is not a usable Sigstore trusted root: {exc}"
        ) from exc
