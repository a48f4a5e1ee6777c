"""The shared test models (``tests/tiny_models.py``) that these and other tests train on."""

from __future__ import annotations

from pathlib import Path

import tiny_models


def test_the_synthetic_model_is_tiny_and_renders_tools(synthetic: Path) -> None:
    names = {p.name for p in synthetic.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= names
    assert sum(p.stat().st_size for p in synthetic.iterdir()) < 2 * 2**20
    assert (synthetic / "chat_template.jinja").read_text() == tiny_models.CHATML_TOOLS_TEMPLATE


def test_the_smollm2_folder_keeps_its_original_template(smollm2_2l: Path) -> None:
    import json

    config = json.loads((smollm2_2l / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["hidden_size"] == 576
    assert (smollm2_2l / "ready").read_text() == tiny_models.RECIPE
    original = (smollm2_2l / tiny_models.ORIGINAL_TEMPLATE_FILE).read_text()
    assert "<|im_start|>" in original and "{% generation" not in original
    template = (smollm2_2l / "chat_template.jinja").read_text()
    assert "{%- generation %}" in template and "tool_call" in template
    # Asking again reuses the cached folder.
    assert tiny_models.smollm2_folder(layers=2) == smollm2_2l


def test_the_template_renders_calls_results_and_marks_the_assistant(synthetic: Path) -> None:
    import trainkit
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(synthetic)
    row = trainkit.sft_rows()[1]
    text = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    assert (
        '<tool_call>\n{"name": "read_file", "arguments": {"path": "app.py"}}\n</tool_call>' in text
    )
    assert "<tool_response>\ndef add(a, b): return a + b\n</tool_response>" in text
    assert '"name": "read_file"' in text.split("\n</tools>")[0]
    prompt = tokenizer.apply_chat_template(
        row["messages"][:2], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
