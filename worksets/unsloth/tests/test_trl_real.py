"""A real LoRA SFT of SmolLM2-135M cut to 2 layers, on CPU: loss falls, the run's files are
right, the adapter loads back with PEFT, and the model moves toward the training answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import trainkit

STEPS = 24
SAVE_STEPS = 12


@pytest.fixture(scope="module")
def run(smollm2_2l: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train once for every test below: 2 rows, batch 2, a high learning rate."""
    tmp = tmp_path_factory.mktemp("sft-lora")
    trainkit.write_dataset(tmp / "data", sft=trainkit.overfit_rows())
    request = trainkit.request(
        tmp,
        smollm2_2l,
        max_steps=STEPS,
        learning_rate=4e-3,
        lr_scheduler="constant",
        save_steps=SAVE_STEPS,
        batch_size=2,
        merge=True,
        seed=7,
    )
    result = trainkit.train(request)
    return {"tmp": tmp, "request": request, "result": result, "out": Path(request.output_dir)}


def test_loss_falls_over_the_steps(run: dict[str, Any]) -> None:
    losses = [e["loss"] for e in trainkit.events(run["out"]) if e["event"] == "step"]
    assert len(losses) == STEPS
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first * 0.6, losses


def test_events_are_well_formed(run: dict[str, Any]) -> None:
    events = trainkit.events(run["out"])
    assert events[0] == {
        "event": "start",
        "total_steps": STEPS,
        "method": "sft-lora",
        "device": "cpu",
        "resumed_from": None,
    }
    assert events[-1]["event"] == "done"
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, STEPS + 1))
    tokens = [e["tokens"] for e in steps]
    assert tokens == sorted(tokens) and len(set(tokens)) == STEPS
    # Real tokens only: the two rows' lengths, no padding, each step sees both rows.
    per_step = {b - a for a, b in zip([0, *tokens], tokens, strict=False)}
    assert len(per_step) == 1
    for event in steps:
        assert event["total_steps"] == STEPS
        assert event["tokens_per_s"] > 0 and event["elapsed_s"] > 0
    checkpoints = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert checkpoints == [SAVE_STEPS, STEPS]
    for step in checkpoints:
        assert (run["out"] / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").is_file()


def test_the_result_and_model_card(run: dict[str, Any]) -> None:
    result, out = run["result"], run["out"]
    assert result["adapter_dir"] == "adapter" and result["merged_dir"] == "merged"
    assert result["device"] == "cpu"
    assert set(result["versions"]) >= {"torch", "transformers", "peft", "trl"}
    metrics = result["metrics"]
    assert metrics["steps"] == STEPS
    assert metrics["loss_last"] < metrics["loss_first"]
    last_step = [e for e in trainkit.events(out) if e["event"] == "step"][-1]
    assert metrics["tokens"] == last_step["tokens"] > 0
    assert metrics["peak_rss_bytes"] > 200 * 2**20  # a real model was loaded
    assert metrics["tokens_per_s"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "merged" / "model.safetensors").is_file()
    assert (out / "merged" / "chat_template.jinja").is_file()
    card = (out / "README.md").read_text()
    front = card.split("---\n")[1]
    approval = run["request"].approval
    assert f'approval_files_sha256: "{approval.files_sha256}"' in front
    assert f'approved_at: "{approval.approved_at}"' in front
    data = (run["tmp"] / "data" / "trl-sft" / "train.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() in front
    assert 'base_model: "smollm2-test"' in front
    assert "| learning_rate | 0.004 |" in card
    done = trainkit.events(out)[-1]
    assert done["metrics"] == json.loads(json.dumps(metrics))


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_adapter_loads_back_and_the_model_moves_toward_the_training_answer(
    run: dict[str, Any], smollm2_2l: Path
) -> None:
    row = trainkit.overfit_rows()[1]
    before = trainkit.probe(smollm2_2l, None, row, run["tmp"])
    after = trainkit.probe(smollm2_2l, run["out"] / "adapter", row, run["tmp"])
    # Mean log-probability per answer token: from gibberish (the cut model) to likely.
    assert after["answer_logprob"] > before["answer_logprob"] + 5, (before, after)
    assert after["answer_logprob"] > -3, after
    answer = after["answer"]
    assert _common_prefix(after["greedy"], answer) > _common_prefix(before["greedy"], answer)
    assert _common_prefix(after["greedy"], answer) >= 8, after
