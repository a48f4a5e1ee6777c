"""The maintainer's signing keys: one Ed25519 key per TUF role, kept outside the registry.

Layout of a keys folder (mode 0700, every private key mode 0600)::

    <keys>/root.pem, targets.pem, snapshot.pem, timestamp.pem   PKCS#8 PEM, unencrypted
    <keys>/root-2.pem, root-3.pem, ...                          more root keys (optional)
    <keys>/keys.json                                            {"root": "<keyid>", ...,
                                                                 "root_extra": [...],
                                                                 "root_threshold": 2}
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

__all__ = [
    "create_keys",
    "load_root_extras",
    "load_signers",
    "promote_pending_keys",
    "stage_pending_keys",
]

KEYS_FILE = "keys.json"
#: keys.json fields for a root signed by several keys: their ids, and how many must sign.
ROOT_EXTRA = "root_extra"
ROOT_THRESHOLD = "root_threshold"
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


def _extra_root_path(keys_dir: Path, number: int) -> Path:
    return keys_dir / f"root-{number}.pem"


def _write_key_ids(
    keys_dir: Path, key_ids: dict[str, str], root: dict[str, object] | None = None
) -> None:
    record: dict[str, object] = {role: key_ids[role] for role in ROLES}
    record.update(root or {})
    payload = json.dumps(record, indent=2) + "\n"
    atomic_write_bytes(keys_dir / KEYS_FILE, payload.encode("utf-8"))


def create_keys(keys_dir: Path, *, root_keys: int = 1, root_threshold: int = 1) -> dict[str, str]:
    """Generate one Ed25519 key per role in ``keys_dir``; return role -> key id.

    :param root_keys: how many keys the root role gets (``root.pem``, then ``root-2.pem``,
        ...); each new root version then needs ``root_threshold`` of them to sign it, so a
        single stolen or lost root key can neither take the registry over nor lock it up.
        Keep them apart (different people, offline media) once the registry is created.
    :raises RegistryError: when ``keys_dir`` already holds a key or a ``keys.json``, or the
        threshold is not between 1 and ``root_keys``.
    """
    if not 1 <= root_threshold <= root_keys:
        raise RegistryError(
            f"--root-threshold {root_threshold}: must be between 1 and the number of root "
            f"keys ({root_keys})"
        )
    extra_paths = [_extra_root_path(keys_dir, n) for n in range(2, root_keys + 1)]
    candidates = [
        keys_dir / KEYS_FILE,
        *(_pem_path(keys_dir, role) for role in ROLES),
        *extra_paths,
    ]
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
    extra_ids = []
    for path in extra_paths:
        signer = _generate()
        _write_private(path, signer.private_bytes)
        extra_ids.append(signer.public_key.keyid)
    root = {ROOT_EXTRA: extra_ids, ROOT_THRESHOLD: root_threshold} if extra_ids else None
    # keys.json last: its presence means every key was written.
    _write_key_ids(keys_dir, key_ids, root)
    return key_ids


def _read_root_fields(keys_dir: Path) -> dict[str, object]:
    raw = json.loads((keys_dir / KEYS_FILE).read_text(encoding="utf-8"))
    return {key: raw[key] for key in (ROOT_EXTRA, ROOT_THRESHOLD) if key in raw}


def load_root_extras(keys_dir: Path) -> tuple[list[CryptoSigner], int]:
    """The root keys beyond ``root.pem``, and the root role's threshold (1 when none).

    :raises RegistryError: a malformed ``keys.json`` or a key that is not the recorded one.
    """
    _read_key_ids(keys_dir)  # the same checks as for the role keys
    fields = _read_root_fields(keys_dir)
    ids = fields.get(ROOT_EXTRA, [])
    threshold = fields.get(ROOT_THRESHOLD, 1)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RegistryError(f"{keys_dir / KEYS_FILE}: {ROOT_EXTRA} must be a list of key ids")
    if not isinstance(threshold, int) or not 1 <= threshold <= len(ids) + 1:
        raise RegistryError(
            f"{keys_dir / KEYS_FILE}: {ROOT_THRESHOLD} must be between 1 and {len(ids) + 1}"
        )
    signers = []
    for number, key_id in enumerate(ids, start=2):
        path = _extra_root_path(keys_dir, number)
        signer = _load_signer(path)
        if signer.public_key.keyid != key_id:
            raise RegistryError(
                f"{path}: key id {signer.public_key.keyid[:12]}... is not the root key "
                f"{key_id[:12]}... recorded in {KEYS_FILE}"
            )
        signers.append(signer)
    return signers, threshold


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
    _write_key_ids(keys_dir, key_ids, _read_root_fields(keys_dir))
    (keys_dir / _PENDING).rmdir()
