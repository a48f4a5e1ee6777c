"""MinHash signatures and LSH banding, small and dependency-free.

Texts become sets of word 5-shingles; each shingle is hashed once with BLAKE2b and then
mapped through ``PERMUTATIONS`` seeded universal hashes ``(a * h + b) mod p``. Equal slots
of two signatures estimate the Jaccard similarity of the shingle sets. LSH cuts the
signature into bands; texts that share any whole band are candidate pairs, so only those
are compared instead of every pair.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

__all__ = [
    "BANDS",
    "PERMUTATIONS",
    "candidate_pairs",
    "estimated_jaccard",
    "jaccard",
    "shingles",
    "signature",
]

#: Slots per signature.
PERMUTATIONS = 64
#: LSH bands of ``PERMUTATIONS // BANDS`` rows. With 16 bands of 4 rows, a pair becomes a
#: candidate at about (1/16) ** (1/4) = 0.5 similarity: well below the thresholds we use,
#: so near-duplicates are rarely missed and the exact check below weeds out the rest.
BANDS = 16
SHINGLE_WORDS = 5

_PRIME = (1 << 61) - 1
_WORD = re.compile(r"\w+")


def _seeded(label: str, index: int) -> int:
    digest = hashlib.blake2b(f"{label}:{index}".encode(), digest_size=8, person=b"modellab-mh")
    return int.from_bytes(digest.digest(), "big") % _PRIME


# Fixed coefficients, derived from fixed labels: the same text always gets the same
# signature, on every machine and run (Python's own hash() is salted per process).
_A = tuple(_seeded("a", i) or 1 for i in range(PERMUTATIONS))
_B = tuple(_seeded("b", i) for i in range(PERMUTATIONS))


def shingles(text: str) -> frozenset[str]:
    """Word 5-shingles of ``text``, lower-cased; shorter texts are one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        return frozenset({" ".join(words)})
    return frozenset(
        " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
    )


def _shingle_hash(shingle: str) -> int:
    digest = hashlib.blake2b(shingle.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def signature(grams: Iterable[str]) -> tuple[int, ...]:
    """The MinHash signature of a shingle set (``PERMUTATIONS`` slots)."""
    hashes = [_shingle_hash(gram) for gram in grams]
    if not hashes:
        return (_PRIME,) * PERMUTATIONS
    return tuple(min((a * h + b) % _PRIME for h in hashes) for a, b in zip(_A, _B, strict=True))


def estimated_jaccard(left: Sequence[int], right: Sequence[int]) -> float:
    """The share of equal slots: an estimate of the sets' Jaccard similarity."""
    return sum(1 for x, y in zip(left, right, strict=True) if x == y) / len(left)


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    """The exact Jaccard similarity of two shingle sets."""
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def candidate_pairs(signatures: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose signatures share at least one LSH band."""
    rows = PERMUTATIONS // BANDS
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, sig in enumerate(signatures):
            buckets[tuple(sig[band * rows : (band + 1) * rows])].append(index)
        for members in buckets.values():
            for pos, i in enumerate(members):
                for j in members[pos + 1 :]:
                    pairs.add((i, j))
    return sorted(pairs)
