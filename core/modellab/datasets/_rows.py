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

__all__ = [
    "NO_RESULT",
    "PATH_KEYS",
    "call_message",
    "conversation_text",
    "render_row",
    "step_messages",
    "system_messages",
    "tool_definitions",
    "touched_paths",
]

#: The content of a tool message for a call whose result was never recorded.
NO_RESULT = "(no result was recorded for this call)"
#: Argument keys that name a file the call touched.
PATH_KEYS = ("path", "file_path", "filename", "file")


def _arguments_json(call: ToolCall) -> str:
    # Sorted keys: the same call always renders to the same string, so exact de-duplication
    # and seeded builds are reproducible.
    return json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)


def _call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": _arguments_json(call)},
    }


def call_message(content: str, calls: Sequence[ToolCall]) -> dict[str, Any]:
    """An assistant message with ``content`` and, when there are any, ``calls``."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [_call(call) for call in calls]
    return message


def _agent_messages(step: Step) -> list[dict[str, Any]]:
    messages = [call_message(step.text, step.tool_calls)]
    results = {r.call_id: r for r in step.tool_results if r.call_id is not None}
    unkeyed = [r for r in step.tool_results if r.call_id is None]
    for call in step.tool_calls:
        # A result that did not say which call it answers is matched by position.
        result = results.get(call.id) or (unkeyed.pop(0) if unkeyed else None)
        content = result.content if result is not None else NO_RESULT
        messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    return messages


def step_messages(step: Step) -> list[dict[str, Any]]:
    """The messages one step renders to (none for system notes and empty agent steps)."""
    if step.source == "user":
        return [{"role": "user", "content": step.text}]
    if step.source == "agent" and (step.text or step.tool_calls):
        return _agent_messages(step)
    # System notes inside a turn (compaction summaries, context) are left out: chat
    # templates accept a system message only first, and these are not the model's work.
    return []


def system_messages(session: Session, system_prompt: str | None) -> list[dict[str, Any]]:
    """The leading system message: ``system_prompt`` if given, else the session's own."""
    prompt = system_prompt if system_prompt is not None else session.system_prompt
    return [{"role": "system", "content": prompt}] if prompt else []


def tool_definitions(
    messages: Iterable[Mapping[str, Any]], declared: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A definition of each tool the messages call, by name: the declared one, else a stub."""
    names = sorted(
        {call["function"]["name"] for message in messages for call in message.get("tool_calls", ())}
    )
    stub = {"type": "object"}
    return [
        declared.get(n) or {"type": "function", "function": {"name": n, "parameters": stub}}
        for n in names
    ]


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
    messages = system_messages(session, system_prompt)
    for turn in turns:
        for step in turn.steps:
            messages.extend(step_messages(step))
    return {"messages": messages, "tools": tool_definitions(messages, declared_tools)}


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
                for key in PATH_KEYS:
                    value = call.arguments.get(key)
                    if isinstance(value, str) and value:
                        paths.add(value)
    for artifact in session.artifacts:
        if artifact.type == "diff" and artifact.path and artifact.tool_call_id in call_ids:
            paths.add(artifact.path)
    return sorted(paths)
