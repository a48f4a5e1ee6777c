"""Mutable drafts of turns, steps and calls, filled line by line and frozen at the end.

A call's output, exit code and patch status arrive on later lines than the call, so the
neutral (frozen) objects can only be built once the whole file has been read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modellab.sources.codex._tools import CANONICAL_NAMES, ParsedOutput
from modellab.traces import GitFacts, StepSource, ToolCallStatus, ToolResult, Usage

__all__ = ["CallDraft", "StepDraft", "TurnDraft"]


@dataclass(slots=True, eq=False)
class CallDraft:
    """A tool call and everything later lines said about it."""

    id: str
    name: str
    arguments: dict[str, Any]
    lineno: int
    turn: TurnDraft
    #: False for calls that never get an output item (web searches).
    expects_result: bool = True
    #: Set when the call item itself said how it went (web searches).
    status: ToolCallStatus | None = None
    output: ParsedOutput | None = None
    output_lineno: int | None = None
    #: End events by type (``exec_command_end``, ``patch_apply_end``, ...), with their line.
    ends: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    @property
    def canonical(self) -> str | None:
        """The call's name in the shared vocabulary, or ``None``."""
        return CANONICAL_NAMES.get(self.name)

    def end(self, event_type: str) -> dict[str, Any]:
        """The payload of one end event, or ``{}`` when there was none."""
        found = self.ends.get(event_type)
        return found[1] if found is not None else {}


@dataclass(slots=True, eq=False)
class StepDraft:
    """One step being assembled; ``texts`` and ``reasoning`` are joined when frozen."""

    source: StepSource
    timestamp: str | None
    model_name: str | None = None
    texts: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[CallDraft] = field(default_factory=list)
    #: Results that belong to no call of this step (orphan outputs).
    results: list[ToolResult] = field(default_factory=list)
    usage: Usage | None = None
    interrupted: bool = False
    kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class TurnDraft:
    """One turn being assembled."""

    index: int
    started_at: str | None
    cwd: str | None
    posture: dict[str, str]
    git: GitFacts | None = None
    steps: list[StepDraft] = field(default_factory=list)
    #: A real user prompt is in this turn (a second prompt opens a new turn).
    has_prompt: bool = False
    has_agent: bool = False
    #: A ``task_started`` opened (or joined) it: the next one opens a new turn.
    started: bool = False
    #: ``turn_aborted`` ended it: unanswered calls were cancelled, not dangling.
    aborted: bool = False
