"""The :class:`CodexImporter`: finding, recognising and reading Codex rollout files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal import jsonio
from modellab.plugins.hookspecs import hookimpl
from modellab.sources._base import HEAD_BYTES, FileImport, fail_closed, files_under, read_source
from modellab.sources.codex._builder import Built, build
from modellab.sources.codex._records import ENVELOPE_TYPES, scan
from modellab.traces import Agent, Provenance, Session, derive_outcome

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.sources import Importer

__all__ = ["PARSER_VERSION", "SOURCE_FORMAT", "CodexImporter", "plugin"]

#: Bump when the mapping changes, so stored sessions can be re-imported.
PARSER_VERSION = "2"
SOURCE_FORMAT = "codex.rollout"

# A first line too long for the sniff window still starts like this.
_ENVELOPE_PREFIX = re.compile(
    rb'\A\s*\{\s*"timestamp"\s*:\s*"[^"]*"\s*,\s*"type"\s*:\s*"'
    rb'(?:session_meta|response_item|event_msg|turn_context|compacted)"\s*,\s*"payload"\s*:\s*\{'
)
_LEGACY_ITEM_PREFIX = re.compile(
    rb'\A\s*\{\s*"(?:type"\s*:\s*"(?:message|reasoning|function_call)|record_type")'
)
_LEGACY_ITEM_TYPES = frozenset(
    {
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "local_shell_call",
        "custom_tool_call",
        "custom_tool_call_output",
        "web_search_call",
    }
)
_ROLLOUT_ID = re.compile(
    r"rollout-.*?-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
# Session facts with no neutral field, kept under ``Session.extra`` when present.
_META_EXTRA = ("originator", "source", "forked_from_id", "thread_source", "agent_role")


def _loads(line: bytes) -> Any:
    try:
        return jsonio.loads(line)
    except jsonio.JSONError:
        return None


def _is_envelope(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in ENVELOPE_TYPES
        and isinstance(value.get("payload"), dict)
    )


def _is_legacy_meta(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "type" not in value
        and "timestamp" in value
        and isinstance(value.get("id"), str)
    )


def _is_legacy_item(value: Any) -> bool:
    return isinstance(value, dict) and (
        value.get("type") in _LEGACY_ITEM_TYPES or value.get("record_type") == "state"
    )


class CodexImporter:
    """Reads Codex CLI rollouts: one session per ``rollout-*.jsonl`` file."""

    name = "codex"
    parser_version = PARSER_VERSION

    def default_roots(self, settings: Settings) -> list[Path]:
        """``$CODEX_HOME/sessions`` and ``$CODEX_HOME/archived_sessions``."""
        return [settings.codex_home / "sessions", settings.codex_home / "archived_sessions"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield every ``rollout-*.jsonl`` under ``root`` (Codex nests them by date)."""
        yield from files_under(root, "rollout-*.jsonl")

    def sniff(self, path: Path, head: bytes) -> bool:
        """Recognise a rollout by its first lines: envelopes, or a 2025 bare meta object."""
        first, newline, rest = head.lstrip().partition(b"\n")
        if not first:
            return False
        if not newline and len(head) >= HEAD_BYTES:
            # The first line runs past the sniff window (long base instructions).
            return _ENVELOPE_PREFIX.match(first) is not None
        value = _loads(first)
        if _is_envelope(value):
            return True
        if not _is_legacy_meta(value):
            return False
        second = rest.lstrip().partition(b"\n")[0]
        if not second:
            return "instructions" in value or "git" in value
        item = _loads(second)
        if item is None:
            return _LEGACY_ITEM_PREFIX.match(second) is not None
        return _is_legacy_item(item)

    @fail_closed
    def read(self, path: Path) -> FileImport:
        """Parse one rollout into one session, accounting for every line."""
        data = read_source(path)
        report = FileImport(path=path, importer=self.name)
        built = build(path, report, scan(path, data, report))
        report.sessions.append(self._session(path, data, built, report))
        return report

    def _session(self, path: Path, data: bytes, built: Built, report: FileImport) -> Session:
        meta = built.meta
        version = _text(meta, "cli_version")
        session_id = _text(meta, "id")
        if session_id is None:
            match = _ROLLOUT_ID.search(path.stem)
            session_id = match.group(1) if match else path.stem
            report.warnings.append("no session_meta line: session id taken from the file name")
        base = meta.get("base_instructions")
        system_prompt = _text(base, "text") if isinstance(base, dict) else None
        extra = {key: meta[key] for key in _META_EXTRA if meta.get(key) is not None}
        if isinstance(meta.get("instructions"), str):
            # 2025 rollouts kept the user's instructions (AGENTS.md, config) on the meta line.
            extra["user_instructions"] = meta["instructions"]
        labels = tuple(built.labels)
        return Session(
            id=session_id,
            source=self.name,
            agent=Agent(name="codex", version=version),
            title=built.title,
            created_at=_text(meta, "timestamp") or built.first_timestamp,
            updated_at=built.last_timestamp,
            model=built.model,
            model_provider=_text(meta, "model_provider"),
            cwd=built.cwd,
            system_prompt=system_prompt,
            turns=tuple(built.turns),
            artifacts=tuple(built.artifacts),
            labels=labels,
            outcome=derive_outcome(labels),
            usage=built.usage,
            provenance=Provenance.of_bytes(
                path,
                data,
                source_format=SOURCE_FORMAT,
                source_format_version=version,
                parser_version=PARSER_VERSION,
            ),
            extra=extra,
        )


def _text(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


class _Plugin:
    """Registers the built-in Codex importer."""

    @hookimpl
    def modellab_register_importers(self, register: Callable[[Importer], None]) -> None:
        """Register :class:`CodexImporter`."""
        register(CodexImporter())


plugin = _Plugin()
