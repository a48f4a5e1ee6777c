"""Patterns from a user's rules file, run on a linear-time engine (RE2).

The built-in rules are ours and tested against hostile text (``tests/redact/
test_backtracking.py``). A pattern from a user's rules file is not: on Python's backtracking
engine, ``(a+)+$`` takes exponential time, and a session that happens to hold the wrong text
would hang an export. RE2 runs every pattern in time linear in the text, so user patterns
run there, and a pattern RE2 cannot run (backreferences, lookarounds, atomic groups,
possessive quantifiers) is refused.

:class:`LinearPattern` offers exactly the part of ``re.Pattern`` the scanner uses, with the
same meaning: ``match``, ``search`` and ``finditer`` with ``pos`` and ``endpos`` (the text
ends at ``endpos``; ``^`` and ``\\b`` see the character before ``pos``), and matches whose
``span``, ``start``, ``end`` and ``group`` are in characters of the whole text.

The scanner's prefilter reads literal prefixes from ``pattern.pattern`` with Python's own
regex parser, so a user pattern must also read the same way there: it must compile with
``re`` without warnings, and ``{,n}`` (a repetition to Python, literal text to RE2) is
refused. Two differences remain, neither of which changes a literal prefix: outside
multi-line mode ``$`` matches only at the very end of the text (Python's ``re`` also
matches before a final newline), and ``\\s`` does not match a vertical tab.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["LinearMatch", "LinearPattern", "compile_linear"]

#: ``{,n}``: a repetition to Python 3.11, the literal text ``{,n}`` to RE2.
_OPEN_LOWER_BOUND = re.compile(r"(?<!\\)(?:\\\\)*\{,[0-9]*\}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class LinearMatch:
    """One match of a :class:`LinearPattern`, in characters of the text searched."""

    __slots__ = ("_match", "_offset")

    def __init__(self, match: Any, offset: int) -> None:
        self._match = match
        self._offset = offset

    def span(self, group: int = 0) -> tuple[int, int]:
        """Start and end of ``group``; ``(-1, -1)`` when it did not take part."""
        start, end = self._match.span(group)
        if start < 0:
            return -1, -1
        return start + self._offset, end + self._offset

    def start(self, group: int = 0) -> int:
        """Where ``group`` starts (-1 when it did not take part)."""
        return self.span(group)[0]

    def end(self, group: int = 0) -> int:
        """Where ``group`` ends (-1 when it did not take part)."""
        return self.span(group)[1]

    def group(self, group: int = 0) -> str | None:
        """The text of ``group``, or None when it did not take part."""
        value = self._match.group(group)
        return None if value is None else str(value)


class LinearPattern:
    """A user pattern compiled by RE2; see the module docstring for what it offers."""

    __slots__ = ("_regex", "flags", "groups", "pattern")

    def __init__(self, regex: Any, pattern: str, flags: int) -> None:
        self._regex = regex
        #: The source, as Python's parser reads it (the prefilter reads prefixes from it).
        self.pattern = pattern
        #: The flags Python's ``re`` gives the same source (``re.ASCII`` and inline flags).
        self.flags = flags
        self.groups: int = regex.groups

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern!r})"

    def _run(self, anchored: bool, text: str, pos: int, endpos: int) -> Iterator[LinearMatch]:
        size = len(text)
        endpos = max(0, min(endpos, size))
        pos = max(0, min(pos, size))
        if pos > endpos:
            return
        # RE2 copies and encodes the text it is given, so give it only [pos - 1, endpos):
        # the character before ``pos`` is all the context ``^`` (multi-line) and ``\b``
        # look at, and ending the copy at ``endpos`` makes ``$`` match there, as in ``re``.
        start = pos - 1 if pos else 0
        window = text if start == 0 and endpos == size else text[start:endpos]
        if not window.isascii() and _SURROGATE.search(window):
            # RE2 takes UTF-8, which has no lone surrogates: one replacement character
            # for each keeps every offset.
            window = _SURROGATE.sub("\ufffd", window)
        if anchored:
            found = self._regex.match(window, pos - start)
            if found is not None:
                yield LinearMatch(found, start)
            return
        for found in self._regex.finditer(window, pos - start):
            yield LinearMatch(found, start)

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> LinearMatch | None:
        """A match starting exactly at ``pos``, or None."""
        return next(self._run(True, string, pos, endpos), None)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> LinearMatch | None:
        """The first match at or after ``pos``, or None."""
        return next(self._run(False, string, pos, endpos), None)

    def finditer(
        self, string: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[LinearMatch]:
        """Every non-overlapping match between ``pos`` and ``endpos``, in order."""
        return self._run(False, string, pos, endpos)


def _re2_error(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def compile_linear(source: str) -> LinearPattern:
    """Compile a user pattern for RE2; ``ValueError`` with a one-line reason if it cannot be.

    It must compile with RE2 (so it runs in linear time) and read the same way to Python's
    ``re``, whose parser the prefilter uses (see the module docstring).
    """
    import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

    options = re2.Options()
    options.log_errors = False  # the reason goes into our error, not onto stderr
    try:
        regex = re2.compile(source, options)
    except re2.error as exc:
        raise ValueError(
            f"the linear-time engine (RE2) cannot run it: {_re2_error(exc)}; backreferences, "
            "lookarounds, atomic groups and possessive quantifiers are not allowed in custom "
            "rules"
        ) from None
    if _OPEN_LOWER_BOUND.search(source):
        raise ValueError("write {0,n}, not {,n} (RE2 would read {,n} as literal text)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            twin = re.compile(source, re.ASCII)
    except (re.error, Warning) as exc:
        raise ValueError(
            f"use the syntax Python's re and RE2 share: Python reads it differently ({exc})"
        ) from None
    return LinearPattern(regex, source, twin.flags)
