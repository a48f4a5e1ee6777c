"""Second pass over a rollout: map each record onto turns, steps, calls, labels.

Every handler returns ``None`` when it mapped its line and a skip reason otherwise, so each
line is counted exactly once (``FileImport.accounted``). Handlers fill mutable drafts
(:mod:`._drafts`); :func:`._freeze.freeze` turns them into neutral objects at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab.sources._base import FileImport, as_str
from modellab.sources.codex._drafts import CallDraft, StepDraft, TurnDraft
from modellab.sources.codex._freeze import ENVELOPE_KEYS, freeze
from modellab.sources.codex._records import (
    Record,
    Scan,
    context_cwd,
    is_boilerplate,
    message_text,
    reasoning_texts,
    search_query,
)
from modellab.sources.codex._tools import (
    git_facts,
    parse_arguments,
    parse_output,
    posture_of,
    title_of,
    usage_from,
)
from modellab.traces import Diff, GitFacts, Label, StepSource, TestRun, ToolResult, Turn, Usage

__all__ = ["Built", "build"]

_DUPLICATE_ITEM = "duplicate of response_item message"


@dataclass(slots=True)
class Built:
    """Everything the second pass read, ready to become a :class:`Session`."""

    meta: dict[str, Any]
    first_timestamp: str | None
    last_timestamp: str | None
    title: str | None
    model: str | None
    #: The session's working folder: ``session_meta.cwd``, else the first one an
    #: ``<environment_context>`` message named.
    cwd: str | None
    turns: list[Turn]
    artifacts: list[Diff | TestRun]
    labels: list[Label]
    usage: Usage | None


class _Builder:
    def __init__(self, path: Path, report: FileImport, scan: Scan) -> None:
        self.path = path
        self.report = report
        self.scan = scan
        self.meta: dict[str, Any] = {}
        self.turns: list[TurnDraft] = []
        self.calls: dict[str, CallDraft] = {}
        self.labels: list[tuple[int, Label]] = []
        self.title: str | None = None
        self.model: str | None = None
        self.usage: Usage | None = None
        self._last_total: Any = None
        #: End events that came before the call item they answer, by call id.
        self._pending_ends: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        self._context_cwd: str | None = None
        # What the next turn inherits: cwd, posture and model from turn_context.
        self._cwd: str | None = None
        self._posture: dict[str, str] = {}
        self._step_model: str | None = None
        self._pending_git: GitFacts | None = None
        # The agent step new reasoning / text / calls join, and the one usage attaches to.
        self._open: StepDraft | None = None
        self._usage_target: StepDraft | None = None
        self._items: dict[str, Callable[[Record], str | None]] = {
            "message": self._message,
            "reasoning": self._reasoning,
            "function_call": self._function_call,
            "custom_tool_call": self._custom_tool_call,
            "local_shell_call": self._local_shell_call,
            "function_call_output": self._call_output,
            "custom_tool_call_output": self._call_output,
            "web_search_call": self._web_search_call,
        }
        self._events: dict[str, Callable[[Record], str | None]] = {
            "task_started": self._task_started,
            "user_message": self._user_message,
            "agent_message": self._agent_message,
            "agent_reasoning": self._agent_reasoning,
            "agent_reasoning_raw_content": self._agent_reasoning,
            "token_count": self._token_count,
            "turn_aborted": self._turn_aborted,
            "error": self._error,
            "web_search_end": self._web_search_end,
        }

    # -- structure -------------------------------------------------------------------

    def _new_turn(self, timestamp: str | None) -> TurnDraft:
        turn = TurnDraft(
            index=len(self.turns),
            started_at=timestamp,
            cwd=self._cwd or self.meta.get("cwd"),
            posture=dict(self._posture),
            git=self._pending_git,
        )
        self._pending_git = None
        self.turns.append(turn)
        self._open = self._usage_target = None
        return turn

    def _turn(self, timestamp: str | None) -> TurnDraft:
        return self.turns[-1] if self.turns else self._new_turn(timestamp)

    def _agent_step(self, timestamp: str | None) -> StepDraft:
        if self._open is not None:
            return self._open
        turn = self._turn(timestamp)
        step = StepDraft("agent", timestamp, model_name=self._step_model)
        turn.steps.append(step)
        turn.has_agent = True
        self._open = self._usage_target = step
        return step

    def _fresh_agent_step(self, timestamp: str | None) -> StepDraft:
        """The open step, unless it already spoke or called: a new reply starts then."""
        if self._open is not None and (self._open.texts or self._open.calls):
            self._open = None
        return self._agent_step(timestamp)

    def _prompt(self, record: Record, text: str, extra: dict[str, Any]) -> None:
        turn = self.turns[-1] if self.turns else None
        if turn is None or turn.has_prompt or turn.has_agent:
            turn = self._new_turn(record.timestamp)
        turn.steps.append(StepDraft("user", record.timestamp, texts=[text], extra=extra))
        turn.has_prompt = True
        self._open = None
        if self.title is None:
            self.title = title_of(text)

    def _context(self, record: Record, source: StepSource, text: str) -> None:
        turn = self._turn(record.timestamp)
        step = StepDraft(source, record.timestamp, texts=[text], kind="context")
        cwd = context_cwd(text) if source == "user" else None
        if cwd is not None:
            # The folder is named in the text too: record it where redaction looks for
            # working folders (``cwd`` fields), on the step, and on the turn and session
            # when nothing structured named one.
            step.extra["cwd"] = cwd
            turn.cwd = turn.cwd or cwd
            self._cwd = self._cwd or cwd
            self._context_cwd = self._context_cwd or cwd
        turn.steps.append(step)
        self._open = None

    # -- lines -----------------------------------------------------------------------

    def run(self) -> Built:
        """Map every record, then freeze the drafts."""
        report = self.report
        for record in self.scan.records:
            reason = self._dispatch(record)
            if reason is None:
                report.lines_mapped += 1
            else:
                report.skip(reason)
        frozen = freeze(self.turns, report)
        labels = sorted(self.labels + frozen.labels, key=lambda item: item[0])
        records = self.scan.records
        return Built(
            meta=self.meta,
            first_timestamp=next((r.timestamp for r in records if r.timestamp), None),
            last_timestamp=next((r.timestamp for r in reversed(records) if r.timestamp), None),
            title=self.title,
            model=self.model,
            cwd=meta_cwd
            if isinstance(meta_cwd := self.meta.get("cwd"), str)
            else self._context_cwd,
            turns=frozen.turns,
            artifacts=frozen.artifacts,
            labels=[label for _, label in labels],
            usage=self.usage,
        )

    def _dispatch(self, record: Record) -> str | None:
        kind = record.kind
        payload_type = as_str(record.payload.get("type"))
        if kind == "response_item":
            handler = self._items.get(str(payload_type))
            if handler is not None:
                return handler(record)
            if payload_type == "ghost_snapshot":
                return "ghost_snapshot (undo checkpoint, no conversation content)"
            if payload_type in {"compaction", "compaction_summary"}:
                return "encrypted compaction item"
            return f"response_item {payload_type}: no neutral field"
        if kind == "event_msg":
            handler = self._events.get(str(payload_type))
            if handler is not None:
                return handler(record)
            return self._other_event(record, str(payload_type))
        if kind == "session_meta":
            return self._session_meta(record)
        if kind == "turn_context":
            return self._turn_context(record)
        if kind == "compacted":
            return self._compacted(record)
        return "legacy state record"

    def _session_meta(self, record: Record) -> str | None:
        if self.meta:
            return "repeat of session_meta (resumed or forked history)"
        self.meta = record.payload
        if record.timestamp is not None and "timestamp" not in self.meta:
            self.meta = {**self.meta, "timestamp": record.timestamp}
        cwd = self.meta.get("cwd")
        self._cwd = cwd if isinstance(cwd, str) else None
        self._pending_git = git_facts(self.meta.get("git"))
        return None

    def _turn_context(self, record: Record) -> str | None:
        payload = record.payload
        cwd, model = payload.get("cwd"), payload.get("model")
        if isinstance(cwd, str):
            self._cwd = cwd
        if isinstance(model, str):
            self._step_model = model
            self.model = self.model or model
        self._posture = posture_of(payload)
        # turn_context is written after the turn's opening lines; it describes that turn.
        if self.turns and not self.turns[-1].has_agent:
            turn = self.turns[-1]
            turn.cwd = self._cwd or turn.cwd
            turn.posture = dict(self._posture)
        return None

    def _compacted(self, record: Record) -> str | None:
        message = record.payload.get("message")
        text = message if isinstance(message, str) else ""
        turn = self._turn(record.timestamp)
        turn.steps.append(
            StepDraft("system", record.timestamp, texts=[text], kind="compaction_summary")
        )
        self._open = None
        return None

    def _message(self, record: Record) -> str | None:
        payload = record.payload
        role = as_str(payload.get("role"))
        content = payload.get("content")
        text = message_text(content)
        if role == "assistant":
            step = self._fresh_agent_step(record.timestamp)
            step.texts.append(text)
            phase = payload.get("phase")
            if isinstance(phase, str):
                step.extra["phase"] = phase
            return None
        if role == "user":
            if is_boilerplate(text):
                self._context(record, "user", text)
                return None
            images = (
                sum(
                    1
                    for item in content
                    if isinstance(item, dict) and item.get("type") == "input_image"
                )
                if isinstance(content, list)
                else 0
            )
            self._prompt(record, text, {"images": images} if images else {})
            return None
        if role in {"developer", "system"}:
            self._context(record, "system", text)
            return None
        return f"message with role {role!r}"

    def _reasoning(self, record: Record) -> str | None:
        texts = reasoning_texts(record.payload)
        # A reasoning item opens a new model reply even when its text is encrypted.
        if self._open is not None and (self._open.texts or self._open.calls):
            self._open = None
        if not texts:
            return "reasoning with only encrypted content"
        self._agent_step(record.timestamp).reasoning.extend(texts)
        return None

    def _add_call(
        self, record: Record, call_id: Any, name: str, arguments: dict[str, Any]
    ) -> CallDraft:
        if not isinstance(call_id, str) or not call_id:
            call_id = f"line-{record.lineno}"
            self.report.warnings.append(f"line {record.lineno}: tool call without call_id")
        step = self._agent_step(record.timestamp)
        call = CallDraft(call_id, name, arguments, record.lineno, self.turns[-1])
        step.calls.append(call)
        self.calls[call_id] = call
        call.ends.update(self._pending_ends.pop(call_id, {}))
        return call

    def _named_call(self, record: Record, arguments_key: str) -> None:
        payload = record.payload
        name = payload.get("name")
        self._add_call(
            record,
            payload.get("call_id"),
            name if isinstance(name, str) else "",
            parse_arguments(payload.get(arguments_key)),
        )

    def _function_call(self, record: Record) -> str | None:
        self._named_call(record, "arguments")
        return None

    def _custom_tool_call(self, record: Record) -> str | None:
        # Freeform tools (apply_patch) carry their input as text, not JSON arguments.
        self._named_call(record, "input")
        return None

    def _local_shell_call(self, record: Record) -> str | None:
        payload = record.payload
        call_id = payload.get("call_id") or payload.get("id")
        self._add_call(record, call_id, "local_shell_call", parse_arguments(payload.get("action")))
        return None

    def _call_output(self, record: Record) -> str | None:
        payload = record.payload
        call_id = payload.get("call_id")
        output = parse_output(payload.get("output"))
        # An output ends the model reply that asked for it.
        self._open = None
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None:
            turn = self._turn(record.timestamp)
            turn.steps.append(
                StepDraft(
                    "system",
                    record.timestamp,
                    kind="orphan_tool_results",
                    results=[
                        ToolResult(
                            call_id=call_id if isinstance(call_id, str) else None,
                            content=output.content,
                            truncated=output.truncated,
                        )
                    ],
                )
            )
            self.report.warnings.append(
                f"line {record.lineno}: output for unknown call {call_id!r} kept as orphan"
            )
            return None
        if call.output is not None:
            return "repeat output for a call already answered"
        call.output = output
        call.output_lineno = record.lineno
        return None

    def _web_search_call(self, record: Record) -> str | None:
        payload = record.payload
        query = search_query(payload)
        ids = self.scan.search_ids.get((record.task, query))
        call_id = ids.popleft() if ids else payload.get("id") or f"web_search-{record.lineno}"
        action = payload.get("action")
        call = self._add_call(
            record, call_id, "web_search", action if isinstance(action, dict) else {"query": query}
        )
        call.expects_result = False
        call.status = "error" if payload.get("status") == "failed" else "ok"
        return None

    def _web_search_end(self, record: Record) -> str | None:
        key = (record.task, search_query(record.payload))
        if self.scan.search_items[key] > 0:
            self.scan.search_items[key] -= 1
            return "duplicate of response_item web_search_call"
        # Only the event recorded this search: it becomes the call.
        payload = record.payload
        arguments = {k: v for k, v in payload.items() if k not in ENVELOPE_KEYS}
        call = self._add_call(record, payload.get("call_id"), "web_search", arguments)
        call.expects_result = False
        call.status = "ok"
        return None

    def _task_started(self, record: Record) -> str | None:
        turn = self.turns[-1] if self.turns else None
        # A prompt written before its task_started (0.146) belongs to the task it starts.
        if turn is None or turn.started or turn.has_agent:
            turn = self._new_turn(record.timestamp)
        elif turn.started_at is None:
            turn.started_at = record.timestamp
        turn.started = True
        return None

    def _duplicate(self, record: Record, role: str, text: str) -> bool:
        key = (record.task, role, text.strip())
        if self.scan.item_texts[key] > 0:
            self.scan.item_texts[key] -= 1
            return True
        return False

    def _duplicate_next(self, record: Record, text: str) -> bool:
        """A prompt event written before ``task_started``, whose item is in the next task."""
        shifted = Record(
            record.lineno, record.kind, record.timestamp, record.payload, record.task + 1
        )
        return self._duplicate(shifted, "user", text)

    def _user_message(self, record: Record) -> str | None:
        message = record.payload.get("message")
        text = message if isinstance(message, str) else ""
        if self._duplicate(record, "user", text) or self._duplicate_next(record, text):
            return _DUPLICATE_ITEM
        images = record.payload.get("images")
        count = len(images) if isinstance(images, list) else 0
        self._prompt(record, text, {"images": count} if count else {})
        return None

    def _agent_message(self, record: Record) -> str | None:
        message = record.payload.get("message")
        text = message if isinstance(message, str) else ""
        if self._duplicate(record, "assistant", text):
            return _DUPLICATE_ITEM
        self._fresh_agent_step(record.timestamp).texts.append(text)
        return None

    def _agent_reasoning(self, record: Record) -> str | None:
        raw = record.payload.get("text")
        text = raw if isinstance(raw, str) else ""
        if self._duplicate(record, "reasoning", text):
            return "duplicate of response_item reasoning"
        self._agent_step(record.timestamp).reasoning.append(text)
        return None

    def _token_count(self, record: Record) -> str | None:
        info = record.payload.get("info")
        if not isinstance(info, dict):
            return "token_count without usage (rate limits only)"
        total = info.get("total_token_usage")
        repeat = total is not None and total == self._last_total
        self._last_total = total
        self.usage = usage_from(total) or self.usage
        target = self._usage_target
        if repeat or target is None or target.usage is not None:
            return (
                "repeat of previous token_count"
                if repeat
                else "token_count with no agent step to attach to (session total kept)"
            )
        target.usage = usage_from(info.get("last_token_usage"))
        # Codex counts tokens once per model reply: the reply is over.
        self._open = self._usage_target = None
        return None

    def _turn_aborted(self, record: Record) -> str | None:
        turn = self._turn(record.timestamp)
        turn.aborted = True
        for step in reversed(turn.steps):
            if step.source == "agent":
                step.interrupted = True
                break
        reason = record.payload.get("reason")
        label = Label(
            kind="interrupted",
            source="turn_aborted",
            turn_index=turn.index,
            detail=reason if isinstance(reason, str) else None,
        )
        self.labels.append((record.lineno, label))
        self._open = self._usage_target = None
        return None

    def _error(self, record: Record) -> str | None:
        message = record.payload.get("message")
        turn = self._turn(record.timestamp)
        label = Label(
            kind="turn_failed",
            source="event_msg error",
            turn_index=turn.index,
            detail=message if isinstance(message, str) else None,
        )
        self.labels.append((record.lineno, label))
        return None

    def _early_end(self, record: Record, event_type: str, call_id: str) -> str | None:
        """An end event whose call is not known yet: keep it for the call, or be the call."""
        if call_id in self.scan.item_call_ids:
            pending = self._pending_ends.setdefault(call_id, {})
            if event_type in pending:
                return f"repeat {event_type} for a call"
            pending[event_type] = (record.lineno, record.payload)
            return None
        if event_type == "mcp_tool_call_end":
            name, arguments = _mcp_call(record)
        elif event_type == "patch_apply_end":
            name, arguments = (
                "apply_patch",
                {"changes": _change_list(record.payload.get("changes"))},
            )
        else:
            return f"{event_type} for an unknown call"
        # Only the event recorded this call (no response_item): it becomes the call.
        call = self._add_call(record, call_id, name, arguments)
        call.ends[event_type] = (record.lineno, record.payload)
        self._open = None
        return None

    def _other_event(self, record: Record, event_type: str) -> str | None:
        call_id = record.payload.get("call_id")
        if isinstance(call_id, str):
            if event_type.endswith("_begin"):
                return f"{event_type}: the end event carries the facts"
            call = self.calls.get(call_id)
            if call is None:
                return self._early_end(record, event_type, call_id)
            if event_type in call.ends:
                return f"repeat {event_type} for a call"
            call.ends[event_type] = (record.lineno, record.payload)
            return None
        if event_type == "task_complete":
            return "task_complete: turn end marker (last_agent_message repeats the reply)"
        if event_type == "context_compacted":
            return "context_compacted marker (the compacted line holds the summary)"
        return f"event_msg {event_type}: UI event with no neutral field"


def _mcp_call(record: Record) -> tuple[str, dict[str, Any]]:
    """The name the model used (``mcp__server__tool``) and the arguments of an MCP call."""
    invocation = record.payload.get("invocation")
    invocation = invocation if isinstance(invocation, dict) else {}
    server, tool = as_str(invocation.get("server")), as_str(invocation.get("tool"))
    name = f"mcp__{server or 'unknown'}__{tool or 'unknown'}"
    arguments = invocation.get("arguments")
    return name, arguments if isinstance(arguments, dict) else parse_arguments(arguments)


def _change_list(changes: Any) -> list[dict[str, Any]]:
    """``changes`` (path -> FileChange) as a list: a path kept as a key escapes redaction.

    A FileChange is ``{"type": "update", "unified_diff": ...}`` in current builds and
    ``{"update": {"unified_diff": ...}}`` (externally tagged) in older ones; both come back
    in the first shape.
    """
    if not isinstance(changes, dict):
        return []
    listed: list[dict[str, Any]] = []
    for path, change in changes.items():
        if not isinstance(change, dict):
            listed.append({"path": path})
            continue
        if "type" not in change and len(change) == 1:
            ((kind, inner),) = change.items()
            if kind in {"add", "delete", "update"} and isinstance(inner, dict):
                change = {"type": kind, **inner}
        listed.append({"path": path, **change})
    return listed


def build(path: Path, report: FileImport, scan: Scan) -> Built:
    """Map the scanned records onto neutral turns, artifacts and labels."""
    return _Builder(path, report, scan).run()
