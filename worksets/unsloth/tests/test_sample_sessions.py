"""Train on what the lab really makes: the bundled sample sessions, imported, redacted,
approved and built into a dataset by the core, then a few LoRA steps on SmolLM2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trainkit

from modellab.testing import cli
from modellab.workset import ApprovalRecord, ApprovedExport, TrainRequest


def test_lora_sft_on_a_dataset_built_from_the_sample_sessions(
    approved_export: Callable[..., ApprovedExport],
    smollm2_2l: Path,
    tmp_path: Path,
) -> None:
    export = approved_export()
    data = tmp_path / "dataset"
    cli("dataset", "build", str(export.path), "--out", str(data))
    rows_file = data / "trl-sft" / "train.jsonl"
    assert rows_file.is_file() and rows_file.read_text().strip()
    request = TrainRequest(
        backend="trl",
        method="sft-lora",
        base_model="smollm2-test",
        base_model_dir=smollm2_2l,
        dataset_dir=data,
        approval=ApprovalRecord.model_validate(export.record()),
        output_dir=tmp_path / "run",
        hyperparameters={"max_steps": 2, "batch_size": 1, "max_seq_len": 512, "save_steps": 2},
    )
    result = trainkit.train(request)
    events = trainkit.events(tmp_path / "run")
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2]
    assert all(e["loss"] is not None and e["loss"] > 0 for e in steps)
    assert result["metrics"]["tokens"] > 0
    card = (tmp_path / "run" / "README.md").read_text()
    assert f'approval_files_sha256: "{export.record()["files_sha256"]}"' in card
