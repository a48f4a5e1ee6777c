"""``modellab sessions import | list | show``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.cli._common import emit_json, selection_from_args, settings_from_args, warn

if TYPE_CHECKING:
    from modellab.store import SessionRow

__all__ = ["cmd_import", "cmd_list", "cmd_show", "session_table"]


def cmd_import(args: argparse.Namespace) -> int:
    """Import files or the default agent folders.

    Exit 1 if any file failed (nothing in it could be mapped, or a file named explicitly is
    of no known format), or if the folders given held files but none could be imported.
    """
    from modellab._internal.term import Progress
    from modellab.importing import run_import

    settings = settings_from_args(args)
    progress: Progress | None = None

    def on_progress(done: int, total: int, name: str) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress("importing", total, enabled=not args.json)
        progress.advance(done - progress.done, name)

    paths = [Path(p).expanduser() for p in args.paths]
    summary = run_import(settings, paths, force=args.force, on_progress=on_progress)
    if progress is not None:
        progress.close()
    if args.json:
        emit_json(summary.as_dict())
    else:
        _print_import(summary)
    nothing_found = not summary.files and bool(summary.not_imported)
    return 1 if summary.failed or nothing_found else 0


def _print_import(summary: object) -> None:
    from modellab._internal.term import shown
    from modellab.importing import ImportSummary

    assert isinstance(summary, ImportSummary)
    counts = summary.counts()
    if not summary.files and not summary.not_imported:
        print(
            "No session files found. Pass a PATH, or check the agent folders "
            "(see 'modellab sessions import --help')."
        )
        return
    sessions = {
        k.removeprefix("sessions_"): v for k, v in counts.items() if k.startswith("sessions_")
    }
    parts = [f"{v} {k}" for k, v in sorted(sessions.items())] or ["none"]
    print(
        f"Read {_count(counts['files'], 'file')}: sessions {', '.join(parts)}; "
        f"{_count(counts.get('files_unchanged', 0), 'file')} unchanged since the last import."
    )
    skipped = summary.skipped_lines()
    if skipped:
        print("Lines skipped, by reason:")
        for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>7}  {shown(reason)}")
    for outcome in summary.files:
        for message in outcome.warnings[:5]:
            warn(f"{outcome.path}: {message}")
        if len(outcome.warnings) > 5:
            warn(f"{outcome.path}: {len(outcome.warnings) - 5} more warnings (see --json)")
    for reason, items in summary.not_imported_by_reason().items():
        names = ", ".join(shown(item.name) for item in items[:_LISTED])
        more = f", and {len(items) - _LISTED} more (see --json)" if len(items) > _LISTED else ""
        print(f"{_count(len(items), 'file')} not imported, {shown(reason)}: {names}{more}")
    for failed in summary.failed:
        print(f"FAILED {shown(failed.path)}: {shown(failed.error)}")
    if summary.failed and len(summary.failed) < len(summary.files):
        print(f"{len(summary.failed)} file(s) failed; the others were imported.")
    elif summary.failed:
        print(f"{_count(len(summary.failed), 'file')} failed; nothing was imported.")


#: File names listed per reason in the terminal; ``--json`` lists them all.
_LISTED = 10


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def cmd_list(args: argparse.Namespace) -> int:
    """Show the catalog as a table (or JSON)."""
    from modellab.store import Catalog

    settings = settings_from_args(args)
    selection = selection_from_args(args, captured_only=args.captured)
    with Catalog(settings.catalog_path) as catalog:
        rows = catalog.list_sessions(selection)
        captured = catalog.captured_at()
    if args.json:
        emit_json([{**row.as_dict(), "captured": row.id in captured} for row in rows])
        return 0
    if not rows:
        print("No sessions. Import some with 'modellab sessions import'.")
        return 0
    print(session_table(rows, captured))
    print(f"\n{len(rows)} session(s); * = captured for export.")
    return 0


def session_table(
    rows: Sequence[SessionRow], captured: dict[str, str], *, captured_column: bool = False
) -> str:
    """The catalog's rows as ``sessions list`` shows them (``capture --list`` too).

    ``captured``: {id: capture time}; a captured id is marked ``*``. ``captured_column``
    adds when each was captured, beside the session's own date. Cells are shown escaped.
    """
    from modellab._internal.term import render_table

    headers = ["id", "source", "title", "date", "model", "turns", "tool calls", "errors"]
    headers += ["outcome", "captured"] if captured_column else ["outcome"]
    table = []
    for row in rows:
        cells: list[object] = [
            ("*" if row.id in captured else " ") + row.id,
            row.source,
            row.title or "",
            _minute(row.updated_at or row.created_at),
            row.model or "",
            row.turns,
            row.tool_calls,
            row.errors,
            row.outcome,
        ]
        if captured_column:
            cells.append(_minute(captured.get(row.id)))
        table.append(cells)
    return render_table(headers, table, max_width=48)


def _minute(moment: str | None) -> str:
    """An ISO time to the minute, as the tables show it."""
    return (moment or "")[:16].replace("T", " ")


def cmd_show(args: argparse.Namespace) -> int:
    """Print one session as a readable transcript, or its ATIF trajectory with --json."""
    from modellab._internal import jsonio
    from modellab.cli._transcript import render_session
    from modellab.store import Catalog
    from modellab.traces import from_atif

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        raw = catalog.trajectory(args.id)
    trajectory = jsonio.loads(raw)
    if args.json:
        emit_json(trajectory)
        return 0
    print(render_session(from_atif(trajectory), full=args.full))
    return 0
