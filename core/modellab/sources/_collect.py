"""Gather importers from the plugin manager and decide which importer reads which file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from modellab.errors import UsageError
from modellab.sources._base import Importer, read_head

__all__ = [
    "PlannedFile",
    "builtin_importer_plugins",
    "collect_importers",
    "plan_files",
    "sniff_file",
    "unclaimed_files",
]


def builtin_importer_plugins() -> list[tuple[str, Any]]:
    """The built-in importer plugins, in the order they are asked about a file."""
    from modellab.sources import claude_code, codewhale, codex, openhands, swe_agent

    return [
        ("codewhale", codewhale.plugin),
        ("claude-code", claude_code.plugin),
        ("codex", codex.plugin),
        ("swe-agent", swe_agent.plugin),
        ("openhands", openhands.plugin),
    ]


def collect_importers(manager: pluggy.PluginManager) -> list[Importer]:
    """Call ``modellab_register_importers`` on every plugin and validate what comes back."""
    importers: dict[str, Importer] = {}

    def register(importer: Importer) -> None:
        if not isinstance(importer, Importer):
            raise TypeError(f"{importer!r} does not implement the Importer protocol")
        if importer.name in importers:
            raise ValueError(
                f"two importers are named {importer.name!r}: "
                f"{importers[importer.name]!r} and {importer!r}"
            )
        importers[importer.name] = importer

    manager.hook.modellab_register_importers(register=register)
    return list(importers.values())


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file and the importer chosen to read it."""

    path: Path
    importer: Importer


def _explicit_file(path: Path, importers: list[Importer]) -> PlannedFile | None:
    head = read_head(path)
    for importer in importers:
        if importer.sniff(path, head):
            return PlannedFile(path, importer)
    return None


def sniff_file(path: Path, importers: list[Importer]) -> Importer | None:
    """The first importer that recognises ``path`` by its name and first bytes, if any."""
    choice = _explicit_file(path, importers)
    return None if choice is None else choice.importer


#: Files in one folder that are sniffed to say which format they have; past it, none is.
SNIFF_LIMIT = 2000


def unclaimed_files(
    folder: Path, claimed: set[Path], importers: list[Importer]
) -> list[tuple[Path, str | None]]:
    """Files under ``folder`` that no importer's ``discover`` took, with the format they have.

    Hidden files and folders (``.git``, ``.DS_Store``) are not listed. Each file is paired
    with the name of the importer that recognises its content (so the user can import it by
    path), or ``None``; an unreadable file is paired with ``None``. Only the first
    ``SNIFF_LIMIT`` files are sniffed; the rest are paired with ``None`` too.
    """
    found: list[tuple[Path, str | None]] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.resolve() in claimed:
            continue
        name: str | None = None
        if len(found) < SNIFF_LIMIT:
            try:
                importer = sniff_file(path, importers)
            except OSError:
                importer = None
            name = None if importer is None else importer.name
        found.append((path, name))
    return found


def plan_files(
    paths: Iterable[Path], importers: list[Importer]
) -> tuple[list[PlannedFile], list[Path]]:
    """Expand paths into files to read, and files given explicitly that nobody recognised.

    A folder is handed to every importer's ``discover`` (each knows its agent's layout); a
    file is sniffed. A file claimed twice is read once, by the first importer to claim it.
    """
    planned: dict[Path, PlannedFile] = {}
    unrecognised: list[Path] = []
    for path in paths:
        if path.is_dir():
            for importer in importers:
                for found in importer.discover(path):
                    planned.setdefault(found.resolve(), PlannedFile(found, importer))
        elif path.is_file():
            choice = _explicit_file(path, importers)
            if choice is None:
                unrecognised.append(path)
            else:
                planned.setdefault(path.resolve(), choice)
        else:
            raise UsageError(f"{path}: no such file or folder")
    return list(planned.values()), unrecognised
