"""``modellab redact scan``: check files for secrets and personal data before importing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.cli._common import emit_json

if TYPE_CHECKING:
    from modellab.redact import FileFinding

__all__ = ["EXIT_FOUND", "EXIT_NOT_SCANNED", "cmd_approve", "cmd_scan"]

#: ``redact scan`` found something (so scripts can stop on it).
EXIT_FOUND = 8
#: ``redact scan`` could not scan everything it was asked to: a missing or unreadable path,
#: a special file, a link to a folder elsewhere, or a binary file (without
#: ``--skip-binary``). The "bad input" code; it wins over 8, since the answer is incomplete.
EXIT_NOT_SCANNED = 4


def _shown(text: str) -> str:
    """A path as the terminal may show it (the CLI's one escaping rule, :func:`shown`)."""
    from modellab._internal.term import shown

    return shown(text)


#: More files with findings than this also get a per-file summary at the end.
_SUMMARY_FILES = 10


def _print_findings(findings: list[FileFinding]) -> None:
    """Findings grouped by file: each file's full path once, then its line:column rows.

    A path is never cut (the place must be usable as it is); a large tree also gets one
    summary line per file, most findings first.
    """
    from modellab._internal.term import render_table

    by_file: dict[str, list[FileFinding]] = {}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    for path, found in by_file.items():
        print(_shown(path))
        rows = [
            (f"{f.line}:{f.column}", f.rule_id, f.category, f.preview, f.value_sha256[:12])
            for f in found
        ]
        table = render_table(("line:col", "rule", "category", "value", "sha256"), rows)
        print("\n".join("  " + line for line in table.splitlines()))
        print()
    if len(by_file) > _SUMMARY_FILES:
        ranked = sorted(by_file.items(), key=lambda item: (-len(item[1]), item[0]))
        summary = [
            (len(found), ", ".join(sorted({f.rule_id for f in found})), _shown(path))
            for path, found in ranked
        ]
        print(f"Findings by file ({len(by_file)} files):")
        print(render_table(("findings", "rules", "file"), summary, max_width=4096))
        print()


def _json_path(text: str) -> str:
    """A path JSON can carry: undecodable bytes (surrogateescape) written as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan files or folders: exit 8 when something sensitive is found, 4 when something
    could not be scanned, 0 when everything was scanned and nothing found."""
    from modellab._internal.term import Progress
    from modellab.cli._common import settings_from_args
    from modellab.redact import RedactionConfig, scan_paths
    from modellab.store import Catalog

    # The installation's key, rules, allowlist and terms: hashes match export reports, and
    # values reviewed as false positives are not reported again.
    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(
            settings, catalog, rules_path=Path(args.rules).expanduser() if args.rules else None
        )
    scanner = config.scanner()
    paths = [Path(p).expanduser() for p in args.paths]
    progress = Progress("scanning", len(paths), enabled=not args.json, unit="paths")
    report = scan_paths(scanner, paths, on_file=lambda _path, _size: None)
    progress.close()
    missed = report.missed(skip_binary=args.skip_binary)
    for item in missed:
        print(f"modellab: error: {_shown(item.path)}: {item.reason} (not scanned)", file=sys.stderr)
    if args.json:
        emit_json(
            {
                "files_scanned": report.files_scanned,
                "bytes_scanned": report.bytes_scanned,
                "complete": not missed,
                "counts": report.counts(),
                "findings": [
                    {
                        "path": _json_path(f.path),
                        "line": f.line,
                        "column": f.column,
                        "rule": f.rule_id,
                        "category": f.category,
                        "sha256": f.value_sha256,
                        "preview": f.preview,
                    }
                    for f in report.findings
                ],
                "not_scanned": [
                    {"path": _json_path(n.path), "kind": n.kind, "reason": n.reason}
                    for n in report.not_scanned
                ],
            }
        )
    else:
        if report.findings:
            _print_findings(report.findings)
        counts = ", ".join(f"{rule} {n}" for rule, n in report.counts().items()) or "none"
        print(
            f"Scanned {report.files_scanned} file(s), {report.bytes_scanned} bytes. "
            f"Findings: {counts}."
        )
        for item in report.not_scanned:
            if item not in missed:
                print(f"skipped {_shown(item.path)}: {item.reason}")
        if missed:
            print(f"Not scanned: {len(missed)} path(s), each named in an error. Incomplete.")
    if missed:
        return EXIT_NOT_SCANNED
    return EXIT_FOUND if report.findings else 0


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a redacted export exactly as it is now."""
    from modellab.cli._common import settings_from_args
    from modellab.gate import approve_export
    from modellab.store import Catalog

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        approval = approve_export(catalog, Path(args.export).expanduser())
    if args.json:
        emit_json(
            {
                "export_dir": str(approval.path),
                "files": dict(approval.files),
                "approved_at": approval.approved_at,
                "approved_by": approval.approved_by,
            }
        )
    else:
        print(
            f"Approved {approval.path} ({len(approval.files)} files) at "
            f"{approval.approved_at}. Any change to these files invalidates the approval."
        )
    return 0
