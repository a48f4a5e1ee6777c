"""Strict, fast JSON reading for untrusted session files.

``orjson`` rejects invalid UTF-8, lone surrogates, NaN and nesting deeper than 1024 levels,
which is exactly the fail-closed behaviour an importer wants. Errors come back as a short
reason string so importers can name the file and the cause in one line.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["JSONError", "describe_json_error", "dumps", "loads", "value_at"]

JSONError = orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    """Parse JSON, raising ``JSONError`` (a ``ValueError``) on anything malformed."""
    return orjson.loads(data)


def dumps(value: Any, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    """Serialise to compact UTF-8 JSON bytes."""
    option = 0
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(value, option=option)


def describe_json_error(data: bytes, error: JSONError) -> str:
    """A one-line reason for a parse failure, naming bad UTF-8 and deep nesting plainly."""
    text = str(error)
    if "UTF-8" in text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not valid UTF-8 text (bad byte at offset {exc.start})"
        return "not valid UTF-8 text"
    if "recursion" in text.lower() or "depth limit" in text:
        return "JSON nested too deeply to read (over 1024 levels)"
    if text.startswith("unexpected end of data"):
        return f"truncated JSON ({text})"
    return f"not valid JSON ({text})"


def value_at(document: Any, path: str) -> Any:
    """The value at a JSON path (``/steps/3/tool_calls/0``) of ``document``, or None.

    Paths are the ones redaction reports name fields by: object keys and list indexes,
    each after a ``/``.
    """
    node = document
    for part in path.split("/")[1:]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
