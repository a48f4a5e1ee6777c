"""The planning pass: one read of the export that keeps only what deciding needs.

For every session that passes ``--label``/``--outcome`` it keeps its id, start time, a
MinHash of its task and how many rows each requested format will take from it; for every
SFT row, the sha256 and MinHash of its rendered conversation and of its task. Rows
themselves are rendered again, and written, by the writing pass. Memory therefore grows
with the number of rows (about 1.2 KiB each), never with their size.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from modellab.datasets._formats import SFT_FORMATS, Format
from modellab.datasets._minhash import signature
from modellab.datasets._preference import find_pairs, find_unpaired
from modellab.datasets._rows import conversation_text, touched_paths
from modellab.datasets._select import (
    Filters,
    filtered_out,
    first_prompt,
    is_empty,
    session_examples,
    turns_not_taken,
)
from modellab.datasets._source import SessionRecord
from modellab.traces import Session

__all__ = ["Plan", "RowPlan", "SessionPlan", "plan_build", "row_sha256", "started_at"]


def row_sha256(row: object) -> bytes:
    """sha256 of the canonical JSON of a row (sorted keys, no spaces)."""
    canonical = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def started_at(session: Session) -> dt.datetime | None:
    """When the session started: its creation time, else its first turn's or step's."""
    candidates = [session.created_at, *(t.started_at for t in session.turns[:1])]
    candidates += [s.timestamp for t in session.turns[:1] for s in t.steps[:1]]
    for value in candidates:
        if not value:
            continue
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


@dataclass(slots=True)
class SessionPlan:
    """One session that passed the filters."""

    id: str
    started: dt.datetime | None
    #: MinHash of the first prompt plus every file the session touched.
    task: array[int]
    sft_rows: int = 0
    pairs: int = 0
    unpaired: int = 0
    #: It holds no step at all.
    empty: bool = False
    #: Turns a per-turn ``--from`` does not take, by their outcome.
    turns_not_taken: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class RowPlan:
    """One SFT row, without its content."""

    session: int  # index into Plan.sessions
    turn_index: int | None
    sha256: bytes
    signature: array[int]
    task: array[int]


@dataclass(slots=True)
class Plan:
    """What the planning pass learnt."""

    sessions: list[SessionPlan] = field(default_factory=list)
    rows: list[RowPlan] = field(default_factory=list)
    sessions_in_export: int = 0
    #: Sessions that did not pass the filters, by reason (``empty`` first, then
    #: ``outcome-filter``, ``label-filter``).
    filtered: Counter[str] = field(default_factory=Counter)
    pair_skips: Counter[str] = field(default_factory=Counter)
    unpaired_skips: Counter[str] = field(default_factory=Counter)


def plan_build(
    records: Iterable[SessionRecord],
    filters: Filters,
    *,
    formats: Collection[Format],
    system_prompt: str | None,
) -> Plan:
    """Read every record once and keep the plan (see the module docstring)."""
    plan = Plan()
    sft = bool(SFT_FORMATS & set(formats))
    for record in records:
        plan.sessions_in_export += 1
        session = record.session
        empty = is_empty(session)
        reason = filtered_out(session, filters)
        if reason is not None:
            plan.filtered["empty" if empty else reason] += 1
            continue
        index = len(plan.sessions)
        task = "\n".join([first_prompt(session), *touched_paths(session, session.turns)])
        entry = SessionPlan(session.id, started_at(session), signature(task), empty=empty)
        if sft:
            entry.turns_not_taken = turns_not_taken(session, filters.mode)
        if sft:
            examples = session_examples(
                session,
                filters.mode,
                system_prompt=system_prompt,
                declared_tools=record.declared_tools,
            )
            for example in examples:
                entry.sft_rows += 1
                plan.rows.append(
                    RowPlan(
                        index,
                        example.turn_index,
                        row_sha256(example.row),
                        signature(conversation_text(example.row)),
                        signature(example.task_text),
                    )
                )
        if "preference" in formats:
            pairs, skipped = find_pairs(session)
            entry.pairs = len(pairs)
            plan.pair_skips.update(skipped)
        if "unpaired" in formats:
            steps, skipped = find_unpaired(session)
            entry.unpaired = len(steps)
            plan.unpaired_skips.update(skipped)
        plan.sessions.append(entry)
    return plan
