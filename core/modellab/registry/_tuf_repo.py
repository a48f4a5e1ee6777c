"""The maintainer's side of the registry: write, sign and check a TUF repository folder.

Every change publishes new versions of targets, snapshot and timestamp, in that order, with
consistent-snapshot names. A client reading the folder mid-publish therefore sees either the
old timestamp (whose files are all still there: nothing is deleted) or the new one (whose
files were all written before it).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal.files import atomic_write_bytes
from modellab.errors import RegistryError
from modellab.registry._keys import (
    load_root_extras,
    load_signers,
    promote_pending_keys,
    stage_pending_keys,
)
from modellab.registry._layout import (
    METADATA_DIR,
    ROLES,
    TARGETS_DIR,
    check_filename,
    target_file_name,
)

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # no __all__ upstream
    from tuf.api.metadata import (  # type: ignore[attr-defined]  # no __all__ upstream
        Metadata,
        Root,
        Snapshot,
        Targets,
        Timestamp,
    )

__all__ = ["DEFAULT_EXPIRES_DAYS", "RegistryRepository"]

#: Days each role's metadata stays valid when signed. Short timestamp and snapshot expiries
#: bound how long a frozen mirror (or a replay to a brand-new client) can go unnoticed.
DEFAULT_EXPIRES_DAYS: Mapping[str, int] = {
    "root": 365,
    "targets": 90,
    "snapshot": 7,
    "timestamp": 1,
}

_VERSIONED = re.compile(r"^(\d+)\.(root|targets|snapshot)\.json$")


def _expiries(overrides: Mapping[str, int] | None) -> dict[str, datetime]:
    days = dict(DEFAULT_EXPIRES_DAYS)
    for role, value in (overrides or {}).items():
        if role not in days:
            raise RegistryError(f"expires_days: unknown role {role!r}; roles: {', '.join(ROLES)}")
        if value < 1:
            raise RegistryError(f"expires_days: {role} must be a whole number of days >= 1")
        days[role] = value
    now = datetime.now(UTC).replace(microsecond=0)
    return {role: now + timedelta(days=count) for role, count in days.items()}


def _to_bytes(metadata: Metadata[Any]) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    # Indented for people reading a registry; signatures cover the canonical form anyway.
    return metadata.to_bytes(JSONSerializer(compact=False))


class RegistryRepository:
    """A registry folder (``metadata/``, ``targets/``) and the keys folder that signs it.

    :param path: the registry folder, the part that gets published.
    :param keys_dir: the signing keys (see :func:`create_keys`), kept out of ``path``.
    """

    def __init__(self, path: Path, keys_dir: Path) -> None:
        self.path = path
        self.keys_dir = keys_dir

    @property
    def metadata_dir(self) -> Path:
        """``<registry>/metadata``."""
        return self.path / METADATA_DIR

    @property
    def targets_dir(self) -> Path:
        """``<registry>/targets``."""
        return self.path / TARGETS_DIR

    # -- reading the current state -------------------------------------------------------

    def _latest_version(self, role: str) -> int:
        versions = [
            int(match[1])
            for entry in self.metadata_dir.glob(f"*.{role}.json")
            if (match := _VERSIONED.match(entry.name)) and match[2] == role
        ]
        if not versions:
            raise RegistryError(
                f"{self.path} is not an initialised registry (no {role} metadata)",
                hint="create it first: modellab registry init REGISTRY --keys DIR",
            )
        return max(versions)

    def _load(self, file_name: str, expected: str) -> Metadata[Any]:
        from tuf.api.exceptions import RepositoryError
        from tuf.api.metadata import Metadata

        path = self.metadata_dir / file_name
        try:
            metadata: Metadata[Any] = Metadata.from_bytes(path.read_bytes())
        except (OSError, RepositoryError) as exc:
            raise RegistryError(f"{path}: unreadable metadata ({exc})") from exc
        if metadata.signed.type != expected:
            raise RegistryError(f"{path}: holds {metadata.signed.type} metadata, not {expected}")
        return metadata

    def _root(self) -> Metadata[Root]:
        return self._load(f"{self._latest_version('root')}.root.json", "root")

    def _targets(self) -> Metadata[Targets]:
        return self._load(f"{self._latest_version('targets')}.targets.json", "targets")

    def _snapshot(self) -> Metadata[Snapshot]:
        return self._load(f"{self._latest_version('snapshot')}.snapshot.json", "snapshot")

    def _timestamp(self) -> Metadata[Timestamp]:
        return self._load("timestamp.json", "timestamp")

    def _signers(self, root: Root) -> dict[str, CryptoSigner]:
        """Load the keys and check they are the ones this registry's newest root names."""
        signers = load_signers(self.keys_dir)
        for role, signer in signers.items():
            if signer.public_key.keyid not in root.roles[role].keyids:
                raise RegistryError(
                    f"the {role} key in {self.keys_dir} is not one the registry's root "
                    f"(v{root.version}) authorises",
                    hint="use the keys folder this registry was created with",
                )
        return signers

    # -- writing -------------------------------------------------------------------------

    def _write(self, file_name: str, metadata: Metadata[Any]) -> None:
        atomic_write_bytes(self.metadata_dir / file_name, _to_bytes(metadata))

    def init(self, *, expires_days: Mapping[str, int] | None = None) -> None:
        """Create version 1 of every role: an empty registry signed by the keys folder.

        :raises RegistryError: when the folder already holds metadata, or the keys are
            missing or unusable.
        """
        from tuf.api.metadata import (  # type: ignore[attr-defined]  # no __all__ upstream
            Metadata,
            Root,
            Snapshot,
            Targets,
            Timestamp,
        )

        if self.metadata_dir.exists() and any(self.metadata_dir.glob("*.json")):
            raise RegistryError(
                f"{self.path} already holds registry metadata",
                hint="a registry is initialised once; re-sign it with: modellab registry resign",
            )
        signers = load_signers(self.keys_dir)
        extra_roots, threshold = load_root_extras(self.keys_dir)
        expires = _expiries(expires_days)
        # consistent_snapshot: files are published under versioned / hashed names, so a
        # client never mixes a new snapshot with an old targets file during an update.
        root = Root(expires=expires["root"], consistent_snapshot=True)
        for role in ROLES:
            root.add_key(signers[role].public_key, role)
        for signer in extra_roots:
            root.add_key(signer.public_key, "root")
        root.roles["root"].threshold = threshold
        root_md = Metadata(root)
        root_md.sign(signers["root"])
        for signer in extra_roots:
            root_md.sign(signer, append=True)
        targets_md = Metadata(Targets(expires=expires["targets"]))
        targets_md.sign(signers["targets"])
        snapshot_md = Metadata(Snapshot(expires=expires["snapshot"]))  # names targets v1
        snapshot_md.sign(signers["snapshot"])
        timestamp_md = Metadata(Timestamp(expires=expires["timestamp"]))  # names snapshot v1
        timestamp_md.sign(signers["timestamp"])
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        self._write("1.root.json", root_md)
        self._write("1.targets.json", targets_md)
        self._write("1.snapshot.json", snapshot_md)
        self._write("timestamp.json", timestamp_md)

    def _publish(
        self,
        signers: Mapping[str, CryptoSigner],
        expires: Mapping[str, datetime],
        files: Mapping[str, bytes] | None = None,
    ) -> None:
        """Bump and re-sign targets, snapshot and timestamp (adding ``files`` first)."""
        from tuf.api.metadata import MetaFile, TargetFile  # type: ignore[attr-defined]  # no __all__ upstream

        targets_md = self._targets()
        for name, data in (files or {}).items():
            info = TargetFile.from_data(name, data, ["sha256"])
            # Written before any metadata names them; old versions stay for clients mid-update.
            atomic_write_bytes(
                self.targets_dir / target_file_name(info.hashes["sha256"], name), data
            )
            targets_md.signed.targets[name] = info
        targets = targets_md.signed
        targets.version += 1
        targets.expires = expires["targets"]
        targets_md.sign(signers["targets"])
        self._write(f"{targets.version}.targets.json", targets_md)

        snapshot_md = self._snapshot()
        snapshot = snapshot_md.signed
        snapshot.version += 1
        snapshot.expires = expires["snapshot"]
        snapshot.meta["targets.json"] = MetaFile(version=targets.version)
        snapshot_md.sign(signers["snapshot"])
        self._write(f"{snapshot.version}.snapshot.json", snapshot_md)

        timestamp_md = self._timestamp()
        timestamp = timestamp_md.signed
        timestamp.version += 1
        timestamp.expires = expires["timestamp"]
        timestamp.snapshot_meta = MetaFile(version=snapshot.version)
        timestamp_md.sign(signers["timestamp"])
        # Last, and atomically: the moment timestamp.json changes, the new state is live.
        self._write("timestamp.json", timestamp_md)

    def add_targets(
        self, files: Mapping[str, bytes], *, expires_days: Mapping[str, int] | None = None
    ) -> None:
        """Add or replace target files by name and publish a new signed state.

        :raises RegistryError: a name that is not a plain file name, no files, or key
            problems.
        """
        if not files:
            raise RegistryError("add_targets: no files given")
        for name in files:
            problem = check_filename(name)
            if problem is not None:
                raise RegistryError(f"add_targets: {problem}")
        root = self._root().signed
        self._publish(self._signers(root), _expiries(expires_days), files)

    def resign(self, *, expires_days: Mapping[str, int] | None = None) -> None:
        """Publish new versions of targets, snapshot and timestamp with fresh expiries.

        Run it on a schedule: a timestamp left to expire makes every client refuse the
        registry (as it should, since it cannot tell a quiet registry from a frozen mirror).
        """
        root = self._root().signed
        self._publish(self._signers(root), _expiries(expires_days))

    def rotate_keys(
        self, roles: Iterable[str] = (), *, expires_days: Mapping[str, int] | None = None
    ) -> dict[str, str]:
        """Publish a new root version, replacing the keys of ``roles``; return role -> new id.

        The new root is signed by the old root key and (when root itself rotates) the new
        one, so clients that trust only the old root follow the chain. With no roles it just
        renews the root's expiry. Old keys move to ``<keys>/retired/``.

        :raises RegistryError: an unknown role, or key problems.
        """
        from tuf.api.metadata import Metadata

        wanted = list(dict.fromkeys(roles))
        unknown = [role for role in wanted if role not in ROLES]
        if unknown:
            raise RegistryError(f"cannot rotate unknown role(s) {', '.join(unknown)}")
        root_md = self._root()
        root = root_md.signed
        old_signers = self._signers(root)
        expires = _expiries(expires_days)
        staged = stage_pending_keys(self.keys_dir, wanted)
        for role, signer in staged.items():
            root.revoke_key(old_signers[role].public_key.keyid, role)
            root.add_key(signer.public_key, role)
        root.version += 1
        root.expires = expires["root"]
        new_root_md = Metadata(root)
        new_root_md.sign(old_signers["root"])
        # The other root keys sign too: clients need the threshold of the old root's keys
        # (to trust the new version) and of the new one's (to use it).
        for signer in load_root_extras(self.keys_dir)[0]:
            new_root_md.sign(signer, append=True)
        if "root" in staged:
            new_root_md.sign(staged["root"], append=True)
        self._write(f"{root.version}.root.json", new_root_md)
        promote_pending_keys(self.keys_dir, staged)
        # Re-sign the rest so that a rotated targets/snapshot/timestamp key takes effect now.
        self._publish(self._signers(root), expires)
        return {role: signer.public_key.keyid for role, signer in staged.items()}

    # -- checking ------------------------------------------------------------------------

    def target_names(self) -> list[str]:
        """The names of every target the current signed targets metadata lists, sorted."""
        return sorted(self._targets().signed.targets)

    def target_bytes(self, name: str) -> bytes:
        """The current bytes of target ``name``, checked against the signed targets metadata.

        :raises RegistryError: an unknown name, a missing file, or a hash mismatch.
        """
        from tuf.api.exceptions import LengthOrHashMismatchError

        info = self._targets().signed.targets.get(name)
        if info is None:
            raise RegistryError(f"{self.path} has no target named {name!r}")
        path = self.targets_dir / target_file_name(info.hashes["sha256"], name)
        try:
            data = path.read_bytes()
            info.verify_length_and_hashes(data)
        except OSError as exc:
            raise RegistryError(f"{path}: cannot read target {name!r} ({exc})") from exc
        except LengthOrHashMismatchError as exc:
            raise RegistryError(f"{path}: does not match its signed hash ({exc})") from None
        return data

    def verify(self) -> list[str]:
        """Check the whole registry as a brand-new client would; return what was checked.

        A real python-tuf client, trusting only ``1.root.json``, walks the root chain,
        checks every signature and expiry, then downloads and hash-checks every target.

        :raises RegistryError: on the first problem, naming it.
        """
        from modellab.registry._tuf_client import RegistryClient

        first_root = self.metadata_dir / "1.root.json"
        try:
            trusted_root = first_root.read_bytes()
        except OSError as exc:
            raise RegistryError(
                f"{self.path} is not an initialised registry ({first_root}: {exc.strerror})"
            ) from None
        with tempfile.TemporaryDirectory(prefix="modellab-registry-verify-") as cache:
            client = RegistryClient(str(self.path), trusted_root, Path(cache))
            client.refresh()
            state = client.state()
            lines = []
            for role in ROLES:
                detail = "chain from 1.root.json, " if role == "root" else ""
                lines.append(
                    f"{role}: v{state.versions[role]}, {detail}signatures ok, "
                    f"expires {state.expires[role]:%Y-%m-%d %H:%M:%SZ}"
                )
            lines.append(f"targets listed: {len(state.targets)}")
            for name, length in state.targets.items():
                client.read(name)
                lines.append(f"target {name}: {length} bytes, length and sha256 ok")
        return lines
