"""kill -9 in the middle of a run, then ``resume``: it goes on from the last checkpoint."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import trainkit

STEPS = 10
SAVE_STEPS = 3


def _wait_for_checkpoint(events_file: Path, process: object, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events_file.is_file():
            for line in events_file.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == "checkpoint":
                    return int(event["step"])
        assert process.poll() is None, process.communicate()[1][-3000:]  # type: ignore[attr-defined]
        time.sleep(0.05)
    raise AssertionError("no checkpoint event within the timeout")


def test_a_killed_run_resumes_from_its_last_checkpoint(synthetic: Path, tmp_path: Path) -> None:
    hyper = {"max_steps": STEPS, "save_steps": SAVE_STEPS, "batch_size": 1, "learning_rate": 1e-3}
    first = trainkit.request(tmp_path, synthetic, **hyper)
    out = Path(first.output_dir)
    process = trainkit.start_trainer(first)
    try:
        checkpoint = _wait_for_checkpoint(out / "events.jsonl", process)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    before = trainkit.events(out)
    assert not any(e["event"] == "done" for e in before)
    killed_at = max(e["step"] for e in before if e["event"] == "step")
    assert killed_at < STEPS

    result = trainkit.train(trainkit.request(tmp_path, synthetic, resume=True, **hyper))

    after = trainkit.events(out)[len(before) :]
    start = after[0]
    assert start["event"] == "start" and start["total_steps"] == STEPS
    assert start["resumed_from"] is not None and start["resumed_from"] >= checkpoint
    assert start["resumed_from"] % SAVE_STEPS == 0
    steps = [e["step"] for e in after if e["event"] == "step"]
    assert steps == list(range(start["resumed_from"] + 1, STEPS + 1))
    assert after[-1]["event"] == "done"
    assert result["metrics"]["steps"] == STEPS
    # The token count carries on from the checkpoint instead of starting again at 0.
    resumed_tokens = [e["tokens"] for e in after if e["event"] == "step"]
    checkpoint_tokens = next(
        e["tokens"] for e in before if e["event"] == "step" and e["step"] == start["resumed_from"]
    )
    assert resumed_tokens[0] > checkpoint_tokens
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_resume_without_a_checkpoint_starts_from_scratch(synthetic: Path, tmp_path: Path) -> None:
    request = trainkit.request(tmp_path, synthetic, resume=True, max_steps=2, save_steps=5)
    trainkit.train(request)
    start = trainkit.events(Path(request.output_dir))[0]
    assert start["event"] == "start" and start["resumed_from"] is None
