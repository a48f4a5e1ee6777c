"""Train/test splits over whole groups of sessions: seeded (``grouped``) or by time.

A group is a set of sessions that must sit on one side: sessions are joined with union-find
when any of their tasks are near-duplicates (MinHash over the first prompt plus the touched
files, estimated Jaccard >= ``TASK_THRESHOLD``), comparing the task of each kept SFT row and
of each whole session. Every row of a session follows its session, so no session and no
near-duplicate task sits on both sides, in any format.

* ``grouped``: groups are shuffled with the seed and moved to test until the test share is
  met.
* ``time``: groups are ordered by their newest session's start time and the newest go to
  test until the share is met. A group moves whole, placed by its newest session, so an
  older session whose task is a near-duplicate of a test session's goes to test with it
  (the alternative, leaving it in train, would leak the test task). Such sessions are
  counted as ``older_in_test``. Sessions without a start time count as the oldest.

The share is measured in rows of the weights given (the first ``--format``'s rows). At
least one group always stays in train, so a tiny selection still trains on something.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modellab.datasets._minhash import candidate_pairs, estimated_jaccard
from modellab.datasets._plan import RowPlan, SessionPlan

__all__ = ["SPLITS", "TASK_THRESHOLD", "Split", "SplitMethod", "group_sessions", "split_sessions"]

SplitMethod = Literal["grouped", "time"]
SPLITS: tuple[SplitMethod, ...] = ("grouped", "time")
#: Estimated Jaccard similarity from which two tasks count as the same task. Lower than
#: the de-duplication threshold: here a miss leaks a task into the test set.
TASK_THRESHOLD = 0.7
_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, left: int, right: int) -> None:
        a, b = self.find(left), self.find(right)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def group_sessions(
    sessions: Sequence[SessionPlan], rows: Sequence[RowPlan], members: Sequence[int]
) -> list[list[int]]:
    """Groups of the session indexes in ``members``, each sorted, ordered by first index.

    :param rows: the kept SFT rows, whose tasks join sessions too.
    """
    position = {s: n for n, s in enumerate(members)}
    owners = list(members)
    signatures = [sessions[s].task for s in members]
    for row in rows:
        if row.session in position:
            owners.append(row.session)
            signatures.append(row.task)
    sets = _UnionFind(len(members))
    for i, j in candidate_pairs(signatures):
        if estimated_jaccard(signatures[i], signatures[j]) >= TASK_THRESHOLD:
            sets.union(position[owners[i]], position[owners[j]])
    groups: dict[int, list[int]] = {}
    for n, s in enumerate(members):
        groups.setdefault(sets.find(n), []).append(s)
    return sorted(groups.values(), key=lambda group: group[0])


@dataclass(frozen=True, slots=True)
class Split:
    """Which sessions went to test, and how the split was made."""

    test: frozenset[int]
    groups: int
    train_groups: int
    test_groups: int
    details: dict[str, Any] = field(default_factory=dict)


def _take(
    order: Sequence[int], groups: list[list[int]], weights: Sequence[int], target: float
) -> list[int]:
    chosen: list[int] = []
    taken = 0
    for g in order:
        if taken >= target or len(chosen) + 1 >= len(groups):
            break
        chosen.append(g)
        taken += sum(weights[s] for s in groups[g])
    return chosen


def split_sessions(
    sessions: Sequence[SessionPlan],
    groups: list[list[int]],
    weights: Sequence[int],
    *,
    method: SplitMethod,
    test_fraction: float,
    seed: int,
) -> Split:
    """Assign whole groups to test until ``test_fraction`` of the weight is there.

    :param weights: per session index, the rows it counts for.
    """
    target = test_fraction * sum(weights[s] for group in groups for s in group)
    details: dict[str, Any] = {}
    if method == "grouped":
        order = list(range(len(groups)))
        random.Random(seed).shuffle(order)
        chosen = _take(order, groups, weights, target)
    else:

        def newest(g: int) -> tuple[dt.datetime, str]:
            return max((sessions[s].started or _OLDEST, sessions[s].id) for s in groups[g])

        order = sorted(range(len(groups)), key=newest, reverse=True)
        chosen = _take(order, groups, weights, target)
        cut = min((newest(g)[0] for g in chosen), default=None)
        test_sessions = [s for g in chosen for s in groups[g]]
        details = {
            "cut": None if cut is None else cut.isoformat(),
            "older_in_test": sum(1 for s in test_sessions if (sessions[s].started or _OLDEST) < cut)
            if cut is not None
            else 0,
            "sessions_without_start_time": sum(
                1 for group in groups for s in group if sessions[s].started is None
            ),
        }
    test = frozenset(s for g in chosen for s in groups[g])
    return Split(test, len(groups), len(groups) - len(chosen), len(chosen), details)
