"""The small MinHash: stable signatures, sensible estimates, LSH finding near pairs."""

from __future__ import annotations

import random

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
    a, b = signature(TEXT), signature(near)
    assert len(a) == PERMUTATIONS and a == signature(TEXT)
    assert signature(TEXT.upper()) == a  # shingles are lower-cased
    exact = jaccard(shingles(TEXT), shingles(near))
    assert 0.9 < exact < 1.0
    assert abs(estimated_jaccard(a, b) - exact) < 0.15


def test_estimates_are_unbiased_over_many_pairs():
    rng = random.Random(3)
    errors = []
    for _ in range(40):
        words = [f"w{rng.randrange(3000)}" for _ in range(400)]
        other = list(words)
        for _ in range(rng.randrange(1, 80)):
            other[rng.randrange(400)] = f"z{rng.random()}"
        left, right = " ".join(words), " ".join(other)
        exact = jaccard(shingles(left), shingles(right))
        errors.append(estimated_jaccard(signature(left), signature(right)) - exact)
    assert abs(sum(errors) / len(errors)) < 0.03
    assert max(abs(e) for e in errors) < 0.2


def test_short_texts_and_lsh_candidates():
    assert shingles("Fix it") == frozenset({"fix it"})
    assert estimated_jaccard(signature("Fix it"), signature("fix IT")) == 1.0
    assert estimated_jaccard(signature("Fix it"), signature("Fix that")) < 0.2
    other = " ".join(f"other{i}" for i in range(200))
    sigs = [signature(t) for t in (TEXT, other, TEXT.replace("word5", "x"))]
    assert candidate_pairs(sigs) == [(0, 2)]
