"""The PNG chart: tokens per session by kind, tool calls and failures, outcomes.

matplotlib is imported only while a chart is drawn, so the table and JSON paths never pay for
it, and drawing goes through a private Agg canvas: no pyplot, no global backend switch, no
window, and nothing left in matplotlib's global state.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modellab_observability.report import short_ids
from modellab_observability.stats import OUTCOMES, Figures, SessionStats, Totals

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MAX_SESSIONS", "write_chart"]

#: More bars than this are unreadable; the chart then shows the most recent ones.
MAX_SESSIONS = 60

# Colour-blind-safe (Okabe-Ito) colours, one per series.
_COLOURS = {
    "input, cached": "#56B4E9",
    "input, not cached": "#0072B2",
    "output": "#E69F00",
    "reasoning": "#D55E00",
    "tool calls": "#0072B2",
    "failed": "#D55E00",
    "denied": "#CC79A7",
    "success": "#009E73",
    "failure": "#D55E00",
    "interrupted": "#E69F00",
    "unknown": "#999999",
}


def _token_parts(figures: Figures) -> dict[str, int]:
    """Split tokens into parts that do not overlap, so stacking them adds up.

    ``input`` includes ``cached`` and ``output`` includes ``reasoning``; a part that is
    unknown draws as nothing (the table and JSON say "unknown").
    """
    tokens = figures.tokens
    cached = tokens.cached or 0
    reasoning = tokens.reasoning or 0
    return {
        "input, cached": cached,
        "input, not cached": max((tokens.input or 0) - cached, 0),
        "output": max((tokens.output or 0) - reasoning, 0),
        "reasoning": reasoning,
    }


def _draw_tokens(axes: Axes, labels: list[str], figures: list[Figures]) -> None:
    from matplotlib.ticker import EngFormatter, MaxNLocator

    positions = list(range(len(labels)))
    bottom = [0] * len(labels)
    for part in ("input, cached", "input, not cached", "output", "reasoning"):
        heights = [_token_parts(f)[part] for f in figures]
        axes.bar(positions, heights, bottom=bottom, label=part, color=_COLOURS[part])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    # From 0, and not collapsed to nothing when no session recorded any token.
    axes.set_ylim(0, max(max(bottom, default=0), 1) * 1.05)
    for x, f in zip(positions, figures, strict=True):
        if all(getattr(f.tokens, kind) is None for kind in ("input", "output")):
            axes.annotate("?", (x, 0), ha="center", va="bottom", color="#555555")
    axes.set_title("Tokens per session (? = not recorded)")
    axes.set_ylabel("tokens")
    axes.yaxis.set_major_formatter(EngFormatter())  # 1.5M, not 1.5 with a 1e7 offset
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # never "800 m" tokens
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")  # off the bars


def _draw_tools(axes: Axes, labels: list[str], figures: list[Figures]) -> None:
    from matplotlib.ticker import MaxNLocator

    width = 0.27
    series = {
        "tool calls": [f.tool_calls for f in figures],
        "failed": [f.tool_failures for f in figures],
        "denied": [f.denials for f in figures],
    }
    for offset, (name, values) in zip((-width, 0.0, width), series.items(), strict=True):
        positions = [x + offset for x in range(len(labels))]
        axes.bar(positions, values, width=width, label=name, color=_COLOURS[name])
    axes.set_title("Tool calls, failures and approval denials per session")
    axes.set_ylabel("calls")
    # Counts: from 0, whole numbers, and a visible axis even when every count is 0.
    highest = max((v for values in series.values() for v in values), default=0)
    axes.set_ylim(0, max(highest, 1) * 1.05)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize="small")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")  # off the bars


def _draw_outcomes(axes: Axes, totals: Totals) -> None:
    from matplotlib.ticker import MaxNLocator

    names = list(OUTCOMES)
    counts = [totals.outcomes.get(name, 0) for name in names]
    axes.barh(names, counts, color=[_COLOURS[name] for name in names])
    for y, count in enumerate(counts):
        axes.annotate(
            str(count), (count, y), xytext=(3, 0), textcoords="offset points", va="center"
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"Outcomes of {totals.sessions} session(s)")
    axes.set_xlabel("sessions")
    axes.invert_yaxis()


def _matplotlib_config_in_data_folder() -> None:
    """Point matplotlib's cache at the workset's own data folder, when it has one.

    The core runs a workset confined to its data folder (``MODELLAB_WORKSET_DATA``):
    matplotlib's default font cache (``~/.cache/matplotlib``) would be refused there.
    """
    data = os.environ.get("MODELLAB_WORKSET_DATA")
    if data and "MPLCONFIGDIR" not in os.environ:
        os.environ["MPLCONFIGDIR"] = str(Path(data) / "matplotlib")


def write_chart(sessions: Sequence[SessionStats], totals: Totals, path: Path) -> int:
    """Draw the chart and write it to ``path`` as a PNG.

    Each session's bars include its sub-agents. Sessions are drawn oldest first, at most
    :data:`MAX_SESSIONS` of them (the most recent); the outcome panel covers all. Returns the
    number of sessions drawn. The PNG is drawn in memory first and written to ``path`` only
    once complete, so a failure while drawing leaves ``path`` as it was. It is written in
    place, not through a temporary file beside it: the workset's child may write the path
    it is given, and nothing else in that folder.
    """
    _matplotlib_config_in_data_folder()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = list(sessions)[-MAX_SESSIONS:]
    short = short_ids([s.id for s in shown])
    labels = [short[s.id] for s in shown]
    figures = [s.with_subagents() for s in shown]

    width = min(max(8.0, 3.0 + 0.4 * len(shown)), 30.0)
    figure = Figure(figsize=(width, 11.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    tokens_axes, tools_axes, outcome_axes = figure.subplots(
        3, 1, gridspec_kw={"height_ratios": [3.0, 2.5, 1.4]}
    )
    tokens_axes.sharex(tools_axes)  # one column per session in both panels
    _draw_tokens(tokens_axes, labels, figures)
    tokens_axes.tick_params(labelbottom=False)
    _draw_tools(tools_axes, labels, figures)
    _draw_outcomes(outcome_axes, totals)
    title = "Model Lab observability"
    if len(shown) < len(sessions):
        title += f": the {len(shown)} most recent of {len(sessions)} sessions"
    figure.suptitle(title)

    png = io.BytesIO()
    figure.savefig(png, format="png")
    with path.open("wb") as out:
        out.write(png.getvalue())
        out.flush()
        os.fsync(out.fileno())
    return len(shown)
