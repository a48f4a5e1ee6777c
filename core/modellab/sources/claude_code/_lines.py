"""First pass over a Claude Code JSONL file: account for every line and sort it by thread.

Each line is either *mapped* (it will become part of a session: a message line, a title,
an agent_progress record that is the only copy of a sub-agent's message) or *skipped* under
a named reason. Message lines are de-duplicated by ``uuid`` and split into the main thread
and sidechains; every ``uuid`` -> parent link is remembered so the importer can tell the
active path from abandoned branches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab.errors import CorruptSourceError
from modellab.sources._base import FileImport, as_str
from modellab.sources._jsonl import iter_jsonl

__all__ = ["KNOWN_TYPES", "MESSAGE_TYPES", "ParsedFile", "parse_lines"]

MESSAGE_TYPES = frozenset({"user", "assistant", "system"})
# Records with no place in a trace: UI state, file backups, hook/stream progress, queue
# bookkeeping, and newer (2.1.6x+) session metadata. Each is counted under its own name.
_SKIPPED_TYPES = frozenset(
    {
        "progress",
        "file-history-snapshot",
        "queue-operation",
        "last-prompt",
        "agent-name",
        "agent-setting",
        "pr-link",
        "permission-mode",
        "bridge-session",
        "worktree-state",
        "attachment",
    }
)
_TITLE_TYPES = frozenset({"summary", "custom-title", "ai-title"})
KNOWN_TYPES = MESSAGE_TYPES | _SKIPPED_TYPES | _TITLE_TYPES
# System subtypes that are bookkeeping only (timings, hook runs without errors, bridge pings).
_SKIPPED_SYSTEM = frozenset({"turn_duration", "bridge_status"})


@dataclass(slots=True)
class ParsedFile:
    """One file's lines, sorted into threads and metadata."""

    main: list[dict[str, Any]] = field(default_factory=list)
    #: Sidechain key (``agentId``, else the sidechain's root uuid) -> its lines, in order.
    sidechains: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Sub-agent id -> its messages rebuilt from ``agent_progress`` records.
    progress_agents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Sub-agent id -> the Task call that started it.
    agent_parents: dict[str, str] = field(default_factory=dict)
    #: uuid -> parent uuid (``logicalParentUuid`` across a compaction boundary).
    parents: dict[str, str | None] = field(default_factory=dict)
    versions: Counter[str] = field(default_factory=Counter)
    session_ids: Counter[str] = field(default_factory=Counter)
    summaries: list[dict[str, str]] = field(default_factory=list)
    custom_title: str | None = None
    ai_title: str | None = None
    slug: str | None = None
    claude_lines: int = 0


def _well_formed(obj: dict[str, Any]) -> bool:
    kind = obj["type"]
    if kind == "system":
        return True
    message = obj.get("message")
    if not isinstance(message, dict):
        return False
    content = message.get("content")
    # Assistant content is a list of blocks; some writers (and older CLIs) give a plain string.
    return isinstance(content, str | list)


def _summary_text(obj: dict[str, Any]) -> str | None:
    """The text of a ``summary`` line: ``summary``, else ``message`` (a string or a message).

    Some writers put the summary under ``message`` instead of ``summary``, either as the
    text itself or as a message object whose ``content`` is a string or text blocks.
    """
    summary = obj.get("summary")
    if isinstance(summary, str):
        return summary
    message = obj.get("message")
    if isinstance(message, dict):
        message = message.get("content")
    if isinstance(message, str):
        return message if message.strip() else None
    if isinstance(message, list):
        texts = [
            block["text"]
            for block in message
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        ]
        joined = "\n\n".join(t for t in texts if t.strip())
        return joined or None
    return None


class _Sorter:
    def __init__(self, path: Path, report: FileImport, known_agents: frozenset[str]) -> None:
        self.path = path
        self.report = report
        self.known_agents = known_agents
        self.parsed = ParsedFile()
        self.seen: set[str] = set()
        self.sidechain_root: dict[str, str] = {}
        self.unknown: set[str] = set()

    def line(self, lineno: int, obj: Any) -> None:
        report = self.report
        if not isinstance(obj, dict):
            report.skip("not a JSON object")
            return
        kind = obj.get("type")
        if not isinstance(kind, str):
            report.skip("no type")
            return
        parsed = self.parsed
        if kind in KNOWN_TYPES:
            parsed.claude_lines += 1
        uuid = obj.get("uuid")
        if isinstance(uuid, str):
            parent = obj.get("parentUuid")
            if parent is None:
                parent = obj.get("logicalParentUuid")
            parsed.parents.setdefault(uuid, parent if isinstance(parent, str) else None)
        version = obj.get("version")
        if isinstance(version, str):
            parsed.versions[version] += 1
        if kind in MESSAGE_TYPES:
            self.message(lineno, obj, uuid)
        elif kind == "progress":
            self.progress(obj)
        elif kind in _SKIPPED_TYPES:
            report.skip(kind)
        elif kind in _TITLE_TYPES:
            self.title(kind, obj)
        else:
            report.skip(f"unknown type {kind}")
            if kind not in self.unknown:
                self.unknown.add(kind)
                report.warnings.append(f"line {lineno}: unknown record type {kind!r} skipped")

    def message(self, lineno: int, obj: dict[str, Any], uuid: Any) -> None:
        report, parsed = self.report, self.parsed
        if isinstance(uuid, str):
            if uuid in self.seen:
                report.skip("duplicate uuid")
                return
            self.seen.add(uuid)
        if not _well_formed(obj):
            report.skip(f"malformed {obj['type']} line")
            report.warnings.append(f"line {lineno}: {obj['type']} line without a usable message")
            return
        if obj["type"] == "system" and as_str(obj.get("subtype")) in _SKIPPED_SYSTEM:
            report.skip(f"system {obj['subtype']}")
            return
        if (
            obj["type"] == "system"
            and obj.get("subtype") == "stop_hook_summary"
            and not obj.get("hookErrors")
            and not obj.get("preventedContinuation")
        ):
            # Hooks that ran cleanly say nothing about the conversation.
            report.skip("system stop_hook_summary")
            return
        report.lines_mapped += 1
        session_id = obj.get("sessionId")
        if isinstance(session_id, str):
            parsed.session_ids[session_id] += 1
        slug = obj.get("slug")
        if parsed.slug is None and isinstance(slug, str):
            parsed.slug = slug
        if obj.get("isSidechain") is not True:
            parsed.main.append(obj)
            return
        agent = obj.get("agentId")
        if isinstance(agent, str):
            key = agent
        else:
            # Older CLIs wrote sidechains inline without an agentId: group by their root.
            parent = obj.get("parentUuid")
            key = self.sidechain_root.get(parent, uuid) if isinstance(parent, str) else uuid
            if not isinstance(key, str):
                key = f"line-{lineno}"
            if isinstance(uuid, str):
                self.sidechain_root[uuid] = key
        parsed.sidechains.setdefault(key, []).append(obj)

    def progress(self, obj: dict[str, Any]) -> None:
        report, parsed = self.report, self.parsed
        data = obj.get("data")
        if not isinstance(data, dict) or data.get("type") != "agent_progress":
            kind = data.get("type") if isinstance(data, dict) else None
            report.skip(f"progress {kind}" if isinstance(kind, str) else "progress")
            return
        agent, inner = data.get("agentId"), data.get("message")
        parent_call = obj.get("parentToolUseID")
        if isinstance(agent, str) and isinstance(parent_call, str):
            parsed.agent_parents.setdefault(agent, parent_call)
        if not isinstance(agent, str) or agent in self.known_agents:
            # The sub-agent's own file holds these messages; this is a live-view echo.
            report.skip("progress agent_progress (in subagent file)")
            return
        if not isinstance(inner, dict) or inner.get("type") not in ("user", "assistant"):
            report.skip("progress agent_progress")
            return
        uuid = inner.get("uuid")
        if isinstance(uuid, str):
            if uuid in self.seen:
                report.skip("duplicate uuid")
                return
            self.seen.add(uuid)
        if not _well_formed(inner):
            report.skip("progress agent_progress")
            return
        # Older CLIs kept no sub-agent file: these echoes are the only copy of its work.
        report.lines_mapped += 1
        parsed.progress_agents.setdefault(agent, []).append(inner)

    def title(self, kind: str, obj: dict[str, Any]) -> None:
        parsed = self.parsed
        summary = _summary_text(obj) if kind == "summary" else None
        if summary is not None:
            leaf = obj.get("leafUuid")
            parsed.summaries.append(
                {"summary": summary, "leaf_uuid": leaf if isinstance(leaf, str) else ""}
            )
        elif kind == "custom-title" and isinstance(obj.get("customTitle"), str):
            parsed.custom_title = obj["customTitle"]
        elif kind == "ai-title" and isinstance(obj.get("aiTitle"), str):
            parsed.ai_title = obj["aiTitle"]
        else:
            self.report.skip(f"malformed {kind} line")
            return
        self.report.lines_mapped += 1


def parse_lines(
    path: Path, data: bytes, report: FileImport, known_agents: frozenset[str]
) -> ParsedFile:
    """Account for every line of ``data`` in ``report`` and sort the lines by thread.

    Raises :class:`CorruptSourceError` when the file is not UTF-8, has no parseable line,
    or holds no Claude Code record at all.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptSourceError(
            path, f"not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    sorter = _Sorter(path, report, known_agents)
    parsed_any = False
    first_error: str | None = None
    for line in iter_jsonl(path, data):
        report.lines_total += 1
        if line.error is not None:
            if line.error == "truncated final line":
                report.skip("truncated final line")
                report.warnings.append(f"line {line.lineno}: truncated final line skipped")
            else:
                report.skip("invalid JSON")
                report.warnings.append(f"line {line.lineno}: {line.error}")
            first_error = first_error or f"line {line.lineno}: {line.error}"
            continue
        parsed_any = True
        sorter.line(line.lineno, line.value)
    if report.lines_total == 0:
        raise CorruptSourceError(path, "empty file: no JSON lines")
    if not parsed_any:
        raise CorruptSourceError(path, f"no parseable JSON line ({first_error})")
    if sorter.parsed.claude_lines == 0:
        raise CorruptSourceError(
            path,
            "not a Claude Code session: no line has a Claude Code type "
            "(user, assistant, system, summary, progress, ...)",
        )
    return sorter.parsed
