"""Approvals and the gate that every path off the machine must pass.

An approval records the sha256 of every file in a reviewed export; it can only be given
once every redacted value in the export has a review decision. ``require_approved``
recomputes the sha256s: any change after the review (a file edited, added or removed) makes the
approval stale. An export that was not redacted can never be approved, so it can never pass.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from modellab._internal.files import sha256_file
from modellab.errors import (
    NotApprovedError,
    NotReviewedError,
    RawExportError,
    StaleApprovalError,
    UsageError,
)
from modellab.store import Catalog, ReviewState

__all__ = ["REDACTED", "Approval", "approve_export", "require_approved"]

#: The only ``redaction_status`` an approvable export may have.
REDACTED = "redacted"
_MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Approval:
    """A recorded approval: which files, with which sha256, approved when and by whom."""

    export_dir: Path
    files: dict[str, str]
    approved_at: str
    approved_by: str


def _fingerprint(export_dir: Path) -> dict[str, str]:
    """sha256 of every file in the export, by its path relative to the export."""
    if not export_dir.is_dir():
        raise UsageError(f"{export_dir}: not an export folder")
    return {
        str(path.relative_to(export_dir)): sha256_file(path)
        for path in sorted(export_dir.rglob("*"))
        if path.is_file()
    }


def _redaction_status(export_dir: Path) -> str:
    manifest = export_dir / _MANIFEST
    try:
        status = json.loads(manifest.read_text(encoding="utf-8")).get("redaction_status")
    except (OSError, ValueError, AttributeError):
        raise RawExportError(
            export_dir,
            "no readable manifest.json, so nothing says this export was redacted",
        ) from None
    return str(status)


def _refuse_unredacted(export_dir: Path) -> None:
    if not export_dir.is_dir():
        raise UsageError(f"{export_dir}: not an export folder")
    status = _redaction_status(export_dir)
    if status != REDACTED:
        raise RawExportError(
            export_dir,
            f"redaction status is {status!r}: only redacted exports can be approved or sent",
            hint="export again without --raw, then review and approve it",
        )


def _refuse_unreviewed(catalog: Catalog, export_dir: Path) -> None:
    """Every distinct value the export redacted must have a recorded review decision."""
    data = (export_dir / _MANIFEST).read_bytes()
    values = (json.loads(data).get("redaction") or {}).get("values") or []
    kept = ReviewState(catalog, who="").kept(export_dir, hashlib.sha256(data).hexdigest())
    open_rules = Counter(v["rule"] for v in values if (v["rule"], v["sha256"]) not in kept)
    if open_rules:
        listed = ", ".join(f"{rule} {n}" for rule, n in sorted(open_rules.items()))
        raise NotReviewedError(
            export_dir,
            f"{sum(open_rules.values())} redacted value(s) not reviewed yet ({listed})",
            hint=(
                f"run 'modellab redact review {export_dir}' to decide value by value, or keep "
                "every redaction of a rule with --accept-rule RULE, or of all rules with "
                "--accept-all"
            ),
        )


def approve_export(
    catalog: Catalog, export_dir: Path, *, approved_by: str | None = None
) -> Approval:
    """Record an approval of ``export_dir`` exactly as it is now.

    :raises RawExportError: the export was not redacted.
    :raises NotReviewedError: some redacted values have no review decision.
    """
    export_dir = export_dir.resolve()
    _refuse_unredacted(export_dir)
    _refuse_unreviewed(catalog, export_dir)
    files = _fingerprint(export_dir)
    who = approved_by or getpass.getuser()
    approved_at = catalog.record_approval(export_dir, files, who)
    return Approval(export_dir, files, approved_at, who)


def require_approved(path: Path, *, catalog: Catalog) -> Approval:
    """The gate. Return the approval of the export at ``path``, or raise.

    Every command or hook that sends data off the machine must call this first and send
    only the files in the returned approval.

    :raises RawExportError: the export was not redacted.
    :raises NotApprovedError: no approval was recorded for it.
    :raises StaleApprovalError: its files are not the ones that were approved.
    """
    export_dir = path.resolve()
    _refuse_unredacted(export_dir)
    row = catalog.latest_approval(export_dir)
    if row is None:
        raise NotApprovedError(
            export_dir,
            "this export was never approved",
            hint=f"review it, then run 'modellab redact approve {path}'",
        )
    approved, approved_at, approved_by = row
    current = _fingerprint(export_dir)
    if current != approved:
        changed = sorted(
            name
            for name in approved.keys() | current.keys()
            if approved.get(name) != current.get(name)
        )
        raise StaleApprovalError(
            export_dir,
            f"changed since it was approved: {', '.join(changed)}",
            hint=f"review it again, then run 'modellab redact approve {path}'",
        )
    return Approval(export_dir, approved, approved_at, approved_by)
