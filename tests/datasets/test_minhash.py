"""The small MinHash: stable signatures, sensible estimates, LSH finding near pairs."""

from __future__ import annotations

from modellab.datasets._minhash import (
    PERMUTATIONS,
    candidate_pairs,
    estimated_jaccard,
    jaccard,
    shingles,
    signature,
)

TEXT = " ".join(f"word{i}" for i in range(200))


def test_signatures_are_stable_and_estimate_jaccard():
    near = TEXT.replace("word100", "changed")
    a, b = signature(shingles(TEXT)), signature(shingles(near))
    assert len(a) == PERMUTATIONS and a == signature(shingles(TEXT))
    exact = jaccard(shingles(TEXT), shingles(near))
    assert 0.9 < exact < 1.0
    assert abs(estimated_jaccard(a, b) - exact) < 0.15


def test_short_texts_and_lsh_candidates():
    assert shingles("Fix it") == frozenset({"fix it"})
    other = " ".join(f"other{i}" for i in range(200))
    sigs = [signature(shingles(t)) for t in (TEXT, other, TEXT.replace("word5", "x"))]
    assert candidate_pairs(sigs) == [(0, 2)]
