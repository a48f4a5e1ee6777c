"""Gather importers from the plugin manager and decide which importer reads which file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from modellab.errors import UsageError
from modellab.sources._base import Importer, read_head

__all__ = ["PlannedFile", "builtin_importer_plugins", "collect_importers", "plan_files"]


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
