"""Fixtures for the model store: tiny real model files, and the ``models`` command run
in-process."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from evals.llama_server import gguf_path

from modellab.cli import _app, main
from modellab.cli.models import HANDLERS, add_models_command

#: The SmolLM2 GGUF the eval tests use, looked up at import (before HOME is isolated).
try:
    SMOLLM2_GGUF: Path | None = gguf_path()
except FileNotFoundError:
    SMOLLM2_GGUF = None

QWEN_TEMPLATE = Path(__file__).resolve().parents[2].parent / (
    "shared/corpus/chat-templates-trl/qwen2_5.jinja"
)
#: A chat template with no tool support (Llama 3's, short).
PLAIN_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

Runner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def smollm2_gguf() -> Path:
    if SMOLLM2_GGUF is None:
        pytest.skip(
            "SmolLM2 GGUF not found: run 'python3 tests/evals/llama_server.py' to install it"
        )
    return SMOLLM2_GGUF


def write_tiny_hf(
    folder: Path,
    *,
    template: str | None = PLAIN_TEMPLATE,
    card: str | None = "---\nlicense: apache-2.0\nbase_model: example/tiny-base\n---\n# Tiny\n",
) -> Path:
    """A real (tiny) Llama-shaped safetensors folder: 2 layers, 1,000 + 64 float32 weights,
    a tokenizer.json and, optionally, a chat template and a card."""
    numpy = pytest.importorskip("numpy")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tokenizers = pytest.importorskip("tokenizers")
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "num_hidden_layers": 2,
        "max_position_embeddings": 2048,
        "torch_dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(config))
    safetensors_numpy.save_file(
        {
            "model.embed_tokens.weight": numpy.zeros((10, 100), dtype=numpy.float32),
            "model.norm.weight": numpy.ones((64,), dtype=numpy.float32),
        },
        str(folder / "model.safetensors"),
    )
    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer_config: dict[str, object] = {"eos_token": "world"}
    if template is not None:
        tokenizer_config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_hf(tmp_path: Path) -> Path:
    return write_tiny_hf(tmp_path / "src" / "tiny-llama")


def write_tiny_gguf(
    path: Path, *, license_id: str | None = "mit", template: str | None = None
) -> Path:
    """A real GGUF (written with the ``gguf`` package): llama, 3 layers, context 4096, F32."""
    gguf = pytest.importorskip("gguf")
    numpy = pytest.importorskip("numpy")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Tiny GGUF")
    writer.add_block_count(3)
    writer.add_context_length(4096)
    writer.add_file_type(0)
    if license_id is not None:
        writer.add_license(license_id)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", numpy.zeros((16, 8), dtype=numpy.float32))
    writer.add_tensor("output_norm.weight", numpy.ones((8,), dtype=numpy.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def write_fake_distribution(
    site: Path, files: dict[str, bytes], *, name: str = "tiny-model-pkg", metadata: str = ""
) -> Path:
    """An installed distribution (``*.dist-info`` with METADATA and RECORD) in ``site``."""
    dist_info = site / f"{name.replace('-', '_')}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.2.3\n{metadata}"
    )
    records = []
    for relative, data in files.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        records.append(f"{relative},{_record_hash(data)},{len(data)}")
    records.append(f"{dist_info.name}/METADATA,,")
    records.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(records) + "\n")
    return dist_info


def zip_wheel(site: Path, dist_info: Path, out: Path) -> Path:
    """Pack a fake distribution as a wheel file."""
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(site.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(site).as_posix())
    return out


class FakeTty:
    """A stdin that is a terminal and answers ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer + "\n"


def _wired() -> bool:
    """Whether ``_app`` builds the ``models`` grammar (the lead wires it in)."""
    parser = _app.build_parser({}, command="models")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return "models" in action.choices
    return False


@pytest.fixture
def models_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Run ``modellab models ARGS`` in-process: through ``main`` once the command is wired
    in ``_app``, else through ``_app.run`` with the same error handling and exit codes."""

    def run(*argv: str) -> tuple[int, str, str]:
        if _wired():
            code = main(["models", *argv])
        else:
            parser = argparse.ArgumentParser(prog="modellab")
            parser.add_argument("--version", action="store_true")
            parser.add_argument("--no-worksets", action="store_true")
            commands = parser.add_subparsers(dest="command")
            add_models_command(commands, _app._add)
            try:
                args = parser.parse_args(["models", *argv])
            except SystemExit as exc:
                captured = capsys.readouterr()
                return int(exc.code or 0), captured.out, captured.err
            monkeypatch.setattr(_app, "_handler", lambda a: HANDLERS.get(a.models_command))
            code = _app.run(parser, args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
