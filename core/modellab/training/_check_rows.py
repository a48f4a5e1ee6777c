"""Preflight check 1, ``dataset``: the rows' shape (roles, tool calls matched to results,
``tools`` definitions, empty rows) and their length in the base model's own tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modellab._internal.term import counted
from modellab.models._template import (
    TemplateError,
)
from modellab.training._checks import (
    MAX_LISTED,
    ChatTemplate,
    Check,
    Verdict,
    conversations,
)

__all__ = ["check_dataset"]

_ROLES = frozenset({"system", "user", "assistant", "tool"})


def _read_rows(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """``(line number, value)`` of each non-blank line, and the lines that are not JSON."""
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                problems.append(f"row {number}: empty line")
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(f"row {number}: not JSON ({exc.msg})")
    return rows, problems


def _call_problems(call: Any, where: str) -> Iterator[str]:
    if not isinstance(call, Mapping):
        yield f"{where}: a tool call is not an object"
        return
    function = call.get("function")
    if not isinstance(call.get("id"), str) or not call["id"]:
        yield f"{where}: a tool call has no id"
    if call.get("type", "function") != "function":
        yield f"{where}: tool call type is {call.get('type')!r}, expected 'function'"
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        yield f"{where}: tool call {call.get('id')!r} has no function name"
        return
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            yield f"{where}: arguments of call {call.get('id')!r} are not JSON"
            return
    if not isinstance(arguments, Mapping):
        yield f"{where}: arguments of call {call.get('id')!r} are not a JSON object"


def _message_problems(
    messages: Any, where: str, *, answered: bool, first_user: bool = True
) -> Iterator[str]:
    """Problems with one list of chat messages.

    :param answered: every call must be answered by a later ``tool`` message (a
        conversation); ``False`` for DPO completions, which are calls alone by design.
    """
    if not isinstance(messages, list) or not messages:
        yield f"{where}: empty (no messages)"
        return
    pending: dict[str, str] = {}
    seen_ids: set[str] = set()
    for index, message in enumerate(messages):
        at = f"{where} message {index}"
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            role = message.get("role") if isinstance(message, Mapping) else message
            yield f"{at}: role {role!r} is not one of {', '.join(sorted(_ROLES))}"
            continue
        role, content = message["role"], message.get("content")
        if content is not None and not isinstance(content, str):
            yield f"{at}: content is {type(content).__name__}, expected a string"
        if role == "system" and index != 0:
            yield f"{at}: a system message after the first"
        opening = (
            1 if isinstance(messages[0], Mapping) and messages[0].get("role") == "system" else 0
        )
        if first_user and index == opening and role != "user":
            yield f"{at}: the conversation starts with {role!r}, expected 'user'"
        calls = message.get("tool_calls") or []
        if role != "assistant" and calls:
            yield f"{at}: a {role} message with tool_calls"
        for call in calls if isinstance(calls, list) else [calls]:
            yield from _call_problems(call, at)
            call_id = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(call_id, str) and call_id:
                if call_id in seen_ids:
                    yield f"{at}: tool call id {call_id!r} is used twice"
                seen_ids.add(call_id)
                pending[call_id] = str((call.get("function") or {}).get("name"))
        if role == "tool":
            answers = message.get("tool_call_id")
            if answers not in pending:
                yield f"{at}: tool result {answers!r} answers no earlier call"
            else:
                del pending[answers]
    if answered:
        for call_id, name in pending.items():
            yield f"{where}: call {call_id!r} ({name}) has no tool result"


def _tools_problems(tools: Any, where: str) -> Iterator[str]:
    if tools is None:
        return
    if not isinstance(tools, list):
        yield f"{where}: tools is {type(tools).__name__}, expected a list"
        return
    names: set[str] = set()
    for index, tool in enumerate(tools):
        at = f"{where} tools[{index}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            yield f"{at}: type is not 'function'"
        elif not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            yield f"{at}: no function name"
        elif not isinstance(function.get("parameters"), Mapping):
            yield f"{at}: {function['name']!r} has no parameters object"
        elif function["parameters"].get("type") != "object":
            yield f"{at}: parameters of {function['name']!r} are not of type 'object'"
        else:
            if function["name"] in names:
                yield f"{at}: {function['name']!r} is defined twice"
            names.add(function["name"])


def _row_problems(row: Any, where: str, method: str) -> list[str]:
    if not isinstance(row, Mapping):
        return [f"{where}: not a JSON object"]
    problems = list(_tools_problems(row.get("tools"), where))
    if method != "dpo":
        messages = row.get("messages")
        problems += _message_problems(messages, where, answered=True)
        if isinstance(messages, list) and not any(
            isinstance(m, Mapping)
            and m.get("role") == "assistant"
            and (m.get("content") or m.get("tool_calls"))
            for m in messages
        ):
            problems.append(f"{where}: empty (no assistant message to learn from)")
        return problems
    problems += _message_problems(row.get("prompt"), f"{where} prompt", answered=True)
    for side in ("chosen", "rejected"):
        completion = row.get(side)
        problems += _message_problems(
            completion, f"{where} {side}", answered=False, first_user=False
        )
        if isinstance(completion, list) and any(
            isinstance(m, Mapping) and m.get("role") != "assistant" for m in completion
        ):
            problems.append(f"{where} {side}: holds a message that is not the assistant's")
    return problems


def _plain(messages: list[dict[str, Any]]) -> str:
    # A fallback for counting only: roles, contents and calls, one after another.
    return "\n".join(
        f"{m.get('role')}: {m.get('content') or ''} {json.dumps(m.get('tool_calls') or '')}"
        for m in messages
    )


def _token_lengths(
    rows: list[tuple[int, Mapping[str, Any]]], method: str, template: ChatTemplate, tokenizer: Path
) -> tuple[list[int], int]:
    """Each row's length in tokens (the longest of a pair's two), and how many rows the
    template could not render (those are counted on a plain rendering)."""
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_file(str(tokenizer))
    texts: list[str] = []
    unrendered = 0
    for _, row in rows:
        for messages in conversations(row, method):
            try:
                texts.append(template.render(messages, row.get("tools")))
            except TemplateError:
                unrendered += 1
                texts.append(_plain(messages))
    lengths = [len(e.ids) for e in encoder.encode_batch(texts, add_special_tokens=False)]
    per = 2 if method == "dpo" else 1
    return [max(lengths[i : i + per]) for i in range(0, len(lengths), per)], unrendered


def check_dataset(
    path: Path, method: str, template: ChatTemplate, base_model_dir: Path, max_seq_len: int
) -> tuple[Check, list[tuple[int, Mapping[str, Any]]]]:
    name = "dataset"
    if not path.is_file():
        return Check(
            name,
            "fail",
            f"{path}: not found (build it with 'modellab dataset "
            f"build' and the {'preference' if method == 'dpo' else 'trl-sft'} "
            "format)",
            {"file": str(path)},
        ), []
    parsed, problems = _read_rows(path)
    good: list[tuple[int, Mapping[str, Any]]] = []
    undeclared = 0
    for number, row in parsed:
        found = _row_problems(row, f"row {number}", method)
        problems += found
        if not found:
            good.append((number, row))
            declared = {t["function"]["name"] for t in row.get("tools") or []}
            called = {
                c["function"]["name"]
                for messages in conversations(row, method)
                for m in messages
                for c in m.get("tool_calls") or []
            }
            undeclared += bool(called - declared)
    details: dict[str, Any] = {
        "file": str(path),
        "rows": len(parsed),
        "problems": problems[:MAX_LISTED],
        "problem_count": len(problems),
        "rows_calling_undeclared_tools": undeclared,
        "max_seq_len": max_seq_len,
    }
    if not parsed and not problems:
        return Check(name, "fail", f"{path}: no rows", details), []
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check(name, "fail", f"{path}: {problems[0]}{more}", details), good
    tokenizer = base_model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        rows_found = counted(len(good), "row")
        reason = f"{path}: {rows_found}; {tokenizer} not found, so lengths were not counted"
        return Check(name, "warn", reason, details), good
    lengths, unrendered = _token_lengths(good, method, template, tokenizer)
    over = [
        number for (number, _), length in zip(good, lengths, strict=True) if length > max_seq_len
    ]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    details.update(
        longest_tokens=lengths[longest],
        longest_row=good[longest][0],
        over_long=len(over),
        over_long_rows=over[:MAX_LISTED],
        counted_with=str(tokenizer),
        rendered_with=template.source,
        rows_not_rendered=unrendered,
    )
    summary = (
        f"{path}: {counted(len(good), 'row')}, longest {lengths[longest]} tokens "
        f"(row {good[longest][0]})"
    )
    if unrendered:
        summary += f" ({unrendered} rendered as plain text: the chat template refused them)"
    if undeclared:
        summary += f"; {undeclared} rows call a tool their tools list does not define"
    if len(over) == len(good):
        reason = f"{summary}: every row exceeds --max-seq-len {max_seq_len}"
        return Check(name, "fail", reason, details), good
    if over:
        reason = (
            f"{summary}: {len(over)} of {len(good)} rows exceed --max-seq-len {max_seq_len} "
            "and will be truncated"
        )
        return Check(name, "warn", reason, details), good
    verdict: Verdict = "warn" if undeclared else "pass"
    return Check(name, verdict, f"{summary}, all within --max-seq-len {max_seq_len}", details), good
