"""Turn an OpenHands V1 (software-agent-sdk) ``history`` into neutral steps.

V1 events carry a ``kind`` (``SystemPromptEvent``, ``MessageEvent``, ``ActionEvent``,
``ObservationEvent``, ``AgentErrorEvent``, ``UserRejectObservation``, ...). An action holds
the model's ``tool_call`` (id, name, JSON arguments) and the ``llm_response_id`` of the model
response that asked for it; an observation answers it through ``tool_call_id`` (and
``action_id``, the action event's id). Field names follow the SDK's pydantic event models
(``openhands/sdk/event``). Each event is counted as mapped or skipped under a named reason.
"""

from __future__ import annotations

import json
from typing import Any

from modellab.sources._base import FileImport, as_str
from modellab.sources.openhands._events import Timeline, _Draft, read_with
from modellab.traces import Label, Step, ToolCall, ToolResult, Turn

__all__ = ["is_v1_history", "read_v1_events"]

#: Tool names across SDK releases (``execute_bash`` became ``terminal``), normalised.
_CANONICAL = {
    "terminal": "exec_shell",
    "execute_bash": "exec_shell",
    "bash": "exec_shell",
    "file_editor": "edit_file",
    "str_replace_editor": "edit_file",
    "browser_navigate": "fetch_url",
}
#: Runtime bookkeeping that is not conversation, with why it is skipped.
_SKIPPED = {
    "ConversationStateUpdateEvent": "conversation state update",
    "Condensation": "context condensation bookkeeping",
    "CondensationRequest": "context condensation request",
    "TokenEvent": "raw token stream",
    "StreamingDeltaEvent": "streaming delta",
    "LLMCompletionLogEvent": "raw LLM completion log",
    "HookExecutionEvent": "hook execution record",
}


def is_v1_history(history: list[Any]) -> bool:
    """Whether ``history`` holds SDK (V1) events: a ``kind`` and no V0 ``action`` string."""
    for event in history:
        if isinstance(event, dict):
            if isinstance(event.get("action"), str) or isinstance(event.get("observation"), str):
                return False
            if isinstance(event.get("kind"), str):
                return True
    return False


def _text(content: Any) -> str:
    """The text of a content list (``[{"type": "text", "text": ...}]``) or a plain string."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for item in content:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif isinstance(item, dict) and item.get("type") == "image":
            parts.append("[image]")
    return "\n".join(parts)


def _arguments(event: dict[str, Any]) -> dict[str, Any]:
    """The call's input: the model's JSON arguments, else the parsed action without ``kind``."""
    call = event.get("tool_call")
    raw = call.get("arguments") if isinstance(call, dict) else None
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        if raw.strip():
            return {"_raw": raw}
    elif isinstance(raw, dict):
        return raw
    action = event.get("action")
    if isinstance(action, dict):
        return {key: value for key, value in action.items() if key != "kind"}
    return {}


def _exit_code(observation: dict[str, Any]) -> int | None:
    for holder in (observation, observation.get("metadata")):
        if isinstance(holder, dict):
            code = holder.get("exit_code")
            # -1 is the SDK's "no process ran" (e.g. a refused multi-command input).
            if isinstance(code, int) and not isinstance(code, bool) and code >= 0:
                return code
    return None


class _V1Reader:
    def __init__(self, report: FileImport) -> None:
        self.report = report
        self.timeline = Timeline()
        self.steps: list[_Draft] = []
        #: tool call id -> its step; action event id -> its tool call id.
        self.calls: dict[str, _Draft] = {}
        self.action_ids: dict[str, str] = {}
        self.statuses: dict[str, str] = {}

    def close_turn(self) -> None:
        if self.steps:
            index = len(self.timeline.turns)
            steps = tuple(self.freeze(draft) for draft in self.steps)
            self.timeline.turns.append(
                Turn(index=index, started_at=self.steps[0].timestamp, steps=steps)
            )
        self.steps = []

    def freeze(self, draft: _Draft) -> Step:
        step = draft.freeze()
        if any(call.id in self.statuses for call in step.tool_calls):
            calls = tuple(
                call.model_copy(update={"status": self.statuses[call.id]})
                if call.id in self.statuses
                else call
                for call in step.tool_calls
            )
            step = step.model_copy(update={"tool_calls": calls})
        return step

    def event(self, event: Any) -> None:
        if not isinstance(event, dict):
            self.report.skip("history event is not an object")
            return
        kind = as_str(event.get("kind"))
        timestamp = as_str(event.get("timestamp"))
        if timestamp is not None:
            self.timeline.first_timestamp = self.timeline.first_timestamp or timestamp
            self.timeline.last_timestamp = timestamp
        handler = {
            "SystemPromptEvent": self.system_prompt,
            "MessageEvent": self.message,
            "ActionEvent": self.action,
            "ObservationEvent": self.observation,
            "UserRejectObservation": self.rejection,
            "AgentErrorEvent": self.agent_error,
            "CondensationSummaryEvent": self.condensation_summary,
            "ConversationErrorEvent": self.conversation_error,
            "PauseEvent": self.pause,
            "InterruptEvent": self.pause,
        }.get(kind or "")
        if handler is not None:
            handler(event, timestamp)
            self.report.lines_mapped += 1
        elif kind in _SKIPPED:
            self.report.skip(_SKIPPED[kind])
        elif kind is None:
            self.report.skip("V1 event without a kind")
        else:
            self.report.skip(f"V1 event of unknown kind {kind[:60]!r}")

    def system_prompt(self, event: dict[str, Any], timestamp: str | None) -> None:
        parts = [_text(event.get("system_prompt")), _text(event.get("dynamic_context"))]
        self.timeline.system_prompt = "\n\n".join(part for part in parts if part) or None

    def message(self, event: dict[str, Any], timestamp: str | None) -> None:
        message = event.get("llm_message")
        message = message if isinstance(message, dict) else {}
        source = as_str(event.get("source"))
        role = as_str(message.get("role"))
        text = _text(message.get("content"))
        extended = _text(event.get("extended_content"))
        if source == "user" or (source is None and role == "user"):
            self.close_turn()
            draft = _Draft("user", timestamp, text)
            if extended:
                draft.extra["extended_content"] = extended
            skills = event.get("activated_skills")
            if isinstance(skills, list) and skills:
                draft.extra["activated_skills"] = [s for s in skills if isinstance(s, str)]
            self.steps.append(draft)
        elif source == "agent" or role == "assistant":
            response_id = as_str(event.get("llm_response_id"))
            draft = _Draft("agent", timestamp, text, response_id=response_id)
            self.steps.append(draft)
            draft.reasoning = as_str(message.get("reasoning_content")) or None
        else:
            # The environment speaking (e.g. a follow-up from a fake user): a system note.
            self.steps.append(_Draft("system", timestamp, text, kind=f"{source}_message"))

    def action(self, event: dict[str, Any], timestamp: str | None) -> None:
        call = event.get("tool_call")
        call = call if isinstance(call, dict) else {}
        call_id = as_str(event.get("tool_call_id")) or as_str(call.get("id"))
        call_id = call_id or f"event-{event.get('id')}"
        name = as_str(event.get("tool_name")) or as_str(call.get("name")) or "unknown"
        response_id = as_str(event.get("llm_response_id"))
        last = self.steps[-1] if self.steps else None
        if (
            last is None
            or last.source != "agent"
            or response_id is None
            or last.response_id != response_id
        ):
            # One model response may ask for several calls: they share one step.
            last = _Draft("agent", timestamp, _text(event.get("thought")), response_id=response_id)
            self.steps.append(last)
            last.reasoning = as_str(event.get("reasoning_content")) or None
        arguments = _arguments(event)
        action = event.get("action")
        action_kind = as_str(action.get("kind")) if isinstance(action, dict) else None
        last.calls.append(
            ToolCall(
                id=call_id,
                name=name,
                canonical_name=_CANONICAL.get(name),
                arguments=arguments,
            )
        )
        if action_kind:
            last.extra.setdefault("action_kinds", {})[call_id] = action_kind
        if action_kind == "FinishAction" or name == "finish":
            message = action.get("message") if isinstance(action, dict) else None
            self.timeline.finish = {"message": message} if isinstance(message, str) else arguments
        self.calls[call_id] = last
        event_id = as_str(event.get("id"))
        if event_id is not None:
            self.action_ids[event_id] = call_id

    def owner(self, event: dict[str, Any]) -> tuple[_Draft, str] | None:
        call_id = as_str(event.get("tool_call_id"))
        if call_id is None or call_id not in self.calls:
            call_id = self.action_ids.get(as_str(event.get("action_id")) or "")
        if call_id is None or call_id not in self.calls:
            return None
        return self.calls[call_id], call_id

    def observation(self, event: dict[str, Any], timestamp: str | None) -> None:
        observation = event.get("observation")
        observation = observation if isinstance(observation, dict) else {}
        kind = as_str(observation.get("kind")) or "Observation"
        content = _text(observation.get("content"))
        if not content:
            content = as_str(observation.get("output")) or as_str(observation.get("text")) or ""
        extended = _text(event.get("extended_content"))
        exit_code = _exit_code(observation)
        failed = observation.get("is_error") is True or bool(exit_code)
        owner = self.owner(event)
        if owner is None:
            self.steps.append(_Draft("system", timestamp, content, kind="orphan_tool_results"))
            call_id = as_str(event.get("tool_call_id"))
            self.report.warnings.append(f"{kind} for tool call {call_id!r} with no recorded action")
            return
        step, call_id = owner
        error_kind = None
        if failed:
            error_kind = "exit_code" if exit_code else "tool_error"
            self.timeline.labels.append(
                Label(kind="tool_error", source="observation_event", tool_call_id=call_id)
            )
            self.statuses[call_id] = "error"
        extra: dict[str, Any] = {"observation": kind}
        if extended:
            extra["extended_content"] = extended
        step.results.append(
            ToolResult(
                call_id=call_id,
                content=content,
                is_error=failed,
                error_kind=error_kind,
                exit_code=exit_code,
                extra=extra,
            )
        )

    def rejection(self, event: dict[str, Any], timestamp: str | None) -> None:
        reason = as_str(event.get("rejection_reason")) or "rejected"
        owner = self.owner(event)
        call_id = owner[1] if owner else as_str(event.get("tool_call_id"))
        self.timeline.labels.append(
            Label(
                kind="denied",
                source=as_str(event.get("rejection_source")) or "user_reject_observation",
                tool_call_id=call_id,
                detail=reason[:200],
            )
        )
        if owner is None:
            self.steps.append(_Draft("system", timestamp, reason, kind="orphan_tool_results"))
            return
        step, call_id = owner
        self.statuses[call_id] = "denied"
        step.results.append(_failed(call_id, reason, "denied", "UserRejectObservation"))

    def agent_error(self, event: dict[str, Any], timestamp: str | None) -> None:
        error = as_str(event.get("error")) or ""
        owner = self.owner(event)
        if owner is None:
            # An error with no action: the agent's call was refused before it became one.
            self.steps.append(_Draft("agent", timestamp, error, kind="error"))
            self.timeline.labels.append(
                Label(kind="tool_error", source="agent_error_event", detail=error[:200])
            )
            return
        step, call_id = owner
        self.statuses[call_id] = "error"
        self.timeline.labels.append(
            Label(kind="tool_error", source="agent_error_event", tool_call_id=call_id)
        )
        step.results.append(_failed(call_id, error, "tool_error", "AgentErrorEvent"))

    def condensation_summary(self, event: dict[str, Any], timestamp: str | None) -> None:
        summary = as_str(event.get("summary")) or ""
        self.steps.append(_Draft("system", timestamp, summary, kind="compaction_summary"))

    def conversation_error(self, event: dict[str, Any], timestamp: str | None) -> None:
        detail = as_str(event.get("detail")) or as_str(event.get("code")) or "conversation error"
        self.timeline.labels.append(
            Label(kind="turn_failed", source="conversation_error_event", detail=detail[:200])
        )

    def pause(self, event: dict[str, Any], timestamp: str | None) -> None:
        source = "pause_event" if event.get("kind") == "PauseEvent" else "interrupt_event"
        self.timeline.labels.append(Label(kind="interrupted", source=source))


def _failed(call_id: str, content: str, error_kind: str, observation: str) -> ToolResult:
    """The result of a call that did not run or did not finish (refused, or an agent error)."""
    return ToolResult(
        call_id=call_id,
        content=content,
        is_error=True,
        error_kind=error_kind,
        extra={"observation": observation},
    )


def read_v1_events(history: list[Any], report: FileImport) -> Timeline:
    """Map every V1 event of one instance's ``history``; count the rest under named reasons."""
    return read_with(_V1Reader(report), history, report)
