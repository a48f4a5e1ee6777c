"""Drop exact and near-duplicate SFT rows, and say which were dropped and why.

Exact: the sha256 of the row's canonical JSON (sorted keys, no spaces). Near: MinHash LSH
finds candidates over the rendered conversation text, and the signatures' estimated
Jaccard similarity of their word 5-shingles decides (>= ``NEAR_THRESHOLD``). Only the
signatures are kept between the passes, so the estimate is what there is; with 64 slots
its standard error near 0.9 is about 0.04. The first row in export order is kept, so the
result does not depend on any seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modellab.datasets._minhash import candidate_pairs, estimated_jaccard
from modellab.datasets._plan import RowPlan

__all__ = ["NEAR_METHOD", "NEAR_THRESHOLD", "DedupResult", "deduplicate"]

#: Estimated Jaccard similarity of the conversations' shingles from which a row is a
#: near-duplicate.
NEAR_THRESHOLD = 0.9
NEAR_METHOD = (
    "MinHash LSH candidates, estimated Jaccard (64-slot one-permutation MinHash) of word "
    "5-shingles of the rendered conversation"
)


@dataclass(frozen=True, slots=True)
class DedupResult:
    """Indexes of the rows kept (in order), and one report entry per row dropped."""

    kept: list[int]
    dropped: list[dict[str, Any]] = field(default_factory=list)


def deduplicate(rows: Sequence[RowPlan], session_ids: Sequence[str]) -> DedupResult:
    """Remove exact duplicates, then near-duplicates, keeping the first of each."""

    def describe(index: int) -> dict[str, Any]:
        return {
            "session_id": session_ids[rows[index].session],
            "turn_index": rows[index].turn_index,
        }

    dropped: list[dict[str, Any]] = []
    first_by_hash: dict[bytes, int] = {}
    unique: list[int] = []
    for index, row in enumerate(rows):
        first = first_by_hash.setdefault(row.sha256, index)
        if first == index:
            unique.append(index)
            continue
        dropped.append(
            {
                **describe(index),
                "reason": "exact",
                "sha256": row.sha256.hex(),
                "duplicate_of": describe(first),
            }
        )
    gone: dict[int, tuple[int, float]] = {}
    for i, j in candidate_pairs([rows[k].signature for k in unique]):
        if i in gone or j in gone:
            continue  # compare with kept rows only, so a chain cannot drop its own head
        similarity = estimated_jaccard(rows[unique[i]].signature, rows[unique[j]].signature)
        if similarity >= NEAR_THRESHOLD:
            gone[j] = (i, similarity)
    for j, (i, similarity) in sorted(gone.items()):
        dropped.append(
            {
                **describe(unique[j]),
                "reason": "near-duplicate",
                "estimated_jaccard": round(similarity, 4),
                "duplicate_of": describe(unique[i]),
            }
        )
    return DedupResult([k for n, k in enumerate(unique) if n not in gone], dropped)
