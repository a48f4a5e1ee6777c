"""Grouped, seeded train/test splits.

Rows of one session form one group, and so do rows whose tasks are near-duplicates (MinHash
over the first prompt plus the touched files, estimated Jaccard >= ``TASK_THRESHOLD``).
Groups are joined with union-find and assigned whole, so no session and no near-duplicate
task sits on both sides.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from modellab.datasets._minhash import candidate_pairs, estimated_jaccard, shingles, signature
from modellab.datasets._select import Example

__all__ = ["TASK_THRESHOLD", "Split", "group_examples", "split_examples"]

#: Estimated Jaccard similarity from which two tasks count as the same task. Lower than
#: the de-duplication threshold: here a miss leaks a task into the test set.
TASK_THRESHOLD = 0.7


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


def group_examples(examples: Sequence[Example]) -> list[list[int]]:
    """Groups of example indexes, each sorted, ordered by their first index."""
    sets = _UnionFind(len(examples))
    first_of_session: dict[str, int] = {}
    for index, example in enumerate(examples):
        sets.union(first_of_session.setdefault(example.session_id, index), index)
    signatures = [signature(shingles(e.task_text)) for e in examples]
    for i, j in candidate_pairs(signatures):
        if estimated_jaccard(signatures[i], signatures[j]) >= TASK_THRESHOLD:
            sets.union(i, j)
    groups: dict[int, list[int]] = {}
    for index in range(len(examples)):
        groups.setdefault(sets.find(index), []).append(index)
    return sorted(groups.values(), key=lambda members: members[0])


@dataclass(frozen=True, slots=True)
class Split:
    """Example indexes per side, and how many groups went where."""

    train: list[int]
    test: list[int]
    groups: int
    train_groups: int
    test_groups: int


def split_examples(examples: Sequence[Example], *, test_fraction: float, seed: int) -> Split:
    """Move whole groups, in a seeded random order, to test until ``test_fraction`` is met.

    At least one group always stays in train, so a tiny selection still trains on something.
    """
    groups = group_examples(examples)
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    target = test_fraction * len(examples)
    test_groups: set[int] = set()
    taken = 0
    for position in order:
        if taken >= target or len(test_groups) + 1 >= len(groups):
            break
        test_groups.add(position)
        taken += len(groups[position])
    train = sorted(i for g, members in enumerate(groups) if g not in test_groups for i in members)
    test = sorted(i for g in test_groups for i in groups[g])
    return Split(train, test, len(groups), len(groups) - len(test_groups), len(test_groups))
