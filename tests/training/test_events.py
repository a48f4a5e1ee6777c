"""The trainer's events as the command reads and shows them: whole lines only, once each,
validated, escaped; progress with an ETA, in place on a terminal, sparse in a pipe."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modellab.training._events import EventTail, ProgressView, eta_seconds


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_the_tail_returns_each_whole_line_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []  # no file yet: nothing, no error
    _append(path, json.dumps({"event": "start", "total_steps": 4}) + "\n" + '{"event": "st')
    assert [e["event"] for e in tail.read()] == ["start"]
    _append(path, 'ep", "step": 1, "total_steps": 4}\n')  # the half line, finished
    assert tail.read() == [{"event": "step", "step": 1, "total_steps": 4}]
    assert tail.read() == []
    # Not JSON, not an object, or an event it does not know: skipped, never shown.
    _append(path, 'garbage\n[1, 2]\n{"event": "rm -rf"}\n{"event": "done", "metrics": {}}\n')
    assert tail.read() == [{"event": "done", "metrics": {}}]


def test_a_resumed_run_shows_only_its_own_events(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    _append(path, json.dumps({"event": "start", "resumed_from": None}) + "\n")
    tail = EventTail(path, from_end=True)
    _append(path, json.dumps({"event": "start", "resumed_from": 3}) + "\n")
    assert tail.read() == [{"event": "start", "resumed_from": 3}]


@pytest.mark.parametrize(
    ("step", "total", "elapsed", "first", "expected"),
    [(5, 10, 10.0, 0, 10.0), (6, 10, 6.0, 3, 8.0), (10, 10, 5.0, 0, 0.0), (3, 10, 1.0, 3, None)],
)
def test_eta_follows_the_pace_since_the_run_started_here(
    step: int, total: int, elapsed: float, first: int, expected: float | None
) -> None:
    assert eta_seconds(step, total, elapsed, first) == expected


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_a_pipe_gets_a_line_a_tenth_of_the_run_and_the_last(tmp_path: Path) -> None:
    stream = _Stream(tty=False)
    view = ProgressView(stream)
    view.show({"event": "start", "total_steps": 40, "device": "cpu", "resumed_from": None})
    for step in range(1, 41):
        view.show(
            {
                "event": "step",
                "step": step,
                "total_steps": 40,
                "loss": 2.0 - step / 40,
                "tokens_per_s": 1234.5,
            }
        )
    view.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "training: 40 steps on cpu"
    steps = [line for line in lines if line.startswith("step ")]
    assert 10 <= len(steps) <= 11 and steps[-1].startswith("step 40/40")
    assert "loss 1.0000" in steps[-1] and "1,234 tok/s" in steps[-1] and "ETA 0m00s" in steps[-1]
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_line_redrawn_and_strings_escaped() -> None:
    stream = _Stream(tty=True)
    view = ProgressView(stream)
    view.show({"event": "start", "total_steps": 3, "device": "cuda\x1b]0;x\x07", "resumed_from": 1})
    view.show({"event": "step", "step": 2, "total_steps": 3, "loss": 1.5})
    view.show({"event": "error", "message": "boom\x1b[2J"})
    view.close()
    text = stream.getvalue()
    assert "\x1b]0" not in text and "\x1b[2J" not in text
    assert "resumed from step 1" in text
    assert "\r\x1b[2Kstep 2/3  loss 1.5000" in text
