"""Approvals and the gate that every path off the machine must pass.

An approval records the sha256 of every file in a reviewed export; it can only be given
once every redacted value in the export has a review decision. ``require_approved``
recomputes the sha256s: any change after the review (a file edited, added or removed) makes the
approval stale. An export that was not redacted can never be approved, so it can never pass.

An approval is per catalog (per ``MODELLAB_HOME``). Approving also leaves a marker in the
export, :data:`APPROVAL_MARKER`, naming the approving catalog by its random id (never a
path) and when. The marker is advisory: it is not one of the approved files, and nothing
passes the gate because of it. It only lets a refusal say "approved under another Model Lab
home" instead of "never approved".
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from modellab._internal import jsonio
from modellab._internal.files import OUTPUT_MARKER, atomic_write_bytes, sha256_file
from modellab.errors import (
    NotApprovedError,
    NotReviewedError,
    RawExportError,
    StaleApprovalError,
    UsageError,
)
from modellab.store import Catalog, ReviewState

__all__ = [
    "APPROVAL_MARKER",
    "REDACTED",
    "Approval",
    "MarkedApproval",
    "approval_marks",
    "approve_export",
    "approved_elsewhere_note",
    "require_approved",
]

#: The only ``redaction_status`` an approvable export may have.
REDACTED = "redacted"
_MANIFEST = "manifest.json"
#: The export's record of which catalogs approved it: ids and times, no paths. Never part
#: of an approval's files (it changes when another catalog approves) and never trusted.
APPROVAL_MARKER = ".modellab-approvals.json"


@dataclass(frozen=True, slots=True)
class Approval:
    """A recorded approval: which files, with which sha256, approved when and by whom."""

    export_dir: Path
    files: dict[str, str]
    approved_at: str
    approved_by: str


@dataclass(frozen=True, slots=True)
class MarkedApproval:
    """An approval an export's marker says some catalog gave. Information, never a pass."""

    catalog_id: str
    approved_at: str
    #: sha256 of the approved files' fingerprint, to tell whether they changed since.
    files_sha256: str

    @property
    def short_id(self) -> str:
        """The catalog id as messages show it."""
        return self.catalog_id[:12]


def _fingerprint(export_dir: Path) -> dict[str, str]:
    """sha256 of every file in the export (but the lab's approval and output markers), by
    its path relative to it."""
    if not export_dir.is_dir():
        raise UsageError(f"{export_dir}: not an export folder")
    markers = {export_dir / APPROVAL_MARKER, export_dir / OUTPUT_MARKER}
    return {
        str(path.relative_to(export_dir)): sha256_file(path)
        for path in sorted(export_dir.rglob("*"))
        if path.is_file() and path not in markers
    }


def _files_sha256(files: dict[str, str]) -> str:
    return hashlib.sha256(jsonio.dumps(files, sort_keys=True)).hexdigest()


def approval_marks(export_dir: Path) -> list[MarkedApproval]:
    """What the export's marker says about approvals, oldest first; ``[]`` when unreadable.

    Anyone can write this file, so it only ever changes what a message says.
    """
    try:
        raw = jsonio.loads((export_dir / APPROVAL_MARKER).read_bytes())
    except (OSError, ValueError):
        return []
    entries = raw.get("approvals") if isinstance(raw, dict) else None
    marks = [
        MarkedApproval(e["catalog_id"], e["approved_at"], e["files_sha256"])
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict)
        and all(isinstance(e.get(k), str) for k in ("catalog_id", "approved_at", "files_sha256"))
    ]
    return sorted(marks, key=lambda m: m.approved_at)


def _mark_approved(
    export_dir: Path, catalog_id: str, approved_at: str, files: dict[str, str]
) -> None:
    """Add this catalog's approval to the export's marker (one entry per catalog)."""
    marks = {m.catalog_id: m for m in approval_marks(export_dir)}
    marks[catalog_id] = MarkedApproval(catalog_id, approved_at, _files_sha256(files))
    entries = [
        {"catalog_id": m.catalog_id, "approved_at": m.approved_at, "files_sha256": m.files_sha256}
        for m in sorted(marks.values(), key=lambda m: m.approved_at)
    ]
    manifest = export_dir / _MANIFEST
    try:
        mode = manifest.stat().st_mode & 0o777
        atomic_write_bytes(
            export_dir / APPROVAL_MARKER,
            jsonio.dumps({"approvals": entries}, indent=True) + b"\n",
            mode=mode,
        )
    except OSError:
        # The approval is in the catalog; the marker only improves later messages.
        pass


def _elsewhere(export_dir: Path, catalog: Catalog) -> tuple[list[MarkedApproval], bool]:
    """Approvals the marker names from other catalogs, and whether it names this one."""
    ours = catalog.catalog_id
    marks = approval_marks(export_dir)
    return [m for m in marks if m.catalog_id != ours], any(m.catalog_id == ours for m in marks)


def _describe_others(others: list[MarkedApproval], files: dict[str, str]) -> str:
    latest = others[-1]
    changed = "" if latest.files_sha256 == _files_sha256(files) else "; its files changed since"
    more = f" and {len(others) - 1} more" if len(others) > 1 else ""
    return f"catalog {latest.short_id}{more}, at {latest.approved_at}{changed}"


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
        reason = f"{sum(open_rules.values())} redacted value(s) not reviewed yet ({listed})"
        others, _ = _elsewhere(export_dir, catalog)
        if others:
            reason += (
                " in this Model Lab home; it was reviewed and approved under another one "
                f"({_describe_others(others, _fingerprint(export_dir))}), and review "
                "decisions and approvals are per catalog"
            )
        raise NotReviewedError(
            export_dir,
            reason,
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
    _mark_approved(export_dir, catalog.catalog_id, approved_at, files)
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
        raise _not_approved(export_dir, path, catalog)
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


def _not_approved(export_dir: Path, path: Path, catalog: Catalog) -> NotApprovedError:
    """The refusal for an export this catalog has no approval of, saying what the marker knows.

    Approvals named by the marker never count here: they only change the message.
    """
    again = f"review it, then run 'modellab redact approve {path}'"
    others, here = _elsewhere(export_dir, catalog)
    if others:
        return NotApprovedError(
            export_dir,
            "approved under another Model Lab home "
            f"({_describe_others(others, _fingerprint(export_dir))}), not in this one "
            f"(catalog {catalog.catalog_id[:12]}); an approval is per catalog",
            hint=f"approve it again here ({again}), or use that MODELLAB_HOME",
        )
    if here:
        return NotApprovedError(
            export_dir,
            "approved in this catalog at another location: it was moved or copied since, and "
            "an approval is bound to its folder",
            hint=f"approve it again here: {again}",
        )
    return NotApprovedError(export_dir, "this export was never approved", hint=again)


def approved_elsewhere_note(catalog: Catalog, export_dir: Path) -> str | None:
    """A line for ``redact review``: the export was approved under another home, not here."""
    export_dir = export_dir.resolve()
    if catalog.latest_approval(export_dir) is not None:
        return None
    others, _ = _elsewhere(export_dir, catalog)
    if not others:
        return None
    return (
        "This export was approved under another Model Lab home "
        f"({_describe_others(others, _fingerprint(export_dir))}). Review decisions and "
        f"approvals are per catalog: approve it here too (catalog {catalog.catalog_id[:12]}), "
        "or use that MODELLAB_HOME."
    )
