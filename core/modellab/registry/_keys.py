"""The maintainer's signing keys: one Ed25519 key per TUF role, kept outside the registry.

Layout of a keys folder (mode 0700, every private key mode 0600)::

    <keys>/root.pem, targets.pem, snapshot.pem, timestamp.pem   PKCS#8 PEM, unencrypted
    <keys>/keys.json                                            {"root": "<keyid>", ...}
    <keys>/pending/<role>.pem                                   only during a key rotation
    <keys>/retired/<role>-<keyid>.pem                           keys rotated out

The keys never live inside the registry folder: that folder is what gets published.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from modellab._internal.files import atomic_write_bytes
from modellab.errors import RegistryError
from modellab.registry._layout import ROLES

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # no __all__ upstream

__all__ = ["create_keys", "load_signers", "promote_pending_keys", "stage_pending_keys"]

KEYS_FILE = "keys.json"
_PENDING = "pending"
_RETIRED = "retired"


def _pem_path(keys_dir: Path, role: str) -> Path:
    return keys_dir / f"{role}.pem"


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; refuse to replace an existing file."""
    # O_EXCL: two runs racing (or a second create_keys) must never overwrite a live key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _generate() -> CryptoSigner:
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # no __all__ upstream

    return CryptoSigner.generate_ed25519()


def _write_key_ids(keys_dir: Path, key_ids: dict[str, str]) -> None:
    payload = json.dumps({role: key_ids[role] for role in ROLES}, indent=2) + "\n"
    atomic_write_bytes(keys_dir / KEYS_FILE, payload.encode("utf-8"))


def create_keys(keys_dir: Path) -> dict[str, str]:
    """Generate one Ed25519 key per role in ``keys_dir``; return role -> key id.

    :raises RegistryError: when ``keys_dir`` already holds a key or a ``keys.json``.
    """
    candidates = [keys_dir / KEYS_FILE, *(_pem_path(keys_dir, role) for role in ROLES)]
    existing = sorted(path.name for path in candidates if path.exists())
    if existing:
        raise RegistryError(
            f"{keys_dir} already holds registry keys ({', '.join(existing)})",
            hint="keys are never overwritten; use another folder or rotate keys instead",
        )
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_ids: dict[str, str] = {}
    for role in ROLES:
        signer = _generate()
        _write_private(_pem_path(keys_dir, role), signer.private_bytes)
        key_ids[role] = signer.public_key.keyid
    # keys.json last: its presence means every key was written.
    _write_key_ids(keys_dir, key_ids)
    return key_ids


def _read_key_ids(keys_dir: Path) -> dict[str, str]:
    path = keys_dir / KEYS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            f"no registry keys in {keys_dir} ({KEYS_FILE} is missing)",
            hint="create them first: modellab registry keys DIR",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: unreadable ({exc})") from None
    if not isinstance(raw, dict) or not all(isinstance(raw.get(r), str) for r in ROLES):
        raise RegistryError(f"{path}: expected a key id (string) for each of {', '.join(ROLES)}")
    return {role: str(raw[role]) for role in ROLES}


def _load_signer(path: Path) -> CryptoSigner:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # no __all__ upstream

    try:
        private_key = load_pem_private_key(path.read_bytes(), password=None)
        return CryptoSigner(private_key)
    except FileNotFoundError:
        raise RegistryError(f"{path}: private key missing") from None
    except (OSError, ValueError, TypeError) as exc:
        raise RegistryError(f"{path}: not a usable private key ({exc})") from None


def load_signers(keys_dir: Path) -> dict[str, CryptoSigner]:
    """Load every role's signer, checking each key against the id ``keys.json`` records.

    :raises RegistryError: a missing or unreadable key, or a key that is not the recorded one.
    """
    key_ids = _read_key_ids(keys_dir)
    signers: dict[str, CryptoSigner] = {}
    for role in ROLES:
        signer = _load_signer(_pem_path(keys_dir, role))
        if signer.public_key.keyid != key_ids[role]:
            raise RegistryError(
                f"{_pem_path(keys_dir, role)}: key id {signer.public_key.keyid[:12]}... is not "
                f"the {role} key {key_ids[role][:12]}... recorded in {KEYS_FILE}"
            )
        signers[role] = signer
    return signers


def stage_pending_keys(keys_dir: Path, roles: list[str]) -> dict[str, CryptoSigner]:
    """Generate replacement keys for ``roles`` under ``pending/``, before they are published.

    They are written before the new root names them, so a crash can never leave a published
    root whose private keys were lost.

    :raises RegistryError: when an earlier rotation left keys in ``pending/``.
    """
    pending = keys_dir / _PENDING
    if pending.exists() and any(pending.iterdir()):
        raise RegistryError(
            f"{pending} holds keys from an unfinished rotation",
            hint="check which keys the registry's newest root names, then move them by hand",
        )
    pending.mkdir(mode=0o700, exist_ok=True)
    staged: dict[str, CryptoSigner] = {}
    for role in roles:
        signer = _generate()
        _write_private(_pem_path(pending, role), signer.private_bytes)
        staged[role] = signer
    return staged


def promote_pending_keys(keys_dir: Path, staged: dict[str, CryptoSigner]) -> None:
    """Make staged keys current once the root naming them is published; retire the old ones."""
    key_ids = _read_key_ids(keys_dir)
    retired = keys_dir / _RETIRED
    retired.mkdir(mode=0o700, exist_ok=True)
    for role, signer in staged.items():
        # Kept, not deleted: an old key may be needed to investigate or to sign a recovery root.
        os.replace(_pem_path(keys_dir, role), retired / f"{role}-{key_ids[role]}.pem")
        os.replace(_pem_path(keys_dir / _PENDING, role), _pem_path(keys_dir, role))
        key_ids[role] = signer.public_key.keyid
    _write_key_ids(keys_dir, key_ids)
    (keys_dir / _PENDING).rmdir()
