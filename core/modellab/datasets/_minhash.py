"""MinHash signatures and LSH banding, small, streaming and dependency-free.

Texts are sets of word 5-shingles (:func:`shingles` is the exact definition). A signature
is a one-permutation MinHash (Li, Owen and Zhang, 2012) with rotation densification
(Shrivastava and Li, 2014): every shingle is hashed once to 64 bits, the top six bits pick
one of ``PERMUTATIONS`` slots and each slot keeps its smallest value; an empty slot borrows
the value of the next filled slot to its right, marked with the distance. Equal slots of
two signatures estimate the Jaccard similarity of the shingle sets.

One hash per shingle, computed without building the shingle strings (word hashes are
combined by a rolling polynomial), keeps a gigabyte export to minutes and the memory to
one row's words, where a classic MinHash costs ``PERMUTATIONS`` hashes per shingle. LSH
cuts the signature into bands; texts that share any whole band are candidate pairs, so
only those are compared instead of every pair.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence

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
#: so near-duplicates are rarely missed.
BANDS = 16
SHINGLE_WORDS = 5

_WORD = re.compile(r"\w+")
_MASK = (1 << 64) - 1
_SLOT_BITS = 6  # 2 ** 6 == PERMUTATIONS
_VALUE_BITS = 64 - _SLOT_BITS
_LOW = (1 << _VALUE_BITS) - 1
_EMPTY = 1 << 63  # above every value and every densified value of a non-empty text
_BASE = 0x100000001B3  # odd multiplier of the rolling shingle hash
_CHUNK = 1 << 20
_BASE_OUT = pow(_BASE, SHINGLE_WORDS - 1, 1 << 64)  # the weight of the word leaving the window


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str) -> frozenset[str]:
    """Word 5-shingles of ``text``, lower-cased; shorter texts are one shingle.

    The exact set that :func:`signature` summarises, for reference and tests.
    """
    words = _words(text)
    if len(words) <= SHINGLE_WORDS:
        return frozenset({" ".join(words)})
    return frozenset(
        " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
    )


def _word_hash(word: str) -> int:
    # BLAKE2b, not hash(): Python salts str hashes per process, and signatures must be the
    # same on every machine and run.
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")


def _densify(slots: list[int]) -> array[int]:
    filled = [i for i, value in enumerate(slots) if value != _EMPTY]
    if not filled:
        return array("Q", slots)
    out = list(slots)
    for i, value in enumerate(slots):
        if value != _EMPTY:
            continue
        distance = 1
        while slots[(i + distance) % PERMUTATIONS] == _EMPTY:
            distance += 1
        out[i] = slots[(i + distance) % PERMUTATIONS] | (distance << _VALUE_BITS)
    return array("Q", out)


def _word_chunks(text: str) -> Iterator[list[str]]:
    """The words of ``text``, lower-cased, a chunk at a time (a chunk ends at whitespace).

    A long row becomes lists of about ``_CHUNK`` characters' words, not one list of all.
    """
    start = 0
    while start < len(text):
        end = min(start + _CHUNK, len(text))
        while end < len(text) and not text[end].isspace():
            end += 1
        yield _WORD.findall(text[start:end].lower())
        start = end


def signature(text: str) -> array[int]:
    """The MinHash signature of ``text``'s shingle set: ``PERMUTATIONS`` unsigned slots."""
    cache: dict[str, int] = {}
    slots = [_EMPTY] * PERMUTATIONS
    window: list[int] = []  # the hashes of the last SHINGLE_WORDS words
    rolling = 0
    seen = 0
    for words in _word_chunks(text):
        for word in words:
            value = cache.get(word)
            if value is None:
                value = cache[word] = _word_hash(word)
            seen += 1
            if seen > SHINGLE_WORDS:
                oldest = (seen - 1) % SHINGLE_WORDS
                rolling = (rolling - window[oldest] * _BASE_OUT) & _MASK
                window[oldest] = value
            else:
                window.append(value)
            rolling = (rolling * _BASE + value) & _MASK
            if seen >= SHINGLE_WORDS:
                _take(slots, rolling)
    if seen < SHINGLE_WORDS:
        _take(slots, rolling)  # a short text is one shingle
    return _densify(slots)


def _take(slots: list[int], value: int) -> None:
    # splitmix64's finaliser: the rolling sum alone leaves the top bits, which pick the
    # slot, poorly mixed.
    value ^= value >> 31
    value = (value * 0xBF58476D1CE4E5B9) & _MASK
    value ^= value >> 27
    value = (value * 0x94D049BB133111EB) & _MASK
    value ^= value >> 31
    slot, low = value >> _VALUE_BITS, value & _LOW
    if low < slots[slot]:
        slots[slot] = low


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
