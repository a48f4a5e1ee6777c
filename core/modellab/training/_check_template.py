"""Preflight check 2, ``chat_template``: the template renders the dataset's calls and
results faithfully, and marks the assistant's turns for assistant-only loss."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modellab.models._template import (
    TemplateError,
    render_with_generation_spans,
)
from modellab.training._checks import (
    MAX_LISTED,
    ChatTemplate,
    Check,
    conversations,
)

__all__ = ["MAX_RENDERED", "TEMPLATE_FIX", "check_template"]

#: How many rows with tool calls the chat-template check renders.
MAX_RENDERED = 20
#: What preflight offers when a template drops tool calls or cannot mask the loss.
TEMPLATE_FIX = (
    "pass --chat-template FILE with a template that renders tools, tool calls and tool "
    "results and wraps the assistant's turns in {% generation %} blocks (for a ChatML "
    "model: --chat-template chatml-tools, the one Model Lab ships)"
)

#: A conversation to judge a template on when the dataset has no row to offer.
_PROBE_ROW: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "Read app.py"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "probe-1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "app.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "probe-1", "content": "print('probe result 7311')"},
        {"role": "assistant", "content": "It prints a line."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ],
}


def _samples(
    rows: list[tuple[int, Mapping[str, Any]]], method: str
) -> list[tuple[str, list[dict[str, Any]], Any]]:
    """The conversations to render: up to :data:`MAX_RENDERED` rows with tool calls (else
    the first row; a probe when there is none), each with what it is and its tools."""
    picked: list[tuple[str, list[dict[str, Any]], Any]] = []
    for number, row in rows:
        messages = conversations(row, method)[0]
        if any(m.get("tool_calls") for m in messages):
            picked.append((f"row {number}", messages, row.get("tools")))
            if len(picked) == MAX_RENDERED:
                break
    if not picked and rows:
        number, row = rows[0]
        picked.append((f"row {number}", conversations(row, method)[0], row.get("tools")))
    if not picked:
        probe = "a probe conversation (the dataset has no usable row)"
        picked.append((probe, _PROBE_ROW["messages"], _PROBE_ROW["tools"]))
    return picked


def _argument_forms(arguments: Any) -> tuple[list[str], str | None]:
    """How a call's arguments may appear in a faithful rendering, and the escaped form
    that shows a JSON string was encoded again (``"{\\"path\\": ...}"``)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    parsed = json.loads(raw)
    forms = [raw] + [
        json.dumps(parsed, ensure_ascii=ascii_, separators=sep, sort_keys=keys)
        for ascii_ in (False, True)
        for sep in ((", ", ": "), (",", ":"))
        for keys in (False, True)
    ]
    return forms, json.dumps(raw)[1:-1] if isinstance(arguments, str) else None


def _unfaithful(text: str, messages: list[dict[str, Any]], tools: Any) -> list[str]:
    missing: list[str] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            if function["name"] not in text:
                missing.append(f"the name of call {call['id']!r} ({function['name']})")
                continue
            forms, escaped = _argument_forms(function.get("arguments", "{}"))
            values = json.loads(forms[0])
            if escaped and escaped in text and escaped != forms[0]:
                missing.append(
                    f"the arguments of call {call['id']!r} (written as an "
                    "escaped string, encoded twice)"
                )
            elif not any(form in text for form in forms) and not all(
                key in text and (str(value) in text or json.dumps(value) in text)
                for key, value in values.items()
            ):
                missing.append(f"the arguments of call {call['id']!r}")
        if message.get("role") == "tool" and (message.get("content") or "") not in text:
            missing.append(f"the result of call {message.get('tool_call_id')!r}")
    for tool in tools or []:
        if tool["function"]["name"] not in text:
            missing.append(f"the definition of tool {tool['function']['name']!r}")
    return missing


def check_template(
    template: ChatTemplate, rows: list[tuple[int, Mapping[str, Any]]], method: str
) -> Check:
    name = "chat_template"
    details: dict[str, Any] = {"source": template.source}
    if template.text is None:
        return Check(
            name,
            "fail",
            f"{template.source}: no chat template; {TEMPLATE_FIX}",
            {**details, "fix": TEMPLATE_FIX},
        )
    samples = _samples(rows, method)
    details["rendered"] = [which for which, _, _ in samples]
    rendered: list[tuple[str, list[dict[str, Any]], str, list[tuple[int, int]]]] = []
    for which, messages, tools in samples:
        try:
            text, spans = render_with_generation_spans(
                template.text,
                messages,
                tools=tools or None,
                bos_token=template.bos,
                eos_token=template.eos,
            )
        except TemplateError as exc:
            reason = f"{template.source}: rendering {which} failed: {exc}; {TEMPLATE_FIX}"
            return Check(name, "fail", reason, {**details, "fix": TEMPLATE_FIX})
        missing = _unfaithful(text, messages, tools)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            reason = (
                f"{template.source}: rendering {which} drops {missing[0]}{more}; the model "
                f"would not learn its calls; {TEMPLATE_FIX}"
            )
            details["missing"] = missing[:MAX_LISTED]
            return Check(name, "fail", reason, {**details, "fix": TEMPLATE_FIX})
        rendered.append((which, messages, text, spans))
    which = samples[0][0] if len(samples) == 1 else f"{len(samples)} rows"
    details.update(missing=[], generation_blocks=all(spans for *_, spans in rendered))
    if method == "dpo":
        note = (
            ""
            if details["generation_blocks"]
            else " (DPO scores whole completions: no loss mask is needed)"
        )
        return Check(
            name,
            "pass",
            f"{template.source}: renders the tool calls and results of {which} faithfully{note}",
            details,
        )
    if not details["generation_blocks"]:
        reason = (
            f"{template.source}: renders {which} faithfully but has no {{% generation %}} "
            "blocks, so the loss covers prompts and tool results too; " + TEMPLATE_FIX
        )
        return Check(name, "warn", reason, {**details, "fix": TEMPLATE_FIX})
    for where, messages, text, spans in rendered:
        if any(
            m.get("role") == "assistant"
            and m.get("content")
            and not any(m["content"] in text[a:b] for a, b in spans)
            for m in messages
        ):
            reason = (
                f"{template.source}: its {{% generation %}} blocks in {where} leave out "
                "assistant text, which would not be trained on; " + TEMPLATE_FIX
            )
            return Check(name, "warn", reason, {**details, "fix": TEMPLATE_FIX})
    return Check(
        name,
        "pass",
        f"{template.source}: renders the tool calls and results of {which} "
        "faithfully; {% generation %} blocks mask the loss to the assistant",
        details,
    )
