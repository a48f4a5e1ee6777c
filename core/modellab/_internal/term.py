"""Terminal output: a progress bar, plain-text tables, and text from outside made safe to
show. Only the CLI uses these."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Progress", "counted", "render_table", "shown"]

#: Characters a terminal must never receive raw from text that came from outside (sessions,
#: manifests, server replies, file names): C0 controls (ESC starts colours, cursor moves and
#: OSC 52 clipboard writes; CR overwrites a line; BEL ends an OSC), DEL, C1 controls (U+009B
#: is a one-character CSI on some terminals), lone surrogates (undecodable file-name bytes,
#: which cannot even be encoded for output), the line and paragraph separators, and the
#: bidirectional controls that reorder what is shown ("Trojan Source").
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)
#: The same, less line feed and tab: for multi-line text such as a transcript.
_UNSAFE_IN_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape): the byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(text: object, *, lines: bool = False) -> str:
    """Text that came from outside, as the terminal may show it: every control character
    (ESC, CR, BEL, DEL, C1), bidirectional control, line separator and undecodable byte
    written visibly as ``\\xNN`` or ``\\uNNNN``; everything else as it is.

    The one function every command uses before printing text it did not write itself.
    ``lines=True`` keeps line feeds and tabs (a transcript, a multi-line message); without
    it they are escaped too, so a name or a one-line field cannot fake a line of output.
    Escaping is idempotent: shown text passes through unchanged.
    """
    value = "" if text is None else str(text)
    pattern = _UNSAFE_IN_LINES if lines else _UNSAFE
    if pattern.search(value) is None:
        return value
    return pattern.sub(_escape, value)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun that agrees with it: ``1 row``, ``0 rows``, ``2 sessions``.

    ``plural`` is for nouns that do not take an ``s`` (``counted(2, "entry", "entries")``).
    """
    noun = singular if count == 1 else (plural if plural is not None else singular + "s")
    return f"{count} {noun}"


class Progress:
    """A one-line progress bar on stderr, shown only on a terminal and when enabled.

    Redraws at most ten times a second so a fast loop is not slowed by drawing.
    """

    def __init__(
        self,
        label: str,
        total: int,
        *,
        enabled: bool,
        unit: str = "B",
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.done = 0
        self._last_draw = 0.0
        self._started = time.monotonic()

    def advance(self, amount: int, note: str = "") -> None:
        """Add ``amount`` to the work done and redraw if it is time."""
        self.done += amount
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and self.done < self.total:
            return
        self._last_draw = now
        fraction = min(self.done / self.total, 1.0)
        width = 28
        filled = int(fraction * width)
        rate = self.done / max(now - self._started, 1e-6)
        amount_text = _human(self.done, self.unit) + "/" + _human(self.total, self.unit)
        speed = (_human(int(rate), self.unit) if self.unit == "B" else f"{rate:.1f}") + "/s"
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        eta = f"ETA {int(left) // 60}m{int(left) % 60:02d}s" if self.done < self.total else ""
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction:5.1%} "
            f"{amount_text} {speed} {eta} {shown(note)[:30]}"
        )
        self.stream.write(line.ljust(100))
        self.stream.flush()

    def close(self) -> None:
        """Clear the bar's line."""
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def _human(value: int, unit: str) -> str:
    if unit != "B":
        return str(value)
    size = float(value)
    for suffix in ("B", "KB", "MB", "GB"):
        if size < 1024 or suffix == "GB":
            return f"{size:.0f}{suffix}" if suffix == "B" else f"{size:.1f}{suffix}"
        size /= 1024
    return f"{size:.1f}TB"


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 48
) -> str:
    """Render rows as an aligned plain-text table; long cells are cut with an ellipsis.

    Cells are shown escaped (see :func:`shown`): a line break becomes a space, any other
    control character is written visibly, so a cell can neither break the table nor reach
    the terminal raw.
    """

    def cell(value: object) -> str:
        text = shown(" ".join(str(value).splitlines()) if value is not None else "")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) if rows else False
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)
