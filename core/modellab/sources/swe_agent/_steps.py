"""Turn a ``.traj`` file's ``history`` and ``trajectory`` into neutral steps.

``trajectory`` holds one entry per agent step (thought, action, observation, timing) and is
the source of the agent steps. ``history`` is the conversation the model saw: it adds what the
trajectory lacks (system prompt, demonstrations, the task prompt, function-calling tool-call
ids) and repeats every action and observation, which are then matched to trajectory steps.
Every entry of both lists is counted as mapped or skipped under a named reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modellab._internal import jsonio
from modellab.sources._base import FileImport, as_str
from modellab.traces import Step, ToolCall, ToolResult

__all__ = ["Conversation", "read_conversation", "trajectory_from_history"]

#: Tool names normalised across agents, where the meaning is certain.
_CANONICAL = {
    "bash": "exec_shell",
    "open": "read_file",
    "edit": "edit_file",
    "create": "write_file",
}


@dataclass(slots=True)
class Conversation:
    """What the history and trajectory say, ready to become a session."""

    system_prompt: str | None = None
    prompt: str | None = None
    #: Demonstration messages shown before the task (``is_demo``), as context steps.
    context: list[Step] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    cwd: str | None = None
    submit_call_id: str | None = None


def _text(content: Any) -> str | None:
    """Message content: a string, or a list of ``{"type": "text"}`` parts (SWE-agent 1.x)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [as_str(part.get("text")) for part in content if isinstance(part, dict)]
        return "".join(part for part in parts if part)
    return None


def _function_call(message: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    """The id, name and arguments of a function-calling history message's first tool call."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict):
        return None, None, {}
    call = calls[0]
    function = call.get("function")
    name: str | None = None
    arguments: dict[str, Any] = {}
    if isinstance(function, dict):
        name = as_str(function.get("name"))
        raw = function.get("arguments")
        try:
            parsed = jsonio.loads(raw) if isinstance(raw, str) else raw
        except jsonio.JSONError:
            parsed = raw
        arguments = parsed if isinstance(parsed, dict) else {"_raw": parsed}
    return as_str(call.get("id")), name, arguments


def _state(value: Any) -> dict[str, Any]:
    # ``state`` is an object in 1.x and a JSON string in 0.x.
    if isinstance(value, str):
        try:
            value = jsonio.loads(value)
        except jsonio.JSONError:
            return {}
    return value if isinstance(value, dict) else {}


def _duration_ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return min(round(value * 1000), 2**53)


@dataclass(slots=True)
class _Match:
    """A history assistant message matched to trajectory step ``index``."""

    index: int
    call_id: str | None
    name: str | None
    arguments: dict[str, Any]
    observed: bool = False


def _read_history(
    history: list[Any], actions: list[str | None], report: FileImport
) -> tuple[Conversation, dict[int, _Match]]:
    conv = Conversation()
    matches: dict[int, _Match] = {}
    cursor = 0  # next trajectory step an assistant message may match
    last: _Match | None = None
    for message in history:
        if not isinstance(message, dict):
            report.skip("history entry is not an object")
            continue
        role, text = as_str(message.get("role")), _text(message.get("content"))
        if role == "system" and conv.system_prompt is None and text is not None:
            conv.system_prompt = text
        elif role == "user" and message.get("is_demo") is True:
            conv.context.append(Step(source="user", text=text or "", kind="demonstration"))
        elif role == "user" and conv.prompt is None and text is not None:
            conv.prompt = text
        elif role == "assistant":
            action = as_str(message.get("action"))
            found = next(
                (i for i in range(cursor, len(actions)) if _same(actions[i], action)), None
            )
            if found is None:
                report.skip("assistant message missing from the trajectory")
                continue
            cursor = found + 1
            last = matches[found] = _Match(found, *_function_call(message))
        elif role in {"user", "tool"} and last is not None and not last.observed:
            # The observation of the last matched action: the trajectory step holds it.
            last.observed = True
        elif role in {"user", "tool"}:
            report.skip("observation message with no trajectory step")
            continue
        else:
            report.skip(f"history message with role {role!r}")
            continue
        report.lines_mapped += 1
    return conv, matches


def _same(trajectory_action: str | None, history_action: str | None) -> bool:
    return (
        trajectory_action is not None
        and history_action is not None
        and trajectory_action.strip() == history_action.strip()
    )


def _agent_step(
    index: int, entry: dict[str, Any], match: _Match | None, model: str | None
) -> tuple[Step, str]:
    action = as_str(entry.get("action")) or ""
    words = action.split()
    call_id = (match.call_id if match else None) or f"step-{index + 1}"
    name = (match.name if match else None) or (words[0] if words else "(empty)")
    arguments = match.arguments if match and match.name else {"command": action}
    call = ToolCall(id=call_id, name=name, canonical_name=_CANONICAL.get(name), arguments=arguments)
    observation = entry.get("observation")
    result = ToolResult(
        call_id=call_id,
        content=observation if isinstance(observation, str) else "",
        duration_ms=_duration_ms(entry.get("execution_time")),
    )
    extra: dict[str, Any] = {}
    if match and match.name:
        # The call was made by function calling; the action is SWE-agent's rendering of it.
        extra["action"] = action
    state = _state(entry.get("state"))
    if state:
        extra["state"] = state
    step = Step(
        source="agent",
        model_name=model,
        text=as_str(entry.get("thought")) or as_str(entry.get("response")) or "",
        tool_calls=(call,),
        tool_results=(result,),
        extra=extra,
    )
    return step, name


def trajectory_from_history(history: list[Any]) -> list[dict[str, Any]]:
    """Trajectory steps rebuilt from a history-only file (SWE-agent's demonstrations).

    Each assistant message with an ``action`` is a step (its ``thought``, else its content,
    as the thought); the first observation after it (a ``tool`` or non-demo ``user``
    message) is the step's observation.
    """
    steps: list[dict[str, Any]] = []
    open_step: dict[str, Any] | None = None
    for message in history:
        if not isinstance(message, dict):
            continue
        role = as_str(message.get("role"))
        if role == "assistant" and as_str(message.get("action")) is not None:
            open_step = {
                "action": message["action"],
                "thought": as_str(message.get("thought")) or _text(message.get("content")) or "",
                "observation": None,
            }
            steps.append(open_step)
        elif role in {"user", "tool"} and open_step is not None:
            if open_step["observation"] is None and message.get("is_demo") is not True:
                open_step["observation"] = _text(message.get("content")) or ""
            open_step = None
    return steps


def read_conversation(
    trajectory: list[Any],
    history: list[Any],
    model: str | None,
    report: FileImport,
    *,
    from_history: bool = False,
) -> Conversation:
    """Map every trajectory step to an agent step, with prompts and call ids from history.

    With ``from_history`` the trajectory was rebuilt from ``history`` itself
    (:func:`trajectory_from_history`): only the history's entries are counted, once.
    """
    report.lines_total += len(history) if from_history else len(trajectory) + len(history)
    actions = [
        as_str(entry.get("action")) if isinstance(entry, dict) else None for entry in trajectory
    ]
    conv, matches = _read_history(history, actions, report)
    for index, entry in enumerate(trajectory):
        if not isinstance(entry, dict):
            report.skip("trajectory step is not an object")
            continue
        if actions[index] is None:
            report.skip("trajectory step without an action")
            continue
        step, name = _agent_step(index, entry, matches.get(index), model)
        conv.steps.append(step)
        if name == "submit":
            conv.submit_call_id = step.tool_calls[0].id
        if conv.cwd is None:
            conv.cwd = as_str(step.extra.get("state", {}).get("working_dir"))
        if not from_history:
            report.lines_mapped += 1
    return conv
