"""Find installed worksets from package metadata alone: entry points and shipped manifests.

Nothing here imports workset code. A workset ships its ``workset.toml`` inside its top-level
package; it is read straight from the installed files (the wheel's RECORD lists it), so
``worksets list`` and ``info`` work even when the workset's code would crash on import.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from dataclasses import dataclass
from pathlib import Path

from modellab.errors import ManifestError
from modellab.worksets._manifest import WorksetManifest, load_manifest

__all__ = [
    "ENTRY_POINT_GROUP",
    "Found",
    "find_in",
    "find_in_core",
    "installed_version",
    "metadata_headers",
]

ENTRY_POINT_GROUP = "modellab.worksets"
MANIFEST_NAME = "workset.toml"
#: A header line as ``email.feedparser`` recognises one: printable characters but ':', then ':'.
_HEADER_LINE = re.compile(r"[\041-\071\073-\176]*:")


@dataclass(frozen=True, slots=True)
class Found:
    """One workset entry point, and its manifest if it could be read and validated."""

    name: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint
    manifest: WorksetManifest | None
    manifest_sha256: str | None
    #: Why the manifest is unusable (missing, invalid, or naming another workset).
    problem: str | None


def metadata_headers(text: str) -> dict[str, list[str]]:
    """The header fields of a core-metadata file (``METADATA``, ``PKG-INFO``), by lower-case
    name, each with its values in order.

    Read line by line rather than with ``email.parser`` (what ``importlib.metadata`` uses),
    which costs more than the rest of an install's checks for a package with a long
    description, with its rules: the headers end at the first empty line or at the first
    line that is not a header (the description follows), and a folded (continued) line
    belongs to the field above it.
    """
    fields: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and fields:
            key, value = fields[-1]
            fields[-1] = (key, f"{value} {line.strip()}".rstrip())
            continue
        if not _HEADER_LINE.match(line):
            break
        key, _, value = line.partition(":")
        fields.append((key.lower(), value.strip()))
    headers: dict[str, list[str]] = {}
    for key, value in fields:
        headers.setdefault(key, []).append(value)
    return headers


def _name_and_version(dist: metadata.Distribution) -> tuple[str, str]:
    """An installed distribution's name and version, from the files ``importlib.metadata``
    reads (``METADATA``, else ``PKG-INFO``), without parsing the description; its own
    reading is the fallback should a field be missing."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    headers = metadata_headers(text)
    name, version = headers.get("name"), headers.get("version")
    return (name[0] if name else dist.metadata["Name"]), (version[0] if version else dist.version)


def installed_version(name: str) -> str:
    """The version of the distribution ``name`` installed in Model Lab's environment.

    :raises importlib.metadata.PackageNotFoundError: when none is.
    """
    return _name_and_version(metadata.distribution(name))[1]


def _manifest_of(dist: metadata.Distribution, entry: metadata.EntryPoint) -> Found:
    package = entry.value.split(":", 1)[0].split(".", 1)[0]
    name, version = _name_and_version(dist)
    wanted = f"{package}/{MANIFEST_NAME}"
    listed = [f for f in dist.files or () if str(f).replace("\\", "/") == wanted]
    if not listed:
        return Found(entry.name, name, version, entry, None, None, f"no {wanted} in {name}")
    source = f"{name} {version}: {wanted}"
    try:
        manifest, digest = load_manifest(
            Path(str(dist.locate_file(listed[0]))).read_bytes(), source
        )
    except OSError as exc:
        return Found(entry.name, name, version, entry, None, None, f"{source}: {exc}")
    except ManifestError as exc:
        return Found(entry.name, name, version, entry, None, None, exc.message)
    problem = None
    if manifest.name != entry.name:
        problem = f"{source}: names workset {manifest.name!r}, entry point says {entry.name!r}"
    elif manifest.version != version:
        problem = f"{source}: version {manifest.version} differs from the package's {version}"
    return Found(entry.name, name, version, entry, manifest, digest, problem)


def _found(dists: list[metadata.Distribution]) -> dict[str, Found]:
    found: dict[str, Found] = {}
    for dist in dists:
        for entry in dist.entry_points:
            if entry.group == ENTRY_POINT_GROUP:
                found.setdefault(entry.name, _manifest_of(dist, entry))
    return found


def find_in(site: Path) -> dict[str, Found]:
    """Worksets installed in the folder ``site`` (a ``--target`` or venv site-packages)."""
    return _found(list(metadata.distributions(path=[str(site)])))


def find_in_core() -> dict[str, Found]:
    """Worksets installed in Model Lab's own environment (for example by pip)."""
    return _found(list(metadata.distributions()))
