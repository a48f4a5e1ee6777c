"""The memory estimate against real TRL runs: the measured peak RSS within 25%.

Each measured case runs a real SFT (TRL ``SFTTrainer``, with a PEFT LoRA or full
fine-tuning) on a layer cut of SmolLM2-135M in a child process and reads the child's own
``ru_maxrss``. The two cases are dominated by different parts of the estimate (the
logits and activations of 512 tokens; the gradients and AdamW state of every weight),
so one tuned constant could not pass both.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import pytest
from tiny_models import smollm2_folder  # at import: its cache path is read from the real HOME

from modellab.training._memory import (
    ALL_LINEAR,
    ModelShape,
    estimate_peak,
)

#: The child: the same TRL + PEFT setup the ``trl`` trainer uses (float32 weights on CPU,
#: LoRA on every linear layer, no gradient checkpointing), two steps, rows longer than
#: ``max_length`` so every sequence is exactly ``max_length`` tokens.
CHILD = textwrap.dedent(
    """
    import json, resource, sys
    job = json.loads(sys.argv[1])
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.float32)
    text = "the quick brown fox jumps over the lazy dog while counting tokens " * 400
    rows = [
        {"messages": [{"role": "user", "content": f"Summarise text {i}."},
                      {"role": "assistant", "content": text}]}
        for i in range(2 * job["batch"])
    ]
    lora = None
    if job["method"] == "sft-lora":
        lora = LoraConfig(r=job["rank"], lora_alpha=2 * job["rank"], lora_dropout=0.0,
                          target_modules="all-linear", task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=job["out"], max_steps=2, per_device_train_batch_size=job["batch"],
        max_length=job["seq"], use_cpu=True, bf16=False, gradient_checkpointing=False,
        report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=lora)
    trainer.train()
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak": peak, "trainable": trainable}))
    """
)


def _folder(layers: int) -> Path:
    try:
        return smollm2_folder(layers=layers)
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _tensor_elements(path: Path) -> int:
    """Parameters stored in a safetensors file, from its JSON header (no torch)."""
    with path.open("rb") as stream:
        (length,) = struct.unpack("<Q", stream.read(8))
        header = json.loads(stream.read(length))
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for size in info["shape"]:
            count *= size
        total += count
    return total


def _measure(tmp_path: Path, folder: Path, **job) -> dict[str, int]:
    missing = [m for m in ("torch", "trl", "peft", "datasets") if find_spec(m) is None]
    if missing:
        pytest.skip(f"the training stack is not installed here: {', '.join(missing)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false",
        HF_HOME=str(tmp_path / "hf"),
    )  # fmt: skip
    job = {"model": str(folder), "out": str(tmp_path / "out"), **job}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(job)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_shape_counts_the_parameters_the_weights_hold():
    folder = _folder(2)
    config = json.loads((folder / "config.json").read_text())
    shape = ModelShape.from_config(config)
    assert shape.parameters == _tensor_elements(folder / "model.safetensors")
    assert (shape.layers, shape.hidden_size, shape.kv_dim) == (2, 576, 192)


def test_the_parts_follow_the_method_and_the_sizes():
    shape = ModelShape.from_config(
        {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
         "num_key_value_heads": 3, "num_hidden_layers": 30, "vocab_size": 49152}
    )  # fmt: skip
    assert shape.parameters == 134_515_008  # SmolLM2-135M, tied embeddings
    lora = estimate_peak(shape, method="sft-lora", max_seq_len=512, batch_size=1)
    full = estimate_peak(shape, method="sft-full", max_seq_len=512, batch_size=1)
    longer = estimate_peak(shape, method="sft-lora", max_seq_len=1024, batch_size=1)
    ckpt = estimate_peak(
        shape, method="sft-lora", max_seq_len=512, batch_size=1, gradient_checkpointing=True
    )
    # LoRA r=16 on all seven linear layers of 30 blocks.
    assert lora.trainable_parameters == 30 * 16 * (576 * 9 + 192 * 2 + 1536 * 3)
    assert full.parts["trainable_state"] > 3 * full.parts["weights"]
    assert longer.parts["logits"] == 2 * lora.parts["logits"]
    assert ckpt.parts["activations"] < lora.parts["activations"] / 5
    assert sum(lora.parts.values()) == lora.peak_bytes
    gpu = estimate_peak(shape, method="sft-lora", max_seq_len=512, batch_size=1,
                        where="gpu", dtype="bfloat16")  # fmt: skip
    assert gpu.parts["weights"] == shape.parameters * 2 and "load" not in gpu.parts
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        estimate_peak(shape, method="sft-lora", max_seq_len=1, batch_size=1, dtype="float8")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "seq", "batch"),
    [("sft-lora", 256, 2), ("sft-full", 128, 1)],
    ids=["lora-512-tokens", "full-128-tokens"],
)
def test_the_estimate_is_within_25_percent_of_the_measured_peak(tmp_path, method, seq, batch):
    folder = _folder(2)
    config = json.loads((folder / "config.json").read_text())
    shape = ModelShape.from_config(config)
    estimate = estimate_peak(
        shape, method=method, max_seq_len=seq, batch_size=batch, lora_rank=16,
        lora_targets=ALL_LINEAR, file_bytes=(folder / "model.safetensors").stat().st_size,
    )  # fmt: skip
    measured = _measure(tmp_path, folder, method=method, seq=seq, batch=batch, rank=16)
    # The trainable count is PEFT's own: the LoRA arithmetic is right, not tuned.
    assert measured["trainable"] == estimate.trainable_parameters
    error = (estimate.peak_bytes - measured["peak"]) / measured["peak"]
    parts = {name: f"{value / 2**20:.0f} MiB" for name, value in estimate.parts.items()}
    print(f"{method} {batch}x{seq}: estimate {estimate.peak_bytes / 2**20:.0f} MiB, measured "
          f"{measured['peak'] / 2**20:.0f} MiB ({error:+.1%})")  # fmt: skip
    assert abs(error) <= 0.25, (
        f"estimate {estimate.peak_bytes / 2**20:.0f} MiB vs measured "
        f"{measured['peak'] / 2**20:.0f} MiB ({error:+.1%}); parts {parts}"
    )
