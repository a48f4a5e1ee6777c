"""``events.jsonl``: the progress a trainer reports, one JSON object a line, flushed per line.

The core tails this file for progress (step, loss, tokens/s, ETA) and ``train --json``
streams it. Events: ``start``, ``step``, ``checkpoint``, ``done``, ``error``. A resumed run
appends to the same file, so a run's history survives a kill.

This module imports transformers: import it only after the offline switches are set (and,
for Unsloth, after ``import unsloth``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

__all__ = ["EVENTS_FILE", "EventLog", "ProgressCallback"]

EVENTS_FILE = "events.jsonl"


class EventLog:
    """Appends events to ``output_dir/events.jsonl``."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / EVENTS_FILE

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line and flush it, so a reader sees it at once."""
        record = {"event": event, **fields}
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class ProgressCallback(TrainerCallback):
    """Turns the Trainer's log and save calls into ``start``/``step``/``checkpoint`` events.

    ``tokens`` is the Trainer's own count of non-padding input tokens
    (``include_num_input_tokens_seen="non_padding"``), which a checkpoint keeps, so it stays
    cumulative across a resume; ``tokens_per_s`` is over this process's part of the run.
    """

    def __init__(
        self, log: EventLog, *, method: str, device: str, resumed_from: int | None
    ) -> None:
        self.log = log
        self.method = method
        self.device = device
        self.resumed_from = resumed_from
        self.started = time.monotonic()
        self.tokens_at_start = 0
        self.first_step_done = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.started = time.monotonic()
        # On resume the state is restored from the checkpoint only after this call; the
        # first step event re-bases the count (see on_log).
        self.tokens_at_start = int(state.num_input_tokens_seen or 0)
        self.log.emit(
            "start",
            total_steps=int(state.max_steps),
            method=self.method,
            device=self.device,
            resumed_from=self.resumed_from,
        )

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not self.first_step_done:
            self.first_step_done = True
            self.tokens_at_start = int(state.num_input_tokens_seen or 0)
            self.started = time.monotonic()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or "loss" not in logs:
            return  # the end-of-training summary, or an eval line
        elapsed = time.monotonic() - self.started
        tokens = int(state.num_input_tokens_seen or 0)
        rate = (tokens - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0
        self.log.emit(
            "step",
            step=int(state.global_step),
            total_steps=int(state.max_steps),
            loss=_finite(float(logs["loss"])),
            tokens=tokens,
            tokens_per_s=round(rate, 3),
            elapsed_s=round(elapsed, 3),
        )

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # Called after the checkpoint folder is complete (model, optimizer, trainer state).
        self.log.emit("checkpoint", step=int(state.global_step))
