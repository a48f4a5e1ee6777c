"""A real safetensors folder: SmolLM2-135M-Instruct converted from the packaged GGUF, as
``../shared/research/offline-ml-stack.md`` §1 shows (once, cached: ``tests/tiny_models.py``),
then installed and checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.conftest import Runner


@pytest.mark.slow
def test_install_converted_smollm2(models_cli: Runner, tmp_path: Path) -> None:
    import tiny_models

    try:
        cached = tiny_models.smollm2_folder()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    folder = tmp_path / "SmolLM2-135M-Instruct"
    shutil.copytree(cached, folder, ignore=shutil.ignore_patterns("ready", "README.md"))
    # SmolLM2's own template (the cache trains with a ChatML + tools one).
    (folder / "chat_template.jinja").write_text(
        (cached / tiny_models.ORIGINAL_TEMPLATE_FILE).read_text()
    )
    (folder / tiny_models.ORIGINAL_TEMPLATE_FILE).unlink()

    code, out, err = models_cli("install", str(folder), "--accept-license", "unknown", "--json")
    assert code == 0, err
    passport = json.loads(out)["passport"]
    assert passport["architecture"] == "LlamaForCausalLM"
    assert passport["parameter_count"] == 134_515_008  # the GGUF's count: embeddings tied
    assert passport["layers"] == 30
    assert passport["context_length"] == 8192
    assert passport["quantisation"] == "BF16"
    assert passport["license"] is None  # no card: unknown, never guessed
    assert passport["chat_template"] is True
    assert passport["template"]["tools"] is False
    assert "model.safetensors" in passport["provenance"]["files"]

    # The cached folder as the tests train it: its card states the licence, and its
    # shipped ChatML template renders tools and masks the assistant's turns.
    code, out, err = models_cli(
        "install",
        str(cached),
        "--name",
        "smollm2-tools",
        "--accept-license",
        "apache-2.0",
        "--json",
    )
    assert code == 0, err
    passport = json.loads(out)["passport"]
    assert passport["license"] == "apache-2.0"
    assert passport["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert passport["template"]["tools"] is True
    assert passport["template"]["generation_blocks"] is True
