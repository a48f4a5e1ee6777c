"""Turn one thread of Claude Code message lines into turns, steps, labels and artifacts.

The importer hands over the lines of one thread (the main conversation, one sidechain, or an
abandoned branch) in file order, already de-duplicated and shape-checked. The builder:

* starts a turn at each typed prompt (or slash command);
* merges assistant lines that share ``message.id`` (the CLI writes one line per content
  block of a single API response) into one agent step;
* attaches each ``tool_result`` to the agent step that made the call, by ``tool_use_id``;
* reads labels (interruptions, denials, test runs) and artifacts (diffs, test runs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modellab.sources.claude_code._tools import (
    CANONICAL_NAMES,
    build_diff,
    judge_result,
    test_run_facts,
)
from modellab.traces import (
    Artifact,
    GitFacts,
    Label,
    Step,
    StepSource,
    SubagentRef,
    TestRun,
    ToolCall,
    ToolCallStatus,
    ToolResult,
    Turn,
    Usage,
)

__all__ = ["SUBAGENT_REF_KEY", "Thread", "build_thread", "prompt_kind"]

_INTERRUPTED = "[Request interrupted by user"
# Tools that run a sub-agent, and the line their result text ends with (2.x CLIs):
# "agentId: a1b2c3d (for resuming to continue this agent's work if needed)".
_AGENT_TOOLS = frozenset({"Task", "Agent"})
_AGENT_ID_TEXT = re.compile(r"(?m)^\s*agentId:\s*([A-Za-z0-9_-]+)")
#: ATIF's name for a result's sub-agent refs (``ToolResult.subagent_trajectory_ref``).
SUBAGENT_REF_KEY = "subagent_trajectory_ref"
# Text a user line starts with -> the step kind, and whether it opens a new turn.
_PREFIX_KINDS: tuple[tuple[str, str, bool], ...] = (
    ("<command-name>", "slash_command", True),
    ("<command-message>", "slash_command", True),
    ("<local-command-stdout>", "command_output", False),
    ("<local-command-stderr>", "command_output", False),
    ("<local-command-caveat>", "context", False),
    ("<bash-input>", "shell_command", True),
    ("<bash-stdout>", "command_output", False),
    ("<bash-stderr>", "command_output", False),
    ("<task-notification>", "task_notification", False),
    ("<system-reminder>", "context", False),
)
# System subtypes that carry conversation-relevant text become system steps of this kind.
_SYSTEM_KINDS = {
    "compact_boundary": "compaction_boundary",
    "microcompact_boundary": "compaction_boundary",
    "local_command": "slash_command",
    "api_error": "api_error",
}


def prompt_kind(entry: dict[str, Any], text: str) -> tuple[str | None, bool]:
    """Classify a user line's text: ``(step kind, starts a turn)``."""
    if entry.get("isCompactSummary"):
        return "compaction_summary", False
    if entry.get("isMeta"):
        return "context", False
    if text.startswith(_INTERRUPTED):
        return "interruption", False
    stripped = text.lstrip()
    for prefix, kind, starts in _PREFIX_KINDS:
        if stripped.startswith(prefix):
            return kind, starts
    return None, True


def _is_result(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_result"


def _tag(text: str, name: str) -> str:
    start = text.find(f"<{name}>")
    end = text.find(f"</{name}>")
    return text[start + len(name) + 2 : end].strip() if 0 <= start < end else ""


def _command_line(text: str) -> str:
    """``<command-name>/x</command-name><command-args>y</command-args>`` -> ``/x y``."""
    line = f"{_tag(text, 'command-name')} {_tag(text, 'command-args')}".strip()
    return line or text


class _CallDraft:
    __slots__ = ("arguments", "id", "name", "status", "tool_use_result")

    def __init__(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        self.id = call_id
        self.name = name
        self.arguments = arguments
        self.status: ToolCallStatus = "dangling"
        self.tool_use_result: Any = None


class _StepDraft:
    __slots__ = (
        "calls",
        "extra",
        "interrupted",
        "kind",
        "model",
        "reasoning",
        "results",
        "source",
        "texts",
        "timestamp",
        "usage",
    )

    def __init__(self, source: StepSource, timestamp: Any, kind: str | None = None) -> None:
        self.source: StepSource = source
        self.timestamp = timestamp if isinstance(timestamp, str) else None
        self.kind = kind
        self.texts: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[_CallDraft] = []
        self.results: list[ToolResult] = []
        self.usage: Usage | None = None
        self.model: str | None = None
        self.interrupted = False
        self.extra: dict[str, Any] = {}

    def _ordered_results(self) -> tuple[ToolResult, ...]:
        # Results are written as calls finish; list them in call order so each lines up
        # with its call (results for unknown calls, if any, go last).
        if len(self.results) < 2:
            return tuple(self.results)
        order = {call.id: n for n, call in enumerate(self.calls)}
        return tuple(sorted(self.results, key=lambda r: order.get(r.call_id or "", len(order))))

    def freeze(self) -> Step:
        return Step(
            source=self.source,
            timestamp=self.timestamp,
            model_name=self.model,
            text="\n\n".join(self.texts),
            reasoning="\n\n".join(self.reasoning) if self.reasoning else None,
            tool_calls=tuple(
                ToolCall(
                    id=c.id,
                    name=c.name,
                    canonical_name=CANONICAL_NAMES.get(c.name),
                    arguments=c.arguments,
                    status=c.status,
                )
                for c in self.calls
            ),
            tool_results=self._ordered_results(),
            usage=self.usage,
            interrupted=self.interrupted,
            kind=self.kind,
            extra=self.extra,
        )


@dataclass(slots=True)
class _TurnDraft:
    index: int
    started_at: str | None
    cwd: str | None
    branch: str | None
    posture: dict[str, str]
    steps: list[_StepDraft] = field(default_factory=list)


@dataclass(slots=True)
class Thread:
    """What one thread of lines became."""

    turns: tuple[Turn, ...]
    artifacts: tuple[Artifact, ...]
    labels: tuple[Label, ...]
    usage: Usage | None
    models: Counter[str]
    #: The first input that opened a turn (a slash command as ``/name args``).
    first_prompt: str | None
    #: Task call id -> the sub-agent id its result named (``toolUseResult.agentId``).
    agent_ids: dict[str, str]
    warnings: list[str]


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    fresh = raw.get("input_tokens")
    created = raw.get("cache_creation_input_tokens")
    read = raw.get("cache_read_input_tokens")
    parts = [n for n in (fresh, created, read) if isinstance(n, int)]
    output = raw.get("output_tokens")
    # Anthropic's input_tokens excludes cache reads and writes; the neutral input count is
    # the whole prompt (as OpenAI-style usage reports it), with cache reads as cached_tokens.
    return Usage(
        input_tokens=sum(parts) if parts else None,
        output_tokens=output if isinstance(output, int) else None,
        cached_tokens=read if isinstance(read, int) else None,
    )


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


class _Builder:
    def __init__(
        self,
        subagent_refs: Mapping[str, dict[str, Any]],
        call_agents: Mapping[str, str],
    ) -> None:
        self.subagent_refs = subagent_refs
        self.call_agents = call_agents
        self.turns: list[_TurnDraft] = []
        self.by_message: dict[str, _StepDraft] = {}
        self.calls: dict[str, tuple[_CallDraft, int, _StepDraft]] = {}
        self.results: dict[str, ToolResult] = {}
        self.labels: list[Label] = []
        self.models: Counter[str] = Counter()
        self.first_prompt: str | None = None
        self.agent_ids: dict[str, str] = {}
        self.warnings: list[str] = []
        self.last_agent: _StepDraft | None = None

    def _turn(self, entry: dict[str, Any], new: bool) -> _TurnDraft:
        if new or not self.turns:
            posture = entry.get("permissionMode")
            branch = entry.get("gitBranch")
            cwd = entry.get("cwd")
            self.turns.append(
                _TurnDraft(
                    index=len(self.turns),
                    started_at=entry.get("timestamp")
                    if isinstance(entry.get("timestamp"), str)
                    else None,
                    cwd=cwd if isinstance(cwd, str) else None,
                    branch=branch if isinstance(branch, str) and branch else None,
                    posture={"permission_mode": posture} if isinstance(posture, str) else {},
                )
            )
        return self.turns[-1]

    def add(self, entry: dict[str, Any]) -> None:
        kind = entry["type"]
        if kind == "assistant":
            self._assistant(entry)
        elif kind == "user":
            self._user(entry)
        else:
            self._system(entry)

    def _assistant(self, entry: dict[str, Any]) -> None:
        message = entry["message"]
        message_id = message.get("id")
        draft = self.by_message.get(message_id) if isinstance(message_id, str) else None
        if draft is None:
            draft = _StepDraft("agent", entry.get("timestamp"))
            if isinstance(message_id, str):
                self.by_message[message_id] = draft
                draft.extra["message_id"] = message_id
            self._turn(entry, new=False).steps.append(draft)
        model = message.get("model")
        if isinstance(model, str) and draft.model is None:
            draft.model = model
            if model != "<synthetic>":
                self.models[model] += 1
        usage = _usage(message.get("usage"))
        if usage is not None:
            # Every line of a split response repeats the usage; the last is the final count.
            draft.usage = usage
        if entry.get("isApiErrorMessage"):
            draft.kind = "api_error"
            self.labels.append(
                Label(
                    kind="provider_error",
                    source="assistant_api_error",
                    turn_index=len(self.turns) - 1,
                )
            )
        turn_index = len(self.turns) - 1
        content = message["content"]
        if isinstance(content, str):
            # A plain-string content is the whole reply, as one text block would be.
            content = [{"type": "text", "text": content}]
        for block in content:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text":
                text = block.get("text")
                if isinstance(text, str) and text.strip():
                    draft.texts.append(text.strip())
            elif btype == "thinking":
                # The signature is opaque provider state; only readable reasoning is kept.
                thought = block.get("thinking")
                if isinstance(thought, str) and thought:
                    draft.reasoning.append(thought)
            elif btype in ("tool_use", "server_tool_use"):
                call_id, name = block.get("id"), block.get("name")
                if not isinstance(call_id, str) or not isinstance(name, str):
                    continue
                raw = block.get("input")
                arguments = raw if isinstance(raw, dict) else {"_raw": raw}
                call = _CallDraft(call_id, name, arguments)
                draft.calls.append(call)
                self.calls[call_id] = (call, turn_index, draft)
        self.last_agent = draft

    def _user(self, entry: dict[str, Any]) -> None:
        content = entry["message"]["content"]
        texts: list[str] = []
        images = 0
        orphans: list[ToolResult] = []
        if isinstance(content, str):
            texts.append(content)
        else:
            details = entry.get("toolUseResult")
            if details is not None and sum(_is_result(b) for b in content) > 1:
                # One details object cannot belong to several results; attach it to none.
                details = None
            for block in content:
                if not isinstance(block, dict):
                    continue
                btype = block.get("type")
                if btype == "tool_result":
                    orphan = self._result(block, details)
                    if orphan is not None:
                        orphans.append(orphan)
                elif btype == "text" and isinstance(block.get("text"), str):
                    texts.append(block["text"])
                elif btype == "image":
                    images += 1
        if orphans:
            step = _StepDraft("user", entry.get("timestamp"), "orphan_tool_results")
            step.results.extend(orphans)
            self._turn(entry, new=False).steps.append(step)
        if not texts and not images:
            return
        text = "\n\n".join(texts)
        kind, starts_turn = prompt_kind(entry, text)
        step = _StepDraft("user", entry.get("timestamp"), kind)
        step.texts.append(text)
        if images:
            step.extra["images"] = images
        turn = self._turn(entry, new=starts_turn)
        turn.steps.append(step)
        if starts_turn and self.first_prompt is None:
            self.first_prompt = _command_line(text) if kind == "slash_command" else text
        elif kind == "interruption":
            if self.last_agent is not None:
                self.last_agent.interrupted = True
            self.labels.append(
                Label(
                    kind="interrupted",
                    source="user_interrupt_text",
                    turn_index=turn.index,
                    detail=text.strip(),
                )
            )

    def _result(self, block: dict[str, Any], tool_use_result: Any) -> ToolResult | None:
        """Attach a result to its call's step; return it instead when no call matches."""
        call_id = block.get("tool_use_id")
        found = self.calls.get(call_id) if isinstance(call_id, str) else None
        verdict = judge_result(block, found[0].name if found else None, tool_use_result)
        if found is None:
            self.warnings.append(f"tool result for unknown call {call_id!r}")
            return verdict.result
        call, turn_index, step = found
        call.status = verdict.status
        call.tool_use_result = tool_use_result
        result = verdict.result
        agent = self._agent_of(call, result, tool_use_result)
        if agent is not None:
            self.agent_ids[call.id] = agent
            ref = self.subagent_refs.get(agent)
            if ref is not None:
                result = result.model_copy(
                    update={"subagent_trajectory_ref": (SubagentRef.model_validate(ref),)}
                )
        self.results[call.id] = result
        step.results.append(result)
        if verdict.denial is not None:
            detail, source = verdict.denial
            self.labels.append(
                Label(
                    kind="denied",
                    source=source,
                    tool_call_id=call.id,
                    turn_index=turn_index,
                    detail=detail,
                )
            )
        return None

    def _agent_of(self, call: _CallDraft, result: ToolResult, tool_use_result: Any) -> str | None:
        """The sub-agent a call ran: ``toolUseResult.agentId``, else the ``agent_progress``
        records that named the call, else (Task/Agent only) the result's ``agentId:`` line."""
        if isinstance(tool_use_result, dict) and isinstance(tool_use_result.get("agentId"), str):
            return str(tool_use_result["agentId"])
        named = self.call_agents.get(call.id)
        if named is not None or call.name not in _AGENT_TOOLS:
            return named
        # The CLI's trailer comes last; the sub-agent's own report may quote other ids.
        found = _AGENT_ID_TEXT.findall(result.content)
        return str(found[-1]) if found else None

    def _system(self, entry: dict[str, Any]) -> None:
        subtype = entry.get("subtype")
        kind = _SYSTEM_KINDS.get(subtype, subtype) if isinstance(subtype, str) else None
        step = _StepDraft("system", entry.get("timestamp"), kind)
        content = entry.get("content")
        if isinstance(content, str):
            step.texts.append(content)
        metadata = entry.get("compactMetadata")
        if isinstance(metadata, dict):
            step.extra["compact"] = metadata
        errors = entry.get("hookErrors")
        if isinstance(errors, list) and errors:
            step.extra["hook_errors"] = errors
        self._turn(entry, new=False).steps.append(step)
        if subtype == "api_error":
            self.labels.append(
                Label(
                    kind="provider_error", source="system_api_error", turn_index=len(self.turns) - 1
                )
            )

    def finish(self) -> Thread:
        artifacts: list[Artifact] = []
        turns: list[Turn] = []
        total: Usage | None = None
        for turn in self.turns:
            for step in turn.steps:
                if step.usage is not None:
                    u = step.usage
                    total = (
                        u
                        if total is None
                        else Usage(
                            input_tokens=_add(total.input_tokens, u.input_tokens),
                            output_tokens=_add(total.output_tokens, u.output_tokens),
                            cached_tokens=_add(total.cached_tokens, u.cached_tokens),
                        )
                    )
                for call in step.calls:
                    self._call_facts(call, turn, artifacts)
            turns.append(
                Turn(
                    index=turn.index,
                    started_at=turn.started_at,
                    cwd=turn.cwd,
                    git=GitFacts(branch=turn.branch) if turn.branch else None,
                    posture=turn.posture,
                    steps=tuple(step.freeze() for step in turn.steps),
                )
            )
        return Thread(
            turns=tuple(turns),
            artifacts=tuple(artifacts),
            # Test labels are found last; order all labels by turn so "latest wins" holds.
            labels=tuple(sorted(self.labels, key=lambda label: label.turn_index or 0)),
            usage=total,
            models=self.models,
            first_prompt=self.first_prompt,
            agent_ids=self.agent_ids,
            warnings=self.warnings,
        )

    def _call_facts(self, call: _CallDraft, turn: _TurnDraft, artifacts: list[Artifact]) -> None:
        turn_index = turn.index
        if call.status == "dangling":
            self.warnings.append(f"tool call {call.id} ({call.name}) has no result")
        diff = build_diff(
            call.id, call.name, call.arguments, call.tool_use_result, call.status, turn.cwd
        )
        if diff is not None:
            artifacts.append(diff)
        if call.name != "Bash":
            return
        facts = test_run_facts(call.arguments, self.results.get(call.id))
        if facts is None:
            return
        artifacts.append(
            TestRun(
                tool_call_id=call.id,
                command=facts.command,
                exit_code=facts.exit_code,
                passed=facts.passed,
                failed=facts.failed,
                skipped=facts.skipped,
                errors=facts.errors,
                success=facts.success,
                origin="bash",
            )
        )
        if facts.success is not None:
            self.labels.append(
                Label(
                    kind="tests_passed" if facts.success else "tests_failed",
                    source="bash_test_run",
                    tool_call_id=call.id,
                    turn_index=turn_index,
                    detail=facts.command[:200],
                )
            )


def build_thread(
    entries: list[dict[str, Any]],
    subagent_refs: Mapping[str, dict[str, Any]] | None = None,
    call_agents: Mapping[str, str] | None = None,
) -> Thread:
    """Build turns, labels, artifacts and usage from one thread's lines, in order.

    ``subagent_refs`` maps a sub-agent id to its ATIF ``SubagentTrajectoryRef``
    (``{"session_id": ..., ...}``); a Task/Agent result that ran that sub-agent gets it as
    ``ToolResult.subagent_trajectory_ref``. ``call_agents`` maps a call id to the
    sub-agent id that ``agent_progress`` records named for it.
    """
    builder = _Builder(subagent_refs or {}, call_agents or {})
    for entry in entries:
        builder.add(entry)
    return builder.finish()
