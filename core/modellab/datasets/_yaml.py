"""A small block-style YAML emitter for the dataset card's front matter.

The core writes one YAML document (the card's metadata) and reads none, so it carries this
emitter instead of a YAML library. It handles exactly the values the card holds: mappings
with string keys, lists, strings, booleans and integers. Its layout follows PyYAML's
default block style (lists under a key are not indented), so the card reads as the Hub's
own tools would write it.

Strings are written plain only when that cannot change their meaning: a conservative
character set, no leading or trailing space, and nothing a YAML 1.1 or 1.2 parser would
read as a boolean, null, number or date. Anything else (``:``, ``#``, quotes, newlines,
control characters, text from a session) is double-quoted with every character that is
not printable escaped, so a hostile string can neither break out of its scalar nor add
keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypeGuard

__all__ = ["Value", "dump_block", "scalar"]

#: What :func:`dump_block` writes.
Value: TypeAlias = str | bool | int | Sequence["Value"] | Mapping[str, "Value"]

#: Plain-safe: starts with a letter or digit, then only characters that have no meaning in a
#: plain scalar in block context (no ``:``, ``#``, quotes, brackets, commas or ``&*!|>%@```).
_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_./<+ -]*[A-Za-z0-9_./<+-])?")
#: Words some YAML version resolves to a boolean or null, compared lower-cased.
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
#: Could be a number, a date or a time in some YAML version (digits with signs, dots,
#: underscores, exponents, radix prefixes or hex digits, and nothing else): always quoted.
_NUMBER_LIKE = re.compile(r"[0-9][0-9a-fA-FxXoObB_.+-]*")
_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
}


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if char.isprintable():
        return char
    # Everything else (control and format characters, line and paragraph separators, NEL,
    # the byte-order mark, lone surrogates) by code point, so the file stays one line per
    # scalar and every YAML reader sees the same characters.
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def scalar(value: str | bool | int) -> str:
    """``value`` as one YAML scalar on one line: plain where that is unambiguous, else
    double-quoted and escaped."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if (
        _PLAIN.fullmatch(value)
        and value.lower() not in _RESERVED
        and not _NUMBER_LIKE.fullmatch(value)
    ):
        return value
    return '"' + "".join(_escape(char) for char in value) + '"'


def _mapping(data: Mapping[str, Value], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in data.items():
        head = f"{pad}{scalar(key)}:"
        if isinstance(value, Mapping) and value:
            lines += [head, *_mapping(value, indent + 2)]
        elif _is_list(value) and value:
            # PyYAML's default: a list under a key starts at the key's own indent.
            lines += [head, *_sequence(value, indent)]
        else:
            lines.append(f"{head} {_inline(value)}")
    return lines


def _sequence(items: Sequence[Value], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if (isinstance(item, Mapping) or _is_list(item)) and item:
            nested = (
                _mapping(item, indent + 2)
                if isinstance(item, Mapping)
                else _sequence(item, indent + 2)
            )
            # The first line of a nested block shares the dash's line.
            lines += [f"{pad}- {nested[0][indent + 2 :]}", *nested[1:]]
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _inline(value: Value) -> str:
    """A scalar, or an empty collection (the only collections written inline)."""
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, str | bool | int):
        return scalar(value)
    return "[]"


def dump_block(data: Mapping[str, Value]) -> str:
    """``data`` as a block-style YAML mapping, without a trailing newline.

    :raises TypeError: for a value of another type (a float, None, bytes): the card writes
        none, and guessing how to spell one safely is not worth it.
    """
    _check(data)
    return "\n".join(_mapping(data, 0))


def _check(value: object) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"YAML keys must be strings, not {type(key).__name__}")
            _check(item)
    elif _is_list(value):
        for item in value:
            _check(item)
    elif not isinstance(value, str | bool | int):
        raise TypeError(f"cannot write {type(value).__name__} to YAML here")
