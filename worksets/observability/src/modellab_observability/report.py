"""The two renderings of the figures: a JSON document and aligned plain-text tables.

The JSON layout is a contract for scripts; it is versioned by :data:`SCHEMA` and described
in the README. Keys are always present (``null`` where a figure is unknown, or where
``per_turn`` was not asked for), so a script never has to test for a key.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from modellab.workset import shown
from modellab_observability.stats import (
    TOKEN_KINDS,
    Figures,
    SessionStats,
    Totals,
    TurnStats,
)

__all__ = ["SCHEMA", "UNKNOWN", "as_json", "render_tables", "short_ids"]

#: Names the JSON layout; bumped on any incompatible change.
SCHEMA = "modellab-observability.stats/1"
#: How a table shows a figure the source did not record.
UNKNOWN = "?"


# -- JSON --------------------------------------------------------------------------------


def _round(value: float | None, digits: int) -> float | None:
    # Sums of floats pick up noise in the last digits (0.1 + 0.2); nobody needs it.
    return None if value is None else round(value, digits)


def _figures_json(figures: Figures) -> dict[str, Any]:
    return {
        "tokens": {kind: getattr(figures.tokens, kind) for kind in TOKEN_KINDS},
        "cost_usd": _round(figures.cost_usd, 6),
        "latency": {
            "wall_s": _round(figures.wall_s, 3),
            "turns_timed": figures.turns_timed,
            "tool_s": _round(figures.tool_s, 3),
            "tool_calls_timed": figures.tool_calls_timed,
            "tool_max_s": _round(figures.tool_max_s, 3),
        },
        "tools": {
            "calls": figures.tool_calls,
            "failed": figures.tool_failures,
            "by_status": dict(figures.by_status),
            "by_name": {
                name: {"calls": counts.calls, "failed": counts.failed}
                for name, counts in figures.by_tool.items()
            },
        },
        "denials": figures.denials,
        "interruptions": figures.interruptions,
    }


def _turn_json(turn: TurnStats) -> dict[str, Any]:
    return {
        "index": turn.index,
        "started_at": turn.started_at,
        **_figures_json(turn.figures),
        "interrupted": turn.interrupted,
        "outcome": turn.outcome,
    }


def _session_json(session: SessionStats, per_turn: bool) -> dict[str, Any]:
    return {
        "id": session.id,
        "source": session.source,
        "title": session.title,
        "created_at": session.created_at,
        "model": session.model,
        "outcome": session.outcome,
        "turns": session.figures.turns,
        **_figures_json(session.figures),
        "branch_steps": session.branch_steps,
        "subagents": [_session_json(sub, per_turn) for sub in session.subagents],
        "per_turn": [_turn_json(turn) for turn in session.turns] if per_turn else None,
    }


def as_json(
    sessions: Sequence[SessionStats],
    totals: Totals,
    *,
    selection: dict[str, Any],
    skipped: Sequence[dict[str, str]] = (),
    per_turn: bool = False,
) -> dict[str, Any]:
    """The whole report as one JSON-ready mapping (layout: README, "JSON")."""
    return {
        "schema": SCHEMA,
        "selection": selection,
        "sessions": [_session_json(session, per_turn) for session in sessions],
        "totals": {
            "sessions": totals.sessions,
            "subagents": totals.subagents,
            "turns": totals.figures.turns,
            **_figures_json(totals.figures),
            "outcomes": dict(totals.outcomes),
            "known_in": dict(totals.known_in),
        },
        "skipped": list(skipped),
    }


# -- tables ------------------------------------------------------------------------------


def _count(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value:,}"


def _cost(value: float | None) -> str:
    if value is None:
        return UNKNOWN
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return UNKNOWN
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    text: Collection[int] = (0,),
    footer: Sequence[Sequence[str]] = (),
    max_width: int = 40,
) -> str:
    """Align cells: the ``text`` columns (names) to the left, figures to the right so their
    digits line up. Long cells are cut with an ellipsis; a rule sets the footer apart.
    Cells hold what sessions recorded (titles, tool names): each is shown escaped, so none
    can move the cursor or fake a line."""

    def cut(cell: str) -> str:
        cell = shown(cell)
        return cell if len(cell) <= max_width else cell[: max_width - 1] + "…"

    body = [[cut(cell) for cell in row] for row in rows]
    foot = [[cut(cell) for cell in row] for row in footer]
    widths = [len(h) for h in headers]
    for row in (*body, *foot):
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i in text else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = line(["-" * w for w in widths])
    out = [line(headers), rule, *(line(row) for row in body)]
    if foot:
        out.extend([rule, *(line(row) for row in foot)])
    return "\n".join(out)


def short_ids(ids: Sequence[str], minimum: int = 8) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` characters) that no other id shares,
    as git abbreviates commits; any unique prefix works with ``--ids``."""
    distinct = sorted(set(ids))
    short: dict[str, str] = {}
    for position, ident in enumerate(distinct):
        # In sorted order the ids sharing the longest prefix with this one are its neighbours.
        neighbours = distinct[max(position - 1, 0) : position + 2]
        shared = max(
            (_common_prefix(ident, other) for other in neighbours if other != ident), default=0
        )
        short[ident] = ident[: max(minimum, shared + 1)]
    return short


def _common_prefix(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def _usage_cells(figures: Figures) -> list[str]:
    return [
        _count(figures.turns),
        *(_count(getattr(figures.tokens, kind)) for kind in TOKEN_KINDS),
        _cost(figures.cost_usd),
        _duration(figures.wall_s),
        _duration(figures.tool_s),
    ]


def _tool_cells(figures: Figures) -> list[str]:
    return [
        _count(figures.tool_calls),
        _count(figures.tool_failures),
        _count(figures.denials),
        _count(figures.interruptions),
    ]


_USAGE_HEADERS = ("turns", *TOKEN_KINDS, "cost", "wall", "tool time")
_TOOL_HEADERS = ("tool calls", "failed", "denied", "interrupted")


def _rows(sessions: Sequence[SessionStats]) -> list[tuple[str, SessionStats]]:
    """(name to show, figures) of each session, then its sub-agents indented beneath it.

    A sub-agent's id usually extends its parent's, so it is shown by the part that differs.
    """
    short = short_ids([s.id for s in sessions])
    rows: list[tuple[str, SessionStats]] = []

    def add(session: SessionStats, parent: SessionStats, depth: int) -> None:
        own = session.id.removeprefix(parent.id).lstrip("-/@:") or session.id
        rows.append(("  " * depth + "↳ " + own, session))
        for sub in session.subagents:
            add(sub, session, depth + 1)

    for session in sessions:
        rows.append((short[session.id], session))
        for sub in session.subagents:
            add(sub, session, 1)
    return rows


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _turn_table(session: SessionStats) -> str:
    rows = [
        [
            str(turn.index),
            (turn.started_at or UNKNOWN)[:19].replace("T", " "),
            *_usage_cells(turn.figures)[1:],
            *_tool_cells(turn.figures)[:3],
            "yes" if turn.interrupted else "no",
            turn.outcome,
        ]
        for turn in session.turns
    ]
    headers = ("turn", "started", *_USAGE_HEADERS[1:], *_TOOL_HEADERS, "outcome")
    return _table(headers, rows, text=(1, len(headers) - 2, len(headers) - 1))


def render_tables(
    sessions: Sequence[SessionStats], totals: Totals, *, per_turn: bool = False
) -> str:
    """The report for a terminal: usage and tool tables, tools by name, outcomes."""
    rows = _rows(sessions)
    counted = [_plural(totals.sessions, "session")]
    if totals.subagents:
        counted.append(_plural(totals.subagents, "sub-agent"))
    total_label = f"total ({', '.join(counted)})"
    usage = _table(
        ("session", "source", *_USAGE_HEADERS),
        [[name, s.source, *_usage_cells(s.figures)] for name, s in rows],
        text=(0, 1),
        footer=[[total_label, "", *_usage_cells(totals.figures)]],
    )
    tools = _table(
        ("session", *_TOOL_HEADERS, "outcome", "title"),
        [[name, *_tool_cells(s.figures), s.outcome, s.title or ""] for name, s in rows],
        text=(0, 5, 6),
        footer=[[total_label, *_tool_cells(totals.figures), "", ""]],
    )
    by_name = _table(
        ("tool", "calls", "failed"),
        [
            [name, _count(counts.calls), _count(counts.failed)]
            for name, counts in sorted(
                totals.figures.by_tool.items(), key=lambda item: (-item[1].calls, item[0])
            )
        ]
        or [["(no tool calls)", "", ""]],
    )
    outcomes = ", ".join(f"{count} {name}" for name, count in totals.outcomes.items())
    parts = [usage, "", tools, "", by_name, "", f"Outcomes: {outcomes}."]
    if per_turn:
        for _, session in rows:
            title = session.title or ""
            title = title if len(title) <= 60 else title[:59] + "…"
            heading = f"Turns of {shown(session.id)}" + (f" ({shown(title)})" if title else "")
            parts.extend(["", heading, _turn_table(session) if session.turns else "(no turns)"])
    parts.extend(
        [
            "",
            f"{UNKNOWN} = not recorded by the source (unknown, not zero). Tokens: input includes "
            "cached, output includes reasoning. Wall: summed turn wall time.",
        ]
    )
    return "\n".join(parts)
