"""Round trip between :class:`Session` and ATIF (the Agent Trajectory Interchange Format).

ATIF is a flat list of steps. Everything Model Lab knows that ATIF has no field for lives
under ``extra["modellab"]``: at the root (session facts, turns, labels, artifacts,
provenance, branches, sub-agents) and on each step (its turn, kind and per-call details).
Only fields every ATIF 1.x reader accepts are used outside ``extra``, so strict readers of
older versions still load the file. A tool result that ran a sub-agent names its trajectory
in ATIF's own ``observation.results[i].subagent_trajectory_ref`` (a list of
``{"session_id", "trajectory_path"?, "extra"?}``), which ATIF has had since 1.0.

``from_atif(to_atif(s)) == s`` holds for every session; a test checks it on every importer's
output.
"""

from __future__ import annotations

from typing import Any

from modellab._internal.formats import ATIF_SCHEMA_VERSION
from modellab.traces._model import (
    Agent,
    Branch,
    Provenance,
    Session,
    Step,
    SubagentRef,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
)

__all__ = ["ATIF_SCHEMA_VERSION", "EXTRA_KEY", "from_atif", "to_atif"]

#: The key under every ``extra`` object that holds Model Lab's own fields.
EXTRA_KEY = "modellab"
#: Version of the layout under ``extra["modellab"]``; bump on incompatible changes.
EXTRA_LAYOUT_VERSION = 1

_SYSTEM_PROMPT_KIND = "system_prompt"


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


# Usage field -> ATIF key, per step (``metrics``) and per trajectory (``final_metrics``).
_STEP_KEYS = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "cached_tokens": "cached_tokens",
    "cost_usd": "cost_usd",
}
_FINAL_KEYS = {
    "input_tokens": "total_prompt_tokens",
    "output_tokens": "total_completion_tokens",
    "cached_tokens": "total_cached_tokens",
    "cost_usd": "total_cost_usd",
}


def _usage_to_atif(usage: Usage, keys: dict[str, str]) -> dict[str, Any]:
    """ATIF has no reasoning-token field, so that one goes under ``extra``."""
    out = _drop_none({atif: getattr(usage, ours) for ours, atif in keys.items()})
    if usage.reasoning_tokens is not None:
        out["extra"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def _usage_from_atif(raw: dict[str, Any], keys: dict[str, str]) -> Usage:
    fields = {ours: raw.get(atif) for ours, atif in keys.items()}
    return Usage(**fields, reasoning_tokens=(raw.get("extra") or {}).get("reasoning_tokens"))


def _metrics(usage: Usage | None) -> dict[str, Any] | None:
    return None if usage is None else _usage_to_atif(usage, _STEP_KEYS)


def _usage(metrics: dict[str, Any] | None) -> Usage | None:
    return None if metrics is None else _usage_from_atif(metrics, _STEP_KEYS)


def _result_to_atif(result: ToolResult) -> dict[str, Any]:
    """An ATIF ``ObservationResult``: the content, and the sub-agent refs when there are any."""
    out: dict[str, Any] = {"source_call_id": result.call_id, "content": result.content}
    if result.subagent_trajectory_ref:
        out["subagent_trajectory_ref"] = [
            ref.model_dump(exclude_defaults=True) for ref in result.subagent_trajectory_ref
        ]
    return out


def _result_from_atif(raw: dict[str, Any], detail: dict[str, Any]) -> ToolResult:
    refs = tuple(SubagentRef(**ref) for ref in raw.get("subagent_trajectory_ref") or ())
    return ToolResult(
        call_id=raw.get("source_call_id"),
        content=raw.get("content") or "",
        subagent_trajectory_ref=refs,
        **detail,
    )


def _step_to_atif(step: Step, step_id: int, turn: int | None) -> dict[str, Any]:
    ours: dict[str, Any] = {"turn": turn}
    if step.kind is not None:
        ours["kind"] = step.kind
    if step.interrupted:
        ours["interrupted"] = True
    if step.extra:
        ours["extra"] = step.extra
    out: dict[str, Any] = {"step_id": step_id, "source": step.source, "message": step.text}
    if step.timestamp is not None:
        out["timestamp"] = step.timestamp
    if step.model_name is not None:
        out["model_name"] = step.model_name
    if step.reasoning is not None:
        out["reasoning_content"] = step.reasoning
    if step.tool_calls:
        out["tool_calls"] = [
            {"tool_call_id": c.id, "function_name": c.name, "arguments": c.arguments}
            for c in step.tool_calls
        ]
        ours["tool_calls"] = [
            _drop_none({"canonical_name": c.canonical_name, "status": c.status})
            for c in step.tool_calls
        ]
    if step.tool_results:
        out["observation"] = {"results": [_result_to_atif(r) for r in step.tool_results]}
        ours["results"] = [
            r.model_dump(
                exclude={"call_id", "content", "subagent_trajectory_ref"}, exclude_defaults=True
            )
            for r in step.tool_results
        ]
    metrics = _metrics(step.usage)
    if metrics is not None:
        out["metrics"] = metrics
    out["extra"] = {EXTRA_KEY: ours}
    return out


def _step_from_atif(raw: dict[str, Any]) -> tuple[int | None, Step]:
    ours = raw.get("extra", {}).get(EXTRA_KEY, {})
    calls = tuple(
        ToolCall(
            id=call["tool_call_id"],
            name=call["function_name"],
            arguments=call.get("arguments") or {},
            **detail,
        )
        for call, detail in zip(raw.get("tool_calls", ()), ours.get("tool_calls", ()), strict=True)
    )
    results = tuple(
        _result_from_atif(result, d)
        for result, d in zip(
            raw.get("observation", {}).get("results", ()), ours.get("results", ()), strict=True
        )
    )
    step = Step(
        source=raw["source"],
        timestamp=raw.get("timestamp"),
        model_name=raw.get("model_name"),
        text=raw.get("message") or "",
        reasoning=raw.get("reasoning_content"),
        tool_calls=calls,
        tool_results=results,
        usage=_usage(raw.get("metrics")),
        interrupted=ours.get("interrupted", False),
        kind=ours.get("kind"),
        extra=ours.get("extra", {}),
    )
    return ours.get("turn"), step


def _steps_to_atif(steps: tuple[Step, ...], first_id: int = 1) -> list[dict[str, Any]]:
    return [_step_to_atif(step, first_id + n, None) for n, step in enumerate(steps)]


def to_atif(session: Session) -> dict[str, Any]:
    """Render a session as one ATIF trajectory (a JSON-ready dict)."""
    steps: list[dict[str, Any]] = []
    if session.system_prompt is not None:
        steps.append(
            {
                "step_id": 1,
                "source": "system",
                "message": session.system_prompt,
                "extra": {EXTRA_KEY: {"turn": None, "kind": _SYSTEM_PROMPT_KIND}},
            }
        )
    turns_meta: list[dict[str, Any]] = []
    for turn in session.turns:
        turns_meta.append(turn.model_dump(exclude={"steps"}, exclude_defaults=True))
        for step in turn.steps:
            steps.append(_step_to_atif(step, len(steps) + 1, turn.index))

    ours: dict[str, Any] = {
        "layout": EXTRA_LAYOUT_VERSION,
        "source": session.source,
        "turns": turns_meta,
        "outcome": session.outcome,
        "provenance": session.provenance.model_dump(exclude_defaults=True),
    }
    for key in ("title", "created_at", "updated_at", "model_provider", "cwd"):
        value = getattr(session, key)
        if value is not None:
            ours[key] = value
    if session.artifacts:
        ours["artifacts"] = [a.model_dump(exclude_defaults=False) for a in session.artifacts]
    if session.labels:
        ours["labels"] = [label.model_dump(exclude_defaults=True) for label in session.labels]
    if session.branches:
        ours["branches"] = [
            {**b.model_dump(exclude={"steps"}), "steps": _steps_to_atif(b.steps)}
            for b in session.branches
        ]
    if session.subagents:
        ours["subagents"] = [to_atif(sub) for sub in session.subagents]
    if session.extra:
        ours["extra"] = session.extra

    agent: dict[str, Any] = {"name": session.agent.name, "version": session.agent.version or ""}
    if session.model is not None:
        agent["model_name"] = session.model
    trajectory: dict[str, Any] = {
        "schema_version": ATIF_SCHEMA_VERSION,
        "session_id": session.id,
        "agent": agent,
        "steps": steps,
    }
    final = _final_metrics(session, len(steps))
    if final:
        trajectory["final_metrics"] = final
    trajectory["extra"] = {EXTRA_KEY: ours}
    return trajectory


def _final_metrics(session: Session, step_count: int) -> dict[str, Any]:
    final: dict[str, Any] = {"total_steps": step_count}
    if session.usage is not None:
        final.update(_usage_to_atif(session.usage, _FINAL_KEYS))
    return final


def _session_usage(final: dict[str, Any] | None) -> Usage | None:
    if not final or set(final) <= {"total_steps"}:
        return None
    return _usage_from_atif(final, _FINAL_KEYS)


def from_atif(trajectory: dict[str, Any]) -> Session:
    """Rebuild a session from a trajectory that :func:`to_atif` wrote.

    Raises ``KeyError`` or pydantic's ``ValidationError`` when the trajectory lacks Model
    Lab's ``extra`` layout or breaks the model's rules.
    """
    ours = trajectory["extra"][EXTRA_KEY]
    system_prompt: str | None = None
    by_turn: dict[int, list[Step]] = {}
    for raw in trajectory["steps"]:
        raw_ours = raw.get("extra", {}).get(EXTRA_KEY, {})
        if raw_ours.get("kind") == _SYSTEM_PROMPT_KIND and raw_ours.get("turn") is None:
            system_prompt = raw["message"]
            continue
        turn_index, step = _step_from_atif(raw)
        by_turn.setdefault(turn_index if turn_index is not None else -1, []).append(step)
    turns = tuple(
        Turn(**meta, steps=tuple(by_turn.get(meta["index"], ()))) for meta in ours["turns"]
    )
    branches = tuple(
        Branch(
            **{k: v for k, v in raw.items() if k != "steps"},
            steps=tuple(_step_from_atif(s)[1] for s in raw["steps"]),
        )
        for raw in ours.get("branches", ())
    )
    agent = trajectory["agent"]
    return Session(
        id=trajectory["session_id"],
        source=ours["source"],
        agent=Agent(name=agent["name"], version=agent.get("version") or None),
        title=ours.get("title"),
        created_at=ours.get("created_at"),
        updated_at=ours.get("updated_at"),
        model=agent.get("model_name"),
        model_provider=ours.get("model_provider"),
        cwd=ours.get("cwd"),
        system_prompt=system_prompt,
        turns=turns,
        artifacts=tuple(ours.get("artifacts", ())),
        labels=tuple(ours.get("labels", ())),
        outcome=ours["outcome"],
        usage=_session_usage(trajectory.get("final_metrics")),
        branches=branches,
        subagents=tuple(from_atif(sub) for sub in ours.get("subagents", ())),
        provenance=Provenance(**ours["provenance"]),
        extra=ours.get("extra", {}),
    )
