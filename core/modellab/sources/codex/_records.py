"""First pass over a rollout: normalise every line into a record, and index duplicates.

Codex writes most conversation facts twice: once as a ``response_item`` (what the model
saw) and once as an ``event_msg`` (what the UI showed). Which one comes first varies by
version, so the importer looks at the whole file before deciding: this pass counts the
``response_item`` texts per task, and the second pass drops an event whose text is already
there, whatever the order.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab.errors import CorruptSourceError
from modellab.sources._base import FileImport, as_str
from modellab.sources._jsonl import iter_jsonl

__all__ = [
    "BOILERPLATE_PREFIXES",
    "ENVELOPE_TYPES",
    "Record",
    "Scan",
    "context_cwd",
    "is_boilerplate",
    "message_text",
    "reasoning_texts",
    "scan",
    "search_query",
]

#: Rollout line types that carry a ``payload`` object.
ENVELOPE_TYPES = frozenset(
    {"session_meta", "response_item", "event_msg", "turn_context", "compacted"}
)

#: Text Codex injects as ``user`` messages: environment, instructions, AGENTS.md, skills.
BOILERPLATE_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "<INSTRUCTIONS>",
    "<permissions instructions>",
    "<turn_aborted>",
    "<skill>",
    "<collaboration_mode>",
    "<personality_spec>",
    "<user_shell_command>",
)


@dataclass(slots=True)
class Record:
    """One recognised rollout line."""

    lineno: int
    #: ``session_meta``, ``response_item``, ``event_msg``, ``turn_context``, ``compacted``.
    kind: str
    timestamp: str | None
    payload: dict[str, Any]
    #: Index of the task (``task_started`` ... ) the line falls in; used to scope dedup.
    task: int


@dataclass(slots=True)
class Scan:
    """The normalised records, and the ``response_item`` texts events may duplicate."""

    records: list[Record] = field(default_factory=list)
    #: (task, role, text) -> how many response_item messages said it.
    item_texts: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    #: (task, query) -> call ids of ``web_search_end`` events, for ``web_search_call``.
    search_ids: defaultdict[tuple[int, str], deque[str]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    #: (task, query) -> how many ``web_search_call`` items ran it.
    search_items: Counter[tuple[int, str]] = field(default_factory=Counter)
    #: Call ids that a ``response_item`` call (function, custom, local shell) defines; an
    #: end event for one of them may come before the call item in newer builds.
    item_call_ids: set[str] = field(default_factory=set)
    #: The file starts with a pre-envelope (2025) bare meta object.
    legacy: bool = False


#: ``response_item`` types that define a tool call.
_CALL_ITEM_TYPES = frozenset({"function_call", "custom_tool_call", "local_shell_call"})

# ``<environment_context>`` names the working folder as ``<cwd>/path</cwd>``.
_CONTEXT_CWD = re.compile(r"<cwd>\s*([^<]+?)\s*</cwd>")


def context_cwd(text: str) -> str | None:
    """The working folder an ``<environment_context>`` message names, if any."""
    if not text.lstrip().startswith("<environment_context>"):
        return None
    match = _CONTEXT_CWD.search(text)
    return match.group(1) if match else None


def message_text(content: Any) -> str:
    """The text of a Responses-API message ``content`` list (or a bare string)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [
        item["text"]
        for item in content
        if isinstance(item, dict) and isinstance(item.get("text"), str)
    ]
    return "\n".join(parts)


def is_boilerplate(text: str) -> bool:
    """True for injected context that is not something the user typed."""
    return text.lstrip().startswith(BOILERPLATE_PREFIXES)


def reasoning_texts(payload: dict[str, Any]) -> list[str]:
    """The readable parts of a reasoning item: its summary, else its raw content."""
    for key in ("summary", "content"):
        items = payload.get(key)
        if isinstance(items, list):
            texts = [
                item["text"]
                for item in items
                if isinstance(item, dict) and isinstance(item.get("text"), str)
            ]
            if texts:
                return texts
    return []


def search_query(payload: dict[str, Any]) -> str:
    """The query a web search ran (``action.query`` in newer builds, ``query`` in older)."""
    action = payload.get("action")
    if isinstance(action, dict) and isinstance(action.get("query"), str):
        return str(action["query"])
    query = payload.get("query")
    return query if isinstance(query, str) else ""


def _index(scan_: Scan, record: Record) -> None:
    payload = record.payload
    kind = as_str(payload.get("type"))
    if record.kind == "response_item":
        if kind == "message":
            role = as_str(payload.get("role"))
            if role in {"user", "assistant"}:
                text = message_text(payload.get("content")).strip()
                if role == "assistant" or not is_boilerplate(text):
                    scan_.item_texts[record.task, str(role), text] += 1
        elif kind == "reasoning":
            for text in reasoning_texts(payload):
                scan_.item_texts[record.task, "reasoning", text.strip()] += 1
        elif kind == "web_search_call":
            scan_.search_items[record.task, search_query(payload)] += 1
        elif kind in _CALL_ITEM_TYPES:
            call_id = payload.get("call_id") or payload.get("id")
            if isinstance(call_id, str) and call_id:
                scan_.item_call_ids.add(call_id)
    elif record.kind == "event_msg" and kind == "web_search_end":
        call_id = payload.get("call_id")
        if isinstance(call_id, str):
            scan_.search_ids[record.task, search_query(payload)].append(call_id)


def scan(path: Path, data: bytes, report: FileImport) -> Scan:
    """Parse every line, counting unusable ones in ``report``; raise if none is usable."""
    result = Scan()
    task = 0
    parsed_any = False
    first = True
    checked_utf8 = False
    for line in iter_jsonl(path, data):
        report.lines_total += 1
        if line.error is not None:
            if not checked_utf8:
                # orjson rejects bad UTF-8 per line; only a failed line can hide it, so
                # clean files skip the whole-file decode.
                _require_utf8(path, data)
                checked_utf8 = True
            if line.error == "truncated final line":
                report.skip("truncated final line")
            else:
                report.skip("invalid JSON line")
                report.warnings.append(f"line {line.lineno}: {line.error}")
            continue
        parsed_any = True
        value = line.value
        if not isinstance(value, dict):
            report.skip("not a JSON object")
            continue
        record = _record(line.lineno, value, task, first, result)
        first = False
        if record is None:
            report.skip("unrecognised line shape")
            continue
        if record.kind == "event_msg" and record.payload.get("type") == "task_started":
            task += 1
            record.task = task
        result.records.append(record)
        _index(result, record)
    if not parsed_any:
        raise CorruptSourceError(path, "no parseable JSON line")
    # A lone bare meta-like object followed by foreign lines is some other JSONL format.
    foreign = (
        result.legacy and len(result.records) == 1 and report.skipped["unrecognised line shape"]
    )
    if not result.records or foreign:
        raise CorruptSourceError(
            path,
            "not a Codex rollout: no line is a {timestamp, type, payload} object",
            hint="Codex rollouts live under ~/.codex/sessions as rollout-*.jsonl",
        )
    return result


def _require_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptSourceError(
            path, f"not UTF-8 text (invalid byte at offset {exc.start})"
        ) from exc


def _record(
    lineno: int, value: dict[str, Any], task: int, first: bool, state: Scan
) -> Record | None:
    kind = as_str(value.get("type"))
    payload = value.get("payload")
    timestamp = value.get("timestamp")
    stamp = timestamp if isinstance(timestamp, str) else None
    if kind in ENVELOPE_TYPES and isinstance(payload, dict):
        return Record(lineno, str(kind), stamp, payload, task)
    # Rollouts written before the envelope (2025) open with a bare meta object and then
    # hold bare Responses-API items, with the odd ``{"record_type": "state"}`` line.
    if first and "type" not in value and isinstance(value.get("id"), str) and "timestamp" in value:
        state.legacy = True
        return Record(lineno, "session_meta", stamp, value, task)
    if state.legacy and isinstance(kind, str) and "payload" not in value:
        return Record(lineno, "response_item", stamp, value, task)
    if state.legacy and value.get("record_type") == "state":
        return Record(lineno, "legacy_state", stamp, value, task)
    return None
