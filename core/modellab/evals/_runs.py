"""Eval runs and their per-case results in the catalog.

A run is one model answering one suite with fixed sampling settings. Every answered case is
committed as it arrives, so a run that stops (Ctrl-C, a crash, a server that went away) keeps
what it got, and starting the same run again sends only the cases still missing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modellab._internal.files import disk_full
from modellab.errors import DiskFullError, EvalError
from modellab.evals._endpoints import Endpoint
from modellab.store import Catalog, utc_now

__all__ = ["CaseResult", "RunInfo", "RunStore"]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one case got: the graded action, or the endpoint's refusal."""

    case_id: str
    session_id: str
    #: ``answered``, or ``refused`` when the endpoint rejected the request itself (a 400
    #: for a context that is too long, say): graded as a failure.
    status: str
    action: dict[str, Any] | None
    error: str | None
    attempts: int
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    score: float
    passed: bool
    grades: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One row of ``eval_runs``."""

    id: str
    suite_id: str
    label: str
    model: str
    endpoint: str | None
    settings: dict[str, Any]
    status: str
    started_at: str
    finished_at: str | None


def _new_run_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


class RunStore:
    """Reads and writes runs and results through one catalog connection."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def ensure_suite(self, suite_id: str, path: str, manifest: Mapping[str, Any]) -> None:
        """Record a suite that was built elsewhere (copied in), so runs can refer to it."""
        export = manifest.get("export", {})
        with self.catalog.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO eval_suites (id, path, export_dir, "
                "export_manifest_sha256, redaction_report_sha256, cases, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    suite_id,
                    path,
                    export.get("path", ""),
                    export.get("manifest_sha256", ""),
                    export.get("redaction_report_sha256"),
                    manifest.get("counts", {}).get("cases", 0),
                    utc_now(),
                ),
            )

    def open_run(
        self, suite_id: str, endpoint: Endpoint, sampling: Mapping[str, Any], *, fresh: bool
    ) -> tuple[RunInfo, bool]:
        """The unfinished run of this suite, model and sampling, or a new one.

        :returns: the run and whether it was resumed.
        """
        settings = json.dumps(dict(sampling), sort_keys=True)
        if not fresh:
            rows = self.catalog.query(
                "SELECT id FROM eval_runs WHERE suite_id = ? AND label = ? AND model = ? "
                "AND endpoint IS ? AND settings = ? AND status != 'finished' "
                "ORDER BY started_at DESC LIMIT 1",
                (suite_id, endpoint.label, endpoint.model, endpoint.base_url, settings),
            )
            if rows:
                return self.run(rows[0][0]), True
        run_id = _new_run_id()
        with self.catalog.transaction() as db:
            db.execute(
                "INSERT INTO eval_runs (id, suite_id, label, model, endpoint, settings, status, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                (
                    run_id,
                    suite_id,
                    endpoint.label,
                    endpoint.model,
                    endpoint.base_url,
                    settings,
                    utc_now(),
                ),
            )
        return self.run(run_id), False

    def run(self, ref: str) -> RunInfo:
        """A run by id, or by a unique prefix of one."""
        rows = self.catalog.query(
            "SELECT id, suite_id, label, model, endpoint, settings, status, started_at, "
            "finished_at FROM eval_runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2",
            (len(ref), ref),
        )
        exact = [row for row in rows if row[0] == ref]
        if not rows or (len(rows) > 1 and not exact):
            problem = "no eval run" if not rows else "more than one eval run"
            raise EvalError(
                f"{problem} matches {ref!r}", hint="'modellab eval runs' lists the run ids"
            )
        row = exact[0] if exact else rows[0]
        return RunInfo(
            id=row[0],
            suite_id=row[1],
            label=row[2],
            model=row[3],
            endpoint=row[4],
            settings=json.loads(row[5]),
            status=row[6],
            started_at=row[7],
            finished_at=row[8],
        )

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        ids = [row[0] for row in self.catalog.query("SELECT id FROM eval_runs ORDER BY id DESC")]
        return [self.run(run_id) for run_id in ids]

    def score(self, run_id: str) -> dict[str, Any]:
        """Cases answered, mean score and pass rate, summed in SQL (no result is decoded)."""
        cases, score, passed = self.catalog.query(
            "SELECT count(*), coalesce(avg(score), 0), coalesce(avg(passed), 0) "
            "FROM eval_results WHERE run_id = ?",
            (run_id,),
        )[0]
        return {"cases": cases, "score": score, "pass_rate": passed}

    def by_session(self, run_id: str) -> list[dict[str, Any]]:
        """Each session's cases, mean score, passes and refusals; the weakest first."""
        rows = self.catalog.query(
            "SELECT session_id, count(*), avg(score), sum(passed), "
            "sum(status = 'refused') FROM eval_results WHERE run_id = ? "
            "GROUP BY session_id ORDER BY avg(score), session_id",
            (run_id,),
        )
        return [
            {"session_id": r[0], "cases": r[1], "score": r[2], "passed": r[3], "refused": r[4]}
            for r in rows
        ]

    def answered(self, run_id: str) -> set[str]:
        """The case ids this run already has a result for."""
        rows = self.catalog.query("SELECT case_id FROM eval_results WHERE run_id = ?", (run_id,))
        return {row[0] for row in rows}

    def record(self, run_id: str, result: CaseResult) -> None:
        """Commit one case's result (a case is never recorded twice).

        :raises DiskFullError: the catalog's disk is full; the results recorded before are
            kept, and running the same command again resumes from them.
        """
        try:
            self._record(run_id, result)
        except DiskFullError as exc:
            kept = len(self.answered(run_id))
            raise disk_full(
                exc.path,
                f"eval run {run_id} kept the {kept} answer(s) recorded before the disk "
                "filled; the same command resumes it without sending those cases again",
            ) from exc

    def _record(self, run_id: str, result: CaseResult) -> None:
        with self.catalog.transaction() as db:
            db.execute(
                "INSERT INTO eval_results (run_id, case_id, session_id, status, action, error, "
                "attempts, latency_ms, prompt_tokens, completion_tokens, score, passed, grades, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    result.case_id,
                    result.session_id,
                    result.status,
                    json.dumps(result.action) if result.action is not None else None,
                    result.error,
                    result.attempts,
                    result.latency_ms,
                    result.prompt_tokens,
                    result.completion_tokens,
                    result.score,
                    int(result.passed),
                    json.dumps(result.grades),
                    utc_now(),
                ),
            )

    def finish(self, run_id: str, *, complete: bool) -> None:
        """Mark the run finished, or incomplete (to be resumed).

        On a full disk an incomplete run stays marked "running", which resumes the same
        way, so the error that stopped it (a full disk, often) is the one reported.
        """
        try:
            self._finish(run_id, complete=complete)
        except DiskFullError as exc:
            if not complete:
                return
            raise disk_full(
                exc.path,
                f"eval run {run_id} kept all {len(self.answered(run_id))} answers but could "
                "not be marked finished; the same command finishes it without sending any case",
            ) from exc

    def _finish(self, run_id: str, *, complete: bool) -> None:
        with self.catalog.transaction() as db:
            db.execute(
                "UPDATE eval_runs SET status = ?, finished_at = ? WHERE id = ?",
                ("finished" if complete else "incomplete", utc_now() if complete else None, run_id),
            )

    def results(self, run_id: str) -> dict[str, CaseResult]:
        """Every recorded result of a run, by case id."""
        rows = self.catalog.query(
            "SELECT case_id, session_id, status, action, error, attempts, latency_ms, "
            "prompt_tokens, completion_tokens, score, passed, grades FROM eval_results "
            "WHERE run_id = ?",
            (run_id,),
        )
        return {
            row[0]: CaseResult(
                case_id=row[0],
                session_id=row[1],
                status=row[2],
                action=json.loads(row[3]) if row[3] else None,
                error=row[4],
                attempts=row[5],
                latency_ms=row[6],
                prompt_tokens=row[7],
                completion_tokens=row[8],
                score=row[9],
                passed=bool(row[10]),
                grades=json.loads(row[11]),
            )
            for row in rows
        }

    def save_comparison(self, candidate: str, baseline: str, statistics: Mapping[str, Any]) -> str:
        """Store a comparison of two runs; return its id."""
        comparison_id = _new_run_id()
        with self.catalog.transaction() as db:
            db.execute(
                "INSERT INTO eval_comparisons (id, candidate_run, baseline_run, statistics, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                (comparison_id, candidate, baseline, json.dumps(statistics), utc_now()),
            )
        return comparison_id
