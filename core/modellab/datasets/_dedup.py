"""Drop exact and near-duplicate rows, and say which were dropped and why.

Exact: the sha256 of the row's canonical JSON (sorted keys, no spaces). Near: MinHash LSH
finds candidates over the rendered conversation text and the exact Jaccard similarity of
their word 5-shingles decides (>= ``NEAR_THRESHOLD``). The first row in export order is
kept, so the result does not depend on any seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modellab.datasets._minhash import candidate_pairs, jaccard, shingles, signature
from modellab.datasets._rows import conversation_text
from modellab.datasets._select import Example

__all__ = ["NEAR_THRESHOLD", "DedupResult", "deduplicate", "row_sha256"]

#: Jaccard similarity of the conversations' shingles from which a row is a near-duplicate.
NEAR_THRESHOLD = 0.9


def row_sha256(row: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a row."""
    canonical = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class DedupResult:
    """The rows kept, and one report entry per row dropped."""

    kept: list[Example]
    dropped: list[dict[str, Any]] = field(default_factory=list)


def _describe(example: Example) -> dict[str, Any]:
    return {"session_id": example.session_id, "turn_index": example.turn_index}


def deduplicate(examples: Sequence[Example]) -> DedupResult:
    """Remove exact duplicates, then near-duplicates, keeping the first of each."""
    dropped: list[dict[str, Any]] = []
    first_by_hash: dict[str, Example] = {}
    unique: list[Example] = []
    for example in examples:
        digest = row_sha256(example.row)
        if digest in first_by_hash:
            dropped.append(
                {
                    **_describe(example),
                    "reason": "exact",
                    "sha256": digest,
                    "duplicate_of": _describe(first_by_hash[digest]),
                }
            )
            continue
        first_by_hash[digest] = example
        unique.append(example)

    grams = [shingles(conversation_text(e.row)) for e in unique]
    gone: dict[int, tuple[int, float]] = {}
    for i, j in candidate_pairs([signature(g) for g in grams]):
        if i in gone or j in gone:
            continue  # compare with kept rows only, so a chain cannot drop its own head
        similarity = jaccard(grams[i], grams[j])
        if similarity >= NEAR_THRESHOLD:
            gone[j] = (i, similarity)
    for j, (i, similarity) in sorted(gone.items()):
        dropped.append(
            {
                **_describe(unique[j]),
                "reason": "near-duplicate",
                "jaccard": round(similarity, 4),
                "duplicate_of": _describe(unique[i]),
            }
        )
    return DedupResult([e for k, e in enumerate(unique) if k not in gone], dropped)
