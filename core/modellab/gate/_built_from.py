"""The gate at the moment of use: the approval a suite or dataset was built from still stands.

A suite or dataset stores :meth:`ApprovedExport.record` when it is built. Before its content
is used (sent to an endpoint, trained on, uploaded), :func:`verify_built_from` checks that
this approval is this catalog's, that the export still passes the gate, and that the
approval standing now covers the very files the suite or dataset was built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modellab.errors import NotApprovedError, StaleApprovalError
from modellab.gate._approved import ApprovedExport, open_approved
from modellab.store import Catalog

__all__ = ["RECORD_FIELDS", "verify_built_from"]

#: The fields of an approval record that must be present (strings) for it to be checked.
RECORD_FIELDS = ("export_dir", "approved_at", "catalog_id", "files_sha256")


def _changed(record: Mapping[str, Any], now: ApprovedExport) -> str:
    """`` (a, b, …)``: the files that differ between the record and the approval now."""
    built = record.get("files")
    if not isinstance(built, dict):
        return ""
    changed = sorted(
        name for name in built.keys() | now.files.keys() if built.get(name) != now.files.get(name)
    )
    if not changed:
        return ""
    return f" ({', '.join(changed[:5])}{', …' if len(changed) > 5 else ''})"


def verify_built_from(
    record: Any, catalog: Catalog, *, built: Path, kind: str, rebuild: str
) -> ApprovedExport:
    """Return the approval ``record`` names, opened, if it still stands; else raise.

    ``built`` is the suite or dataset folder and ``kind`` what it is (``suite``,
    ``dataset``), for messages; ``rebuild`` is the hint on every refusal.

    :raises NotApprovedError: no usable record, another catalog's, or the export is gone
        or no longer approved here.
    :raises RawExportError: the export is not redacted (now).
    :raises StaleApprovalError: the export changed, or is approved now for other files
        than the ones it was built from.
    """
    usable = isinstance(record, dict) and all(isinstance(record.get(k), str) for k in RECORD_FIELDS)
    if not usable:
        raise NotApprovedError(
            built,
            f"this {kind} records no approval it was built from (built by hand, or by an "
            f"older Model Lab), so nothing says its content passed the gate",
            hint=rebuild,
        )
    export_dir = Path(record["export_dir"])
    if record["catalog_id"] != catalog.catalog_id:
        raise NotApprovedError(
            built,
            f"built from export {export_dir} under another Model Lab home (catalog "
            f"{record['catalog_id'][:12]}), not this one (catalog {catalog.catalog_id[:12]}); "
            "approvals are per catalog",
            hint=rebuild,
        )
    if not export_dir.is_dir():
        raise NotApprovedError(
            export_dir,
            f"the export {kind} {built} was built from is gone (moved or deleted); an "
            "approval is bound to its folder, so nothing approves its content now",
            hint=f"put the export back at {export_dir}, or {rebuild}",
        )
    now = open_approved(export_dir, catalog=catalog)
    if now.fingerprint != record["files_sha256"]:
        raise StaleApprovalError(
            export_dir,
            f"approved now (at {now.approved_at}) for other files than the {kind} {built} "
            f"was built from{_changed(record, now)}; its content is not what was approved",
            hint=rebuild,
        )
    return now
