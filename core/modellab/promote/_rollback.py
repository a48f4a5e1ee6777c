"""``promote --rollback``: undo the newest promotion of a config that is still in effect.

The config goes back to the bytes the promotion backed up (or is removed, when there was no
file before). Rollbacks pop a stack: the second one undoes the promotion before that, and so
on. A config edited since the promotion wrote it is refused unless forced, because restoring
the backup would throw those edits away; with ``--force`` the edited file is kept as a backup
too. Rollbacks are recorded like promotions, and never deleted.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab.errors import ConfigChangedError, PromotionError, UsageError
from modellab.promote._change import change_config
from modellab.promote._codewhale_config import ConfigSnapshot, config_diff, read_config
from modellab.promote._record import PromotionRow, active_promotions, insert_row
from modellab.store import Catalog

__all__ = ["RollbackPlan", "RollbackResult", "apply_rollback", "plan_rollback"]


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """Which promotion is undone, and the file it restores (``None``: remove the config)."""

    target: PromotionRow
    current: ConfigSnapshot
    restored: bytes | None
    #: The config is not what the promotion wrote (only possible with ``force``).
    changed_since: bool

    @property
    def diff(self) -> str:
        """The unified diff of the config change."""
        restored = None if self.restored is None else self.restored.decode("utf-8", "replace")
        return config_diff(self.current.path, self.current.text, restored)


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """A rollback as done and recorded."""

    rollback_id: int
    undid: PromotionRow
    config_path: Path
    #: The config as it was just before the rollback, kept beside it.
    backup_path: Path | None
    removed: bool


def _restored_bytes(target: PromotionRow) -> bytes | None:
    config = target.provenance.get("config", {})
    if target.backup_path is None:
        return None  # there was no file before the promotion
    backup = Path(target.backup_path)
    try:
        data = backup.read_bytes()
    except OSError as exc:
        raise PromotionError(
            f"{backup}: the backup of promotion #{target.id} cannot be read ({exc.strerror})",
            hint="restore CodeWhale's config by hand; 'modellab promote --history --json' "
            "shows what the promotion changed",
        ) from None
    if hashlib.sha256(data).hexdigest() != config.get("sha256_before"):
        raise PromotionError(
            f"{backup}: the backup of promotion #{target.id} changed since it was made",
            hint="restore CodeWhale's config by hand",
        )
    return data


def plan_rollback(catalog: Catalog, config_path: Path, *, force: bool = False) -> RollbackPlan:
    """Find the promotion to undo and check the config is still the one it wrote.

    Raises:
        UsageError: no promotion of this config is in effect.
        ConfigChangedError: the config changed since the promotion, and ``force`` is false.
        PromotionError: the promotion's backup is missing or altered.
    """
    config_path = config_path.expanduser().resolve()  # as plan_promotion recorded it
    stack = active_promotions(catalog, str(config_path))
    if not stack:
        raise UsageError(
            f"no promotion of {config_path} is left to roll back",
            hint="'modellab promote --history' lists promotions and rollbacks",
        )
    target = stack[0]
    current = read_config(config_path)
    expected = target.provenance.get("config", {}).get("sha256_after")
    changed = current.sha256 != expected
    if changed and not force:
        now = "is gone" if current.sha256 is None else f"has sha256 {current.sha256[:12]}"
        raise ConfigChangedError(
            config_path,
            f"changed since promotion #{target.id} wrote it (it {now}, the promotion wrote "
            f"{str(expected)[:12]}); rolling back would lose those edits",
            hint="look at the file; --force rolls back anyway and keeps the edited file as "
            "a backup beside it",
        )
    return RollbackPlan(
        target=target,
        current=current,
        restored=_restored_bytes(target),
        changed_since=changed,
    )


def apply_rollback(catalog: Catalog, plan: RollbackPlan) -> RollbackResult:
    """Restore the config (atomically) or remove it, and record the rollback."""
    target = plan.target
    mode = target.provenance.get("config", {}).get("mode_before")

    def record(db: sqlite3.Connection, backup: Path | None, after: str | None) -> int:
        provenance: dict[str, Any] = {
            "undoes": target.id,
            "forced": plan.changed_since,
            "config": {
                "path": str(plan.current.path),
                "sha256_before": plan.current.sha256,
                "sha256_after": after,
                "restored_from": target.backup_path,
                "backup_path": None if backup is None else str(backup),
            },
        }
        return insert_row(
            db,
            action="rollback",
            config_path=target.config_path,
            backup_path=None if backup is None else str(backup),
            provider=target.provider,
            model=target.model,
            base_url=target.base_url,
            provenance=provenance,
        )

    change = change_config(
        catalog,
        plan.current,
        plan.restored,
        mode=mode if isinstance(mode, int) else None,
        record=record,
    )
    return RollbackResult(
        rollback_id=change.row_id,
        undid=target,
        config_path=plan.current.path,
        backup_path=change.backup_path,
        removed=plan.restored is None,
    )
