"""The importer contract: what a source plugin provides and what it reports back."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modellab.errors import CorruptSourceError

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.traces import Session

__all__ = [
    "FileImport",
    "Importer",
    "as_str",
    "fail_closed",
    "files_under",
    "read_head",
    "read_source",
    "title_from_prompt",
]

#: What a parser raises when a file's structure is not what it expected: wrong types,
#: missing keys, or values pydantic refuses (its ValidationError is a ValueError).
SHAPE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError)


def fail_closed(
    read: Callable[[Any, Path], FileImport],
) -> Callable[[Any, Path], FileImport]:
    """Wrap an importer's ``read`` so a file of unexpected shape fails with ``SourceError``.

    Parsers check the shapes they rely on and raise precise errors; this is the net under
    them, so a damaged file can only ever cost its own import, with one line naming it.
    """

    @functools.wraps(read)
    def guarded(self: Any, path: Path) -> FileImport:
        try:
            return read(self, path)
        except SHAPE_ERRORS as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CorruptSourceError(
                path, f"unexpected structure ({type(exc).__name__}: {detail[:200]})"
            ) from exc

    return guarded


def as_str(value: object) -> str | None:
    """``value`` if it is a string, else ``None``.

    Untrusted JSON may hold a list or an object where a name is expected; looking such a
    value up in a set or dict raises ``TypeError`` (unhashable), so narrow it first.
    """
    return value if isinstance(value, str) else None


@dataclass(slots=True)
class FileImport:
    """What one importer got out of one file.

    For line-oriented formats, every line is accounted for: ``lines_total`` equals
    ``lines_mapped`` plus the sum of ``skipped``. A test holds every importer to that, so
    nothing is dropped without a named reason.
    """

    path: Path
    importer: str
    sessions: list[Session] = field(default_factory=list)
    lines_total: int = 0
    lines_mapped: int = 0
    #: reason -> number of lines (or records) skipped for that reason.
    skipped: Counter[str] = field(default_factory=Counter)
    #: Non-fatal oddities worth showing the user (e.g. a dangling tool call).
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` lines as skipped for ``reason``."""
        self.skipped[reason] += count

    @property
    def accounted(self) -> bool:
        """Every line was mapped or skipped with a reason."""
        return self.lines_total == self.lines_mapped + sum(self.skipped.values())


@runtime_checkable
class Importer(Protocol):
    """A reader for one agent's session format. Registered through a plugin hook.

    Implementations must not touch the network, must never write to the agent's files, and
    must raise :class:`modellab.errors.SourceError` (or a subclass) naming the file and the
    reason for anything they cannot read.
    """

    #: Short, stable id stored with each session: ``codewhale``, ``claude-code``, ``codex``.
    name: str
    #: Changes whenever parsing changes, so a re-import re-reads files it would skip.
    parser_version: str

    def default_roots(self, settings: Settings) -> list[Path]:
        """Folders where this agent keeps sessions by default (they may not exist)."""
        ...

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield the files under ``root`` that this importer reads as sessions.

        Knows the agent's layout: skips sidecars, checkpoints and other non-session files.
        """
        ...

    def sniff(self, path: Path, head: bytes) -> bool:
        """Say whether a single file named explicitly looks like this importer's format.

        ``head`` is the file's first 64 KiB.
        """
        ...

    def read(self, path: Path) -> FileImport:
        """Parse one file into sessions. Raises ``SourceError`` if it cannot."""
        ...


HEAD_BYTES = 64 * 1024


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file, for sniffing."""
    with path.open("rb") as handle:
        return handle.read(size)


def read_source(path: Path) -> bytes:
    """A source file's bytes; an unreadable file is a :class:`CorruptSourceError` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CorruptSourceError(path, f"cannot read: {exc.strerror or exc}") from exc


def files_under(root: Path, pattern: str) -> Iterator[Path]:
    """Regular files under ``root`` matching ``pattern``, sorted (nothing if not a folder)."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob(pattern)):
        if path.is_file():
            yield path


TITLE_LENGTH = 50


def title_from_prompt(prompt: str | None) -> str | None:
    """A session title from its first prompt, as CodeWhale makes one (<= 50 characters)."""
    if not prompt:
        return None
    line = " ".join(prompt.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"
