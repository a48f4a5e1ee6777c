"""Choose what becomes a row: whole sessions or single turns, by outcome, label and mode.

Turn outcomes follow the observability workset's rule: a label belongs to the turn it names
(``turn_index``), else to the turn holding its tool call, and a turn's verdict is
:func:`modellab.traces.derive_outcome` over its own labels only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from modellab.datasets._rows import render_row, touched_paths
from modellab.traces import Label, Outcome, Session, Turn, derive_outcome

__all__ = [
    "MODES",
    "Example",
    "Filters",
    "Mode",
    "filtered_out",
    "first_prompt",
    "is_empty",
    "session_examples",
    "turn_outcomes",
    "turns_not_taken",
    "wanted",
]

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


def first_prompt(session: Session) -> str:
    """The text of the session's first user step (empty when there is none)."""
    for turn in session.turns:
        for step in turn.steps:
            if step.source == "user" and step.text:
                return step.text
    return ""


def is_empty(session: Session) -> bool:
    """Whether the session holds no step at all (nothing any format could take)."""
    return not any(turn.steps for turn in session.turns)


def filtered_out(session: Session, filters: Filters) -> str | None:
    """Why ``--outcome`` or ``--label`` leave this session out (a reason), or ``None``."""
    if filters.outcomes and session.outcome not in filters.outcomes:
        return "outcome-filter"
    kinds = {label.kind for label in session.labels}
    if filters.labels and not any(kind in kinds for kind in filters.labels):
        return "label-filter"
    return None


def wanted(session: Session, filters: Filters) -> bool:
    """Whether ``--label`` and ``--outcome`` let this session in."""
    return filtered_out(session, filters) is None


def turns_not_taken(session: Session, mode: Mode) -> Counter[str]:
    """The turns a per-turn ``mode`` does not take from this session, by their outcome."""
    if mode in {"all", "successful-sessions"}:
        return Counter()
    target: Outcome = "success" if mode == "successful-turns" else "failure"
    return Counter(v for v in turn_outcomes(session).values() if v != target)


def _chosen_turns(session: Session, mode: Mode) -> list[Sequence[Turn]]:
    """The turn sequences to render: whole sessions, or each chosen turn with its context."""
    if mode == "all":
        return [session.turns]
    if mode == "successful-sessions":
        return [session.turns] if session.outcome == "success" else []
    target: Outcome = "success" if mode == "successful-turns" else "failure"
    verdicts = turn_outcomes(session)
    return [
        session.turns[: position + 1]
        for position, turn in enumerate(session.turns)
        if verdicts[turn.index] == target
    ]


def session_examples(
    session: Session,
    mode: Mode,
    *,
    system_prompt: str | None,
    declared_tools: Mapping[str, dict[str, Any]],
) -> Iterator[Example]:
    """The SFT rows ``mode`` takes from one session (which passed :func:`wanted`), in order.

    A generator: a per-turn mode repeats the earlier turns in every row, so only one row
    is held at a time.
    """
    prompt = first_prompt(session)
    whole = mode in {"all", "successful-sessions"}
    for turns in _chosen_turns(session, mode):
        if not turns:
            continue
        row = render_row(session, turns, system_prompt=system_prompt, declared_tools=declared_tools)
        task = "\n".join([prompt, *touched_paths(session, turns)])
        yield Example(session.id, None if whole else turns[-1].index, row, task)
