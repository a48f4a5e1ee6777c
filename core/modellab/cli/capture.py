"""``modellab capture`` and ``modellab uncapture``: choose what an export contains."""

from __future__ import annotations

import argparse

from modellab.cli._common import emit_json, selection_from_args, settings_from_args

__all__ = ["cmd_capture", "cmd_uncapture"]


def cmd_capture(args: argparse.Namespace) -> int:
    """Capture sessions by id, --last or --since; or list captures with --list."""
    from modellab.errors import UsageError
    from modellab.store import Catalog, Selection

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        if args.list:
            rows = catalog.list_sessions(Selection(captured_only=True))
            captured = catalog.captured_at()
            if args.json:
                emit_json([{**r.as_dict(), "captured_at": captured[r.id]} for r in rows])
            elif not rows:
                print("No sessions captured. Capture some with 'modellab capture ID...'.")
            else:
                from modellab.cli.sessions import session_table

                # The columns of 'sessions list'; "date" is the session's, "captured" when
                # it was captured.
                print(session_table(rows, captured, captured_column=True))
                print(f"\n{len(rows)} session(s) captured for export.")
            return 0
        if not (args.ids or args.last or args.since):
            raise UsageError(
                "say which sessions to capture", hint="give session ids, --last N or --since DATE"
            )
        selection = selection_from_args(args)
        if args.ids:
            selection = Selection(ids=tuple(args.ids))
            if args.last or args.since:
                raise UsageError("give ids or --last/--since, not both")
        added = catalog.capture(selection)
        total = len(catalog.captured_at())
    if args.json:
        emit_json({"captured": added, "total_captured": total})
    else:
        print(f"Captured {len(added)} new session(s); {total} captured in all.")
    return 0


def cmd_uncapture(args: argparse.Namespace) -> int:
    """Remove sessions from the export candidates."""
    from modellab.errors import UsageError
    from modellab.store import Catalog, Selection

    if not args.ids and not args.all:
        raise UsageError("say which sessions to uncapture", hint="give ids, or --all")
    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        selection = Selection(captured_only=True) if args.all else Selection(ids=tuple(args.ids))
        removed = catalog.uncapture(selection)
    if args.json:
        emit_json({"uncaptured": removed})
    else:
        print(f"Removed {len(removed)} session(s) from the captured set.")
    return 0
