"""A reader for the header of a safetensors file: tensor names, dtypes and shapes.

The layout: an 8-byte little-endian length ``N``, then ``N`` bytes of JSON mapping each
tensor name to ``{"dtype", "shape", "data_offsets"}`` (plus an optional ``__metadata__``
of strings), then the data. Only the header is read; no tensor library is imported.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from modellab.models._errors import ModelFormatError

__all__ = ["SafetensorsHeader", "read_safetensors_header"]

#: safetensors itself refuses headers over 100 MB.
_MAX_HEADER = 100_000_000


@dataclass(frozen=True)
class SafetensorsHeader:
    """Each tensor's dtype and shape, and the file's ``__metadata__``."""

    tensors: dict[str, tuple[str, tuple[int, ...]]]
    metadata: dict[str, str]

    @property
    def parameter_count(self) -> int:
        """Every tensor's elements, summed."""
        return sum(math.prod(shape) for _, shape in self.tensors.values())

    def elements_by_dtype(self) -> dict[str, int]:
        """How many elements each dtype holds (``{"BF16": 134515008}``)."""
        counts: dict[str, int] = {}
        for dtype, shape in self.tensors.values():
            counts[dtype] = counts.get(dtype, 0) + math.prod(shape)
        return counts


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """Read the header of the safetensors file at ``path``.

    :raises ModelFormatError: too short, a header length out of bounds, or a header that is
        not the JSON safetensors writes.
    """

    def fail(reason: str) -> ModelFormatError:
        return ModelFormatError(path, f"not a usable safetensors file: {reason}")

    size = path.stat().st_size
    with path.open("rb") as stream:
        prefix = stream.read(8)
        if len(prefix) != 8:
            raise fail("shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        if length > _MAX_HEADER or length > size - 8:
            raise fail(f"header length {length} does not fit the file ({size} bytes)")
        raw = stream.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise fail("header is not a JSON object")
    metadata_value = header.pop("__metadata__", None) or {}
    if not isinstance(metadata_value, dict):
        raise fail("__metadata__ is not an object")
    metadata = {str(key): str(value) for key, value in metadata_value.items()}
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise fail(f"tensor {name!r} is not an object")
        dtype, shape = info.get("dtype"), info.get("shape")
        if not isinstance(dtype, str) or not isinstance(shape, list):
            raise fail(f"tensor {name!r} has no dtype or shape")
        if not all(
            isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
        ):
            raise fail(f"tensor {name!r} has a bad shape {shape!r}")
        tensors[name] = (dtype, tuple(shape))
    return SafetensorsHeader(tensors=tensors, metadata=metadata)
