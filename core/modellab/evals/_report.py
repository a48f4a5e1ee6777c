"""Reports of a comparison: a terminal summary and one self-contained HTML file.

Both read the JSON shape of ``Comparison.to_json()`` (not the dataclass), so a report can be
rendered again later from a saved ``comparison.json``. Case ids, slice values, labels and meta
come from user data: the HTML escapes every one of them and forbids scripts and external
loads with a Content-Security-Policy; the terminal replaces control characters, so a slice
value cannot move the cursor or recolour the screen.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from modellab._internal.files import atomic_write_bytes
from modellab._internal.term import render_table

__all__ = ["render_html", "render_terminal", "write_html"]

_ANSI = {"better": "\x1b[32m", "worse": "\x1b[31m", "small": "\x1b[2m", "bold": "\x1b[1m"}
_RESET = "\x1b[0m"


def render_terminal(
    comparison_json: Mapping[str, Any],
    candidate_label: str,
    baseline_label: str,
    *,
    color: bool,
) -> str:
    """A plain-text summary: scores, difference with its interval, McNemar, MDE, slices.

    Args:
        comparison_json: the output of ``Comparison.to_json()``.
        candidate_label: how to name the candidate (a model or run name).
        baseline_label: how to name the baseline.
        color: add ANSI colours (green better, red worse, dim too small); only for a terminal.

    Returns:
        The summary, lines joined with newlines, without a trailing newline. Slice tables are
        sorted by n, largest first; slices whose interval lies entirely below zero are marked
        ``WORSE``.
    """
    c = comparison_json
    ci = c["ci"]
    mcnemar = c["mcnemar"]
    verdict = _verdict(ci["low"], ci["high"], too_small=False)
    verdict_text = {"better": "better", "worse": "WORSE", "even": "no clear difference"}[verdict]
    if color and verdict != "even":
        verdict_text = _ANSI[verdict] + verdict_text + _RESET
    level = _percent(ci["level"])
    names = _plain(candidate_label), _plain(baseline_label)
    pad = max(map(len, names))
    rows = [
        ("Candidate", f"{names[0]:<{pad}}  {_score(c['candidate_score'])}"),
        ("Baseline", f"{names[1]:<{pad}}  {_score(c['baseline_score'])}"),
        (
            "Difference",
            f"{_signed(c['difference'])}  {level} CI {_interval(ci['low'], ci['high'])}"
            f"  {verdict_text}",
        ),
        (
            "Cases",
            f"{c['n']} in {c['sessions']} sessions"
            f" (interval: {ci['resamples']} resamples of sessions, seed {ci['seed']})",
        ),
        (
            "McNemar",
            f"b={mcnemar['b']} baseline only, c={mcnemar['c']} candidate only;"
            f" p={_p(mcnemar['p_value'])} one-sided, {_p(mcnemar['p_value_two_sided'])} two-sided",
        ),
        (
            "Detectable",
            f"{_score(c['mde'])} (smallest true difference found with power {c['power']:g}"
            f" at one-sided alpha {c['alpha']:g})",
        ),
    ]
    sessions = c.get("per_session", [])
    if sessions:
        better = sum(1 for s in sessions if s["difference"] > 0)
        worse = sum(1 for s in sessions if s["difference"] < 0)
        rows.append(
            (
                "Sessions",
                f"candidate better in {better}, worse in {worse}, even in "
                f"{len(sessions) - better - worse} (each session in --json and --html)",
            )
        )
    out = [f"{name:<11} {value}" for name, value in rows]
    for key, values in c["slices"].items():
        out.append("")
        heading = f"By {_plain(key)}"
        out.append(_ANSI["bold"] + heading + _RESET if color else heading)
        ordered = _by_size(values)
        table = render_table(
            [
                _plain(key),
                "n",
                "sessions",
                "candidate",
                "baseline",
                "difference",
                f"{level} CI",
                "note",
            ],
            [
                [
                    _plain(value),
                    s["n"],
                    s["sessions"],
                    _score(s["candidate"]),
                    _score(s["baseline"]),
                    _signed(s["difference"]),
                    _interval(s["ci_low"], s["ci_high"]),
                    _slice_note(s),
                ]
                for value, s in ordered
            ],
        ).split("\n")
        out.extend(table[:2])
        for line, (_, s) in zip(table[2:], ordered, strict=True):
            # Colour whole lines: codes inside cells would throw the column widths off.
            kind = _slice_kind(s)
            out.append(_ANSI[kind] + line + _RESET if color and kind in _ANSI else line)
    return "\n".join(out)


def render_html(comparison_json: Mapping[str, Any], meta: Mapping[str, object]) -> str:
    """One static, self-contained HTML report: no scripts, no external URLs, inline CSS and SVG.

    Args:
        comparison_json: the output of ``Comparison.to_json()``.
        meta: what the report says about the run (run ids, suite id, model names, endpoints,
            timestamps), shown in the order given. Mappings under ``candidate`` and
            ``baseline`` are shown side by side; their ``label`` (or top-level
            ``candidate_label`` / ``baseline_label``) names the two sides. Other values are
            rows, non-strings written as JSON.

    Returns:
        The document. Every value from ``comparison_json`` and ``meta`` is escaped.
    """
    c = comparison_json
    ci = c["ci"]
    candidate = _label(meta, "candidate")
    baseline = _label(meta, "baseline")
    verdict = _verdict(ci["low"], ci["high"], too_small=False)
    headline = {
        "better": f"{_e(candidate)} beats {_e(baseline)}",
        "worse": f"{_e(candidate)} is worse than {_e(baseline)}",
        "even": f"No clear difference between {_e(candidate)} and {_e(baseline)}",
    }[verdict]
    badge = {"better": "better", "worse": "worse", "even": "inconclusive"}[verdict]
    level = _percent(ci["level"])
    lede = (
        f'<span class="verdict {verdict}">{badge}</span> '
        f"Mean score {_score(c['candidate_score'])} against {_score(c['baseline_score'])} on "
        f"{c['n']} cases from {c['sessions']} sessions: a difference of "
        f"<strong>{_signed(c['difference'])}</strong> ({level} CI {_signed(ci['low'])} to "
        f"{_signed(ci['high'])}, sessions resampled {ci['resamples']:,} times, seed {ci['seed']})."
    )
    template = Template(resources.files("modellab.evals").joinpath("report.html").read_text())
    return template.substitute(
        title=_e(f"{candidate} vs {baseline}: Model Lab eval"),
        headline=headline,
        lede=lede,
        cards=_cards(c, candidate, baseline),
        chart=_forest_svg(c),
        level_text=level,
        slice_tables="\n".join(
            _slice_table(key, values, level) for key, values in c["slices"].items()
        ),
        meta_table=_meta_table(meta),
        session_count=f"{len(c.get('per_session', [])):,}",
        session_table=_session_table(c.get("per_session", [])),
        case_count=f"{len(c['per_case']):,}",
        case_table=_case_table(c["per_case"]),
        footer=_e(
            f"Written by Model Lab at {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. "
            f"McNemar is exact (binomial); the interval is a percentile cluster bootstrap."
        ),
    )


def write_html(path: Path, comparison_json: Mapping[str, Any], meta: Mapping[str, object]) -> None:
    """Render the HTML report and replace ``path`` with it atomically."""
    atomic_write_bytes(path, render_html(comparison_json, meta).encode("utf-8"))


# ---- the forest plot -----------------------------------------------------------------------

_WIDTH = 1000
_LABEL_RIGHT = 250  # labels end here, right-aligned
_PLOT_LEFT, _PLOT_RIGHT = 270, 790
_TEXT_LEFT = 810  # the numbers column
_ROW = 24
_TOP = 12
_AXIS = 40  # room under the rows for tick labels


def _forest_svg(comparison_json: Mapping[str, Any]) -> str:
    """An inline SVG forest plot: the overall difference, then each slice, with intervals.

    Every slice is one ``<g class="mark slice">``; the overall row is ``<g class="mark
    overall">``. Slice key headings are plain text rows between the groups.
    """
    c = comparison_json
    # (kind, name, shown text, numbers): a slice shows only its value, under its key's heading.
    rows: list[tuple[str, str, str, Mapping[str, Any] | None]] = [
        ("overall", "overall", "Overall", _overall(c))
    ]
    for key, values in c["slices"].items():
        rows.append(("heading", key, f"by {key}", None))
        rows.extend(("slice", f"{key}={value}", value, s) for value, s in _by_size(values))
    marks = [s for *_, s in rows if s is not None]
    low, high = _domain([m["ci_low"] for m in marks] + [m["ci_high"] for m in marks])
    height = _TOP + _ROW * len(rows) + _AXIS

    def x(value: float) -> float:
        return _PLOT_LEFT + (value - low) / (high - low) * (_PLOT_RIGHT - _PLOT_LEFT)

    parts = [
        f'<svg class="forest" viewBox="0 0 {_WIDTH} {height}" '
        f'width="{_WIDTH}" height="{height}" role="img" '
        f'aria-label="Difference with confidence interval, overall and per slice" '
        f'font-family="system-ui, sans-serif" font-size="13">'
    ]
    bottom = _TOP + _ROW * len(rows)
    ticks, digits = _ticks(low, high)
    for tick in ticks:
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{_TOP}" x2="{tx:.1f}" y2="{bottom}" stroke="#eaeef2"/>'
            f'<text x="{tx:.1f}" y="{bottom + 18}" text-anchor="middle" fill="#59636e">'
            f"{_signed(tick, digits) if tick else '0'}</text>"
        )
    parts.append(
        f'<text x="{(_PLOT_LEFT + _PLOT_RIGHT) / 2}" y="{bottom + 36}" text-anchor="middle" '
        f'fill="#59636e">candidate minus baseline (mean per-case score)</text>'
    )
    for index, (kind, name, shown, s) in enumerate(rows):
        y = _TOP + _ROW * index + _ROW / 2
        if kind == "heading":
            parts.append(
                f'<text x="12" y="{y + 5:.1f}" font-weight="600" fill="#1f2328">{_e(shown)}</text>'
            )
        if s is not None:  # headings have no numbers
            parts.append(_mark(kind, name, shown, s, y, x))
    zero = x(0.0)
    parts.append(
        f'<line class="zero" x1="{zero:.1f}" y1="{_TOP - 4}" x2="{zero:.1f}" y2="{bottom}" '
        f'stroke="#1f2328" stroke-width="1.5" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _mark(
    kind: str,
    name: str,
    shown: str,
    s: Mapping[str, Any],
    y: float,
    x: Callable[[float], float],
) -> str:
    """One row of the forest plot: label, interval bar, point, numbers, and a tooltip."""
    style = _slice_kind(s)
    colour = {"better": "#1a7f37", "worse": "#cf222e"}.get(style, "#59636e")
    short = shown if len(shown) <= 30 else shown[:29] + "…"  # the tooltip has all of it
    lo, hi, mid = x(s["ci_low"]), x(s["ci_high"]), x(s["difference"])
    weight = ' font-weight="600"' if kind == "overall" else ""
    if kind == "overall":  # a diamond, as forest plots mark the pooled estimate
        point = (
            f'<polygon points="{mid - 8:.1f},{y:.1f} {mid:.1f},{y - 7:.1f} {mid + 8:.1f},{y:.1f} '
            f'{mid:.1f},{y + 7:.1f}" fill="{colour}"/>'
        )
    elif s.get("too_small"):
        point = (
            f'<circle cx="{mid:.1f}" cy="{y:.1f}" r="5" fill="#fff" stroke="{colour}" '
            f'stroke-width="2"/>'
        )
    else:
        point = f'<circle cx="{mid:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>'
    tooltip = (
        f"{name}: {_signed(s['difference'])} [{_signed(s['ci_low'])}, {_signed(s['ci_high'])}],"
        f" n={s['n']}, {s['sessions']} sessions"
    )
    return (
        f'<g class="mark {kind} {style}" data-slice="{_e(name)}"><title>{_e(tooltip)}</title>'
        f'<text x="{_LABEL_RIGHT}" y="{y + 5:.1f}" text-anchor="end" fill="#1f2328"{weight}>'
        f"{_e(short)}</text>"
        f'<line x1="{lo:.1f}" y1="{y:.1f}" x2="{hi:.1f}" y2="{y:.1f}" stroke="{colour}" '
        f'stroke-width="3" stroke-linecap="round"/>{point}'
        f'<text x="{_TEXT_LEFT}" y="{y + 5:.1f}" fill="#1f2328" '
        f'font-variant-numeric="tabular-nums">'
        f"{_signed(s['difference'])}  {_interval(s['ci_low'], s['ci_high'])}</text></g>"
    )


def _domain(values: Sequence[float]) -> tuple[float, float]:
    """The x range: every interval and zero, padded, within the possible [-1, 1]."""
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = max((high - low) * 0.08, 0.02)
    return max(low - pad, -1.0), min(high + pad, 1.0)


def _ticks(low: float, high: float) -> tuple[list[float], int]:
    """Round tick values (1, 2 or 5 times a power of ten) in the range, about six, and the
    decimals their labels need."""
    raw = (high - low) / 6
    exponent = math.floor(math.log10(raw))
    step = next(m * 10.0**exponent for m in (1, 2, 5, 10) if m * 10.0**exponent >= raw)
    first = math.ceil(low / step)
    count = math.floor(high / step) - first + 1
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    # Multiply rather than accumulate, so 0 is exactly 0 and no error builds up.
    return [round((first + i) * step, 12) + 0.0 for i in range(count)], digits


# ---- HTML pieces -----------------------------------------------------------------------------


def _cards(c: Mapping[str, Any], candidate: str, baseline: str) -> str:
    mcnemar = c["mcnemar"]
    ci = c["ci"]
    cards = [
        ("Candidate", _score(c["candidate_score"]), candidate),
        ("Baseline", _score(c["baseline_score"]), baseline),
        (
            "Difference",
            _signed(c["difference"]),
            f"{_percent(ci['level'])} CI {_interval(ci['low'], ci['high'])}",
        ),
        (
            "McNemar p (one-sided)",
            _p(mcnemar["p_value"]),
            f"b={mcnemar['b']} c={mcnemar['c']}, two-sided {_p(mcnemar['p_value_two_sided'])}",
        ),
        (
            "Detectable effect",
            _score(c["mde"]),
            f"power {c['power']:g}, one-sided alpha {c['alpha']:g}",
        ),
        ("Cases", f"{c['n']:,}", f"in {c['sessions']:,} sessions"),
    ]
    return "\n".join(
        f'<div class="card"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="sub">{_e(sub)}</div></div>'
        for label, value, sub in cards
    )


def _slice_table(key: str, values: Mapping[str, Mapping[str, Any]], level: str) -> str:
    headers = ["n", "sessions", "candidate", "baseline", "difference", f"{level} CI"]
    head = f"<th>{_e(key)}</th>" + "".join(f'<th class="num">{h}</th>' for h in headers)
    body = []
    for value, s in _by_size(values):
        numbers = [
            f"{s['n']:,}",
            f"{s['sessions']:,}",
            _score(s["candidate"]),
            _score(s["baseline"]),
            _signed(s["difference"]),
            _interval(s["ci_low"], s["ci_high"]),
        ]
        body.append(
            f'<tr class="{_slice_kind(s)}"><td class="text">{_e(value)}</td>'
            + "".join(f'<td class="num">{n}</td>' for n in numbers)
            + f"<td>{_e(_slice_note(s))}</td></tr>"
        )
    return (
        f'<section class="slice" data-key="{_e(key)}"><h3>By {_e(key)}</h3>'
        f"<table><thead><tr>{head}<th></th></tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></section>"
    )


def _label(meta: Mapping[str, object], side: str) -> str:
    """The name of one side: ``<side>_label``, else ``<side>["label"]``, else the side."""
    given = meta.get(f"{side}_label")
    nested = meta.get(side)
    if given is None and isinstance(nested, Mapping):
        given = nested.get("label")
    return side if given is None else str(given)


def _meta_table(meta: Mapping[str, object]) -> str:
    sides = {side: meta.get(side) for side in ("candidate", "baseline")}
    paired = all(isinstance(v, Mapping) for v in sides.values())
    rows = [
        f'<tr><th>{_e(_humane(key))}</th><td class="text" colspan="2">{_e(_text(value))}</td></tr>'
        for key, value in meta.items()
        if not (paired and key in sides)
    ]
    if paired:
        candidate, baseline = (v if isinstance(v, Mapping) else {} for v in sides.values())
        rows.append("<tr><th></th><th>candidate</th><th>baseline</th></tr>")
        rows.extend(
            f"<tr><th>{_e(_humane(key))}</th>"
            f'<td class="text">{_e(_text(candidate.get(key, "")))}</td>'
            f'<td class="text">{_e(_text(baseline.get(key, "")))}</td></tr>'
            for key in dict.fromkeys([*candidate, *baseline])
        )
    return '<table class="meta"><tbody>' + "\n".join(rows) + "</tbody></table>"


def _session_table(sessions: Sequence[Mapping[str, Any]]) -> str:
    head = (
        '<th>session</th><th class="num">cases</th><th class="num">candidate</th>'
        '<th class="num">baseline</th><th class="num">difference</th>'
        '<th class="num">passed (candidate / baseline)</th>'
    )
    body = []
    for row in sessions:
        kind = "gain" if row["difference"] > 0 else "loss" if row["difference"] < 0 else ""
        body.append(
            f'<tr class="{kind}"><td class="text">{_e(row["session_id"])}</td>'
            f'<td class="num">{row["n"]}</td>'
            f'<td class="num">{_score(row["candidate"])}</td>'
            f'<td class="num">{_score(row["baseline"])}</td>'
            f'<td class="num">{_signed(row["difference"])}</td>'
            f'<td class="num">{row["candidate_passed"]} / {row["baseline_passed"]}</td></tr>'
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "\n".join(body) + "</tbody></table>"


def _case_table(cases: Sequence[Mapping[str, Any]]) -> str:
    head = (
        '<th>case</th><th>session</th><th class="num">candidate</th>'
        '<th class="num">baseline</th><th>outcome</th><th>slices</th>'
    )
    body = []
    for case in cases:
        gained = case["candidate_passed"] and not case["baseline_passed"]
        lost = case["baseline_passed"] and not case["candidate_passed"]
        row_class, flag = ("gain", "gained") if gained else ("loss", "lost") if lost else ("", "")
        slices = " · ".join(f"{k}={v}" for k, v in case["slices"].items())
        body.append(
            f'<tr class="{row_class}"><td class="text">{_e(case["case_id"])}</td>'
            f'<td class="text">{_e(case["session_id"])}</td>'
            f'<td class="num">{_score(case["candidate"])}</td>'
            f'<td class="num">{_score(case["baseline"])}</td>'
            f'<td class="flag">{flag}</td><td class="text">{_e(slices)}</td></tr>'
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>" + "\n".join(body) + "</tbody></table>"


# ---- shared helpers ------------------------------------------------------------------------


def _overall(c: Mapping[str, Any]) -> dict[str, Any]:
    """The overall result in a slice's shape, so the plot draws it like any row."""
    return {
        "n": c["n"],
        "sessions": c["sessions"],
        "difference": c["difference"],
        "ci_low": c["ci"]["low"],
        "ci_high": c["ci"]["high"],
        "too_small": False,
    }


def _by_size(values: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """Slices largest first; ties by name so the order is stable."""
    return sorted(values.items(), key=lambda item: (-item[1]["n"], item[0]))


def _verdict(low: float, high: float, *, too_small: bool) -> str:
    if too_small:
        return "small"
    if high < 0:
        return "worse"
    if low > 0:
        return "better"
    return "even"


def _slice_kind(s: Mapping[str, Any]) -> str:
    return _verdict(s["ci_low"], s["ci_high"], too_small=bool(s.get("too_small")))


def _slice_note(s: Mapping[str, Any]) -> str:
    return {"small": "too small", "worse": "WORSE", "better": "better", "even": ""}[_slice_kind(s)]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _plain(text: object) -> str:
    """Text safe for a terminal: control characters (escape sequences) written visibly, by
    the CLI's one escaping rule (:func:`modellab._internal.term.shown`)."""
    from modellab._internal.term import shown

    return shown(text)


def _humane(key: object) -> str:
    return str(key).replace("_", " ")


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _score(value: float) -> str:
    return f"{value:.3f}"


def _signed(value: float, digits: int = 3) -> str:
    return f"{value + 0.0:+.{digits}f}"  # + 0.0 so -0.0 prints as +0.000


def _interval(low: float, high: float) -> str:
    return f"[{_signed(low)}, {_signed(high)}]"


def _percent(level: float) -> str:
    return f"{level * 100:g}%"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 1e-3 else f"{value:.2e}"
