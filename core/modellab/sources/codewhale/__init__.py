"""The CodeWhale importer: saved sessions, exec stream-json, and engine event streams.

Spec: ``shared/research/codewhale-format.md``. Sessions live in ``$CODEWHALE_HOME/sessions``
(default ``~/.codewhale/sessions``) and, for older installs, ``~/.deepseek/sessions``; the
catalog keeps the copy with the newest ``updated_at`` when both hold the same id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.errors import CorruptSourceError
from modellab.plugins.hookspecs import hookimpl
from modellab.sources._base import FileImport, Importer, fail_closed, read_head, read_source
from modellab.sources.codewhale._events import PARSER_VERSION as EVENTS_PARSER_VERSION
from modellab.sources.codewhale._events import (
    STREAM_SCHEMA,
    read_engine_events,
    read_stream_json,
)
from modellab.sources.codewhale._saved import PARSER_VERSION as SAVED_PARSER_VERSION
from modellab.sources.codewhale._saved import read_saved_session

#: Changes whenever either reader changes, so re-import re-reads files it had skipped.
PARSER_VERSION = f"{SAVED_PARSER_VERSION}+{EVENTS_PARSER_VERSION}"

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.traces import Session

__all__ = ["PARSER_VERSION", "CodeWhaleImporter", "plugin"]

#: Files directly in ``sessions/`` that are not sessions (spec §1).
_NOT_SESSIONS = frozenset({"session_boot_owners.json"})
_STREAM_SUFFIXES = (".jsonl", ".ndjson")


def _looks_like_saved_session(head: bytes) -> bool:
    start = head.lstrip()[:1]
    return (
        start == b"{"
        and b'"metadata"' in head
        and (b'"messages"' in head or b'"schema_version"' in head)
    )


def _stream_kind(head: bytes) -> str | None:
    first = head.lstrip().split(b"\n", 1)[0]
    if STREAM_SCHEMA.encode() in first:
        return "stream-json"
    if (
        first.startswith(b"{")
        and b'"event"' in first
        and (b'"turn_started"' in first or b'"session_updated"' in first)
    ):
        return "engine-events"
    return None


class CodeWhaleImporter:
    """Reads CodeWhale (and DeepSeek-TUI) session files."""

    name = "codewhale"
    parser_version = PARSER_VERSION

    def default_roots(self, settings: Settings) -> list[Path]:
        roots = [settings.codewhale_home / "sessions"]
        if settings.legacy_codewhale_home is not None:
            roots.append(settings.legacy_codewhale_home / "sessions")
        return roots

    def discover(self, root: Path) -> Iterator[Path]:
        # A CodeWhale home holds sessions/; a sessions folder holds the files directly.
        # Sub-folders hold sidecars, checkpoints and archives, which are never sessions.
        folder = root / "sessions" if (root / "sessions").is_dir() else root
        candidates: list[Path] = []
        recognised: list[Path] = []
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name in _NOT_SESSIONS:
                continue
            if path.suffix != ".json" and path.suffix not in _STREAM_SUFFIXES:
                continue
            try:
                head = read_head(path, 4096)
            except OSError:
                head = b""
            if self.sniff(path, head):
                recognised.append(path)
            elif path.suffix == ".json":
                candidates.append(path)
        # In a sessions folder every top-level .json is meant to be a session, so one that
        # cannot even be recognised (truncated, empty, not UTF-8) is read and reported as
        # failed instead of being passed over in silence. Elsewhere, only what we recognise.
        if folder.name == "sessions" or recognised:
            recognised.extend(candidates)
        yield from sorted(recognised)

    def sniff(self, path: Path, head: bytes) -> bool:
        if path.name in _NOT_SESSIONS:
            return False
        return _looks_like_saved_session(head) or _stream_kind(head) is not None

    @fail_closed
    def read(self, path: Path) -> FileImport:
        report = FileImport(path=path, importer=self.name)
        data = read_source(path)
        if not data.strip():
            raise CorruptSourceError(path, "file is empty")
        kind = _stream_kind(data[:65536])
        reader: Callable[[Path, bytes, FileImport], Session]
        if kind == "stream-json":
            reader = read_stream_json
        elif kind == "engine-events":
            reader = read_engine_events
        else:
            reader = read_saved_session
            # A saved session is one document: its one "line" is mapped as a whole.
            report.lines_total = report.lines_mapped = 1
        session = reader(path, data, report)
        report.sessions.append(session)
        return report


class _CodeWhalePlugin:
    @hookimpl
    def modellab_register_importers(self, register: Callable[[Importer], None]) -> None:
        register(CodeWhaleImporter())


plugin = _CodeWhalePlugin()
