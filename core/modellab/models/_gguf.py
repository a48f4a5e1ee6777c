"""A reader for the header of a GGUF file: its metadata and tensor infos, never its data.

The layout (ggml's ``docs/gguf.md``), little-endian: the magic ``GGUF``, a ``uint32``
version (2 or 3; version 1 used 32-bit counts and is long gone), ``uint64`` tensor and
key-value counts, then the key-value pairs (a string key, a ``uint32`` value type, the
value), then per tensor its name, ``uint32`` dimension count, ``uint64`` dimensions, a
``uint32`` ggml type and a ``uint64`` offset into the data section.

The file comes from outside, so every count and length is bounded before anything is
allocated, and reading past the end is an error naming the file, not a crash.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from modellab.models._errors import ModelFormatError

__all__ = ["GgufArray", "GgufHeader", "GgufTensor", "file_type_name", "read_gguf"]

_MAGIC = b"GGUF"
#: Arrays longer than this are counted, not kept (a tokenizer's 49k tokens are not needed).
_KEEP_ARRAY = 64
#: Bounds that no real file reaches: a damaged count must not make us allocate gigabytes.
_MAX_STRING = 64 * 1024 * 1024
_MAX_COUNT = 1 << 24
_MAX_DIMS = 8

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(8, 13)
_SCALARS: dict[int, str] = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}

#: ggml tensor types (``enum ggml_type``).
_TENSOR_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}  # fmt: skip
#: ``general.file_type`` (llama.cpp's ``enum llama_ftype``): the file's main quantisation.
_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}  # fmt: skip


def file_type_name(value: int) -> str:
    """The name of a ``general.file_type`` value (``3`` → ``Q4_1``)."""
    return _FILE_TYPES.get(value, f"file type {value}")


@dataclass(frozen=True)
class GgufArray:
    """An array value: its element type, length, and its items when short enough to keep."""

    item_type: int
    length: int
    items: tuple[object, ...] | None


@dataclass(frozen=True)
class GgufTensor:
    """One tensor's info (not its data)."""

    name: str
    shape: tuple[int, ...]
    type_name: str

    @property
    def elements(self) -> int:
        """How many numbers the tensor holds."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class GgufHeader:
    """A GGUF file's version, metadata and tensor infos."""

    version: int
    metadata: dict[str, object] = field(default_factory=dict)
    tensors: tuple[GgufTensor, ...] = ()

    @property
    def parameter_count(self) -> int:
        """The number of weights: every tensor's elements, summed."""
        return sum(tensor.elements for tensor in self.tensors)

    def text(self, key: str) -> str | None:
        """A string value, or ``None`` when absent or of another type."""
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def integer(self, key: str) -> int | None:
        """An integer value, or ``None`` when absent or of another type."""
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Reader:
    def __init__(self, stream: BinaryIO, path: Path) -> None:
        self.stream = stream
        self.path = path

    def fail(self, reason: str) -> ModelFormatError:
        return ModelFormatError(self.path, f"not a usable GGUF file: {reason}")

    def take(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise self.fail("it ends inside its header (truncated)")
        return data

    def scalar(self, fmt: str) -> object:
        value: object = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> str:
        size = self.u64()
        if size > _MAX_STRING:
            raise self.fail(f"a string of {size} bytes")
        # Invalid UTF-8 is kept visible (replacement characters), never guessed at.
        return self.take(size).decode("utf-8", errors="replace")

    def skip(self, kind: int, count: int, depth: int) -> None:
        """Step over ``count`` values of type ``kind`` without decoding them."""
        if kind in _SCALARS:
            # A seek past the end succeeds: a truncated file fails on the next read.
            self.stream.seek(struct.calcsize(_SCALARS[kind]) * count, 1)
            return
        if kind == _STRING:
            u64, read, seek = struct.Struct("<Q").unpack, self.stream.read, self.stream.seek
            for _ in range(count):
                head = read(8)
                if len(head) != 8:
                    raise self.fail("it ends inside its header (truncated)")
                (size,) = u64(head)
                if size > _MAX_STRING:
                    raise self.fail(f"a string of {size} bytes")
                seek(size, 1)
            return
        for _ in range(count):
            self.value(kind, depth)

    def value(self, kind: int, depth: int = 0) -> object:
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth < 2:
            item_type = self.u32()
            length = self.u64()
            if length > _MAX_COUNT:
                raise self.fail(f"an array of {length} items")
            if length > _KEEP_ARRAY:
                # A vocabulary: tens of thousands of tokens nobody here reads. Stepping over
                # them is what makes reading a chat template take milliseconds, not 0.3 s.
                self.skip(item_type, length, depth + 1)
                return GgufArray(item_type, length, None)
            items = [self.value(item_type, depth + 1) for _ in range(length)]
            return GgufArray(item_type, length, tuple(items))
        raise self.fail(f"unknown metadata value type {kind}")


def read_gguf(path: Path) -> GgufHeader:
    """Read the header of the GGUF file at ``path``.

    :raises ModelFormatError: not GGUF, an unsupported version, or a damaged header.
    """
    with path.open("rb") as stream:
        reader = _Reader(stream, path)
        magic = stream.read(4)
        if magic != _MAGIC:
            raise reader.fail("it does not start with the GGUF magic")
        version = reader.u32()
        if version not in (2, 3):
            # A big-endian file reads as a huge version number here; refuse it the same way.
            raise reader.fail(f"GGUF version {version} (2 and 3 are read)")
        tensor_count = reader.u64()
        kv_count = reader.u64()
        if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
            raise reader.fail(f"{tensor_count} tensors and {kv_count} metadata keys")
        metadata: dict[str, object] = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(reader.u32())
        tensors = []
        for _ in range(tensor_count):
            name = reader.string()
            dims = reader.u32()
            if dims > _MAX_DIMS:
                raise reader.fail(f"tensor {name!r} has {dims} dimensions")
            shape = tuple(reader.u64() for _ in range(dims))
            kind = reader.u32()
            reader.u64()  # the offset into the data section: not needed for the passport
            tensors.append(GgufTensor(name, shape, _TENSOR_TYPES.get(kind, f"type {kind}")))
    return GgufHeader(version=version, metadata=metadata, tensors=tuple(tensors))
