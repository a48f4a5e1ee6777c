"""Read an approved export: its sessions, declared tools, and the hashes that identify it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modellab._internal.files import sha256_file
from modellab.errors import CorruptSourceError
from modellab.traces import Session, from_atif

__all__ = ["ExportSource", "read_export"]

TRAJECTORIES = "trajectories.jsonl"
MANIFEST = "manifest.json"
FINDINGS = "redaction-findings.jsonl"


@dataclass(frozen=True, slots=True)
class ExportSource:
    """What a dataset build reads from an export."""

    path: Path
    sessions: list[Session]
    #: Per session id, the tool definitions the trajectory declared (ATIF
    #: ``agent.tool_definitions``), by function name.
    declared_tools: dict[str, dict[str, dict[str, Any]]]
    manifest: dict[str, Any]
    manifest_sha256: str
    #: sha256 of every file in the export, by its path relative to the export.
    file_sha256: dict[str, str]
    redaction_report_sha256: str | None


def _declared(trajectory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    agent = trajectory.get("agent")
    definitions = agent.get("tool_definitions") if isinstance(agent, dict) else None
    for item in definitions if isinstance(definitions, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = {"type": "function", "function": function}
    return found


def read_export(path: Path) -> ExportSource:
    """Read ``path``; a damaged file raises :class:`CorruptSourceError` naming file and line."""
    trajectories = path / TRAJECTORIES
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptSourceError(manifest_path, f"cannot read the export manifest: {exc}") from exc
    sessions: list[Session] = []
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        lines = trajectories.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptSourceError(trajectories, f"cannot read: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            session = from_atif(raw)
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise CorruptSourceError(
                trajectories, f"line {number}: not a Model Lab ATIF trajectory ({exc})"
            ) from None
        sessions.append(session)
        declared[session.id] = _declared(raw)
    files = {
        str(p.relative_to(path)): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()
    }
    findings = path / FINDINGS
    return ExportSource(
        path=path,
        sessions=sessions,
        declared_tools=declared,
        manifest=manifest,
        manifest_sha256=files.get(MANIFEST, sha256_file(manifest_path)),
        file_sha256=files,
        redaction_report_sha256=files.get(FINDINGS) if findings.is_file() else None,
    )
