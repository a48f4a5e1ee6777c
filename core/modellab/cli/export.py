"""``modellab export``: write redacted trajectories, the redaction report and a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from modellab._internal.term import shown
from modellab.cli._common import emit_json, selection_from_args, settings_from_args, warn

__all__ = ["cmd_export"]


def cmd_export(args: argparse.Namespace) -> int:
    """Export the captured sessions (or --all / --ids ...) atomically, redacted unless --raw."""
    from modellab._internal.term import Progress
    from modellab.export import write_export
    from modellab.gate.layout import FINDINGS, MANIFEST, TRAJECTORIES
    from modellab.redact import RedactionConfig
    from modellab.store import Catalog, utc_now

    settings = settings_from_args(args)
    explicit = bool(args.all or args.ids)
    selection = selection_from_args(args, captured_only=not explicit)
    out_dir = (
        Path(args.out).expanduser()
        if args.out
        else (settings.exports_dir / utc_now().replace(":", "").replace(".", "-"))
    )
    described = {
        "captured_only": selection.captured_only,
        "ids": list(selection.ids),
        "since": selection.since,
        "sources": list(selection.sources),
        "labels": list(selection.labels),
        "outcomes": list(selection.outcomes),
    }
    progress: Progress | None = None

    def on_progress(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            label = "exporting (raw)" if args.raw else "redacting"
            progress = Progress(label, total, enabled=not args.json, unit="sessions")
        progress.advance(done - progress.done)

    rules = Path(args.rules).expanduser() if args.rules else None
    with Catalog(settings.catalog_path) as catalog:
        config = None if args.raw else RedactionConfig.load(settings, catalog, rules_path=rules)
        result = write_export(
            catalog,
            selection,
            out_dir,
            redaction=config,
            force=args.force,
            jobs=args.jobs,
            on_progress=on_progress,
            describe_selection=described,
        )
    if progress is not None:
        progress.close()
    if args.raw:
        warn(
            "this export is RAW: not redacted, and marked raw in its manifest. It may contain "
            "secrets, personal data and private paths; it can never be approved or sent."
        )
    if args.json:
        emit_json({"out_dir": str(result.out_dir), "manifest": result.manifest})
        return 0
    counts = result.manifest["counts"]
    print(
        f"Exported {result.sessions} session(s) ({counts['turns']} turns, "
        f"{counts['tool_calls']} tool calls) to {shown(result.out_dir)}"
    )
    empty = result.manifest["left_out"].get("empty")
    if empty:
        print(
            f"Left out {empty['count']} empty session(s) (no messages, so no ATIF "
            "trajectory); they stay in the catalog."
        )
    print(f"  {TRAJECTORIES:<26}ATIF, one trajectory per line")
    print(f"  {MANIFEST:<26}counts, sha256 of every file, sources, redaction report")
    redaction = result.manifest["redaction"]
    if redaction is None:
        return 0
    print(f"  {FINDINGS:<26}each finding: where, which rule, value hash (no values)")
    by_rule = ", ".join(f"{rule} {n}" for rule, n in redaction["counts_by_rule"].items())
    print(
        f"Redacted {redaction['findings']} finding(s) of {len(redaction['values'])} distinct "
        f"value(s): {by_rule or 'nothing found'}."
    )
    extra = [entry["file"] for entry in redaction.get("extra_rules", [])]
    if extra:
        print(f"Rules: the built-in rules, plus {', '.join(shown(e) for e in extra)}.")
    print(f"Next: modellab redact review {shown(result.out_dir)}")
    return 0
