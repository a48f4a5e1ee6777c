"""The approval marker an export carries: which catalogs approved it, by random id.

Approving leaves :data:`~modellab.gate.layout.APPROVAL_MARKER` in the export, naming the
approving catalog by its random id (never a path) and when. The marker is advisory: it is
not one of the approved files, and nothing passes the gate because of it. It only lets a
refusal say "approved under another Model Lab home" instead of "never approved".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modellab._internal import jsonio
from modellab._internal.files import atomic_write_bytes
from modellab.gate._fingerprint import export_files, files_sha256
from modellab.gate.layout import APPROVAL_MARKER, MANIFEST
from modellab.store import Catalog

__all__ = ["MarkedApproval", "approval_marks", "describe_others", "elsewhere", "mark_approved"]


@dataclass(frozen=True, slots=True)
class MarkedApproval:
    """An approval an export's marker says some catalog gave. Information, never a pass."""

    catalog_id: str
    approved_at: str
    #: The approved files' fingerprint, to tell whether they changed since.
    files_sha256: str

    @property
    def short_id(self) -> str:
        """The catalog id as messages show it."""
        return self.catalog_id[:12]


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


def mark_approved(
    export_dir: Path, catalog_id: str, approved_at: str, files: dict[str, str]
) -> None:
    """Add this catalog's approval to the export's marker (one entry per catalog)."""
    marks = {m.catalog_id: m for m in approval_marks(export_dir)}
    marks[catalog_id] = MarkedApproval(catalog_id, approved_at, files_sha256(files))
    entries = [
        {"catalog_id": m.catalog_id, "approved_at": m.approved_at, "files_sha256": m.files_sha256}
        for m in sorted(marks.values(), key=lambda m: m.approved_at)
    ]
    try:
        mode = (export_dir / MANIFEST).stat().st_mode & 0o777
        atomic_write_bytes(
            export_dir / APPROVAL_MARKER,
            jsonio.dumps({"approvals": entries}, indent=True) + b"\n",
            mode=mode,
        )
    except OSError:
        # The approval is in the catalog; the marker only improves later messages.
        pass


def elsewhere(export_dir: Path, catalog: Catalog) -> tuple[list[MarkedApproval], bool]:
    """Approvals the marker names from other catalogs, and whether it names this one."""
    ours = catalog.catalog_id
    marks = approval_marks(export_dir)
    return [m for m in marks if m.catalog_id != ours], any(m.catalog_id == ours for m in marks)


def describe_others(others: list[MarkedApproval], export_dir: Path) -> str:
    """``catalog X and N more, at T; its files changed since`` for a refusal."""
    latest = others[-1]
    same = latest.files_sha256 == files_sha256(export_files(export_dir))
    changed = "" if same else "; its files changed since"
    more = f" and {len(others) - 1} more" if len(others) > 1 else ""
    return f"catalog {latest.short_id}{more}, at {latest.approved_at}{changed}"
