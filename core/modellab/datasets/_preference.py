"""Preference pairs and unpaired (KTO) rows, taken from the actions inside a trace.

**Same step.** A pair is an agent tool call that failed, and the agent's next action after
it saw that failure, when that action is an attempt at the same step and succeeded:

1. *Failed*: the call's status is ``error``, or its result is an error (``is_error``), exited
   non-zero, or is a test run whose counts say it failed. Denials and user aborts are not
   the agent's failures and never start a pair.
2. *Next action*: the first tool call of the first later agent step in the same turn. Calls
   made in the same step as the failure were issued before its result came back, and a new
   user prompt changes the task, so neither counts.
3. *Same step*: both calls use the same tool (its canonical name when the importer gave
   one) on the same target. The target is the first path argument (``path``,
   ``file_path``, ``filename``, ``file``); else the command family of a ``command`` or
   ``cmd`` argument (:func:`command_family`); else the tool alone.
4. *Succeeded*: the retry has a result that is not an error, exited 0 (or gave no code), and
   is not a failed test run. Calls identical to the failure (same arguments) are skipped:
   a flaky retry teaches no preference.

The row's ``prompt`` is the conversation before the failed call's step (so neither action
is in it), ``rejected`` the failed call and ``chosen`` the retry, each a single assistant
message holding only the call: the narration beside a retry usually talks about the
failure, which the prompt does not show. Every failed call that does not make a pair is
counted under one of :data:`SKIP_REASONS`.

**Unpaired rows** label each agent step (an assistant message with its text and calls,
the conversation before it as the prompt) ``True`` when its turn succeeded and ``False``
when it failed; a turn with no verdict of its own takes the session's; steps of turns
with neither are counted as ``no-outcome`` and left out.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modellab.datasets._rows import (
    PATH_KEYS,
    call_message,
    step_messages,
    system_messages,
    tool_definitions,
)
from modellab.datasets._select import turn_outcomes
from modellab.traces import Session, TestRun, ToolCall, ToolResult

__all__ = [
    "SKIP_REASONS",
    "Pair",
    "Unpaired",
    "command_family",
    "find_pairs",
    "find_unpaired",
    "render_pairs",
    "render_unpaired",
]

#: Why a failed call made no pair.
SKIP_REASONS = (
    "no-later-action-in-turn",
    "different-step",
    "retry-failed",
    "retry-outcome-unknown",
    "identical-action",
)
_NOT_AGENT_FAILURES = {"denied", "aborted", "cancelled"}
_SHELL_PREFIXES = {"sudo", "time", "env", "nohup", "exec", "command"}
_SETUP = {"cd", "pushd", "popd", "source", ".", "export", "set", "true"}
_RUNNERS = {"uv", "poetry", "pipenv", "pdm", "hatch", "rye"}
#: Programs whose first argument is the sub-command that names the step (``npm test``).
_MULTIPLEXERS = {
    "npm", "yarn", "pnpm", "bun", "cargo", "go", "git", "docker", "make", "dotnet", "mvn",
    "gradle", "just", "tox", "nox",
}  # fmt: skip
_SEGMENTS = re.compile(r"&&|\|\||;|\||\n")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def command_family(command: str) -> str:
    """The program a shell command runs, as the step it attempts.

    The first segment (split at ``&&``, ``||``, ``;``, ``|``) that is not set-up (``cd``,
    ``source``, ``export``) counts; environment assignments and wrappers (``sudo``,
    ``env``, ``time``) are skipped; ``python -m X`` and ``uv run X`` are ``X``; a
    multiplexer keeps its sub-command (``npm test``, ``cargo build``). ``pytest -q`` and
    ``python -m pytest tests/`` are both ``pytest``.
    """
    for segment in _SEGMENTS.split(command):
        words = [w for w in segment.split() if not _ASSIGNMENT.match(w)]
        while words and os.path.basename(words[0]) in _SHELL_PREFIXES and len(words) > 1:
            words = words[1:]
        if not words or os.path.basename(words[0]) in _SETUP:
            continue
        head = os.path.basename(words[0])
        if head in _RUNNERS and len(words) > 2 and words[1] == "run":
            words = words[2:]
            head = os.path.basename(words[0])
        if head.startswith("python") and len(words) > 2 and words[1] == "-m":
            return words[2]
        if head in _MULTIPLEXERS and len(words) > 1 and not words[1].startswith("-"):
            return f"{head} {words[1]}"
        return head
    return ""


def _step_key(call: ToolCall) -> tuple[str, str, str]:
    tool = call.canonical_name or call.name
    for key in PATH_KEYS:
        value = call.arguments.get(key)
        if isinstance(value, str) and value:
            return tool, "path", value
    for key in ("command", "cmd"):
        value = call.arguments.get(key)
        if isinstance(value, str) and value:
            return tool, "command", command_family(value)
    return tool, "tool", ""


@dataclass(frozen=True, slots=True)
class _Action:
    turn: int  # position in session.turns
    step: int  # position in turn.steps
    call: ToolCall
    result: ToolResult | None
    test_run: TestRun | None


def _verdict(action: _Action) -> bool | None:
    """``False`` failed, ``True`` succeeded, ``None`` neither (no result, denied, aborted)."""
    result, call = action.result, action.call
    if call.status in {"denied", "cancelled", "not_executed", "dangling"} or result is None:
        return None
    if result.error_kind in _NOT_AGENT_FAILURES:
        return None
    if call.status == "error" or result.is_error or result.exit_code not in (None, 0):
        return False
    return not (action.test_run is not None and action.test_run.success is False)


def _actions(session: Session) -> list[list[_Action]]:
    """Each turn's tool calls, in order, with their results and test runs."""
    runs = {
        a.tool_call_id: a for a in session.artifacts if isinstance(a, TestRun) and a.tool_call_id
    }
    turns: list[list[_Action]] = []
    for t, turn in enumerate(session.turns):
        actions: list[_Action] = []
        for s, step in enumerate(turn.steps):
            if step.source != "agent":
                continue
            results = {r.call_id: r for r in step.tool_results if r.call_id is not None}
            unkeyed = [r for r in step.tool_results if r.call_id is None]
            for call in step.tool_calls:
                result = results.get(call.id) or (unkeyed.pop(0) if unkeyed else None)
                actions.append(_Action(t, s, call, result, runs.get(call.id)))
        turns.append(actions)
    return turns


@dataclass(frozen=True, slots=True)
class Pair:
    """A failed call and its successful retry, by position in the session."""

    turn: int
    step: int  # the failed call's step: the prompt ends before it
    rejected: ToolCall
    chosen: ToolCall


def find_pairs(session: Session) -> tuple[list[Pair], Counter[str]]:
    """The pairs in ``session``, and why each other failed call made none."""
    pairs: list[Pair] = []
    skipped: Counter[str] = Counter()
    for actions in _actions(session):
        for position, failed in enumerate(actions):
            if _verdict(failed) is not False:
                continue
            retry = next((a for a in actions[position + 1 :] if a.step > failed.step), None)
            if retry is None:
                skipped["no-later-action-in-turn"] += 1
            elif _step_key(retry.call) != _step_key(failed.call):
                skipped["different-step"] += 1
            elif (verdict := _verdict(retry)) is not True:
                skipped["retry-failed" if verdict is False else "retry-outcome-unknown"] += 1
            elif retry.call.arguments == failed.call.arguments:
                skipped["identical-action"] += 1
            else:
                pairs.append(Pair(failed.turn, failed.step, failed.call, retry.call))
    return pairs, skipped


@dataclass(frozen=True, slots=True)
class Unpaired:
    """An agent step to label, by position in the session."""

    turn: int
    step: int
    label: bool


def find_unpaired(session: Session) -> tuple[list[Unpaired], Counter[str]]:
    """Every agent step with a verdict, and how many had none."""
    verdicts = turn_outcomes(session)
    fallback = session.outcome
    found: list[Unpaired] = []
    skipped: Counter[str] = Counter()
    for t, turn in enumerate(session.turns):
        outcome = verdicts[turn.index]
        if outcome not in ("success", "failure"):
            outcome = fallback
        for s, step in enumerate(turn.steps):
            if step.source != "agent" or not (step.text or step.tool_calls):
                continue
            if outcome in ("success", "failure"):
                found.append(Unpaired(t, s, outcome == "success"))
            else:
                skipped["no-outcome"] += 1
    return found, skipped


def _prefixes(
    session: Session, system_prompt: str | None, points: set[tuple[int, int]]
) -> Iterator[tuple[tuple[int, int], list[dict[str, Any]]]]:
    """The conversation before each ``(turn, step)`` in ``points``, walked once."""
    messages = system_messages(session, system_prompt)
    for t, turn in enumerate(session.turns):
        for s, step in enumerate(turn.steps):
            if (t, s) in points:
                yield (t, s), list(messages)
            messages.extend(step_messages(step))


def render_pairs(
    session: Session,
    pairs: list[Pair],
    *,
    system_prompt: str | None,
    declared_tools: Mapping[str, dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """TRL conversational preference rows: ``prompt``, ``chosen``, ``rejected``, ``tools``."""
    by_point: dict[tuple[int, int], list[Pair]] = {}
    for pair in pairs:
        by_point.setdefault((pair.turn, pair.step), []).append(pair)
    for point, prompt in _prefixes(session, system_prompt, set(by_point)):
        for pair in by_point[point]:
            chosen = [call_message("", [pair.chosen])]
            rejected = [call_message("", [pair.rejected])]
            tools = tool_definitions([*prompt, *chosen, *rejected], declared_tools)
            yield {"prompt": prompt, "chosen": chosen, "rejected": rejected, "tools": tools}


def render_unpaired(
    session: Session,
    steps: list[Unpaired],
    *,
    system_prompt: str | None,
    declared_tools: Mapping[str, dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """TRL unpaired preference rows: ``prompt``, ``completion``, ``label``, ``tools``."""
    labels = {(u.turn, u.step): u.label for u in steps}
    for (t, s), prompt in _prefixes(session, system_prompt, set(labels)):
        step = session.turns[t].steps[s]
        completion = [call_message(step.text, step.tool_calls)]
        tools = tool_definitions([*prompt, *completion], declared_tools)
        yield {"prompt": prompt, "completion": completion, "label": labels[t, s], "tools": tools}
