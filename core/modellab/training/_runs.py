"""Training runs in the catalog: the job, its config, lineage, preflight and outcome.

A run is ``running`` while the process that started it lives. A run whose process is gone
without saying how it ended (``kill -9``, a power cut) reads as ``interrupted``: the
process is recognised by its pid *and* its start time, so a reused pid is not mistaken
for it. ``train --resume ID`` goes on with such a run from its newest checkpoint.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.processes import alive as _alive
from modellab._internal.processes import process_token
from modellab.errors import UsageError
from modellab.store import Catalog

__all__ = [
    "FINISHED",
    "TrainRun",
    "create_run",
    "find_run",
    "list_runs",
    "new_run_id",
    "process_token",
    "update_run",
]

#: Statuses a run does not come back from (``train --resume`` refuses them).
FINISHED = frozenset({"succeeded", "cancelled"})

_COLUMNS = (
    "id, status, backend, method, base_model, dataset_dir, output_dir, config, lineage, "
    "preflight, metrics, result, error, process, created_at, updated_at"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    """``20261207-231500-3f9a1c``: sorts by time, unique by its random tail."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True, slots=True)
class TrainRun:
    """One training run as the catalog records it."""

    id: str
    #: As recorded: running, failed, cancelled, succeeded.
    recorded_status: str
    backend: str
    method: str
    base_model: str
    dataset_dir: str
    output_dir: str
    config: dict[str, Any]
    lineage: dict[str, Any]
    preflight: list[dict[str, Any]]
    metrics: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    process: str | None
    created_at: str
    updated_at: str

    @property
    def status(self) -> str:
        """The recorded status, or ``interrupted`` for a ``running`` run whose process is gone."""
        if self.recorded_status == "running" and not _alive(self.process):
            return "interrupted"
        return self.recorded_status

    @property
    def pid(self) -> int | None:
        """The pid of the process running it, while it runs."""
        if self.status != "running" or not self.process:
            return None
        return int(self.process.partition(":")[0])

    def to_json(self) -> dict[str, Any]:
        """Every field, with the live ``status``."""
        return {
            "id": self.id,
            "status": self.status,
            "backend": self.backend,
            "method": self.method,
            "base_model": self.base_model,
            "dataset_dir": self.dataset_dir,
            "output_dir": self.output_dir,
            "config": self.config,
            "lineage": self.lineage,
            "preflight": self.preflight,
            "metrics": self.metrics,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _load(text: str | None, empty: Any) -> Any:
    return jsonio.loads(text) if text else empty


def _row(row: tuple[Any, ...]) -> TrainRun:
    return TrainRun(
        id=row[0],
        recorded_status=row[1],
        backend=row[2],
        method=row[3],
        base_model=row[4],
        dataset_dir=row[5],
        output_dir=row[6],
        config=_load(row[7], {}),
        lineage=_load(row[8], {}),
        preflight=_load(row[9], []),
        metrics=_load(row[10], {}),
        result=_load(row[11], {}),
        error=row[12],
        process=None if row[13] is None else str(row[13]),
        created_at=row[14],
        updated_at=row[15],
    )


def _dumps(value: Any) -> str:
    return jsonio.dumps(value).decode()


def create_run(
    catalog: Catalog,
    *,
    run_id: str,
    backend: str,
    method: str,
    base_model: str,
    dataset_dir: Path,
    output_dir: Path,
    config: dict[str, Any],
    lineage: dict[str, Any],
    preflight: list[dict[str, Any]],
) -> TrainRun:
    """Record a new run as ``running`` in this process, and audit it."""
    now = _now()
    with catalog.transaction() as db:
        db.execute(
            f"INSERT INTO train_runs ({_COLUMNS}) VALUES "
            "(?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)",
            (
                run_id,
                backend,
                method,
                base_model,
                str(dataset_dir),
                str(output_dir),
                _dumps(config),
                _dumps(lineage),
                _dumps(preflight),
                process_token(),
                now,
                now,
            ),
        )
        catalog.audit(
            db,
            "train-start",
            {"run": run_id, "backend": backend, "method": method, "base_model": base_model},
        )
    return find_run(catalog, run_id)


def update_run(
    catalog: Catalog,
    run_id: str,
    *,
    status: str,
    metrics: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    running_here: bool = False,
) -> None:
    """Set a run's status (and what it ended with), and audit it.

    :param running_here: the run goes on in this process (a resume): record its token.
    """
    with catalog.transaction() as db:
        db.execute(
            "UPDATE train_runs SET status = ?, metrics = COALESCE(?, metrics), "
            "result = COALESCE(?, result), error = ?, updated_at = ?, "
            "process = CASE WHEN ? THEN ? ELSE process END WHERE id = ?",
            (
                status,
                None if metrics is None else _dumps(metrics),
                None if result is None else _dumps(result),
                error,
                _now(),
                running_here,
                process_token(),
                run_id,
            ),
        )
        catalog.audit(db, f"train-{status}", {"run": run_id, "error": error})


def list_runs(catalog: Catalog) -> list[TrainRun]:
    """Every run, newest first."""
    rows = catalog.query(f"SELECT {_COLUMNS} FROM train_runs ORDER BY created_at DESC, id DESC")
    return [_row(row) for row in rows]


def find_run(catalog: Catalog, ref: str) -> TrainRun:
    """The run whose id is ``ref`` or starts with it.

    :raises UsageError: none, or more than one, matches.
    """
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = catalog.query(
        f"SELECT {_COLUMNS} FROM train_runs WHERE id = ? OR id LIKE ? ESCAPE '\\' "
        "ORDER BY id LIMIT 3",
        (ref, escaped + "%"),
    )
    exact = [row for row in rows if row[0] == ref]
    if exact:
        return _row(exact[0])
    if not rows:
        raise UsageError(f"no training run {ref!r}", hint="list them: modellab train list")
    if len(rows) > 1:
        raise UsageError(f"training run {ref!r} is ambiguous; give more of its id")
    return _row(rows[0])
