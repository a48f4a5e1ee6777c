"""What each trainer refuses, and how: one line, naming the way forward."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import trainkit

from modellab.workset import UsageError


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _run_failing(request: object, engine: str) -> str:
    process = trainkit.start_trainer(request, engine)  # type: ignore[arg-type]
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, (out, err)
    return err


def test_unsloth_without_a_gpu_says_use_backend_trl(synthetic: Path, tmp_path: Path) -> None:
    if _cuda():
        pytest.skip("this machine has a CUDA GPU: the unsloth backend would run")
    request = trainkit.request(tmp_path, synthetic, backend="unsloth", max_steps=1)
    err = _run_failing(request, "unsloth")
    # What the child reports: `TypeName: message`, one line, no traceback.
    assert err.strip().count("\n") == 0, err
    assert err.startswith("UsageError: the unsloth backend needs a CUDA GPU")
    assert "--backend trl" in err
    events = trainkit.events(Path(request.output_dir))
    assert events == [{"event": "error", "message": err.strip()}]


def test_unsloth_refusal_in_process(synthetic: Path, tmp_path: Path) -> None:
    if _cuda():
        pytest.skip("this machine has a CUDA GPU: the unsloth backend would run")
    from modellab_unsloth.plugin import train_unsloth

    with pytest.raises(UsageError, match=r"--backend trl") as caught:
        train_unsloth(trainkit.request(tmp_path, synthetic, backend="unsloth"))
    assert "\n" not in str(caught.value)


def test_qlora_on_a_cpu_is_refused_with_one_line(synthetic: Path, tmp_path: Path) -> None:
    if _cuda():
        pytest.skip("this machine has a CUDA GPU: QLoRA would run")
    from modellab_unsloth.plugin import train_trl

    with pytest.raises(UsageError) as caught:
        train_trl(trainkit.request(tmp_path, synthetic, method="sft-qlora"))
    message = str(caught.value)
    assert "\n" not in message
    assert "sft-qlora needs a CUDA GPU" in message and "--method sft-lora" in message


@pytest.mark.parametrize(
    ("method", "hyper", "expected"),
    [
        ("sft-lora", {"learnig_rate": 0.1}, "unknown hyper-parameter 'learnig_rate'"),
        ("sft-lora", {"max_steps": "many"}, "hyper-parameter max_steps: expected int, got 'many'"),
        ("sft-lora", {"batch_size": 0}, "hyper-parameter batch_size must be positive, got 0"),
        ("sft-lora", {"merge": "perhaps"}, "hyper-parameter merge: expected bool"),
        ("rlhf", {}, "unknown method 'rlhf'"),
    ],
)
def test_bad_input_is_refused_before_anything_loads(
    synthetic: Path, tmp_path: Path, method: str, hyper: dict[str, object], expected: str
) -> None:
    from modellab_unsloth.plugin import train_trl

    with pytest.raises(UsageError, match=expected.replace("(", r"\(")):
        train_trl(trainkit.request(tmp_path, synthetic, method=method, **hyper))
    error = trainkit.events(tmp_path / "run")[-1]
    assert error["event"] == "error" and error["message"].startswith("UsageError: ")


def test_a_base_model_that_is_not_a_safetensors_folder_is_refused(tmp_path: Path) -> None:
    from modellab_unsloth.plugin import train_trl

    gguf_only = tmp_path / "gguf-model"
    gguf_only.mkdir()
    (gguf_only / "model.gguf").write_bytes(b"GGUF")
    with pytest.raises(UsageError, match=r"no config.json in .*not a GGUF file"):
        train_trl(trainkit.request(tmp_path, gguf_only))


def test_a_dataset_without_its_rows_file_is_refused(synthetic: Path, tmp_path: Path) -> None:
    from modellab_unsloth.plugin import train_trl

    trainkit.write_dataset(tmp_path / "data", sft=trainkit.sft_rows())  # no preference/
    with pytest.raises(UsageError, match=r"preference/train.jsonl: not found.*--format preference"):
        train_trl(trainkit.request(tmp_path, synthetic, method="dpo"))


def test_a_bad_row_is_named_by_file_and_line(synthetic: Path, tmp_path: Path) -> None:
    from modellab_unsloth.plugin import train_trl

    rows_file = tmp_path / "data" / "trl-sft" / "train.jsonl"
    rows_file.parent.mkdir(parents=True)
    rows_file.write_text(json.dumps(trainkit.sft_rows()[0]) + "\n" + '{"messages": []}\n')
    with pytest.raises(
        UsageError, match=r"train.jsonl line 2: field 'messages' must be a non-empty list"
    ):
        train_trl(trainkit.request(tmp_path, synthetic))


def test_unsloth_trains_on_a_gpu(smollm2_2l: Path, tmp_path: Path) -> None:
    if not _cuda():
        pytest.skip("no CUDA GPU: Unsloth trains only on one (CI and this machine have none)")
    if importlib.util.find_spec("unsloth") is None:
        pytest.skip("the unsloth package is not installed in this environment")
    request = trainkit.request(
        tmp_path, smollm2_2l, backend="unsloth", max_steps=8, learning_rate=3e-3, save_steps=4
    )
    result = trainkit.train(request, "unsloth")
    events = trainkit.events(Path(request.output_dir))
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert len(losses) == 8 and sum(losses[-2:]) < sum(losses[:2])
    assert result["device"] != "cpu"
    assert result["metrics"]["peak_vram_bytes"] > 0
    assert "unsloth" in result["versions"]
    assert (Path(request.output_dir) / "adapter" / "adapter_model.safetensors").is_file()
