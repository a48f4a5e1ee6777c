"""The plugin (cheap to import, registers both trainers), the manifest, and the data rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trainkit

from modellab.workset import BackendDescriptor

PROJECT = Path(__file__).resolve().parents[1]


def test_importing_the_plugin_loads_no_ml_library() -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import modellab_unsloth.plugin;"
        "heavy = ('torch', 'transformers', 'trl', 'peft', 'datasets');"
        "print([m for m in heavy if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(PROJECT / "src")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_the_plugin_registers_trl_and_unsloth() -> None:
    from modellab_unsloth.plugin import plugin, train_trl, train_unsloth

    registered: list[tuple[BackendDescriptor, Callable[..., Any]]] = []
    plugin.modellab_register_trainers(lambda d, h: registered.append((d, h)))
    names = {d.name: (d, h) for d, h in registered}
    assert set(names) == {"trl", "unsloth"}
    assert names["trl"][1] is train_trl and names["unsloth"][1] is train_unsloth
    for descriptor, _ in registered:
        assert descriptor.accepts == ["sft-lora", "sft-qlora", "sft-full", "dpo"]


def test_the_workset_passes_its_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modellab", "worksets", "check", str(PROJECT)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = (PROJECT / "src" / "modellab_unsloth" / "workset.toml").read_text()
    assert 'isolation = "venv"' in manifest and 'gpu = "optional"' in manifest
    assert "network_egress = []" in manifest and 'telemetry = "off"' in manifest


def _tokenizer(folder: Path, template_file: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if template_file is not None:
        tokenizer.chat_template = (folder / template_file).read_text()
    return tokenizer


def test_loss_is_taken_on_the_assistant_tokens_only(synthetic: Path) -> None:
    from modellab_unsloth._data import sft_examples

    tokenizer = _tokenizer(synthetic)
    row = trainkit.sft_rows()[0]
    examples = sft_examples([row], tokenizer, max_seq_len=4096)
    assert examples.assistant_only
    (example,) = examples.rows
    trained = [t for t in example["labels"] if t != -100]
    text = tokenizer.decode(trained)
    assert text == (
        '<tool_call>\n{"name": "bash", "arguments": {"command": "pytest -q"}}\n</tool_call>'
        "<|im_end|>All 4 tests pass.<|im_end|>"
    )
    # The user's words, the tool's result and the tool schema are context, never targets.
    assert "Run the tests" not in text and "4 passed" not in text


def test_a_template_without_generation_blocks_trains_on_every_token(smollm2_2l: Path) -> None:
    import tiny_models
    from modellab_unsloth._data import sft_examples

    tokenizer = _tokenizer(smollm2_2l, tiny_models.ORIGINAL_TEMPLATE_FILE)
    examples = sft_examples(trainkit.overfit_rows()[1:], tokenizer, max_seq_len=4096)
    assert not examples.assistant_only
    (example,) = examples.rows
    assert example["labels"] == example["input_ids"]


def test_rows_longer_than_max_seq_len_are_cut_or_dropped(synthetic: Path) -> None:
    from modellab_unsloth._data import sft_examples

    from modellab.workset import UsageError

    tokenizer = _tokenizer(synthetic)
    rows = trainkit.sft_rows()
    full = sft_examples(rows, tokenizer, max_seq_len=4096)
    longest = max(len(r["input_ids"]) for r in full.rows)
    cut = sft_examples(rows, tokenizer, max_seq_len=longest - 5)
    assert cut.truncated >= 1 and max(len(r["input_ids"]) for r in cut.rows) == longest - 5
    with pytest.raises(UsageError, match="no row has assistant tokens within max_seq_len=8"):
        sft_examples(rows, tokenizer, max_seq_len=8)


def test_preference_rows_render_as_prompt_and_completions(synthetic: Path) -> None:
    from modellab_unsloth._data import preference_texts

    tokenizer = _tokenizer(synthetic)
    (texts,) = preference_texts(trainkit.preference_rows()[:1], tokenizer)
    assert texts["prompt"].endswith("<|im_start|>assistant\n")
    assert "<tools>" in texts["prompt"]
    assert texts["chosen"].endswith("<|im_end|>")
    assert json.dumps({"command": "pytest -q"}) in texts["chosen"]
    assert "pytest -x bad" in texts["rejected"]


def test_full_fine_tuning_writes_a_whole_model(synthetic: Path, tmp_path: Path) -> None:
    request = trainkit.request(tmp_path, synthetic, method="sft-full", max_steps=2, save_steps=5)
    result = trainkit.train(request)
    out = Path(request.output_dir)
    assert result["adapter_dir"] is None and result["merged_dir"] == "merged"
    assert (out / "merged" / "model.safetensors").is_file()
    assert (out / "merged" / "chat_template.jinja").is_file()
    assert 'library_name: "transformers"' in (out / "README.md").read_text()
