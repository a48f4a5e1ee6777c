"""DPO on the preference rows ``dataset build --format preference`` writes."""

from __future__ import annotations

from pathlib import Path

import trainkit


def test_a_dpo_step_runs_and_writes_an_adapter(smollm2_2l: Path, tmp_path: Path) -> None:
    trainkit.write_dataset(tmp_path / "data", preference=trainkit.preference_rows())
    request = trainkit.request(
        tmp_path, smollm2_2l, method="dpo", max_steps=2, batch_size=1, save_steps=10
    )
    result = trainkit.train(request)
    out = Path(request.output_dir)
    events = trainkit.events(out)
    assert events[0]["event"] == "start" and events[0]["method"] == "dpo"
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2]
    # DPO's loss starts at log 2 (policy == reference) and every step sees real tokens.
    assert abs(steps[0]["loss"] - 0.6931) < 0.01
    assert 0 < steps[0]["tokens"] < steps[1]["tokens"]
    assert events[-1]["event"] == "done"
    assert result["adapter_dir"] == "adapter" and result["merged_dir"] is None
    assert (out / "adapter" / "adapter_model.safetensors").stat().st_size > 0
    assert (out / "adapter" / "adapter_config.json").is_file()
    card = (out / "README.md").read_text()
    assert 'dataset_file: "preference/train.jsonl"' in card
    assert '- "dpo"' in card and "| dpo_beta | 0.1 |" in card
