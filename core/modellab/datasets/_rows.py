"""Render neutral sessions as SFT rows in TRL's conversational ``messages`` + ``tools`` format.

A row is ``{"messages": [...], "tools": [...]}``. Assistant messages carry OpenAI-style
``tool_calls`` (``arguments`` as a JSON string, as the OpenAI API and chat templates expect)
and every call is answered by a ``{"role": "tool", "tool_call_id": ...}`` message, so a chat
template never sees a call without its result. ``tools`` holds a JSON-schema function
definition for each tool the row uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modellab.traces import Session, Step, ToolCall, Turn

__all__ = ["NO_RESULT", "conversation_text", "render_row", "touched_paths"]

#: The content of a tool message for a call whose result was never recorded.
NO_RESULT = "(no result was recorded for this call)"
#: Argument keys that name a file the call touched.
_PATH_KEYS = ("path", "file_path", "filename", "file")


def _arguments_json(call: ToolCall) -> str:
    # Sorted keys: the same call always renders to the same string, so exact de-duplication
    # and seeded builds are reproducible.
    return json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)


def _agent_messages(step: Step) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "content": step.text}
    if step.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments_json(call)},
            }
            for call in step.tool_calls
        ]
    messages = [message]
    results = {r.call_id: r for r in step.tool_results if r.call_id is not None}
    unkeyed = [r for r in step.tool_results if r.call_id is None]
    for call in step.tool_calls:
        # A result that did not say which call it answers is matched by position.
        result = results.get(call.id) or (unkeyed.pop(0) if unkeyed else None)
        content = result.content if result is not None else NO_RESULT
        messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    return messages


def _turn_messages(turn: Turn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for step in turn.steps:
        if step.source == "user":
            messages.append({"role": "user", "content": step.text})
        elif step.source == "agent" and (step.text or step.tool_calls):
            messages.extend(_agent_messages(step))
        # System notes inside a turn (compaction summaries, context) are left out: chat
        # templates accept a system message only first, and these are not the model's work.
    return messages


def _tool_definition(name: str, declared: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    if name in declared:
        return declared[name]
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def render_row(
    session: Session,
    turns: Sequence[Turn],
    *,
    system_prompt: str | None,
    declared_tools: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """One SFT row: the system prompt, then ``turns`` of ``session`` in order.

    :param system_prompt: replaces the session's own system prompt when given.
    :param declared_tools: tool definitions the trace declared, by name.
    """
    messages: list[dict[str, Any]] = []
    prompt = system_prompt if system_prompt is not None else session.system_prompt
    if prompt:
        messages.append({"role": "system", "content": prompt})
    for turn in turns:
        messages.extend(_turn_messages(turn))
    names = sorted(
        {call["function"]["name"] for message in messages for call in message.get("tool_calls", ())}
    )
    return {"messages": messages, "tools": [_tool_definition(n, declared_tools) for n in names]}


def conversation_text(row: Mapping[str, Any]) -> str:
    """The row as plain text (roles, contents, calls): what near-duplicates are judged on."""
    parts: list[str] = []
    for message in row["messages"]:
        parts.append(f"{message['role']}: {message.get('content') or ''}")
        for call in message.get("tool_calls", ()):
            parts.append(f"call {call['function']['name']} {call['function']['arguments']}")
    return "\n".join(parts)


def touched_paths(session: Session, turns: Iterable[Turn]) -> list[str]:
    """Files the calls in ``turns`` touched: path arguments and the diffs they made."""
    call_ids: set[str] = set()
    paths: set[str] = set()
    for turn in turns:
        for step in turn.steps:
            for call in step.tool_calls:
                call_ids.add(call.id)
                for key in _PATH_KEYS:
                    value = call.arguments.get(key)
                    if isinstance(value, str) and value:
                        paths.add(value)
    for artifact in session.artifacts:
        if artifact.type == "diff" and artifact.path and artifact.tool_call_id in call_ids:
            paths.add(artifact.path)
    return sorted(paths)
