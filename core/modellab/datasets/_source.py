"""Read an approved export one trajectory at a time, checking it is still what was approved.

A build reads ``trajectories.jsonl`` twice (a planning pass and a writing pass) and never
holds more than one trajectory. Each pass hashes the bytes it reads and compares them with
the sha256 the approval recorded, so a file changed after the gate let it through is
refused, not half used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modellab.errors import CorruptSourceError, StaleApprovalError
from modellab.traces import Session, from_atif

__all__ = ["ExportSource", "SessionRecord", "iter_sessions", "open_export"]

TRAJECTORIES = "trajectories.jsonl"
MANIFEST = "manifest.json"
FINDINGS = "redaction-findings.jsonl"


@dataclass(frozen=True, slots=True)
class ExportSource:
    """What identifies the export a build reads: its path and approved file hashes."""

    path: Path
    manifest_sha256: str
    #: sha256 of every file in the export, by its path relative to the export, as approved.
    file_sha256: dict[str, str]
    redaction_report_sha256: str | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One trajectory of the export, converted back to the neutral model."""

    #: Its line in ``trajectories.jsonl`` (1-based), for messages.
    line: int
    session: Session
    #: The tool definitions the trajectory declared (ATIF ``agent.tool_definitions``).
    declared_tools: dict[str, dict[str, Any]]


def open_export(path: Path, approved: Mapping[str, str]) -> ExportSource:
    """Describe the export at ``path`` from the hashes its approval recorded.

    :raises CorruptSourceError: the export has no trajectories file or manifest.
    """
    for name in (TRAJECTORIES, MANIFEST):
        if name not in approved:
            raise CorruptSourceError(path / name, "missing from the approved export")
    return ExportSource(
        path=path,
        manifest_sha256=approved[MANIFEST],
        file_sha256=dict(approved),
        redaction_report_sha256=approved.get(FINDINGS),
    )


def _declared(trajectory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    agent = trajectory.get("agent")
    definitions = agent.get("tool_definitions") if isinstance(agent, dict) else None
    for item in definitions if isinstance(definitions, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = {"type": "function", "function": function}
    return found


def iter_sessions(source: ExportSource) -> Iterator[SessionRecord]:
    """Every trajectory in file order; a damaged line raises naming file and line.

    :raises CorruptSourceError: a line is not a Model Lab ATIF trajectory.
    :raises StaleApprovalError: the file's bytes are not the ones that were approved.
    """
    trajectories = source.path / TRAJECTORIES
    digest = hashlib.sha256()
    try:
        with trajectories.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                digest.update(line)
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                    session = from_atif(raw)
                except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
                    raise CorruptSourceError(
                        trajectories, f"line {number}: not a Model Lab ATIF trajectory ({exc})"
                    ) from None
                yield SessionRecord(number, session, _declared(raw))
    except OSError as exc:
        raise CorruptSourceError(trajectories, f"cannot read: {exc}") from exc
    if digest.hexdigest() != source.file_sha256[TRAJECTORIES]:
        raise StaleApprovalError(
            source.path,
            f"{TRAJECTORIES} changed while the dataset was being built",
            hint="review and approve the export again, then rebuild",
        )
