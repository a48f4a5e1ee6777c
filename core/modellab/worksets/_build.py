"""Build a pure-Python workset's wheel from its source folder, reproducibly and offline.

A workset is plain Python plus its ``workset.toml``; building it needs no build backend
from the network. The wheel is written from ``pyproject.toml``'s ``[project]`` table with
fixed timestamps and sorted entries, so the same source always gives the same bytes, and
the same sha256 that the registry pins and the signature covers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from modellab._internal.files import atomic_write_bytes
from modellab.errors import ManifestError, UsageError
from modellab.worksets._discovery import ENTRY_POINT_GROUP, MANIFEST_NAME
from modellab.worksets._manifest import load_manifest

__all__ = ["BuiltWheel", "build_wheel"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: builds do not depend on the clock
_SKIP = re.compile(r"(^|/)(__pycache__|\.[^/]*)(/|$)|\.py[co]$")


@dataclass(frozen=True, slots=True)
class BuiltWheel:
    """A wheel written by :func:`build_wheel`."""

    path: Path
    name: str
    version: str
    sha256: str
    workset: str


def _project(source: Path) -> dict[str, object]:
    pyproject = source / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except OSError as exc:
        raise UsageError(f"{pyproject}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{pyproject}: not UTF-8 text (byte {exc.start}: {exc.reason}); TOML files are UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{pyproject}: not valid TOML ({exc})") from None
    project = data.get("project")
    if not isinstance(project, dict) or not project.get("name") or not project.get("version"):
        raise UsageError(f"{pyproject}: needs [project] with name and version")
    for key in ("name", "version", "description", "license", "requires-python"):
        if key in project and not isinstance(project[key], str):
            raise UsageError(f"{pyproject}: [project] {key} must be a string")
    return project


def _packages(source: Path) -> list[Path]:
    root = source / "src" if (source / "src").is_dir() else source
    found = sorted(p.parent for p in root.glob("*/__init__.py"))
    if not found:
        raise UsageError(f"{source}: no package (a folder with __init__.py) to put in the wheel")
    return found


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata(project: dict[str, object]) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    license_ = project.get("license")
    if isinstance(license_, str):
        lines.append(f"License: {license_}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for requirement in project.get("dependencies") or []:  # type: ignore[attr-defined]
        lines.append(f"Requires-Dist: {requirement}")
    return ("\n".join(lines) + "\n").encode()


def _entry_points(project: dict[str, object]) -> tuple[bytes, str]:
    groups = project.get("entry-points")
    if not isinstance(groups, dict):
        groups = {}
    for group, entries in groups.items():
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise UsageError(
                f'pyproject.toml: [project.entry-points."{group}"] must be a table of strings'
            )
    worksets = groups.get(ENTRY_POINT_GROUP)
    if not isinstance(worksets, dict) or len(worksets) != 1:
        raise UsageError(
            f"pyproject.toml: needs exactly one entry point in [project.entry-points."
            f'"{ENTRY_POINT_GROUP}"]'
        )
    text = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(entries.items())) + "\n"
        for group, entries in sorted(groups.items())
    )
    return text.encode(), next(iter(worksets))


def build_wheel(source: Path, out_dir: Path) -> BuiltWheel:
    """Build ``source`` (a workset folder) into ``out_dir``; checks the manifest first."""
    project = _project(source)
    name, version = str(project["name"]), str(project["version"])
    entry_points, workset = _entry_points(project)
    files: dict[str, bytes] = {}
    for package in _packages(source):
        for path in sorted(package.rglob("*")):
            relative = f"{package.name}/{path.relative_to(package).as_posix()}"
            if path.is_file() and not _SKIP.search(relative):
                files[relative] = path.read_bytes()
    manifests = [n for n in files if n.count("/") == 1 and n.endswith(f"/{MANIFEST_NAME}")]
    if len(manifests) != 1:
        raise ManifestError(f"{source}: the package must ship exactly one {MANIFEST_NAME}")
    manifest, _digest = load_manifest(files[manifests[0]], f"{source}/{manifests[0]}")
    if (manifest.name, manifest.version) != (workset, version):
        raise ManifestError(
            f"{manifests[0]}: names {manifest.name} {manifest.version}, but pyproject.toml "
            f"builds workset {workset} {version}"
        )
    dependencies = project.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise UsageError(f"{source}/pyproject.toml: [project] dependencies must be strings")
    from modellab.worksets._install import check_requires_dist

    # What the wheel's METADATA will say (Requires-Dist) must be what the manifest shows.
    check_requires_dist(manifest.requirements.python, dependencies, f"{source}/{manifests[0]}")
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    info = f"{stem}.dist-info"
    files[f"{info}/METADATA"] = _metadata(project)
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: modellab registry build\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = entry_points
    record = [_record_line(n, d) for n, d in sorted(files.items())] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    made_out = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{stem}-py3-none-any.whl"
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in sorted(files.items()):
            # Nothing from the machine or the checkout reaches the bytes: a fixed date (not
            # the files' mtimes, nor SOURCE_DATE_EPOCH, which would make the registry's pinned
            # sha256 depend on the environment), fixed permissions whatever the files' modes,
            # and "made on Unix" even on Windows, where zipfile would otherwise write 0.
            info_entry = zipfile.ZipInfo(entry, date_time=_EPOCH)
            info_entry.create_system = 3
            info_entry.external_attr = 0o644 << 16
            info_entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info_entry, data)
    data = buffer.getvalue()
    from modellab.worksets._wheel_safety import check_wheel_bytes

    # What registry add and install will check: a source that builds is one they accept.
    check_wheel_bytes(data, target.name)
    try:
        atomic_write_bytes(target, data)
    except BaseException:
        if made_out:  # a full disk, say: no empty --out is left behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    return BuiltWheel(target, name, version, hashlib.sha256(data).hexdigest(), workset)
