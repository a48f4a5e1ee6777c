"""Find installed worksets from package metadata alone: entry points and shipped manifests.

Nothing here imports workset code. A workset ships its ``workset.toml`` inside its top-level
package; it is read straight from the installed files (the wheel's RECORD lists it), so
``worksets list`` and ``info`` work even when the workset's code would crash on import.
"""

from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass
from pathlib import Path

from modellab.errors import ManifestError
from modellab.worksets._manifest import WorksetManifest, load_manifest

__all__ = ["ENTRY_POINT_GROUP", "Found", "find_in", "find_in_core"]

ENTRY_POINT_GROUP = "modellab.worksets"
MANIFEST_NAME = "workset.toml"


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


def _manifest_of(dist: metadata.Distribution, entry: metadata.EntryPoint) -> Found:
    package = entry.value.split(":", 1)[0].split(".", 1)[0]
    name, version = dist.metadata["Name"], dist.version
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
