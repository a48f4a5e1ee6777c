"""Freeze the drafts into neutral turns, and derive results, diffs and test runs.

This is where facts from several lines meet: a call, its output item, and its end events
(``exec_command_end`` for the exit code and duration, ``patch_apply_end`` for whether a
patch applied) become one :class:`ToolCall` and one :class:`ToolResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modellab._internal import jsonio
from modellab.sources._base import FileImport
from modellab.sources._testruns import looks_like_test_command, parse_test_counts
from modellab.sources.codex._drafts import CallDraft, TurnDraft
from modellab.sources.codex._tools import (
    duration_ms,
    exit_code_from_text,
    mcp_result,
    patch_end_text,
    patch_sections,
    shell_argv,
    shell_command_text,
)
from modellab.traces import Diff, Label, Step, TestRun, ToolCall, ToolCallStatus, ToolResult, Turn

__all__ = ["ENVELOPE_KEYS", "Frozen", "freeze"]

#: Fields of an event that only say which call or turn it belongs to.
ENVELOPE_KEYS = frozenset({"type", "call_id", "turn_id"})


@dataclass(slots=True)
class Frozen:
    """The neutral turns, plus the artifacts and labels read from their calls."""

    turns: list[Turn] = field(default_factory=list)
    artifacts: list[Diff | TestRun] = field(default_factory=list)
    #: (line number, label): the line the label was read from, for ordering.
    labels: list[tuple[int, Label]] = field(default_factory=list)


def freeze(drafts: list[TurnDraft], report: FileImport) -> Frozen:
    """Build the neutral turns; warn in ``report`` about calls that never got an answer."""
    frozen = Frozen()
    for draft in drafts:
        frozen.turns.append(_turn(draft, frozen, report))
    return frozen


def _turn(turn: TurnDraft, frozen: Frozen, report: FileImport) -> Turn:
    steps: list[Step] = []
    for draft in turn.steps:
        calls: list[ToolCall] = []
        results = list(draft.results)
        for call in draft.calls:
            result = _result(call)
            if result is not None:
                results.append(result)
            calls.append(
                ToolCall(
                    id=call.id,
                    name=call.name,
                    canonical_name=call.canonical,
                    arguments=call.arguments,
                    status=_status(call, result, report),
                )
            )
            _artifacts(call, result, frozen)
        steps.append(
            Step(
                source=draft.source,
                timestamp=draft.timestamp,
                model_name=draft.model_name,
                text="\n\n".join(draft.texts),
                reasoning="\n\n".join(draft.reasoning) if draft.reasoning else None,
                tool_calls=tuple(calls),
                tool_results=tuple(results),
                usage=draft.usage,
                interrupted=draft.interrupted,
                kind=draft.kind,
                extra=draft.extra,
            )
        )
    return Turn(
        index=turn.index,
        started_at=turn.started_at,
        cwd=turn.cwd,
        git=turn.git,
        posture=turn.posture,
        steps=tuple(steps),
    )


def _status(call: CallDraft, result: ToolResult | None, report: FileImport) -> ToolCallStatus:
    if call.status is not None:
        return call.status
    if result is not None:
        return "error" if result.is_error else "ok"
    if call.turn.aborted:
        return "cancelled"
    report.warnings.append(
        f"line {call.lineno}: call {call.id} ({call.name}) has no output; kept as dangling"
    )
    return "dangling"


def _result(call: CallDraft) -> ToolResult | None:
    output = call.output
    if output is None and not call.ends:
        return None
    exec_end = call.end("exec_command_end")
    content = output.content if output is not None else _end_content(call)
    exit_code = exec_end.get("exit_code")
    if not isinstance(exit_code, int) and output is not None:
        exit_code = output.exit_code
        if exit_code is None and call.canonical == "exec_shell":
            exit_code = exit_code_from_text(output.content)
    millis = duration_ms(exec_end.get("duration")) if exec_end else None
    if millis is None and output is not None:
        millis = output.duration_ms
    if millis is None and "mcp_tool_call_end" in call.ends:
        millis = duration_ms(call.end("mcp_tool_call_end").get("duration"))
    mcp_end = call.end("mcp_tool_call_end")
    failed = (
        (output is not None and output.success is False)
        or call.end("patch_apply_end").get("success") is False
        or exec_end.get("status") == "failed"
        or (bool(mcp_end) and mcp_result(mcp_end)[1])
    )
    error_kind = None
    if isinstance(exit_code, int) and exit_code != 0:
        error_kind = "exit_code"
    elif failed:
        error_kind = "tool_error"
    return ToolResult(
        call_id=call.id,
        content=content,
        is_error=error_kind is not None,
        error_kind=error_kind,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        duration_ms=millis,
        truncated=output.truncated if output is not None else False,
    )


def _end_content(call: CallDraft) -> str:
    """The text of a call's end event, for calls that have no output item."""
    exec_end = call.end("exec_command_end")
    if exec_end:
        for key in ("aggregated_output", "formatted_output"):
            value = exec_end.get(key)
            if isinstance(value, str) and value:
                return value
        parts = [exec_end.get("stdout"), exec_end.get("stderr")]
        return "".join(part for part in parts if isinstance(part, str))
    mcp_end = call.end("mcp_tool_call_end")
    if mcp_end:
        return mcp_result(mcp_end)[0]
    patch_end = call.end("patch_apply_end")
    if patch_end:
        return patch_end_text(patch_end)
    _, payload = next(iter(call.ends.values()))
    rest = {key: value for key, value in payload.items() if key not in ENVELOPE_KEYS}
    return jsonio.dumps(rest, sort_keys=True).decode()


def _artifacts(call: CallDraft, result: ToolResult | None, frozen: Frozen) -> None:
    if call.canonical == "apply_patch":
        patch = call.arguments.get("_raw", call.arguments.get("input"))
        if patch is None and isinstance(call.arguments.get("changes"), list):
            _change_diffs(call, call.arguments["changes"], result, frozen)
            return
        _diffs(call, patch, result, frozen)
        return
    if call.canonical != "exec_shell":
        return
    argv = shell_argv(call.arguments)
    if argv and len(argv) == 2 and argv[0] in {"apply_patch", "applypatch"}:
        # Codex intercepts `apply_patch PATCH` run through the shell tool.
        _diffs(call, argv[1], result, frozen)
        return
    command = shell_command_text(call.name, call.arguments)
    if command is not None and looks_like_test_command(command):
        _test_run(call, command, result, frozen)


def _diffs(call: CallDraft, patch: Any, result: ToolResult | None, frozen: Frozen) -> None:
    if not isinstance(patch, str) or not patch.strip():
        return
    success = call.end("patch_apply_end").get("success")
    applied = success if isinstance(success, bool) else None
    if applied is None and result is not None:
        applied = not result.is_error
    frozen.artifacts.extend(
        Diff(tool_call_id=call.id, path=path, patch=piece, origin="apply_patch", applied=applied)
        for path, piece in patch_sections(patch)
    )


def _change_diffs(
    call: CallDraft, changes: list[Any], result: ToolResult | None, frozen: Frozen
) -> None:
    """Diffs from a ``patch_apply_end``'s ``changes`` (a call known only by that event)."""
    applied = None if result is None else not result.is_error
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("path"), str):
            continue
        path = change["path"]
        kind = change.get("type")
        if kind == "update" and isinstance(change.get("unified_diff"), str):
            patch = change["unified_diff"]
        elif kind in {"add", "delete"} and isinstance(change.get("content"), str):
            sign = "+" if kind == "add" else "-"
            patch = "".join(sign + line for line in change["content"].splitlines(keepends=True))
        else:
            continue
        frozen.artifacts.append(
            Diff(
                tool_call_id=call.id,
                path=path,
                patch=patch,
                origin="patch_apply_end",
                applied=applied,
            )
        )


def _test_run(call: CallDraft, command: str, result: ToolResult | None, frozen: Frozen) -> None:
    exec_end = call.end("exec_command_end")
    # The end event holds the whole output; with unified exec the call's own output
    # is often just "Process running".
    output = exec_end.get("aggregated_output")
    if not isinstance(output, str) or not output:
        output = result.content if result is not None else ""
    counts = parse_test_counts(output)
    exit_code = result.exit_code if result is not None else None
    success: bool | None
    if exit_code is not None:
        success = exit_code == 0
    elif counts is not None and counts.failed is not None:
        success = counts.failed == 0 and not counts.errors
    else:
        success = None
    frozen.artifacts.append(
        TestRun(
            tool_call_id=call.id,
            command=command,
            exit_code=exit_code,
            passed=counts.passed if counts else None,
            failed=counts.failed if counts else None,
            skipped=counts.skipped if counts else None,
            errors=counts.errors if counts else None,
            success=success,
            origin=call.name,
        )
    )
    if success is None:
        return
    label = Label(
        kind="tests_passed" if success else "tests_failed",
        source="exec_command_end" if exec_end else "tool_result_text",
        tool_call_id=call.id,
        turn_index=call.turn.index,
        detail=command,
    )
    end_line = call.ends.get("exec_command_end", (None, None))[0]
    frozen.labels.append((end_line or call.output_lineno or call.lineno, label))
