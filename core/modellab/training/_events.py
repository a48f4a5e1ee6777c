"""A trainer's progress, as it writes it (``events.jsonl``), read while it runs.

The trainer appends one JSON object a line (the contract is in
:class:`modellab.plugins.hookspecs.TrainRequest`); :class:`EventTail` hands back each whole
line once, and :class:`ProgressView` shows step, loss, tokens/s and ETA: redrawn in place on
a terminal, a line every tenth of the run (and at checkpoints) in a pipe or a log.
The file is the trainer's, so every line is validated and every string escaped.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from modellab._internal.term import shown

__all__ = ["EventTail", "ProgressView", "eta_seconds"]

#: The events a trainer may write; anything else is ignored (and never printed).
_KINDS = frozenset({"start", "step", "checkpoint", "done", "error"})


class EventTail:
    """Reads the whole lines added to ``path`` since the last read."""

    def __init__(self, path: Path, *, from_end: bool = False) -> None:
        """:param from_end: skip what the file holds now (a resumed run's earlier events)."""
        self.path = path
        self._offset = 0
        if from_end:
            with contextlib.suppress(FileNotFoundError):
                self._offset = path.stat().st_size
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        """New events (complete lines only; a line being written waits for the next read)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read(1 << 20)
        except FileNotFoundError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not ours to print; the run's outcome is judged by its result
            if isinstance(event, dict) and event.get("event") in _KINDS:
                events.append(event)
        return events


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def eta_seconds(step: int, total: int, elapsed: float, first_step: int = 0) -> float | None:
    """Seconds left at ``step`` of ``total``, from the pace since ``first_step``."""
    done = step - first_step
    if done <= 0 or total <= step or elapsed <= 0:
        return None if total > step else 0.0
    return (total - step) * elapsed / done


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class ProgressView:
    """Shows training events to a person on ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._started = time.monotonic()
        self._first_step = 0
        self._last_shown = -1
        self._drawn = False

    def _write(self, text: str, *, in_place: bool = False) -> None:
        if not self.enabled:
            return
        if in_place and self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        else:
            if self._drawn:
                self.stream.write("\n")
                self._drawn = False
            self.stream.write(text + "\n")
        self.stream.flush()

    def show(self, event: dict[str, Any]) -> None:
        """Show one event."""
        kind = event.get("event")
        if kind == "start":
            self._started = time.monotonic()
            resumed = _number(event.get("resumed_from"))
            self._first_step = int(resumed or 0)
            total = _number(event.get("total_steps"))
            where = shown(str(event.get("device", "")))[:60]
            note = f", resumed from step {int(resumed)}" if resumed else ""
            self._write(f"training: {int(total or 0)} steps on {where}{note}")
        elif kind == "step":
            self._step(event)
        elif kind == "checkpoint":
            step = _number(event.get("step"))
            self._write(f"checkpoint saved at step {int(step or 0)}")
        elif kind == "error":
            self._write("trainer error: " + shown(str(event.get("message", "")))[:300])

    def _step(self, event: dict[str, Any]) -> None:
        step, total = _number(event.get("step")), _number(event.get("total_steps"))
        if step is None or total is None or total <= 0:
            return
        loss, rate = _number(event.get("loss")), _number(event.get("tokens_per_s"))
        elapsed = time.monotonic() - self._started
        left = eta_seconds(int(step), int(total), elapsed, self._first_step)
        line = (
            f"step {int(step)}/{int(total)}"
            + (f"  loss {loss:.4f}" if loss is not None else "")
            + (f"  {rate:,.0f} tok/s" if rate is not None else "")
            + f"  ETA {_clock(left)}"
        )
        if self.tty:
            self._write(line, in_place=True)
            return
        # In a pipe: a line every tenth of the run, and the last step.
        tenth = max(int(total) // 10, 1)
        if int(step) // tenth != self._last_shown // tenth or step >= total:
            self._last_shown = int(step)
            self._write(line)

    def close(self) -> None:
        """End an in-place line."""
        if self._drawn and self.enabled:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
