"""Choose what becomes a row: whole sessions or single turns, by outcome, label and mode.

Turn outcomes follow the observability workset's rule: a label belongs to the turn it names
(``turn_index``), else to the turn holding its tool call, and a turn's verdict is
:func:`modellab.traces.derive_outcome` over its own labels only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from modellab.datasets._rows import render_row, touched_paths
from modellab.traces import Label, Outcome, Session, Turn, derive_outcome

__all__ = ["MODES", "Example", "Filters", "Mode", "select_examples", "turn_outcomes"]

Mode = Literal["successful-turns", "successful-sessions", "failed-turns", "all"]
#: Every ``--from`` value, in the order ``--help`` lists them.
MODES: tuple[Mode, ...] = ("successful-turns", "successful-sessions", "failed-turns", "all")


@dataclass(frozen=True, slots=True)
class Filters:
    """What to take from the export."""

    mode: Mode = "successful-turns"
    #: Only sessions holding a label of one of these kinds (none: no label filter).
    labels: tuple[str, ...] = ()
    #: Only sessions with one of these outcomes (none: no outcome filter).
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Example:
    """A rendered row and what splitting and reporting need to know about it."""

    session_id: str
    #: The turns the row ends with (``None`` for a whole-session row).
    turn_index: int | None
    row: dict[str, Any]
    #: The task: the session's first prompt plus the files the row touched.
    task_text: str


def turn_outcomes(session: Session) -> dict[int, Outcome]:
    """Each turn's verdict from the labels that belong to it."""
    turn_of_call = {
        call.id: turn.index
        for turn in session.turns
        for step in turn.steps
        for call in step.tool_calls
    }
    own: dict[int, list[Label]] = {}
    for label in session.labels:
        index = label.turn_index
        if index is None and label.tool_call_id is not None:
            index = turn_of_call.get(label.tool_call_id)
        if index is not None:
            own.setdefault(index, []).append(label)
    return {turn.index: derive_outcome(own.get(turn.index, [])) for turn in session.turns}


def _first_prompt(session: Session) -> str:
    for turn in session.turns:
        for step in turn.steps:
            if step.source == "user" and step.text:
                return step.text
    return ""


def _wanted(session: Session, filters: Filters) -> bool:
    if filters.outcomes and session.outcome not in filters.outcomes:
        return False
    kinds = {label.kind for label in session.labels}
    return not filters.labels or any(kind in kinds for kind in filters.labels)


def _chosen_turns(session: Session, mode: Mode) -> list[Sequence[Turn]]:
    """The turn sequences to render: whole sessions, or each chosen turn with its context."""
    if mode == "all":
        return [session.turns]
    if mode == "successful-sessions":
        return [session.turns] if session.outcome == "success" else []
    wanted: Outcome = "success" if mode == "successful-turns" else "failure"
    verdicts = turn_outcomes(session)
    return [
        session.turns[: position + 1]
        for position, turn in enumerate(session.turns)
        if verdicts[turn.index] == wanted
    ]


def select_examples(
    sessions: Sequence[Session],
    filters: Filters,
    *,
    system_prompt: str | None,
    declared_tools: Mapping[str, Mapping[str, dict[str, Any]]],
) -> list[Example]:
    """Render the rows ``filters`` choose, in export order.

    :param declared_tools: per session id, the tool definitions its trace declared.
    """
    examples: list[Example] = []
    for session in sessions:
        if not _wanted(session, filters):
            continue
        for turns in _chosen_turns(session, filters.mode):
            if not turns:
                continue
            row = render_row(
                session,
                turns,
                system_prompt=system_prompt,
                declared_tools=declared_tools.get(session.id, {}),
            )
            task = "\n".join([_first_prompt(session), *touched_paths(session, turns)])
            whole = filters.mode in {"all", "successful-sessions"}
            examples.append(Example(session.id, None if whole else turns[-1].index, row, task))
    return examples
