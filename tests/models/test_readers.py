"""The GGUF and safetensors header readers, on real files, and on damaged ones."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from modellab.models import ModelFormatError
from modellab.models._gguf import GgufArray, read_gguf
from modellab.models._safetensors import read_safetensors_header
from models.conftest import write_tiny_gguf, write_tiny_hf


def test_smollm2_gguf_header(smollm2_gguf: Path) -> None:
    header = read_gguf(smollm2_gguf)
    assert header.version == 3
    assert header.text("general.architecture") == "llama"
    assert header.integer("llama.block_count") == 30
    assert header.integer("llama.context_length") == 8192
    assert header.integer("general.file_type") == 3  # Q4_1
    assert header.text("general.license") == "apache-2.0"
    assert len(header.tensors) == 272
    assert header.parameter_count == 134_515_008
    template = header.text("tokenizer.chat_template")
    assert template is not None and "<|im_start|>" in template
    tokens = header.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, GgufArray) and tokens.length == 49152 and tokens.items is None


def test_agrees_with_the_gguf_package(smollm2_gguf: Path) -> None:
    gguf = pytest.importorskip("gguf")
    reference = gguf.GGUFReader(str(smollm2_gguf))
    ours = read_gguf(smollm2_gguf)
    assert [t.name for t in ours.tensors] == [t.name for t in reference.tensors]
    assert [t.type_name for t in ours.tensors] == [t.tensor_type.name for t in reference.tensors]
    assert sorted(ours.metadata) == sorted(k for k in reference.fields if not k.startswith("GGUF."))


def test_tiny_gguf_written_by_the_gguf_package(tmp_path: Path) -> None:
    header = read_gguf(write_tiny_gguf(tmp_path / "t.gguf", template="{{ messages }}"))
    assert header.text("general.architecture") == "llama"
    assert header.integer("llama.context_length") == 4096
    assert header.integer("llama.block_count") == 3
    assert header.parameter_count == 16 * 8 + 8
    assert header.text("tokenizer.chat_template") == "{{ messages }}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GGML" + b"\0" * 20, "GGUF magic"),
        (b"GGUF" + struct.pack("<I", 1) + b"\0" * 16, "GGUF version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 5) + b"ab", "truncated"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40), "metadata keys"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40), "a string of"),
        (
            b"GGUF"
            + struct.pack("<IQQ", 3, 0, 1)
            + struct.pack("<Q", 1)
            + b"k"
            + struct.pack("<I", 99),
            "unknown metadata value type 99",
        ),
    ],
)
def test_damaged_gguf_is_a_one_line_error(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError) as info:
        read_gguf(path)
    assert reason in str(info.value) and "bad.gguf" in str(info.value)
    assert "\n" not in str(info.value)


def test_safetensors_header(tmp_path: Path) -> None:
    folder = write_tiny_hf(tmp_path / "m")
    header = read_safetensors_header(folder / "model.safetensors")
    assert header.tensors["model.embed_tokens.weight"] == ("F32", (10, 100))
    assert header.parameter_count == 1064
    assert header.elements_by_dtype() == {"F32": 1064}


def _header(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x01\x02", "shorter than"),
        (struct.pack("<Q", 1 << 40) + b"{}", "does not fit"),
        (struct.pack("<Q", 4) + b"nope", "not JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (_header(b'{"w": {"dtype": "F32"}}'), "no dtype or shape"),
        (_header(b'{"w": {"dtype": "F32", "shape": [-1]}}'), "bad shape"),
    ],
)
def test_damaged_safetensors(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ModelFormatError, match=reason):
        read_safetensors_header(path)
