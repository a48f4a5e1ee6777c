"""``modellab redact scan``: check files for secrets and personal data before importing."""

from __future__ import annotations

import argparse
from pathlib import Path

from modellab.cli._common import emit_json

__all__ = ["EXIT_FOUND", "cmd_approve", "cmd_scan"]

#: ``redact scan`` found something (so scripts can stop on it).
EXIT_FOUND = 8


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan files or folders; exit 8 when anything sensitive is found, 0 when clean."""
    from modellab._internal.term import Progress, render_table
    from modellab.cli._common import settings_from_args
    from modellab.redact import RedactionConfig, scan_paths
    from modellab.store import Catalog

    # The installation's key, allowlist and terms: hashes match export reports, and values
    # reviewed as false positives are not reported again.
    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(
            settings, catalog, rules_path=Path(args.rules) if args.rules else None
        )
    scanner = config.scanner()
    paths = [Path(p).expanduser() for p in args.paths]
    progress = Progress("scanning", len(paths), enabled=not args.json, unit="paths")
    report = scan_paths(scanner, paths, on_file=lambda _path, _size: None)
    progress.close()
    if args.json:
        emit_json(
            {
                "files_scanned": report.files_scanned,
                "bytes_scanned": report.bytes_scanned,
                "counts": report.counts(),
                "findings": [
                    {
                        "path": f.path,
                        "line": f.line,
                        "column": f.column,
                        "rule": f.rule_id,
                        "category": f.category,
                        "sha256": f.value_sha256,
                        "preview": f.preview,
                    }
                    for f in report.findings
                ],
                "skipped": report.skipped,
            }
        )
    else:
        if report.findings:
            rows = [
                (
                    f"{f.path}:{f.line}:{f.column}",
                    f.rule_id,
                    f.category,
                    f.preview,
                    f.value_sha256[:12],
                )
                for f in report.findings
            ]
            print(
                render_table(("where", "rule", "category", "value", "sha256"), rows, max_width=70)
            )
            print()
        counts = ", ".join(f"{rule} {n}" for rule, n in report.counts().items()) or "none"
        print(
            f"Scanned {report.files_scanned} file(s), {report.bytes_scanned} bytes. "
            f"Findings: {counts}."
        )
        for path, reason in report.skipped.items():
            print(f"skipped {path}: {reason}")
    return EXIT_FOUND if report.findings else 0


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a redacted export exactly as it is now."""
    from modellab.cli._common import settings_from_args
    from modellab.redact import approve_export
    from modellab.store import Catalog

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        approval = approve_export(catalog, Path(args.export).expanduser())
    if args.json:
        emit_json(
            {
                "export_dir": str(approval.export_dir),
                "files": approval.files,
                "approved_at": approval.approved_at,
                "approved_by": approval.approved_by,
            }
        )
    else:
        print(
            f"Approved {approval.export_dir} ({len(approval.files)} files) at "
            f"{approval.approved_at}. Any change to these files invalidates the approval."
        )
    return 0
