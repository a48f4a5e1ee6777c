"""Line-by-line reading of JSONL session logs, shared by the line-oriented importers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab.sources._base import read_source

__all__ = ["JsonlLine", "iter_jsonl"]


class JsonlLine:
    """One non-blank line: its number, and either the parsed object or why it failed."""

    __slots__ = ("error", "lineno", "value")

    def __init__(self, lineno: int, value: Any, error: str | None) -> None:
        self.lineno = lineno
        self.value = value
        self.error = error


def iter_jsonl(path: Path, data: bytes | None = None) -> Iterator[JsonlLine]:
    """Yield every non-blank line of a JSONL file, parsed.

    A line that is not valid JSON comes back with ``error`` set rather than raising, so the
    importer can count it under a named reason. A file that is not UTF-8 at all, or that has
    no parseable line, is the caller's to reject. A final line with no newline that fails to
    parse is reported as ``truncated final line``.
    """
    if data is None:
        data = read_source(path)
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    last = len(lines) - 1
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield JsonlLine(number, jsonio.loads(raw), None)
        except jsonio.JSONError as exc:
            truncated = number - 1 == last and not ends_with_newline
            reason = "truncated final line" if truncated else f"invalid JSON ({exc})"
            yield JsonlLine(number, None, reason)
