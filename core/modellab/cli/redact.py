"""``modellab redact scan``: check files for secrets and personal data before importing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from modellab.cli._common import emit_json

__all__ = ["EXIT_FOUND", "EXIT_NOT_SCANNED", "cmd_approve", "cmd_scan"]

#: ``redact scan`` found something (so scripts can stop on it).
EXIT_FOUND = 8
#: ``redact scan`` could not scan everything it was asked to: a missing or unreadable path,
#: a special file, a link to a folder elsewhere, or a binary file (without
#: ``--skip-binary``). The "bad input" code; it wins over 8, since the answer is incomplete.
EXIT_NOT_SCANNED = 4


def _shown(text: str) -> str:
    """A path as the terminal may show it: control and other unprintable characters, and
    bytes that were not valid in the file system's encoding, escaped."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if char.isprintable():
            out.append(char)
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def _where(text: str, width: int = 70) -> str:
    """A finding's place, cut at the front when too long: the file name and line matter."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


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
    from modellab._internal.term import Progress, render_table
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
            rows = [
                (
                    _where(f"{_shown(f.path)}:{f.line}:{f.column}"),
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
