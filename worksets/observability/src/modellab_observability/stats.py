"""Figures about sessions, computed from the neutral trace model alone (no I/O).

Every figure is read from what the source recorded; nothing is estimated. A figure that no
part of a session recorded stays ``None`` ("unknown"), never 0, so a table or chart cannot
pass a missing count off as a measured zero. Sums over several parts (steps, turns,
sessions) add the parts that are known and are ``None`` only when none is.

What counts, and from where (the README has the same list for users):

- tokens and cost: the session's own total (``Session.usage``) where the source recorded
  one, field by field, else the sum of the steps' ``Step.usage``. Per turn: the turn's steps.
- wall time of a turn: its latest timestamp minus its earliest (``Turn.started_at`` and the
  steps' ``timestamp``); unknown with fewer than two timestamps. A session's wall time is the
  sum over its timed turns, so the user's idle time between turns is left out.
- tool time: ``ToolResult.duration_ms`` where the source measured it; otherwise, when a
  result sits on a later step than its call and both steps have timestamps, the gap.
- tool calls by name (``ToolCall.display_name``: the shared tool vocabulary, as every
  listing names tools) and status; failures are calls with status ``error`` (the tool ran
  and failed: a non-zero exit, a timeout, a tool error). Denied, cancelled, not-executed and
  dangling calls are counted apart, by status.
- approval denials: calls with status ``denied`` and ``denied`` labels, once per call.
- interruptions: turns with an interrupted step or an ``interrupted`` label.
- outcome: the session's verdict (``Session.outcome``); per turn, the same rule applied to
  the labels of that turn only.

Only the active path is counted, as in ``modellab sessions list``: steps in compacted or
abandoned branches are reported as a count (``branch_steps``) and otherwise left out.
Sub-agents get figures of their own, and totals add them in.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar, get_args

from modellab.workset import (
    Label,
    Outcome,
    Session,
    Step,
    ToolCallStatus,
    Turn,
    Usage,
    derive_outcome,
)

__all__ = [
    "OUTCOMES",
    "TOKEN_KINDS",
    "TOOL_STATUSES",
    "Figures",
    "SessionStats",
    "Tokens",
    "ToolCounts",
    "Totals",
    "TurnStats",
    "combine",
    "session_stats",
    "totals",
]

#: Every tool-call status, in the model's order (so JSON keys and table columns are stable).
TOOL_STATUSES: tuple[str, ...] = get_args(ToolCallStatus)
#: Every session verdict, in the model's order.
OUTCOMES: tuple[str, ...] = get_args(Outcome)
#: The token kinds, in the order tables and JSON show them.
TOKEN_KINDS: tuple[str, ...] = ("input", "output", "reasoning", "cached")

_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts, ``None`` where unknown.

    As in :class:`modellab.workset.Usage`: ``input`` is the whole prompt and ``cached`` the
    part of it read from a cache; ``output`` includes ``reasoning``.
    """

    input: int | None = None
    output: int | None = None
    reasoning: int | None = None
    cached: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCounts:
    """Calls to one tool, and how many of them failed."""

    calls: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Figures:
    """What a turn, a session or a whole selection adds up to."""

    turns: int = 0
    tokens: Tokens = Tokens()
    cost_usd: float | None = None
    #: Summed wall time of the turns that had two timestamps or more.
    wall_s: float | None = None
    turns_timed: int = 0
    #: Summed time of the tool calls whose time is known, and the longest of them.
    tool_s: float | None = None
    tool_calls_timed: int = 0
    tool_max_s: float | None = None
    tool_calls: int = 0
    tool_failures: int = 0
    #: Calls by status; every status in :data:`TOOL_STATUSES` is a key.
    by_status: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(TOOL_STATUSES, 0))
    #: Calls by tool name (the canonical name where the importer gave one).
    by_tool: Mapping[str, ToolCounts] = field(default_factory=dict)
    denials: int = 0
    interruptions: int = 0


@dataclass(frozen=True, slots=True)
class TurnStats:
    """One turn's figures."""

    index: int
    started_at: str | None
    figures: Figures
    interrupted: bool
    #: The outcome rule applied to this turn's labels only.
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class SessionStats:
    """One session's (or sub-agent's) figures, its turns, and its sub-agents."""

    id: str
    source: str
    title: str | None
    created_at: str | None
    model: str | None
    outcome: Outcome
    figures: Figures
    turns: tuple[TurnStats, ...]
    #: Steps in compacted or abandoned history, which the figures leave out.
    branch_steps: int
    subagents: tuple[SessionStats, ...] = ()

    def threads(self) -> Iterator[SessionStats]:
        """This session, then its sub-agents (depth first)."""
        yield self
        for sub in self.subagents:
            yield from sub.threads()

    def with_subagents(self) -> Figures:
        """The figures of this session and all its sub-agents together."""
        return combine(thread.figures for thread in self.threads())


@dataclass(frozen=True, slots=True)
class Totals:
    """Figures across a selection."""

    sessions: int
    subagents: int
    #: Every session's and every sub-agent's figures, combined.
    figures: Figures
    #: Top-level sessions by outcome; every outcome in :data:`OUTCOMES` is a key.
    outcomes: Mapping[str, int]
    #: How many sessions and sub-agents recorded each optional figure, so a reader can tell
    #: a total over all of them from a total over a few.
    known_in: Mapping[str, int]


# -- combining ---------------------------------------------------------------------------


def _sum_known(values: Iterable[_N | None]) -> _N | None:
    known = [v for v in values if v is not None]
    return sum(known[1:], known[0]) if known else None


def _max_known(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def combine(parts: Iterable[Figures]) -> Figures:
    """Add figures up: counts are summed, unknowns skipped, maxima taken."""
    parts = list(parts)
    by_status: Counter[str] = Counter(dict.fromkeys(TOOL_STATUSES, 0))
    calls: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for part in parts:
        by_status.update(part.by_status)
        for name, counts in part.by_tool.items():
            calls[name] += counts.calls
            failed[name] += counts.failed
    return Figures(
        turns=sum(p.turns for p in parts),
        tokens=Tokens(
            input=_sum_known(p.tokens.input for p in parts),
            output=_sum_known(p.tokens.output for p in parts),
            reasoning=_sum_known(p.tokens.reasoning for p in parts),
            cached=_sum_known(p.tokens.cached for p in parts),
        ),
        cost_usd=_sum_known(p.cost_usd for p in parts),
        wall_s=_sum_known(p.wall_s for p in parts),
        turns_timed=sum(p.turns_timed for p in parts),
        tool_s=_sum_known(p.tool_s for p in parts),
        tool_calls_timed=sum(p.tool_calls_timed for p in parts),
        tool_max_s=_max_known(p.tool_max_s for p in parts),
        tool_calls=sum(p.tool_calls for p in parts),
        tool_failures=sum(p.tool_failures for p in parts),
        by_status=dict(by_status),
        by_tool={name: ToolCounts(calls[name], failed[name]) for name in sorted(calls)},
        denials=sum(p.denials for p in parts),
        interruptions=sum(p.interruptions for p in parts),
    )


# -- one session -------------------------------------------------------------------------


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None  # a source's odd timestamp makes a figure unknown, not an error
    # A time without a zone is taken as UTC so it can be compared with zoned ones.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _wall_seconds(turn: Turn) -> float | None:
    stamps = [turn.started_at, *(step.timestamp for step in turn.steps)]
    times = [t for t in map(_parse_time, stamps) if t is not None]
    if len(times) < 2:
        return None
    return (max(times) - min(times)).total_seconds()


class _Calls:
    """Where each tool call of a session sits: its turn and its step."""

    def __init__(self, session: Session) -> None:
        self.turn_of: dict[str, int] = {}
        self.step_of: dict[str, Step] = {}
        for turn in session.turns:
            for step in turn.steps:
                for call in step.tool_calls:
                    self.turn_of[call.id] = turn.index
                    self.step_of[call.id] = step

    def label_turn(self, label: Label) -> int | None:
        """The turn a label is about: its own index, else its tool call's turn."""
        if label.turn_index is not None:
            return label.turn_index
        return self.turn_of.get(label.tool_call_id) if label.tool_call_id else None

    def tool_seconds(self, step: Step) -> list[float]:
        """The known durations of the results on ``step``."""
        found: list[float] = []
        for result in step.tool_results:
            if result.duration_ms is not None:
                found.append(result.duration_ms / 1000)
                continue
            # The model keeps a result on its call's step when the source paired them, and
            # that step has one timestamp: only a result recorded on a later step of its
            # own can be timed from timestamps.
            call_step = self.step_of.get(result.call_id) if result.call_id else None
            if call_step is None or call_step is step:
                continue
            start, end = _parse_time(call_step.timestamp), _parse_time(step.timestamp)
            if start is not None and end is not None and end >= start:
                found.append((end - start).total_seconds())
        return found


def _denial_turns(session: Session, calls: _Calls) -> list[int | None]:
    """The turn of every approval denial (``None``: not placed), one entry per denial.

    A denied call is often recorded twice (its status, and a label from the result text or
    an approval receipt), so denials with a call id are counted once per call.
    """
    by_call: dict[str, int | None] = {}
    unkeyed: list[int | None] = []
    for turn in session.turns:
        for step in turn.steps:
            for call in step.tool_calls:
                if call.status == "denied":
                    by_call[call.id] = turn.index
    for label in session.labels:
        if label.kind != "denied":
            continue
        if label.tool_call_id is None:
            unkeyed.append(label.turn_index)
        else:
            by_call.setdefault(label.tool_call_id, calls.label_turn(label))
    return [*by_call.values(), *unkeyed]


def _turn_figures(turn: Turn, calls: _Calls, denials: int, interrupted: bool) -> Figures:
    usages = [step.usage for step in turn.steps if step.usage is not None]
    durations = [seconds for step in turn.steps for seconds in calls.tool_seconds(step)]
    by_status: Counter[str] = Counter(dict.fromkeys(TOOL_STATUSES, 0))
    by_tool: dict[str, ToolCounts] = {}
    for step in turn.steps:
        for call in step.tool_calls:
            by_status[call.status] += 1
            name = call.display_name
            seen = by_tool.get(name, ToolCounts())
            by_tool[name] = ToolCounts(seen.calls + 1, seen.failed + int(call.status == "error"))
    wall = _wall_seconds(turn)
    return Figures(
        turns=1,
        tokens=Tokens(
            input=_sum_known(u.input_tokens for u in usages),
            output=_sum_known(u.output_tokens for u in usages),
            reasoning=_sum_known(u.reasoning_tokens for u in usages),
            cached=_sum_known(u.cached_tokens for u in usages),
        ),
        cost_usd=_sum_known(u.cost_usd for u in usages),
        wall_s=wall,
        turns_timed=int(wall is not None),
        tool_s=_sum_known(durations),
        tool_calls_timed=len(durations),
        tool_max_s=_max_known(durations),
        tool_calls=sum(by_status.values()),
        tool_failures=by_status["error"],
        by_status=dict(by_status),
        by_tool=dict(sorted(by_tool.items())),
        denials=denials,
        interruptions=int(interrupted),
    )


def _prefer(recorded: _N | None, summed: _N | None) -> _N | None:
    return recorded if recorded is not None else summed


def session_stats(session: Session) -> SessionStats:
    """Compute one session's figures, per turn and in all, and its sub-agents'."""
    calls = _Calls(session)
    denial_turns = _denial_turns(session, calls)
    labels_by_turn: dict[int | None, list[Label]] = {}
    for label in session.labels:
        labels_by_turn.setdefault(calls.label_turn(label), []).append(label)

    turns: list[TurnStats] = []
    for turn in session.turns:
        own_labels = labels_by_turn.get(turn.index, [])
        interrupted = any(step.interrupted for step in turn.steps) or any(
            label.kind == "interrupted" for label in own_labels
        )
        figures = _turn_figures(turn, calls, denial_turns.count(turn.index), interrupted)
        turns.append(
            TurnStats(turn.index, turn.started_at, figures, interrupted, derive_outcome(own_labels))
        )

    summed = combine(t.figures for t in turns)
    recorded = session.usage or Usage()
    # An "interrupted" label with no turn (CodeWhale's turn_status) describes one of the
    # turns already flagged by their step, or one that was not: both count the same
    # events, so the larger count is the better one.
    unplaced = sum(1 for label in labels_by_turn.get(None, []) if label.kind == "interrupted")
    figures = dataclasses.replace(
        summed,
        tokens=Tokens(
            input=_prefer(recorded.input_tokens, summed.tokens.input),
            output=_prefer(recorded.output_tokens, summed.tokens.output),
            reasoning=_prefer(recorded.reasoning_tokens, summed.tokens.reasoning),
            cached=_prefer(recorded.cached_tokens, summed.tokens.cached),
        ),
        cost_usd=_prefer(recorded.cost_usd, summed.cost_usd),
        denials=len(denial_turns),
        interruptions=max(summed.interruptions, unplaced),
    )
    return SessionStats(
        id=session.id,
        source=session.source,
        title=session.title,
        created_at=session.created_at,
        model=session.model,
        outcome=session.outcome,
        figures=figures,
        turns=tuple(turns),
        branch_steps=sum(len(branch.steps) for branch in session.branches),
        subagents=tuple(session_stats(sub) for sub in session.subagents),
    )


# -- a selection -------------------------------------------------------------------------


def _known_in(threads: Sequence[SessionStats]) -> dict[str, int]:
    figures = [t.figures for t in threads]
    counts = {
        kind: sum(getattr(f.tokens, kind) is not None for f in figures) for kind in TOKEN_KINDS
    }
    counts["cost_usd"] = sum(f.cost_usd is not None for f in figures)
    counts["wall_s"] = sum(f.wall_s is not None for f in figures)
    counts["tool_s"] = sum(f.tool_s is not None for f in figures)
    return counts


def totals(sessions: Sequence[SessionStats]) -> Totals:
    """Add up a selection: every session and sub-agent; outcomes of top-level sessions."""
    threads = [thread for session in sessions for thread in session.threads()]
    outcomes = Counter(dict.fromkeys(OUTCOMES, 0))
    outcomes.update(session.outcome for session in sessions)
    return Totals(
        sessions=len(sessions),
        subagents=len(threads) - len(sessions),
        figures=combine(t.figures for t in threads),
        outcomes=dict(outcomes),
        known_in=_known_in(threads),
    )
