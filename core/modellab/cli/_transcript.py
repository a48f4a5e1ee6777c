"""Render a session as a transcript a person can read in a terminal.

Everything in a session came from outside (the agent, the model, tool output, file names),
so the transcript is shown escaped (:func:`modellab._internal.term.shown`): line feeds and
tabs stay readable, every other control character is written visibly. One-line fields
(title, model, paths, tool names) escape line feeds too, so they cannot fake a line.
"""

from __future__ import annotations

import json
import textwrap

from modellab._internal.term import shown
from modellab.traces import Session, Step

__all__ = ["render_session"]

_SHORT = 600


def _clip(text: str, full: bool) -> str:
    if full or len(text) <= _SHORT:
        return text
    return text[:_SHORT] + f"\n… ({len(text) - _SHORT} more characters; --full shows all)"


def _indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text, prefix, lambda _line: True)


def _step_lines(step: Step, full: bool) -> list[str]:
    who = {"user": "USER", "agent": "AGENT", "system": "SYSTEM"}[step.source]
    tags = [t for t in (step.kind, "interrupted" if step.interrupted else None) if t]
    head = f"{who}" + (f" ({', '.join(tags)})" if tags else "")
    if step.timestamp:
        head += f"  {shown(step.timestamp)}"
    lines = [head]
    if step.reasoning:
        lines.append(_indent("[reasoning] " + _clip(step.reasoning, full)))
    if step.text:
        lines.append(_indent(_clip(step.text, full)))
    results = {r.call_id: r for r in step.tool_results}
    for call in step.tool_calls:
        args = json.dumps(call.arguments, ensure_ascii=False)
        # The shared tool name, as every listing shows it; the agent's own name beside it.
        recorded = f"  (recorded as {shown(call.name)})" if call.display_name != call.name else ""
        lines.append(
            _indent(
                f"-> {shown(call.display_name)}({_clip(args, full)})  [{call.status}]{recorded}"
            )
        )
        result = results.pop(call.id, None)
        if result is not None:
            status = (
                f"exit {result.exit_code}"
                if result.exit_code is not None
                else shown(result.error_kind or ("error" if result.is_error else "ok"))
            )
            lines.append(_indent(f"<- [{status}] " + _clip(result.content, full), "       "))
    for result in results.values():
        lines.append(_indent(f"<- [{shown(result.call_id)}] " + _clip(result.content, full)))
    return lines


def render_session(session: Session, *, full: bool = False) -> str:
    """The whole session: a header, then each turn's steps, then artifacts and labels.

    Shown escaped: no control character from the session reaches the terminal raw.
    """
    out = [
        f"Session {shown(session.id)}  ({shown(session.source)})",
        f"  title:   {shown(session.title or '-')}",
        f"  dates:   {shown(session.created_at or '?')} .. {shown(session.updated_at or '?')}",
        f"  model:   {shown(session.model or '-')}   "
        f"provider: {shown(session.model_provider or '-')}",
        f"  cwd:     {shown(session.cwd or '-')}",
        f"  outcome: {session.outcome}   labels: "
        + (", ".join(sorted({label.kind for label in session.labels})) or "-"),
        f"  from:    {shown(session.provenance.source_path)} "
        f"({session.provenance.source_format}, parser {session.provenance.parser_version})",
    ]
    if session.system_prompt:
        out += ["", "SYSTEM PROMPT", _indent(_clip(session.system_prompt, full))]
    for turn in session.turns:
        facts = [shown(f) for f in (turn.cwd, turn.git.branch if turn.git else None) if f]
        out += ["", f"=== Turn {turn.index + 1}" + (f"  ({' | '.join(facts)})" if facts else "")]
        for step in turn.steps:
            out += _step_lines(step, full)
    if session.artifacts:
        out += ["", "ARTIFACTS"]
        for artifact in session.artifacts:
            if artifact.type == "diff":
                where = (
                    f"{shown(artifact.path or '?')} "
                    f"({shown(artifact.origin)}, call {shown(artifact.tool_call_id)})"
                )
                out.append(f"  diff {where}")
            else:
                counts = f"passed={artifact.passed} failed={artifact.failed}"
                out.append(
                    f"  tests `{shown(artifact.command)}` exit={artifact.exit_code} {counts} "
                    f"success={artifact.success}"
                )
    if session.branches:
        out += [
            "",
            f"BRANCHES: {len(session.branches)} off the active path "
            f"({', '.join(shown(b.reason) for b in session.branches)})",
        ]
    if session.subagents:
        out += ["", f"SUB-AGENTS: {len(session.subagents)}"]
        out += [
            f"  {shown(sub.id)}: {len(sub.turns)} turns, {sub.tool_call_count} tool calls"
            for sub in session.subagents
        ]
    return shown("\n".join(out), lines=True)
