"""The official registry's index, shipped inside the core: what a fresh install can show.

``modellab/registry/official/index.toml`` lists every workset in the repository's
``worksets/`` folder with the sha256 and size of its reproducible wheel, its manifest (shipped
beside the index as ``<name>-<version>.workset.toml``) and the signer a release must carry: the
project's release workflow, Sigstore keyless. ``tools/official_index.py`` writes it, and a test
rebuilds the wheels and fails when it and the sources disagree.

The shipped index is for display only (``worksets list --available``, ``worksets info``):
it carries no signature bundle and no TUF metadata, because no signed release of the official
registry is published yet. Installing needs a registry the user trusts (see ``cmd_install``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, ValidationError, field_validator

from modellab.errors import RegistryError
from modellab.registry._index import (
    INDEX_FORMAT_VERSION,
    KeylessSpec,
    Sha256,
    WorksetName,
    _first_error,
    _parse_version,
    _Strict,
)
from modellab.registry._layout import check_filename

if TYPE_CHECKING:
    from modellab.worksets._manifest import WorksetManifest

__all__ = [
    "OFFICIAL_REGISTRY",
    "OFFICIAL_SIGNER",
    "OfficialIndex",
    "OfficialOffer",
    "OfficialRelease",
    "official_offer",
    "official_offers",
]

#: The name the official registry goes by in listings and messages.
OFFICIAL_REGISTRY = "official"

#: Who must sign every official release: the project's release workflow, run for a tag.
OFFICIAL_SIGNER = KeylessSpec(
    issuer="https://token.actions.githubusercontent.com",
    repository="https://github.com/modellab/modellab",
    workflow="https://github.com/modellab/modellab/.github/workflows/release.yml",
    ref="refs/tags/v*",
)

_PACKAGE = "modellab.registry"
_FOLDER = "official"
_INDEX = "index.toml"


class OfficialRelease(_Strict):
    """One ``[[release]]`` of the shipped index: a registry release less its bundle.

    The bundle (and its hash) exist only once the release workflow has signed the wheel.
    """

    name: WorksetName
    version: str
    artifact: str
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]
    manifest: str
    manifest_sha256: Sha256
    isolation: Literal["shared", "venv"]
    signer: KeylessSpec

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        _parse_version(value)
        return value

    @field_validator("artifact", "manifest")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        problem = check_filename(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("signer")
    @classmethod
    def _official_signer(cls, value: KeylessSpec) -> KeylessSpec:
        # The signer is part of what the core pins: an index naming another one is refused.
        if value != OFFICIAL_SIGNER:
            raise ValueError("is not the project's release workflow identity")
        return value


class OfficialIndex(_Strict):
    """The parsed shipped index: one release per official workset, sorted by name."""

    format_version: Literal[1] = INDEX_FORMAT_VERSION
    releases: tuple[OfficialRelease, ...] = Field(default=(), alias="release", strict=False)

    @field_validator("releases")
    @classmethod
    def _one_per_name(cls, value: tuple[OfficialRelease, ...]) -> tuple[OfficialRelease, ...]:
        names = [release.name for release in value]
        if len(set(names)) != len(names):
            raise ValueError("lists a workset twice; the official index has one release each")
        return tuple(sorted(value, key=lambda release: release.name))

    @classmethod
    def from_toml(cls, data: bytes, source: str) -> OfficialIndex:
        """Parse and validate the shipped index.

        :raises RegistryError: naming ``source`` and the first field at fault.
        """
        try:
            raw = tomllib.loads(data.decode("utf-8"))
            return cls.model_validate(raw, by_alias=True)
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RegistryError(f"{source}: not valid TOML ({exc})") from None
        except ValidationError as exc:
            raise RegistryError(f"{source}: {_first_error(exc)}") from None


@dataclass(frozen=True, slots=True)
class OfficialOffer:
    """An official workset as a fresh install can show it: release entry and manifest."""

    release: OfficialRelease
    manifest: WorksetManifest


def _shipped(name: str) -> bytes:
    return resources.files(_PACKAGE).joinpath(_FOLDER, name).read_bytes()


def _load_index() -> OfficialIndex:
    source = f"modellab/registry/{_FOLDER}/{_INDEX}"
    try:
        data = _shipped(_INDEX)
    except OSError as exc:
        raise RegistryError(f"{source}: cannot read ({exc.strerror or exc})") from None
    return OfficialIndex.from_toml(data, source)


def _offer(release: OfficialRelease) -> OfficialOffer:
    from modellab.worksets._manifest import load_manifest

    source = f"modellab/registry/{_FOLDER}/{release.manifest}"
    try:
        data = _shipped(release.manifest)
    except OSError as exc:
        raise RegistryError(f"{source}: cannot read ({exc.strerror or exc})") from None
    manifest, digest = load_manifest(data, source)
    if digest != release.manifest_sha256:
        raise RegistryError(f"{source}: not the manifest the official index pins")
    if (manifest.workset.name, manifest.workset.version) != (release.name, release.version):
        raise RegistryError(
            f"{source}: names {manifest.workset.name} {manifest.workset.version}, "
            f"but the official index lists {release.name} {release.version}"
        )
    return OfficialOffer(release, manifest)


def official_offers() -> list[OfficialOffer]:
    """Every official workset, sorted by name, each manifest checked against the index.

    :raises RegistryError: the shipped files are unreadable or disagree (a broken install).
    """
    return [_offer(release) for release in _load_index().releases]


def official_offer(name: str) -> OfficialOffer | None:
    """The official workset ``name``, or None when the official index does not list it."""
    for release in _load_index().releases:
        if release.name == name:
            return _offer(release)
    return None
