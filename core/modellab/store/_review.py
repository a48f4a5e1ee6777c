"""What the user decided in redaction reviews: allowlisted values, custom terms, decisions.

The allowlist and the terms apply to every later export; decisions belong to one export as
it was reviewed (its manifest's sha256), so a changed export needs a fresh review.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modellab.store._catalog import Catalog, utc_now

__all__ = ["ReviewState"]

KEEP = "keep"


class ReviewState:
    """Reads and writes the review tables of ``catalog``; ``who`` is recorded as the author."""

    def __init__(self, catalog: Catalog, who: str) -> None:
        self._catalog = catalog
        self._who = who

    # -- allowlist and terms: persistent, for every export ---------------------------------
    def allowlisted(self) -> frozenset[str]:
        """Value hashes the user marked as false positives."""
        return frozenset(
            str(r[0]) for r in self._catalog.query("SELECT value_sha256 FROM redaction_allowlist")
        )

    def allow(self, entries: Iterable[tuple[str, str]]) -> int:
        """Allowlist (value hash, rule) pairs; returns how many were new."""
        added = 0
        now = utc_now()
        with self._catalog.transaction() as db:
            for digest, rule in entries:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO redaction_allowlist VALUES (?, ?, ?, ?)",
                    (digest, rule, now, self._who),
                )
                added += cursor.rowcount
            if added:
                self._catalog.audit(db, "redaction-allow", {"added": added})
        return added

    def terms(self) -> list[str]:
        """Custom terms to redact everywhere, oldest first."""
        rows = self._catalog.query("SELECT term FROM redaction_terms ORDER BY added_at, term")
        return [str(r[0]) for r in rows]

    def add_terms(self, terms: Iterable[str]) -> int:
        """Add custom terms; returns how many were new. The audit log records only counts."""
        added = 0
        now = utc_now()
        with self._catalog.transaction() as db:
            for term in terms:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO redaction_terms VALUES (?, ?, ?)", (term, now, self._who)
                )
                added += cursor.rowcount
            if added:
                self._catalog.audit(db, "redaction-terms", {"added": added})
        return added

    # -- decisions: per export, as reviewed ---------------------------------------------
    def kept(self, export_dir: Path, manifest_sha256: str) -> set[tuple[str, str]]:
        """(rule, value hash) pairs whose redaction the user confirmed in this export."""
        rows = self._catalog.query(
            "SELECT rule, value_sha256 FROM redaction_decisions "
            "WHERE export_dir = ? AND manifest_sha256 = ? AND decision = ?",
            (str(export_dir), manifest_sha256, KEEP),
        )
        return {(str(rule), str(digest)) for rule, digest in rows}

    def keep(
        self, export_dir: Path, manifest_sha256: str, pairs: Iterable[tuple[str, str]]
    ) -> None:
        """Record that the redactions of these (rule, value hash) pairs stay."""
        now = utc_now()
        with self._catalog.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO redaction_decisions VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (str(export_dir), manifest_sha256, rule, digest, KEEP, now)
                    for rule, digest in pairs
                ],
            )
