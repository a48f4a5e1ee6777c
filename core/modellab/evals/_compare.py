"""Pair two runs of one suite case by case and compare them."""

from __future__ import annotations

from pathlib import Path

from modellab.errors import EvalError
from modellab.evals._runs import RunInfo, RunStore
from modellab.evals._stats import Comparison, PairedCase, compare

__all__ = ["compare_runs"]


def _suite_slices(store: RunStore, suite_id: str) -> dict[str, dict[str, str]]:
    """Each case's slices, read from the suite folder the catalog recorded."""
    from modellab.evals._suite import read_suite

    rows = store.catalog.query("SELECT path FROM eval_suites WHERE id = ?", (suite_id,))
    if not rows:
        raise EvalError(f"suite {suite_id[:12]}… is not in the catalog")
    suite = read_suite(Path(rows[0][0]))
    return {case.id: dict(case.slices) for case in suite.cases}


def compare_runs(
    store: RunStore, candidate: RunInfo, baseline: RunInfo, *, resamples: int, seed: int
) -> Comparison:
    """Paired statistics over the cases both runs answered.

    :raises EvalError: the runs answered different suites, or share no case.
    """
    if candidate.suite_id != baseline.suite_id:
        raise EvalError(
            f"runs {candidate.id} and {baseline.id} answered different suites",
            hint="paired statistics need the same cases; run both models on one suite",
        )
    ours, theirs = store.results(candidate.id), store.results(baseline.id)
    slices = _suite_slices(store, candidate.suite_id)
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        raise EvalError(f"runs {candidate.id} and {baseline.id} have no answered case in common")
    cases = [
        PairedCase(
            case_id=case_id,
            session_id=ours[case_id].session_id,
            candidate_score=ours[case_id].score,
            baseline_score=theirs[case_id].score,
            candidate_passed=ours[case_id].passed,
            baseline_passed=theirs[case_id].passed,
            slices=slices.get(case_id, {}),
        )
        for case_id in shared
    ]
    return compare(cases, resamples=resamples, seed=seed)
