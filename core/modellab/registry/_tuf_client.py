"""The user's side of the registry: a TUF client that hands out only verified files.

Trust starts from root metadata the user already has (``trusted_root``, shipped or pinned,
never fetched). Every refresh walks the root chain, then timestamp, snapshot and targets, and
keeps what it verified in ``cache_dir``: the versions remembered there are what make a later
rollback visible, so one cache folder belongs to one registry and should not be wiped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.errors import RegistryError
from modellab.registry._index import Index
from modellab.registry._layout import (
    INDEX_NAME,
    METADATA_DIR,
    ROLES,
    TARGETS_DIR,
    check_filename,
)

if TYPE_CHECKING:
    from tuf.api.metadata import TargetFile  # type: ignore[attr-defined]  # no __all__ upstream
    from tuf.ngclient.updater import Updater

    from modellab.registry._fetchers import RecordingFetcher

__all__ = ["RegistryClient", "RegistryState", "check_trusted_root"]


@dataclass(frozen=True, slots=True)
class RegistryState:
    """What the last successful refresh verified: each role's version and expiry, and the
    target files (name -> length) the registry signs."""

    versions: dict[str, int]
    expires: dict[str, datetime]
    targets: dict[str, int]


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def check_trusted_root(data: bytes, source: str) -> int:
    """Refuse ``data`` unless it is TUF root metadata signed by its own keys; its version.

    Run where a root is pinned (``worksets add-registry --root``), so a file that could
    never start a refresh is refused there, naming ``source``, instead of being kept and
    breaking every later lookup in that registry.

    :raises RegistryError: not JSON, not TUF metadata, not the root role, or not signed
        by a threshold of the keys it names.
    """
    from tuf.api.exceptions import UnsignedMetadataError
    from tuf.api.metadata import Metadata, Root  # type: ignore[attr-defined]

    hint = "pin the registry's 1.root.json exactly as its maintainers publish it"
    try:
        metadata = Metadata.from_bytes(data)
    except Exception as exc:  # python-tuf raises DeserializationError, or ValueError/KeyError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RegistryError(
            f"{source}: not TUF root metadata ({reason[:200]})", hint=hint
        ) from None
    if not isinstance(metadata.signed, Root):
        raise RegistryError(
            f"{source}: TUF {metadata.signed.type} metadata, not root metadata", hint=hint
        )
    try:
        metadata.verify_delegate(Root.type, metadata)
    except (UnsignedMetadataError, ValueError) as exc:
        raise RegistryError(
            f"{source}: root metadata not signed by its own keys ({exc})", hint=hint
        ) from None
    return int(metadata.signed.version)


class RegistryClient:
    """Reads a TUF-protected registry from a folder or an ``http(s)://`` URL.

    :param location: the registry root (the folder holding ``metadata/`` and ``targets/``).
    :param trusted_root: the bytes of the root metadata the user trusts (normally
        ``1.root.json``); newer roots are accepted only when this one's keys sign them.
    :param cache_dir: where verified metadata and files are kept across runs.
    """

    def __init__(self, location: str, trusted_root: bytes, cache_dir: Path) -> None:
        if "://" in location and not _is_url(location):
            raise RegistryError(
                f"unsupported registry location {location!r}",
                hint="give a folder path or an http(s):// URL",
            )
        if not _is_url(location) and not Path(location).is_dir():
            raise RegistryError(f"no registry folder at {location}")
        self._location = location
        self._trusted_root = trusted_root
        self._cache_dir = cache_dir
        self._updater: Updater | None = None
        self._record: RecordingFetcher | None = None

    @property
    def location(self) -> str:
        """The registry folder or URL this client reads."""
        return self._location

    def _base_urls(self) -> tuple[str, str]:
        if _is_url(self._location):
            root = self._location.rstrip("/")
            return f"{root}/{METADATA_DIR}/", f"{root}/{TARGETS_DIR}/"
        root_path = Path(self._location).resolve()
        return (
            (root_path / METADATA_DIR).as_uri() + "/",
            (root_path / TARGETS_DIR).as_uri() + "/",
        )

    def _new_updater(self) -> tuple[Updater, RecordingFetcher]:
        from tuf.api.exceptions import RepositoryError
        from tuf.ngclient.updater import Updater

        from modellab.registry._fetchers import DirectoryFetcher, RecordingFetcher, http_fetcher

        metadata_url, targets_url = self._base_urls()
        inner = (
            http_fetcher() if _is_url(self._location) else DirectoryFetcher(Path(self._location))
        )
        record = RecordingFetcher(inner, metadata_url)
        metadata_dir = self._cache_dir / METADATA_DIR
        targets_dir = self._cache_dir / TARGETS_DIR
        try:
            metadata_dir.mkdir(parents=True, exist_ok=True)
            targets_dir.mkdir(parents=True, exist_ok=True)
            updater = Updater(
                metadata_dir=str(metadata_dir),
                metadata_base_url=metadata_url,
                target_dir=str(targets_dir),
                target_base_url=targets_url,
                fetcher=record,
                bootstrap=self._trusted_root,
            )
        except (RepositoryError, ValueError) as exc:
            raise RegistryError(
                f"the trusted root is not valid TUF root metadata: {exc}",
                hint="pin the registry's 1.root.json exactly as its maintainers publish it",
            ) from None
        except OSError as exc:
            raise RegistryError(f"registry cache {self._cache_dir} is not writable: {exc}") from exc
        return updater, record

    def refresh(self) -> None:
        """Fetch and verify the newest metadata (root chain, timestamp, snapshot, targets).

        :raises RegistryError: naming the attack or failure: rollback, freeze/expiry,
            mix-and-match, unauthorised signatures, tampering, or a download failure.
        """
        self._refresh()

    def _refresh(self) -> tuple[Updater, RecordingFetcher]:
        from modellab.registry._tuf_errors import translated

        # A fresh Updater each time: python-tuf allows one refresh() per Updater.
        updater, record = self._new_updater()
        with translated(record, self._location):
            updater.refresh()
        self._updater, self._record = updater, record
        return updater, record

    def _ready(self) -> tuple[Updater, RecordingFetcher]:
        if self._updater is None or self._record is None:
            return self._refresh()
        return self._updater, self._record

    def read(self, name: str) -> bytes:
        """The bytes of target ``name``, verified against its signed length and sha256.

        Served from the cache when the cached copy still matches; downloaded otherwise.

        :raises RegistryError: an unknown name, a download failure or a tampered file.
        """
        from modellab.registry._tuf_errors import translated

        problem = check_filename(name)
        if problem is not None:
            raise RegistryError(f"cannot fetch {problem}")
        updater, record = self._ready()
        with translated(record, self._location, target=name):
            info = updater.get_targetinfo(name)
            if info is None:
                listed = ", ".join(sorted(self.state().targets)) or "no files"
                raise RegistryError(f"the registry has no file named {name!r}; it has: {listed}")
            path = updater.find_cached_target(info) or updater.download_target(info)
            return _read_verified(info, Path(path))

    def fetch(self, name: str, dest_dir: Path) -> Path:
        """Copy verified target ``name`` into ``dest_dir``; return the new file's path.

        ``dest_dir`` is scratch space (an install's staging folder): the copy is written
        plainly, not fsynced, since nothing survives a crash there. A caller that keeps the
        file must check it again before trusting it after a crash (the installer does).

        :raises RegistryError: as :meth:`read`, or when ``dest_dir`` cannot be written.
        """
        data = self.read(name)
        dest = dest_dir / name
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        except OSError as exc:
            raise RegistryError(f"could not write {dest}: {exc}") from exc
        return dest

    def index(self) -> Index:
        """The registry's verified ``index.toml``, parsed.

        :raises RegistryError: as :meth:`read`, or when the index itself is invalid.
        """
        return Index.from_toml(self.read(INDEX_NAME), source=INDEX_NAME)

    def state(self) -> RegistryState:
        """What the last refresh verified (refreshing first if this client has not yet)."""
        self._ready()
        from tuf.api.exceptions import RepositoryError
        from tuf.api.metadata import Metadata, Targets  # type: ignore[attr-defined]  # no __all__ upstream

        # After a successful refresh the cache holds exactly the metadata the client trusts;
        # reading it back avoids python-tuf's private trusted-set object.
        versions: dict[str, int] = {}
        expires: dict[str, datetime] = {}
        targets: dict[str, int] = {}
        for role in ROLES:
            path = self._cache_dir / METADATA_DIR / f"{role}.json"
            try:
                metadata: Metadata[Any] = Metadata.from_bytes(path.read_bytes())
            except (OSError, RepositoryError) as exc:
                raise RegistryError(f"registry cache {path} is unreadable: {exc}") from exc
            signed = metadata.signed
            versions[role] = signed.version
            expires[role] = signed.expires
            if isinstance(signed, Targets):
                targets = {name: info.length for name, info in sorted(signed.targets.items())}
        return RegistryState(versions=versions, expires=expires, targets=targets)


def _read_verified(info: TargetFile, path: Path) -> bytes:
    """Read a downloaded target and check it again.

    The cache is an ordinary folder another process can write to, so the bytes we return are
    the bytes we check, not a file checked a moment earlier.
    """
    data = path.read_bytes()
    info.verify_length_and_hashes(data)
    return data
