"""``registry/index.toml``: every release a registry offers, and how to pick one.

The index is a TUF target, so by the time it is parsed here its bytes are known to be the ones
the registry signed. What this module adds is shape: every field is checked, errors name the
field (``index.toml: release[2].sha256: ...``), and :meth:`Index.find` applies the yank and
revoke rules in one place.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import tomli_w
from packaging.version import InvalidVersion, Version
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from modellab.errors import RegistryError
from modellab.registry._layout import check_filename

__all__ = [
    "INDEX_FORMAT_VERSION",
    "Index",
    "KeylessSpec",
    "Pep740Spec",
    "PinnedKeySpec",
    "Release",
    "SignerSpec",
]

#: The only ``format_version`` this Model Lab reads and writes.
INDEX_FORMAT_VERSION: Literal[1] = 1

_NAME = re.compile(r"[a-z][a-z0-9-]{1,40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNER_KINDS = frozenset({"pinned-key", "keyless"})


def _https_url(value: str) -> str:
    if (
        not value.startswith("https://")
        or len(value) <= len("https://")
        or any(c.isspace() for c in value)
    ):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


def _sha256_hex(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError(f"{value!r} is not a sha256 (64 lowercase hex digits)")
    return value


def _workset_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a workset name (lowercase letter, then 1-40 of a-z, 0-9, '-')"
        )
    return value


Sha256 = Annotated[str, AfterValidator(_sha256_hex)]
WorksetName = Annotated[str, AfterValidator(_workset_name)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class _Strict(BaseModel):
    # strict: TOML already has real types, so "123" for a size is a mistake, not a number.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class PinnedKeySpec(_Strict):
    """The release's bundle must be signed by this one key (private registries)."""

    kind: Literal["pinned-key"] = "pinned-key"
    #: sha256 of the signer's public key, lowercase hex.
    key_id: Sha256


class KeylessSpec(_Strict):
    """The release's bundle must carry a Sigstore certificate for this CI identity."""

    kind: Literal["keyless"] = "keyless"
    #: The OIDC issuer, e.g. ``https://token.actions.githubusercontent.com``.
    issuer: HttpsUrl
    #: The source repository the certificate must name, e.g. ``https://github.com/acme/ws``.
    repository: HttpsUrl
    #: The workflow that must have signed, when pinned.
    workflow: HttpsUrl | None = None
    #: The exact certificate identity (SAN), when pinned.
    identity: Annotated[str, Field(min_length=1)] | None = None
    #: A pattern the signing run's git ref must match (``refs/tags/v*``), when pinned.
    ref: Annotated[str, Field(pattern=r"^refs/")] | None = None


class Pep740Spec(_Strict):
    """The release is a PyPI upload whose PEP 740 provenance must name this publisher.

    The release's ``bundle`` is then PyPI's provenance object for the wheel.
    """

    kind: Literal["pep740"] = "pep740"
    #: The GitHub Trusted Publisher's repository, ``owner/name``.
    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    #: The publishing workflow's file name, e.g. ``release.yml``.
    workflow: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+\.ya?ml$")]


#: Who must have signed a release: a pinned key, a keyless CI identity, or PyPI provenance
#: (tagged by ``kind``).
SignerSpec = Annotated[PinnedKeySpec | KeylessSpec | Pep740Spec, Field(discriminator="kind")]


def _parse_version(value: str) -> Version:
    try:
        return Version(value)
    except InvalidVersion:
        raise ValueError(f"{value!r} is not a PEP 440 version (e.g. 1.2.0)") from None


class Release(_Strict):
    """One ``[[release]]`` entry: a workset version and the files that make it up."""

    name: WorksetName
    version: str
    #: The wheel's file name (a target of the registry).
    artifact: str
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]
    #: The Sigstore bundle for the wheel (a target of the registry).
    bundle: str
    bundle_sha256: Sha256
    #: The ``workset.toml`` shown at consent (a target of the registry).
    manifest: str
    manifest_sha256: Sha256
    isolation: Literal["shared", "venv"]
    signer: SignerSpec
    #: Why this version is no longer picked; asking for it by version is refused too.
    yanked: Reason | None = None
    #: Why this version must never be installed (compromised, malicious...).
    revoked: Reason | None = None

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        _parse_version(value)
        return value

    @field_validator("artifact", "bundle", "manifest")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        problem = check_filename(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def parsed_version(self) -> Version:
        """The version as a :class:`packaging.version.Version`, for ordering."""
        return Version(self.version)

    @property
    def label(self) -> str:
        """``name version``, as messages show it."""
        return f"{self.name} {self.version}"

    def files(self) -> tuple[str, str, str]:
        """The three target names this release needs: wheel, bundle, manifest."""
        return (self.artifact, self.bundle, self.manifest)


def _check_unique(releases: Iterable[Release]) -> None:
    """Refuse two entries for one name+version, or two entries claiming one file name."""
    seen_versions: dict[tuple[str, Version], int] = {}
    seen_files: dict[str, int] = {}
    for position, release in enumerate(releases):
        key = (release.name, release.parsed_version)
        if key in seen_versions:
            raise ValueError(
                f"release[{position}] ({release.label}) duplicates release[{seen_versions[key]}]"
            )
        seen_versions[key] = position
        for file_name in release.files():
            # A target name maps to exactly one file, so two releases cannot share one.
            if file_name in seen_files:
                raise ValueError(
                    f"release[{position}] ({release.label}) reuses the file name "
                    f"{file_name!r} of release[{seen_files[file_name]}]"
                )
            seen_files[file_name] = position


def _sort_key(release: Release) -> tuple[str, Version]:
    return (release.name, release.parsed_version)


class Index(_Strict):
    """A parsed, validated ``index.toml``. Releases are kept sorted by name, then version."""

    # validate_by_name: Python code says ``releases``; the TOML array of tables is ``release``.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    format_version: Literal[1] = INDEX_FORMAT_VERSION
    # strict=False here only: TOML arrays arrive as lists; each Release stays strict.
    releases: tuple[Release, ...] = Field(default=(), alias="release", strict=False)

    @field_validator("releases")
    @classmethod
    def _unique_and_sorted(cls, value: tuple[Release, ...]) -> tuple[Release, ...]:
        _check_unique(value)
        # Sorted so that to_toml() is canonical whatever order entries were added in.
        return tuple(sorted(value, key=_sort_key))

    @classmethod
    def from_toml(cls, data: bytes, source: str) -> Index:
        """Parse and validate ``index.toml`` bytes.

        :raises RegistryError: naming ``source`` and the first field at fault.
        """
        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RegistryError(f"{source}: not valid TOML ({exc})") from None
        version = raw.get("format_version")
        if version != INDEX_FORMAT_VERSION:
            # Checked before the model so a newer index gets an upgrade hint, not a type error.
            newer = isinstance(version, int) and version > INDEX_FORMAT_VERSION
            raise RegistryError(
                f"{source}: format_version: expected {INDEX_FORMAT_VERSION}, got {version!r}",
                hint="upgrade Model Lab to read this registry" if newer else None,
            )
        return _validate(raw, source)

    def to_toml(self) -> bytes:
        """Serialise to ``index.toml`` bytes: same index, same bytes."""
        document: dict[str, Any] = {"format_version": self.format_version}
        if self.releases:
            document["release"] = [
                release.model_dump(mode="json", exclude_none=True) for release in self.releases
            ]
        return tomli_w.dumps(document).encode("utf-8")

    def names(self) -> list[str]:
        """Every workset name the index lists, sorted."""
        return sorted({release.name for release in self.releases})

    def add(self, release: Release) -> Index:
        """Return a new index with ``release`` added.

        :raises RegistryError: when the index already has this name and version, or one of
            its file names.
        """
        try:
            return Index(releases=(*self.releases, release))
        except ValidationError as exc:
            raise RegistryError(
                f"cannot add {release.label}: {_first_error(exc)}",
                hint="publish a new version instead of replacing one",
            ) from None

    def find(self, name: str, version: str | None = None) -> Release:
        """Pick a release of ``name``.

        With no ``version``: the newest release that is neither yanked nor revoked, by PEP 440
        ordering; final releases win over pre-releases, which are picked only when a workset
        has nothing else. With a ``version``: exactly that release, refused when it is yanked
        or revoked.

        :raises RegistryError: unknown name or version (naming what exists), a yanked or
            revoked version, or no installable version left.
        """
        candidates = [release for release in self.releases if release.name == name]
        if not candidates:
            listed = ", ".join(self.names()) or "nothing (the index is empty)"
            raise RegistryError(
                f"no workset named {name!r} in the registry index; it lists: {listed}"
            )
        if version is not None:
            return _exact(candidates, name, version)
        usable = [r for r in candidates if r.yanked is None and r.revoked is None]
        finals = [r for r in usable if not r.parsed_version.is_prerelease]
        pool = finals or usable
        if not pool:
            raise RegistryError(
                f"{name} has no installable version: {_describe(candidates)}",
                hint="ask the workset's publisher for a new release",
            )
        return max(pool, key=_sort_key)


def _exact(candidates: list[Release], name: str, version: str) -> Release:
    try:
        wanted = _parse_version(version)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    for release in candidates:
        if release.parsed_version != wanted:
            continue
        if release.revoked is not None:
            raise RegistryError(
                f"{release.label} is revoked: {release.revoked}",
                hint="never install this version; pick another or remove it if installed",
            )
        if release.yanked is not None:
            raise RegistryError(
                f"{release.label} is yanked: {release.yanked}",
                hint=f"install without a version to get the newest usable {name}",
            )
        return release
    raise RegistryError(f"{name} has no version {version}; versions: {_describe(candidates)}")


def _describe(candidates: list[Release]) -> str:
    parts = []
    for release in candidates:
        if release.revoked:
            state = f" (revoked: {release.revoked})"
        elif release.yanked:
            state = f" (yanked: {release.yanked})"
        else:
            state = ""
        parts.append(f"{release.version}{state}")
    return ", ".join(parts)


def _location(loc: tuple[int | str, ...]) -> str:
    """``('release', 2, 'signer', 'keyless', 'issuer')`` -> ``release[2].signer.issuer``."""
    text = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif previous == "signer" and part in _SIGNER_KINDS:
            pass  # pydantic's union tag: the user wrote no such key
        else:
            text += f".{part}" if text else part
        previous = part
    return text or "(top level)"


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "value_error" and first["loc"] in {("release",), ("releases",)}:
        # Whole-list checks (duplicates) already name the entries.
        return f"{message}{more}"
    return f"{_location(first['loc'])}: {message}{more}"


def _validate(raw: dict[str, Any], source: str) -> Index:
    try:
        return Index.model_validate(raw, by_alias=True)
    except ValidationError as exc:
        raise RegistryError(f"{source}: {_first_error(exc)}") from None
