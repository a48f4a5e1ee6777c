"""``modellab observability stats``: parse arguments, read the catalog, print or draw.

The core hands this workset its arguments unparsed, so the parser, ``--help`` and exit
codes live here. Library errors become a one-line message, a hint, and an exit code that
means the same as in the core's own commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.workset import (
    ModellabError,
    UsageError,
    add_json_flag,
    add_selection_flags,
    exit_code_for,
    exit_codes_epilog,
    shown,
)
from modellab_observability.stats import SessionStats

if TYPE_CHECKING:
    from modellab.workset import Catalog, Selection, SessionRow, Settings

__all__ = ["EXIT_CODES", "PROG", "build_parser", "main"]

PROG = "modellab observability"

#: Every exit code this command uses, and what it means (shown by ``--help``). The numbers
#: are the core's (``modellab.workset.EXIT_CODES``; ``exit_code_for`` picks them for an
#: error); the texts say what each means for this command.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "a session could not be read (the rest are reported), or the chart not written",
    2: "usage error: bad arguments",
    3: "nothing selected: no session matches the ids or the selection",
    5: "the catalog could not be opened",
    130: "interrupted",
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks: they hold lists and the exit-code table."""


_STATS_DESCRIPTION = """\
Figures for the selected sessions, from what their sources recorded:

  tokens        input (cached included), output (reasoning included), reasoning, cached
  cost          only where the session records one; prices are never guessed
  wall          wall time of each turn, from its timestamps, summed over the turns
  tool time     durations the agent measured for its tool calls, summed
  tool calls    by tool name and status; failed = ran and failed (exit code, timeout, error)
  denied        approval denials (one per call); interrupted: interrupted turns
  outcome       the session's verdict, as in 'modellab sessions list'

A figure a source did not record is shown as '?' (null in --json), never as 0. Sub-agents
are listed under their session, and the totals include them. With no selection flag,
every session in the catalog is reported."""


def build_parser() -> argparse.ArgumentParser:
    """The grammar of ``modellab observability``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Observe your agent sessions: tokens, cost, latency, tool calls,\n"
        "failures, denials, interruptions and outcomes. Reads the catalog; writes\n"
        "nothing but the chart you ask for.",
        epilog=exit_codes_epilog(EXIT_CODES),
        formatter_class=_Formatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="SUBCOMMAND")
    stats = actions.add_parser(
        "stats",
        help="figures per session (and per turn) with totals, as a table, JSON or a chart",
        description=_STATS_DESCRIPTION,
        epilog=exit_codes_epilog(EXIT_CODES),
        formatter_class=_Formatter,
    )
    chosen = stats.add_argument_group("selection (flags combine; all narrow)")
    add_selection_flags(chosen, ids=True, last=True)
    output = stats.add_argument_group("output")
    add_json_flag(output)
    output.add_argument("--per-turn", action="store_true", help="add the figures of every turn")
    output.add_argument(
        "--chart",
        metavar="FILE.png",
        help="also draw tokens, tool calls and outcomes per session to this PNG",
    )
    return parser


# -- arguments to a selection --------------------------------------------------------------


def _selection_json(selection: Selection) -> dict[str, Any]:
    return {
        "ids": list(selection.ids),
        "last": selection.last,
        "since": selection.since,
        "sources": list(selection.sources),
        "labels": list(selection.labels),
        "outcomes": list(selection.outcomes),
    }


def _chart_path(value: str | None) -> Path | None:
    """Check --chart before any work is done, so a typo costs nothing."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.suffix.lower() != ".png":
        raise UsageError(f"--chart: {value!r} does not end in .png", hint="name a .png file")
    if path.is_dir():
        raise UsageError(f"--chart: {value!r} is a folder", hint="name a .png file in it")
    if not path.parent.is_dir():
        raise UsageError(
            f"--chart: folder {str(path.parent)!r} does not exist", hint="create it first"
        )
    return path


# -- reading -------------------------------------------------------------------------------


def _refs(catalog: Catalog, selection: Selection) -> list[tuple[SessionRow, str, int]]:
    """``catalog.trajectory_refs``, with ``--last`` resolved to ids first.

    ``trajectory_refs`` cannot apply ``last`` itself in modellab 0.1 (its inner query does
    not select the dates the outer one sorts by), so the ids come from ``list_sessions``,
    which applies it correctly, and are then looked up exactly.
    """
    from modellab.workset import Selection

    if selection.last is None:
        return catalog.trajectory_refs(selection)
    ids = tuple(row.id for row in catalog.list_sessions(selection))
    return catalog.trajectory_refs(Selection(ids=ids)) if ids else []


def _read(
    catalog: Catalog, selection: Selection
) -> tuple[list[SessionStats], list[dict[str, str]]]:
    """Figures of every selected session; those that cannot be read are listed instead.

    Reads object by object rather than through ``iter_trajectories``, whose stream ends
    at the first missing object: one damaged trajectory must not hide the others.
    """
    from modellab.workset import StoreError, from_atif
    from modellab_observability.stats import session_stats

    found: list[SessionStats] = []
    skipped: list[dict[str, str]] = []
    for row, digest, _size in _refs(catalog, selection):
        try:
            session = from_atif(json.loads(catalog.objects.get(digest)))
        except (StoreError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # ValueError covers bad JSON and pydantic's ValidationError; the others, JSON of
            # the wrong shape.
            skipped.append({"id": row.id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        found.append(session_stats(session))
    return found, skipped


def _nothing_selected(catalog: Catalog, selection: Selection) -> int:
    from modellab.workset import Selection

    if selection == Selection() or not catalog.list_sessions(Selection(last=1)):
        _error(
            "the catalog has no sessions",
            "import some with 'modellab sessions import'",
        )
    else:
        _error(
            "no session matches the selection",
            "widen it, or see what there is with 'modellab sessions list'",
        )
    return 3


# -- running -------------------------------------------------------------------------------


def _error(message: str, hint: str | None = None) -> None:
    # Messages quote arguments, file names and what a session held: shown escaped.
    print(f"{PROG}: error: {shown(message, lines=True)}", file=sys.stderr)
    if hint:
        print(f"hint: {shown(hint, lines=True)}", file=sys.stderr)


def _run_stats(args: argparse.Namespace, settings: Settings) -> int:
    from modellab.workset import Catalog, emit_json, selection_from_args
    from modellab_observability.report import as_json, render_tables
    from modellab_observability.stats import totals

    selection = selection_from_args(args)
    chart = _chart_path(args.chart)
    with Catalog(settings.catalog_path) as catalog:
        found, skipped = _read(catalog, selection)
        if not found and not skipped:
            return _nothing_selected(catalog, selection)
    for entry in skipped:
        warning = f"session {entry['id']} skipped: {entry['error']}"
        print(f"{PROG}: warning: {shown(warning, lines=True)}", file=sys.stderr)
    if not found:
        _error("none of the selected sessions could be read", "see the warnings above")
        return 1
    summary = totals(found)

    drawn: int | None = None
    if chart is not None:
        from modellab_observability.chart import write_chart

        try:
            drawn = write_chart(found, summary, chart)
        except ImportError as exc:
            _error(f"cannot draw the chart: {exc}", "install matplotlib>=3.9 beside Model Lab")
            return 1
        except OSError as exc:
            _error(f"cannot write the chart {str(chart)!r}: {exc.strerror or exc}")
            return 1

    if args.json:
        document = as_json(
            found,
            summary,
            selection=_selection_json(selection),
            skipped=skipped,
            per_turn=args.per_turn,
        )
        document["chart"] = None if chart is None else {"path": str(chart), "sessions_drawn": drawn}
        emit_json(document)
    else:
        print(render_tables(found, summary, per_turn=args.per_turn))
        if chart is not None:
            print(f"\nChart written to {chart} ({drawn} session(s) drawn).")
    return 1 if skipped else 0


def _status(exit_: SystemExit) -> int:
    """The exit status argparse asked for (0 after --help, 2 after a usage error)."""
    code = exit_.code
    if code is None:
        return 0
    return code if isinstance(code, int) else 2


def main(argv: Sequence[str], settings: Settings) -> int:
    """Run ``modellab observability ARGV...`` and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return _status(exit_)
    if args.action is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _run_stats(args, settings)
    except ModellabError as exc:
        _error(exc.message, exc.hint)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
