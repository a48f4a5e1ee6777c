"""The span-based scanner: find sensitive spans in text, fast.

Speed comes from a keyword prefilter: one Aho-Corasick pass over the case- and
digit-folded text says which rules' keywords occur, and only those rules' regular
expressions run, at the keyword or in a window around it. The same pass finds where the
anchors of the few rules without keywords (numbers: phones, IP addresses, cards) can
match, where windowed patterns can start, and the base64 hints, so the text is read once.
A finding is a span, so redaction replaces exactly what was matched, never every
occurrence of a reported value.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add

import ahocorasick_rs

from modellab.redact._prefixes import FOLD, digit_checks, fold, literal_prefixes
from modellab.redact._providers import ProviderDetector
from modellab.redact._rules import Category, Rule

__all__ = ["Finding", "Scanner", "shannon_entropy", "value_hash"]

_CATEGORY_RANK: dict[str, int] = {"secret": 0, "pii": 1, "identity": 2}
#: Words that say a text carries base64 the user or agent decodes (command lines, data URLs).
_BASE64_HINTS = (b"base64", b"b64decode", b"atob(", b"b64 -d")
_BASE64_REACH = 4096
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])", re.ASCII)
#: Joins texts scanned together. No rule should match across it; one that does is caught
#: and those texts are scanned one by one instead.
SEPARATOR = "\n\x00\n"
_SEPARATOR_SIZE = len(SEPARATOR)
#: Characters of text :meth:`Scanner.scan_many` joins for one pass (about half a MB).
_BATCH_CHARS = 1 << 19
_CUSTOM_RULE = "custom-term"
#: The rule id a term finding reports, by placeholder kind (terms added in review: custom).
_TERM_RULES = {"USER": "user-name", "HOST": "host-name", "WORKSPACE": "workspace-path"}
_HASH_CACHE_SIZE = 1 << 16
#: What a token is made of, for widening a secret finding to its whole token.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_TOKEN_PUNCT = frozenset("-_+/=.~")


def value_hash(value: str, key: bytes | None = None) -> str:
    """How reports and allowlists refer to a matched value, never showing it.

    With ``key`` this is HMAC-SHA256: a report that leaves the machine then cannot be used
    to confirm a guess (is ``alice@example.com`` in here?), which a plain sha256 of a
    short, guessable value would allow. Without a key it is the plain sha256.
    """
    data = value.encode("utf-8", "surrogatepass")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def shannon_entropy(value: str) -> float:
    """Bits of entropy per character of ``value``."""
    if not value:
        return 0.0
    counts = Counter(value)
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _luhn_ok(value: str) -> bool:
    digits = [int(c) for c in value if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Finding:
    """One sensitive span in one text."""

    rule_id: str
    category: Category
    placeholder: str
    start: int
    end: int
    value_sha256: str

    @property
    def length(self) -> int:
        """Characters covered."""
        return self.end - self.start


def _first_matches(
    pattern: re.Pattern[str], text: str, candidates: list[int], pos: int, endpos: int
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text, pos, endpos)``, trying only the ``candidates`` (sorted).

    Same matches as the search when every match starts at a candidate: ``match`` at a
    position is the search's attempt at that position (lookbehinds see the whole text,
    ``endpos`` ends it the same way), and matches here are never empty.
    """
    index = bisect.bisect_left(candidates, pos)
    size = len(candidates)
    match = pattern.match
    while index < size:
        position = candidates[index]
        index += 1
        if position >= endpos:
            return
        if position < pos:
            continue
        found = match(text, position, endpos)
        if found is not None:
            pos = found.end()
            yield found


def _anchored(
    anchor: re.Pattern[str], text: str, candidates: list[int], bounds: Sequence[int] | None
) -> Iterator[int]:
    """Where ``anchor.finditer`` matches in ``text`` (or in each joined text), by candidates."""
    if bounds is None:
        yield from (m.start() for m in _first_matches(anchor, text, candidates, 0, len(text)))
        return
    pos = 0
    for position in candidates:
        if position < pos:
            continue
        end = _text_bounds(bounds, position)[1]
        found = anchor.match(text, position, end) if position < end else None
        if found is not None:
            pos = found.end()
            yield position


def _text_bounds(bounds: Sequence[int], position: int) -> tuple[int, int]:
    """Start and end of the joined text that holds ``position``."""
    index = bisect.bisect_right(bounds, position) - 1
    return bounds[index], bounds[index + 1] - _SEPARATOR_SIZE


# What an automaton hit means: a rule keyword (match at it, or search a window around it),
# a literal an anchor or a windowed pattern starts with, or a base64 hint.
_START, _WINDOW, _ANCHOR, _PREFIX, _HINT = range(5)
#: (kind, index, digits to confirm: (offset, digit) pairs the folding hid)
_Action = tuple[int, int, tuple[tuple[int, str], ...]]
#: A finding before it is a Finding: (start, end, rule id, category, placeholder, sha256).
_Raw = tuple[int, int, str, Category, str, str]


class Scanner:
    """Scans text with a fixed set of rules, allowlisted hashes and custom terms.

    :param rules: the compiled rules (see :func:`modellab.redact.load_rules`).
    :param allow_hashes: sha256 of values that are never findings (reviewed false positives).
    :param terms: extra literal strings to redact everywhere (user names, host names, words
        added during review), each with the placeholder kind to use.
    :param hash_key: key for value hashes (see :func:`value_hash`); ``allow_hashes`` must
        have been made with the same key.
    :param providers: the detector of provider token formats (see
        :func:`modellab.redact.provider_detector`), run beside the rules; ``None`` runs the
        rules alone.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        allow_hashes: Iterable[str] = (),
        terms: Iterable[tuple[str, str]] = (),
        hash_key: bytes | None = None,
        providers: ProviderDetector | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.providers = providers
        self.hash_key = hash_key
        # The same values recur constantly (a home folder, an e-mail in every commit), and
        # HMAC setup costs more than a lookup.
        self._hashes: dict[str, str] = {}
        self.allow_hashes = frozenset(allow_hashes)
        # Ties between findings go to the rule listed first: specific formats come before
        # generic ones (secret-assignment) in the rules file.
        self._order = {rule.id: index for index, rule in enumerate(self.rules)}
        #: How far before a hit (or anchor) a window opens; rules matched at their keyword
        #: (``before == 0``) still look 8 back when an anchor places them.
        self._reach = [rule.before if rule.before else 8 for rule in self.rules]
        self._always: list[int] = []
        self._anchors: list[tuple[int, re.Pattern[str]]] = []  # (rule, anchor), by id
        self._plain_anchors: list[list[re.Pattern[str]]] = [[] for _ in self.rules]
        self._anchor_ids: list[list[int]] = [[] for _ in self.rules]
        self._prefixed: set[int] = set()
        literals: dict[bytes, list[_Action]] = {}

        def add(literal: bytes, action: _Action) -> None:
            literals.setdefault(literal, []).append(action)

        for index, rule in enumerate(self.rules):
            if not rule.keywords:
                self._always.append(index)
                for anchor in rule.anchors:
                    found = literal_prefixes(anchor)
                    if found and all(len(lit) >= 2 and lit.strip(b"0") for lit in found):
                        self._anchor_ids[index].append(len(self._anchors))
                        for literal in found:
                            add(literal, (_ANCHOR, len(self._anchors), ()))
                        self._anchors.append((index, anchor))
                    else:
                        self._plain_anchors[index].append(anchor)
            for keyword in rule.keywords:
                raw = keyword.encode("latin-1")
                if raw != raw.lower():
                    continue  # upper case never occurs in the folded text
                kind = _START if rule.before == 0 else _WINDOW
                add(fold(keyword), (kind, index, digit_checks(keyword)))
            if rule.before and rule.keywords:
                # A windowed rule whose matches all start with literals that hold one of
                # its keywords: try it only where such a literal starts (no more hits than
                # the keywords give), instead of at every position of every window.
                found = literal_prefixes(rule.pattern)
                keywords = [fold(k) for k in rule.keywords]
                if found and all(any(k in lit for k in keywords) for lit in found):
                    self._prefixed.add(index)
                    for literal in found:
                        add(literal, (_PREFIX, index, ()))
        for hint_index, hint in enumerate(_BASE64_HINTS):
            add(hint.translate(FOLD), (_HINT, hint_index, digit_checks(hint.decode())))
        self._literals = list(literals)
        self._actions = [tuple(literals[lit]) for lit in self._literals]
        # A DFA over bytes: about four times faster than the default automaton over str.
        self._automaton = ahocorasick_rs.BytesAhoCorasick(
            self._literals, implementation=ahocorasick_rs.Implementation.DFA
        )
        self._terms = tuple((term, kind) for term, kind in terms if term)
        self._term_pattern = (
            re.compile(
                r"(?<![A-Za-z0-9_])(?:"
                + "|".join(re.escape(t) for t, _ in sorted(self._terms, key=lambda t: -len(t[0])))
                + r")(?![A-Za-z0-9_])"
            )
            if self._terms
            else None
        )
        self._term_kind = dict(self._terms)

    def _hash(self, value: str) -> str:
        digest = self._hashes.get(value)
        if digest is None:
            if len(self._hashes) >= _HASH_CACHE_SIZE:
                self._hashes.clear()
            digest = self._hashes[value] = value_hash(value, self.hash_key)
        return digest

    def _plan(
        self, text: str, bounds: Sequence[int] | None
    ) -> tuple[
        dict[int, list[int]],
        dict[int, list[tuple[int, int]]],
        dict[int, list[int]],
        list[list[int]],
    ]:
        """Where to try each rule, from one pass of the automaton.

        Returns exact start positions (rules matched at their keyword), windows to search
        (other rules), the candidate starts within windows (rules with literal prefixes),
        and the positions of each base64 hint. With ``bounds`` (see :meth:`scan_many`), no
        window reaches past the text its hit is in, so each text is planned as if alone.
        """
        size = len(text)
        starts: dict[int, list[int]] = {}
        windows: dict[int, list[tuple[int, int]]] = {}
        prefixes: dict[int, list[int]] = {}
        anchor_hits: list[list[int]] = [[] for _ in self._anchors]
        hints: list[list[int]] = [[] for _ in _BASE64_HINTS]
        rules = self.rules
        reach = self._reach
        floor, ceiling = 0, size
        next_floor = -1  # where the text after the one at hand starts (batches; -1: unknown)
        # One byte per character (anything outside Latin-1 becomes "?"), so byte offsets
        # are character offsets.
        folded = text.encode("latin-1", "replace").translate(FOLD)
        actions = self._actions
        for literal_index, start, end in self._automaton.find_matches_as_indexes(
            folded, overlapping=True
        ):
            for kind, index, checks in actions[literal_index]:
                if checks and any(text[start + at] != digit for at, digit in checks):
                    continue
                if kind == _START:
                    found = starts.get(index)
                    if found is None:
                        starts[index] = [start]
                    else:
                        found.append(start)
                elif kind == _WINDOW:
                    if bounds is not None and not floor <= start < next_floor:
                        floor, ceiling = _text_bounds(bounds, start)
                        next_floor = ceiling + _SEPARATOR_SIZE
                    # Hits arrive in order of their end, so merging with the last window
                    # keeps each list sorted.
                    low = max(start - reach[index], floor)
                    high = min(end + rules[index].after, ceiling)
                    spans = windows.get(index)
                    if spans is None:
                        windows[index] = [(low, high)]
                    elif low <= spans[-1][1]:
                        if high > spans[-1][1]:
                            spans[-1] = (spans[-1][0], high)
                    else:
                        spans.append((low, high))
                elif kind == _PREFIX:
                    prefixes.setdefault(index, []).append(start)
                elif kind == _ANCHOR:
                    anchor_hits[index].append(start)
                else:
                    hints[index].append(start)
        for rule_index in self._always:
            rule = rules[rule_index]
            if not rule.anchors:
                windows[rule_index] = (
                    [(0, size)]
                    if bounds is None
                    else [
                        (bounds[i], bounds[i + 1] - _SEPARATOR_SIZE) for i in range(len(bounds) - 1)
                    ]
                )
                continue
            positions: list[int] = []
            for anchor in self._plain_anchors[rule_index]:
                if bounds is None:
                    positions.extend(m.start() for m in anchor.finditer(text))
                else:
                    for i in range(len(bounds) - 1):
                        positions.extend(
                            m.start()
                            for m in anchor.finditer(
                                text, bounds[i], bounds[i + 1] - _SEPARATOR_SIZE
                            )
                        )
            for anchor_id in self._anchor_ids[rule_index]:
                candidates = sorted(set(anchor_hits[anchor_id]))
                if candidates:
                    anchor = self._anchors[anchor_id][1]
                    positions.extend(_anchored(anchor, text, candidates, bounds))
            if not positions:
                continue
            spans = windows.setdefault(rule_index, [])
            before, after = reach[rule_index], rule.after
            for position in sorted(positions):
                if bounds is not None and not floor <= position < next_floor:
                    floor, ceiling = _text_bounds(bounds, position)
                    next_floor = ceiling + _SEPARATOR_SIZE
                low, high = max(position - before, floor), min(position + after, ceiling)
                if spans and low <= spans[-1][1]:
                    spans[-1] = (spans[-1][0], max(spans[-1][1], high))
                else:
                    spans.append((low, high))
        return starts, windows, prefixes, hints

    def _accept(self, rule: Rule, match: re.Match[str], text: str) -> _Raw | None:
        group = rule.group if match.group(rule.group) is not None else 0
        start, end = match.span(group)
        if start == end:
            return None
        value = text[start:end]
        if rule.min_entropy and shannon_entropy(value) < rule.min_entropy:
            return None
        if rule.luhn and not _luhn_ok(value):
            return None
        if rule.allow is not None and rule.allow.search(value):
            return None
        digest = self._hash(value)
        if digest in self.allow_hashes:
            return None
        return (start, end, rule.id, rule.category, rule.placeholder, digest)

    def _rule_findings(
        self,
        rule: Rule,
        text: str,
        starts: list[int] | None,
        windows: list[tuple[int, int]] | None,
        candidates: list[int] | None,
        found: list[_Raw],
        bounds: Sequence[int] | None,
    ) -> None:
        accept = self._accept
        if starts:
            floor, ceiling = 0, len(text)
            next_floor = -1
            after = rule.after
            match = rule.pattern.match
            matched_to = -1
            for position in starts:
                if position < matched_to:
                    continue
                if bounds is not None and not floor <= position < next_floor:
                    floor, ceiling = _text_bounds(bounds, position)
                    next_floor = ceiling + _SEPARATOR_SIZE
                hit = match(text, position, min(position + after, ceiling))
                if hit is not None:
                    matched_to = hit.end()
                    finding = accept(rule, hit, text)
                    if finding is not None:
                        found.append(finding)
        if not windows:
            return
        seen_end = 0
        if candidates is not None:
            # The search in each window, tried only where a match can start: windows and
            # candidates are both sorted, and where a window's search may begin never
            # goes back, so one walk over the candidates serves every window.
            match = rule.pattern.match
            index, count = 0, len(candidates)
            for low, high in windows:
                pos = max(low, seen_end)
                while index < count:
                    position = candidates[index]
                    if position >= high:
                        break
                    index += 1
                    if position < pos:
                        continue
                    hit = match(text, position, high)
                    if hit is not None:
                        pos = seen_end = hit.end()
                        finding = accept(rule, hit, text)
                        if finding is not None:
                            found.append(finding)
            return
        for low, high in windows:
            # pos/endpos bound the search without copying; lookbehinds still see the text
            # before ``low``, so a window never invents a word boundary.
            for hit in rule.pattern.finditer(text, max(low, seen_end), high):
                seen_end = max(seen_end, hit.end())
                finding = accept(rule, hit, text)
                if finding is not None:
                    found.append(finding)

    def _find(self, text: str, bounds: Sequence[int] | None = None) -> list[_Raw]:
        """:meth:`scan`, as tuples; ``bounds`` as in :meth:`_encoded_findings`."""
        if not text:
            return []
        found: list[_Raw] = []
        starts, windows, prefixes, hints = self._plan(text, bounds)
        rules = self.rules
        for rule_index in sorted(starts.keys() | windows.keys()):
            candidates = None
            if rule_index in self._prefixed:
                candidates = sorted(set(prefixes.get(rule_index, ())))
            self._rule_findings(
                rules[rule_index],
                text,
                starts.get(rule_index),
                windows.get(rule_index),
                candidates,
                found,
                bounds,
            )
        if rules:  # with no rules, nothing decoded could be a finding
            self._encoded_findings(text, hints, found, bounds)
        if self.providers is not None:
            self._provider_findings(text, found)
        if self._term_pattern is not None:
            for match in self._term_pattern.finditer(text):
                value = match.group(0)
                digest = self._hash(value)
                if digest not in self.allow_hashes:
                    kind = self._term_kind.get(value, "TERM")
                    rule_id = _TERM_RULES.get(kind, _CUSTOM_RULE)
                    found.append((match.start(), match.end(), rule_id, "identity", kind, digest))
        if found:
            self._whole_tokens(text, found)
        if len(found) < 2:
            return found
        order = self._order
        unknown = len(order)
        found.sort(
            key=lambda f: (
                f[0],
                _CATEGORY_RANK[f[3]],
                f[0] - f[1],
                order.get(f[2].removeprefix("base64-"), unknown),
            )
        )
        kept: list[_Raw] = []
        kept_end = -1
        for finding in found:
            if finding[0] < kept_end:
                if finding[1] > kept_end:
                    # Overlapping findings merge: dropping the later one could leave the
                    # tail of a secret in the text. The first (highest-ranked) rule names it.
                    # A secret anywhere in the merged span names it.
                    start, _end, rule_id, category, placeholder, _digest = kept[-1]
                    if finding[3] == "secret" != category:
                        rule_id, category, placeholder = finding[2], finding[3], finding[4]
                    kept_end = finding[1]
                    kept[-1] = (
                        start,
                        kept_end,
                        rule_id,
                        category,
                        placeholder,
                        self._hash(text[start:kept_end]),
                    )
                continue
            kept.append(finding)
            kept_end = finding[1]
        return kept

    def _whole_tokens(self, text: str, found: list[_Raw]) -> None:
        """Widen every secret finding to the whole token it sits in.

        A pattern that stops early (a fixed length, a length cap, a provider format a few
        characters shorter than the real token) would otherwise leave the rest of the token
        in clear beside its placeholder. A token goes on over letters and digits, and over
        the punctuation the matched value itself uses (``-_+/=.~``); it never reaches back
        over punctuation, which would swallow the name it is assigned to.
        """
        size = len(text)
        allowed: list[int] = []
        for index, (start, end, rule_id, category, placeholder, digest) in enumerate(found):
            if category != "secret":
                continue
            low, high = start, end
            while low > 0 and text[low - 1] in _TOKEN_CHARS:
                low -= 1
            if high < size and (text[high] in _TOKEN_CHARS or text[high] in _TOKEN_PUNCT):
                inner = _TOKEN_PUNCT.intersection(text[start:end])
                while high < size and (text[high] in _TOKEN_CHARS or text[high] in inner):
                    high += 1
            if (low, high) != (start, end):
                digest = self._hash(text[low:high])
                found[index] = (low, high, rule_id, category, placeholder, digest)
                if digest in self.allow_hashes:  # reviewed and kept as the whole token
                    allowed.append(index)
        for index in reversed(allowed):
            del found[index]

    def _provider_findings(self, text: str, found: list[_Raw]) -> None:
        """Provider tokens (kingfisher's rules): always secrets, unless allowlisted."""
        assert self.providers is not None
        for span in self.providers.find(text):
            digest = self._hash(text[span.start : span.end])
            if digest not in self.allow_hashes:
                found.append((span.start, span.end, span.rule_id, "secret", "SECRET", digest))

    def scan(self, text: str) -> list[Finding]:
        """Every finding in ``text``, ordered by position, with no two overlapping.

        Overlapping findings merge into one span covering both, named by the first: the one
        that starts first; at the same start, secrets before personal data before identity,
        then the longer, then the rule listed first in the rules file.
        """
        return [
            Finding(rule_id, category, placeholder, start, end, digest)
            for start, end, rule_id, category, placeholder, digest in self._find(text)
        ]

    def _encoded_findings(
        self,
        text: str,
        hints: list[list[int]],
        found: list[_Raw],
        bounds: Sequence[int] | None,
    ) -> None:
        """Secrets hidden in base64 blobs near a decode: decode, scan, redact the whole blob.

        ``bounds`` (texts joined by :meth:`scan_many`: where each starts, and the end) keeps
        a hint's reach inside its own text, as when that text is scanned alone.
        """
        if bounds is None:
            self._blobs_near(text, hints, 0, len(text), found)
            return
        by_text: dict[int, list[list[int]]] = {}
        for hint_index, positions in enumerate(hints):
            for position in positions:
                index = bisect.bisect_right(bounds, position) - 1
                per_hint = by_text.get(index)
                if per_hint is None:
                    per_hint = by_text[index] = [[] for _ in hints]
                per_hint[hint_index].append(position)
        for index in sorted(by_text):
            end = bounds[index + 1] - _SEPARATOR_SIZE
            self._blobs_near(text, by_text[index], bounds[index], end, found)

    def _blobs_near(
        self, text: str, hints: list[list[int]], base: int, end: int, found: list[_Raw]
    ) -> None:
        """Blobs within reach of the hints, in ``text[base:end]`` (one text of a batch)."""
        spans: list[tuple[int, int]] = []
        # Sorted across hint kinds first: merging assumes positions in text order, and a
        # later kind's earlier hint must not be swallowed by a span that ends before it.
        for position in sorted(p for positions in hints for p in positions):
            low, high = max(position - _BASE64_REACH, base), position + _BASE64_REACH
            if spans and low <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], high))
            else:
                spans.append((low, high))
        if not spans:
            return
        seen_end = base
        for low, high in spans:
            for match in _BASE64_BLOB.finditer(text, max(low, seen_end), min(high, end)):
                seen_end = match.end()
                finding = self._decoded_blob(match)
                if finding is not None:
                    found.append(finding)

    def _decoded_blob(self, match: re.Match[str]) -> _Raw | None:
        blob = match.group(0)
        try:
            inner = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True).decode()
        except (binascii.Error, ValueError):
            return None  # not base64, or not text: nothing to look into
        hits = [f for f in self._find(inner) if f[3] == "secret"]
        digest = self._hash(blob)
        if hits and digest not in self.allow_hashes:
            return (match.start(), match.end(), f"base64-{hits[0][2]}", "secret", "SECRET", digest)
        return None

    def scan_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings for each text, like ``[scan(t) for t in texts]`` but much faster.

        Agent sessions hold thousands of short strings; scanning them joined pays the
        per-call costs (folding, the automaton pass, anchors) once instead of per string.
        Joins hold up to about half a megabyte of text, so that each stays in the CPU's cache
        through the passes over it; how texts are grouped never changes the findings.
        """
        results: list[list[Finding]] = []
        count = len(texts)
        # Where each text would start in one join of them all (a per-text Python loop here
        # cost as much as the automaton pass).
        starts = list(accumulate(map(add, map(len, texts), repeat(_SEPARATOR_SIZE)), initial=0))
        first = 0
        while first < count:
            # As many texts as fit in a batch, and at least one.
            last = max(
                bisect.bisect_right(starts, starts[first] + _BATCH_CHARS, first + 1) - 1, first + 1
            )
            base = starts[first]
            offsets = [start - base for start in starts[first : last + 1]]
            results.extend(self._scan_joined(texts[first:last], offsets))
            first = last
        return results

    def _scan_joined(self, texts: Sequence[str], offsets: list[int]) -> list[list[Finding]]:
        """:meth:`scan_many` of one group of texts, scanned joined; ``offsets``: their starts."""
        results: list[list[Finding]] = [[] for _ in texts]
        joined = SEPARATOR.join(texts)
        found = self._find(joined, offsets)
        if not found:
            return results
        crossing: set[int] = set()
        index = 0
        count = len(texts)
        for start, end, rule_id, category, placeholder, digest in found:
            # Findings come in order of their start: walk forward to the text holding it.
            while index + 1 < count and offsets[index + 1] <= start:
                index += 1
            base = offsets[index]
            if end > base + len(texts[index]):
                crossing.update((index, index + 1))
                continue
            results[index].append(
                Finding(rule_id, category, placeholder, start - base, end - base, digest)
            )
        for index in crossing:
            if index < count:
                results[index] = self.scan(texts[index])
        return results
