"""Approving an export: every redacted value reviewed, then the files' sha256s recorded.

An approval records the sha256 of every file in a reviewed export (but the lab's own
bookkeeping, :data:`~modellab.gate.layout.BOOKKEEPING`); it can only be given once every
redacted value in the export has a review decision. An export that was not redacted can
never be approved, so it can never pass the gate.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections import Counter
from pathlib import Path

from modellab.errors import NotReviewedError
from modellab.gate._approved import ApprovedExport, refuse_unredacted
from modellab.gate._fingerprint import export_files
from modellab.gate._marks import describe_others, elsewhere, mark_approved
from modellab.gate.layout import MANIFEST
from modellab.store import Catalog, ReviewState

__all__ = ["approve_export", "approved_elsewhere_note"]


def _refuse_unreviewed(catalog: Catalog, export_dir: Path) -> None:
    """Every distinct value the export redacted must have a recorded review decision."""
    data = (export_dir / MANIFEST).read_bytes()
    values = (json.loads(data).get("redaction") or {}).get("values") or []
    kept = ReviewState(catalog, who="").kept(export_dir, hashlib.sha256(data).hexdigest())
    open_rules = Counter(v["rule"] for v in values if (v["rule"], v["sha256"]) not in kept)
    if open_rules:
        listed = ", ".join(f"{rule} {n}" for rule, n in sorted(open_rules.items()))
        reason = f"{sum(open_rules.values())} redacted value(s) not reviewed yet ({listed})"
        others, _ = elsewhere(export_dir, catalog)
        if others:
            reason += (
                " in this Model Lab home; it was reviewed and approved under another one "
                f"({describe_others(others, export_dir)}), and review "
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
) -> ApprovedExport:
    """Record an approval of ``export_dir`` exactly as it is now, and return it opened.

    :raises RawExportError: the export was not redacted.
    :raises NotReviewedError: some redacted values have no review decision.
    """
    export_dir = export_dir.resolve()
    refuse_unredacted(export_dir)
    _refuse_unreviewed(catalog, export_dir)
    files = export_files(export_dir)
    who = approved_by or getpass.getuser()
    approved_at = catalog.record_approval(export_dir, files, who)
    mark_approved(export_dir, catalog.catalog_id, approved_at, files)
    return ApprovedExport(export_dir, files, approved_at, who, catalog.catalog_id)


def approved_elsewhere_note(catalog: Catalog, export_dir: Path) -> str | None:
    """A line for ``redact review``: the export was approved under another home, not here."""
    export_dir = export_dir.resolve()
    if catalog.latest_approval(export_dir) is not None:
        return None
    others, _ = elsewhere(export_dir, catalog)
    if not others:
        return None
    return (
        "This export was approved under another Model Lab home "
        f"({describe_others(others, export_dir)}). Review decisions and "
        f"approvals are per catalog: approve it here too (catalog {catalog.catalog_id[:12]}), "
        "or use that MODELLAB_HOME."
    )
