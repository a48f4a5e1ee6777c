"""Read an approved export one trajectory at a time, as the neutral session model.

A build reads ``trajectories.jsonl`` twice (a planning pass and a writing pass) and never
holds more than one trajectory. Both passes read through the
:class:`~modellab.gate.ApprovedExport` the gate returned, which hashes the bytes as they
go by and refuses a file that is not the approved one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modellab.errors import CorruptSourceError
from modellab.gate import ApprovedExport
from modellab.gate.layout import TRAJECTORIES
from modellab.traces import Session, from_atif

__all__ = ["SessionRecord", "iter_sessions"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One trajectory of the export, converted back to the neutral model."""

    #: Its line in ``trajectories.jsonl`` (1-based), for messages.
    line: int
    session: Session
    #: The tool definitions the trajectory declared (ATIF ``agent.tool_definitions``).
    declared_tools: dict[str, dict[str, Any]]


def _declared(trajectory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    agent = trajectory.get("agent")
    definitions = agent.get("tool_definitions") if isinstance(agent, dict) else None
    for item in definitions if isinstance(definitions, list) else []:
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            found[function["name"]] = {"type": "function", "function": function}
    return found


def iter_sessions(export: ApprovedExport) -> Iterator[SessionRecord]:
    """Every trajectory in file order; a damaged line raises naming file and line.

    :raises CorruptSourceError: a line is not a Model Lab ATIF trajectory.
    :raises StaleApprovalError: the file's bytes are not the ones that were approved.
    """
    for number, raw in export.iter_trajectories():
        try:
            session = from_atif(raw)
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise CorruptSourceError(
                export.path / TRAJECTORIES,
                f"line {number}: not a Model Lab ATIF trajectory ({exc})",
            ) from None
        yield SessionRecord(number, session, _declared(raw))
