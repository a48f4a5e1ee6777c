"""The ``promotions`` table: one row per promotion and per rollback, never updated.

Which promotions are still in effect is derived, not stored: a rollback row names the
promotion it undid (``provenance.undoes``), and the promotions of a config file that no
rollback names form a stack. ``--rollback`` pops the newest of them, so a second rollback
undoes the promotion before that one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from modellab._internal import jsonio
from modellab.store import Catalog, utc_now

__all__ = ["PromotionRow", "active_promotions", "insert_row", "list_rows"]

_COLUMNS = "id, action, config_path, backup_path, provider, model, base_url, provenance, created_at"


@dataclass(frozen=True, slots=True)
class PromotionRow:
    """A promotion or rollback as recorded."""

    id: int
    action: str
    config_path: str
    backup_path: str | None
    provider: str | None
    model: str | None
    base_url: str | None
    provenance: dict[str, Any]
    created_at: str


def _row(values: tuple[Any, ...]) -> PromotionRow:
    rid, action, config_path, backup, provider, model, base_url, provenance, created = values
    return PromotionRow(
        id=int(rid),
        action=str(action),
        config_path=str(config_path),
        backup_path=None if backup is None else str(backup),
        provider=provider,
        model=model,
        base_url=base_url,
        provenance=dict(jsonio.loads(provenance)),
        created_at=str(created),
    )


def insert_row(
    db: sqlite3.Connection,
    *,
    action: str,
    config_path: str,
    backup_path: str | None,
    provider: str | None,
    model: str | None,
    base_url: str | None,
    provenance: dict[str, Any],
) -> int:
    """Insert a row inside the caller's transaction; returns its id."""
    cursor = db.execute(
        "INSERT INTO promotions (action, config_path, backup_path, provider, model, base_url, "
        "provenance, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            action,
            config_path,
            backup_path,
            provider,
            model,
            base_url,
            jsonio.dumps(provenance, sort_keys=True).decode(),
            utc_now(),
        ),
    )
    return int(cursor.lastrowid or 0)


def list_rows(catalog: Catalog) -> list[PromotionRow]:
    """Every promotion and rollback, oldest first."""
    return [_row(r) for r in catalog.query(f"SELECT {_COLUMNS} FROM promotions ORDER BY id")]


def active_promotions(catalog: Catalog, config_path: str) -> list[PromotionRow]:
    """Promotions of ``config_path`` that no rollback has undone, newest first."""
    rows = [r for r in list_rows(catalog) if r.config_path == config_path]
    undone = {r.provenance.get("undoes") for r in rows if r.action == "rollback"}
    return [r for r in reversed(rows) if r.action == "promote" and r.id not in undone]
