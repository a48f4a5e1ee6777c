"""The one table of hooks, read off :mod:`modellab.plugins.hookspecs`.

Nothing here is written by hand: each ``hookspec``-marked function becomes a
:class:`HookInfo` (its name, whether it is a register-hook, the descriptor, request and
result models of the backends it registers, its first line). The manifest check
(``hooks.implements``), the process boundary (:mod:`modellab.worksets._host`) and the
generated table in docs/worksets.md all read this.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from modellab.plugins import hookspecs

__all__ = [
    "DOCS_PATH",
    "HookInfo",
    "hook_names",
    "hook_table",
    "markdown_table",
    "with_table",
]

#: The page whose hook table is generated (between the two markers).
DOCS_PATH = Path(__file__).resolve().parents[3] / "docs" / "worksets.md"
_START, _END = "<!-- hook-table:start -->\n", "<!-- hook-table:end -->"


@dataclass(frozen=True, slots=True)
class HookInfo:
    """One hookspec, as the core uses it."""

    name: str
    #: Called with ``register``: implementations name backends rather than answer.
    register: bool
    #: What one registration describes (``None``: a live object, e.g. an importer).
    descriptor: type[BaseModel] | None
    #: The request and result models of a registered backend's handler.
    request: type[BaseModel] | None
    result: type[BaseModel] | None
    #: The argument names of the hook itself.
    arguments: tuple[str, ...]
    #: The first line of its docstring.
    summary: str


def _models(hint: object) -> tuple[type[BaseModel] | None, ...]:
    """``Callable[[Descriptor, Callable[[Request], Result]], None]`` -> the three models."""
    args: tuple[Any, ...] = typing.get_args(hint)
    if not args or not isinstance(args[0], list):
        return None, None, None
    params: list[Any] = args[0]
    descriptor = params[0]
    if not (isinstance(descriptor, type) and issubclass(descriptor, BaseModel)):
        return None, None, None
    request = result = None
    handler: Any = params[1] if len(params) > 1 else None
    if typing.get_origin(handler) is collections.abc.Callable:
        inner, out = typing.get_args(handler)
        request, result = inner[0], out
    return descriptor, request, result


@functools.cache
def hook_table() -> tuple[HookInfo, ...]:
    """Every hookspec, in name order."""
    from modellab.settings import Settings
    from modellab.sources._base import Importer

    names = {"Settings": Settings, "Importer": Importer}
    found: list[HookInfo] = []
    for name, function in sorted(vars(hookspecs).items()):
        if not callable(function) or not hasattr(function, f"{hookspecs.PROJECT_NAME}_spec"):
            continue
        hints = typing.get_type_hints(function, localns=names)
        arguments = tuple(inspect.signature(function).parameters)
        register = arguments == ("register",)
        descriptor, request, result = _models(hints["register"]) if register else (None,) * 3
        doc = inspect.getdoc(function) or ""
        found.append(
            HookInfo(
                name=name,
                register=register,
                descriptor=descriptor,
                request=request,
                result=result,
                arguments=arguments,
                summary=" ".join(doc.split("\n\n")[0].split()),
            )
        )
    return tuple(found)


def hook_names() -> frozenset[str]:
    """The names of every hook a workset may implement."""
    return frozenset(info.name for info in hook_table())


def markdown_table() -> str:
    """The hook table as Markdown, for docs/worksets.md (checked by a test)."""

    def model(cls: type[BaseModel] | None) -> str:
        return f"`{cls.__name__}`" if cls is not None else "-"

    lines = [
        "| hook | registers | request | result | what it is for |",
        "|---|---|---|---|---|",
    ]
    for info in hook_table():
        if not info.register:
            registers, request, result = "-", ", ".join(info.arguments), "exit code"
        elif info.descriptor is None:
            registers, request, result = "an `Importer` (name)", "file paths", "sessions"
        else:
            registers, request, result = map(model, (info.descriptor, info.request, info.result))
        summary = info.summary.replace("|", "/").replace("``", "`")
        lines.append(f"| `{info.name}` | {registers} | {request} | {result} | {summary} |")
    return "\n".join(lines) + "\n"


def with_table(text: str) -> str:
    """``text`` (docs/worksets.md) with the generated table between its markers."""
    start, end = text.index(_START) + len(_START), text.index(_END)
    return text[:start] + markdown_table() + text[end:]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m modellab.plugins._table --write")
    DOCS_PATH.write_text(with_table(DOCS_PATH.read_text()))
