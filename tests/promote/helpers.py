"""Helpers for promotion tests: a real catalog holding eval comparisons, and CodeWhale's home.

Rows go into the eval tables directly, through the real catalog: their layout (migration 5)
and the shape of ``eval_comparisons.statistics`` are the contract with ``modellab eval``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from modellab.settings import Settings
from modellab.store import Catalog, utc_now

CANDIDATE_URL = "http://127.0.0.1:8000/v1"
CANDIDATE_MODEL = "Qwen/Qwen2.5-Coder-7B-ft"


def _slice(n: int, difference: float) -> dict[str, Any]:
    return {
        "n": n,
        "sessions": max(n // 5, 1),
        "candidate": 0.6 + difference / 2,
        "baseline": 0.6 - difference / 2,
        "difference": difference,
        "ci_low": difference - 0.1,
        "ci_high": difference + 0.1,
        "too_small": n < 20,
    }


#: A comparison the candidate wins on every rule with the default thresholds.
GOOD_STATS: dict[str, Any] = {
    "n": 60,
    "sessions": 12,
    "candidate_score": 0.70,
    "baseline_score": 0.55,
    "difference": 0.15,
    "ci": {
        "level": 0.95,
        "low": 0.05,
        "high": 0.25,
        "resamples": 2000,
        "seed": 0,
        "cluster": "session",
    },
    "mcnemar": {
        "b": 3,
        "c": 12,
        "p_value": 0.0176,
        "p_value_two_sided": 0.0352,
        "alternative": "candidate better",
    },
    "mde": 0.12,
    "alpha": 0.05,
    "power": 0.8,
    "slices": {
        # read is too small to be watched by default; repo slices are not watched by default.
        "tool": {"bash": _slice(40, 0.10), "edit": _slice(30, 0.02), "read": _slice(8, -0.5)},
        "repo": {"alpha": _slice(30, -0.2), "beta": _slice(30, 0.3)},
    },
    "per_case": [],
}


def stats_with(**changes: Any) -> dict[str, Any]:
    """GOOD_STATS with top-level keys replaced; ``ci_low=`` and ``bash=`` are shortcuts."""
    stats = copy.deepcopy(GOOD_STATS)
    if "ci_low" in changes:
        stats["ci"]["low"] = changes.pop("ci_low")
    if "bash" in changes:
        n, difference = changes.pop("bash")
        stats["slices"]["tool"]["bash"] = _slice(n, difference)
    stats.update(changes)
    return stats


class Lab:
    """The test's Model Lab home and CodeWhale home, with helpers to fill the catalog."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = Settings.from_env()
        self.config = self.settings.codewhale_config_path
        self._count = 0

    def catalog(self) -> Catalog:
        """Open the real catalog (creating and migrating it)."""
        return Catalog(self.settings.catalog_path)

    def add_comparison(
        self,
        stats: dict[str, Any] | None = None,
        *,
        comparison_id: str | None = None,
        endpoint: str | None = CANDIDATE_URL,
        model: str = CANDIDATE_MODEL,
        candidate_status: str = "finished",
        baseline_suite: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> str:
        """Insert a suite, a candidate and a baseline run, and their comparison."""
        self._count += 1
        n = self._count
        suite = f"{n:02d}" + "a" * 62
        comparison_id = comparison_id or f"cmp{n:02d}" + "c" * 20
        with self.catalog() as catalog, catalog.transaction() as db:
            for sid in {suite, baseline_suite or suite}:
                db.execute(
                    "INSERT INTO eval_suites VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sid, f"/evals/{sid[:8]}", "/exports/e1", "ee" * 32, "ff" * 32, 60, utc_now()),
                )
            db.execute(
                "INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"run-cand-{n}",
                    suite,
                    "finetune-v2",
                    model,
                    endpoint,
                    json.dumps(settings or {"temperature": 0.0}),
                    candidate_status,
                    utc_now(),
                    None,
                ),
            )
            db.execute(
                "INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"run-base-{n}",
                    baseline_suite or suite,
                    "recorded",
                    "deepseek-v4",
                    None,
                    "{}",
                    "finished",
                    utc_now(),
                    utc_now(),
                ),
            )
            db.execute(
                "INSERT INTO eval_comparisons VALUES (?, ?, ?, ?, ?)",
                (
                    comparison_id,
                    f"run-cand-{n}",
                    f"run-base-{n}",
                    json.dumps(GOOD_STATS if stats is None else stats),
                    utc_now(),
                ),
            )
        return comparison_id

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row of the promotions table."""
        with self.catalog() as catalog:
            return catalog.query(
                "SELECT id, action, config_path, backup_path, provider, model, base_url, "
                "provenance FROM promotions ORDER BY id"
            )
