"""Turn one OpenHands evaluation instance's ``history`` events into neutral steps.

Events are actions (``run``, ``edit``, ``read``, ``think``, ``finish``, ``message``, ...) and
observations that answer an action through ``cause`` (the action's event id). Each event is
counted as mapped or skipped under a named reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from modellab.sources._base import FileImport, as_str
from modellab.traces import Label, Step, ToolCall, ToolResult, Turn, Usage

__all__ = ["EventReader", "Timeline", "read_events", "read_with", "with_instruction"]

_CANONICAL = {"run": "exec_shell", "read": "read_file", "edit": "edit_file", "browse": "fetch_url"}
#: Events that are runtime bookkeeping rather than conversation, with why they are skipped.
_SKIPPED_ACTIONS = {
    "recall": "recall action (workspace context lookup)",
    "change_agent_state": "agent state change",
}
_SKIPPED_OBSERVATIONS = {
    "recall": "recall observation (workspace context)",
    "agent_state_changed": "agent state change",
    "null": "null observation",
}
#: Argument keys that are the agent's words, not the call's input.
_THOUGHT_KEYS = ("thought",)


@dataclass(slots=True)
class _Draft:
    """An agent step still collecting tool calls and their results."""

    source: str
    timestamp: str | None
    text: str
    model: str | None = None
    response_id: str | None = None
    usage: Usage | None = None
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    kind: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None

    def freeze(self) -> Step:
        source = "user" if self.source == "user" else "system" if self.kind else "agent"
        return Step(
            source=source,
            timestamp=self.timestamp,
            model_name=self.model,
            text=self.text,
            reasoning=self.reasoning,
            tool_calls=tuple(self.calls),
            tool_results=tuple(self.results),
            usage=self.usage,
            kind=self.kind,
            extra=self.extra,
        )


@dataclass(slots=True)
class Timeline:
    """Turns, labels and facts read from one instance's history."""

    system_prompt: str | None = None
    turns: list[Turn] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    finish: dict[str, Any] = field(default_factory=dict)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _response(event: dict[str, Any]) -> tuple[str | None, str | None, str | None, Usage | None]:
    """The tool call id, model, response id and usage of the model call behind an action."""
    meta = event.get("tool_call_metadata")
    if not isinstance(meta, dict):
        return None, None, None, None
    response = meta.get("model_response")
    response = response if isinstance(response, dict) else {}
    usage = response.get("usage")
    found = None
    if isinstance(usage, dict):
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
        found = Usage(
            input_tokens=_int(usage.get("prompt_tokens")),
            output_tokens=_int(usage.get("completion_tokens")),
            cached_tokens=cached,
        )
    return (
        as_str(meta.get("tool_call_id")),
        as_str(response.get("model")),
        as_str(response.get("id")),
        found,
    )


class _Reader:
    def __init__(self, report: FileImport) -> None:
        self.report = report
        self.timeline = Timeline()
        self.steps: list[_Draft] = []
        #: action event id -> (its step, its tool call id)
        self.calls: dict[Any, tuple[_Draft, str]] = {}

    def close_turn(self) -> None:
        if self.steps:
            index = len(self.timeline.turns)
            started = self.steps[0].timestamp
            steps = tuple(draft.freeze() for draft in self.steps)
            self.timeline.turns.append(Turn(index=index, started_at=started, steps=steps))
        self.steps = []

    def event(self, event: Any) -> None:
        if not isinstance(event, dict):
            self.report.skip("history event is not an object")
            return
        timestamp = as_str(event.get("timestamp"))
        if timestamp is not None:
            self.timeline.first_timestamp = self.timeline.first_timestamp or timestamp
            self.timeline.last_timestamp = timestamp
        action, observation = as_str(event.get("action")), as_str(event.get("observation"))
        if action is not None:
            self.action(event, action, timestamp)
        elif observation is not None:
            self.observation(event, observation, timestamp)
        else:
            self.report.skip("event with neither action nor observation")

    def action(self, event: dict[str, Any], action: str, timestamp: str | None) -> None:
        args = event.get("args")
        args = args if isinstance(args, dict) else {}
        source = as_str(event.get("source"))
        if action in _SKIPPED_ACTIONS:
            self.report.skip(_SKIPPED_ACTIONS[action])
            return
        if action == "system":
            self.timeline.system_prompt = as_str(args.get("content")) or as_str(
                event.get("message")
            )
        elif action == "message" and source == "user":
            self.close_turn()
            text = as_str(args.get("content")) or as_str(event.get("message")) or ""
            self.steps.append(_Draft(source="user", timestamp=timestamp, text=text))
        elif action == "message" and source == "agent":
            text = as_str(args.get("content")) or as_str(event.get("message")) or ""
            _, model, response_id, usage = _response(event)
            self.steps.append(_Draft("agent", timestamp, text, model, response_id, usage=usage))
        elif source == "agent":
            self.tool_action(event, action, args, timestamp)
        else:
            self.report.skip(f"{source} action {action!r}")
            return
        self.report.lines_mapped += 1

    def tool_action(
        self, event: dict[str, Any], action: str, args: dict[str, Any], timestamp: str | None
    ) -> None:
        call_id, model, response_id, usage = _response(event)
        call_id = call_id or f"event-{event.get('id')}"
        thought = as_str(args.get("thought")) or ""
        last = self.steps[-1] if self.steps else None
        if last is None or response_id is None or last.response_id != response_id:
            # One model response may ask for several calls: they share one step.
            last = _Draft("agent", timestamp, thought, model, response_id, usage=usage)
            self.steps.append(last)
        arguments = {key: value for key, value in args.items() if key not in _THOUGHT_KEYS}
        call = ToolCall(
            id=call_id, name=action, canonical_name=_CANONICAL.get(action), arguments=arguments
        )
        last.calls.append(call)
        if action == "finish":
            self.timeline.finish = arguments
        if "id" in event and isinstance(event["id"], int | str):
            self.calls[event["id"]] = (last, call_id)

    def observation(self, event: dict[str, Any], kind: str, timestamp: str | None) -> None:
        if kind in _SKIPPED_OBSERVATIONS:
            self.report.skip(_SKIPPED_OBSERVATIONS[kind])
            return
        content = as_str(event.get("content")) or as_str(event.get("message")) or ""
        cause = event.get("cause")
        owner = self.calls.get(cause) if isinstance(cause, int | str) else None
        if owner is None:
            if kind != "error":
                self.report.skip(f"{kind} observation for no recorded action")
                return
            # An error with no action: the agent's call was refused before it became one.
            self.steps.append(_Draft("agent", timestamp, content, kind="error"))
            self.timeline.labels.append(
                Label(kind="tool_error", source="error_observation", detail=content[:200])
            )
        else:
            self.steps_result(event, kind, content, *owner)
        self.report.lines_mapped += 1

    def steps_result(
        self, event: dict[str, Any], kind: str, content: str, step: _Draft, call_id: str
    ) -> None:
        extras = event.get("extras")
        extras = extras if isinstance(extras, dict) else {}
        metadata = extras.get("metadata")
        exit_code = metadata.get("exit_code") if isinstance(metadata, dict) else None
        exit_code = (
            exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
        )
        failed = kind == "error" or event.get("success") is False or bool(exit_code)
        error_kind = None
        if failed:
            error_kind = "exit_code" if exit_code else "tool_error"
            self.timeline.labels.append(
                Label(kind="tool_error", source=f"{kind}_observation", tool_call_id=call_id)
            )
        step.results.append(
            ToolResult(
                call_id=call_id,
                content=content,
                is_error=failed,
                error_kind=error_kind,
                exit_code=exit_code,
                extra={"observation": kind},
            )
        )


class EventReader(Protocol):
    """What reads one instance's events (V0 here, V1 in ``_v1.py``) into a timeline."""

    timeline: Timeline

    def event(self, event: Any) -> None: ...

    def close_turn(self) -> None: ...


def read_with(reader: EventReader, history: list[Any], report: FileImport) -> Timeline:
    """Feed every event of ``history`` to ``reader`` and return its timeline."""
    report.lines_total += len(history)
    for event in history:
        reader.event(event)
    reader.close_turn()
    return reader.timeline


def read_events(history: list[Any], report: FileImport) -> Timeline:
    """Map every event of one instance's ``history``; count the rest under named reasons."""
    return read_with(_Reader(report), history, report)


def with_instruction(timeline: Timeline, instruction: str | None) -> bool:
    """Put the row's ``instruction`` first as the user's prompt when the history lacks one.

    Evaluation rows keep the task in ``instruction``; the history usually opens with the same
    text as a user message, but when it does not (the message was condensed away, or the
    harness sent it outside the event stream) the prompt would otherwise be lost. Returns
    whether a step was added.
    """
    if not instruction:
        return False
    first = timeline.turns[0] if timeline.turns else None
    if first is not None and first.steps and first.steps[0].source == "user":
        return False
    prompt = Step(source="user", text=instruction, extra={"from": "instruction"})
    if first is None:
        timeline.turns.append(Turn(index=0, steps=(prompt,)))
    else:
        timeline.turns[0] = first.model_copy(update={"steps": (prompt, *first.steps)})
    return True
