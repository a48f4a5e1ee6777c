"""Read an eval comparison, its two runs and their suite from the catalog.

The eval command owns these tables and writes them; promotion only reads them, and checks
that the statistics have the fields the gate needs before any rule looks at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modellab._internal import jsonio
from modellab.errors import PromotionError, UsageError
from modellab.store import Catalog

if TYPE_CHECKING:
    from modellab.evals import RunInfo

__all__ = ["ComparisonRecord", "EvalSuite", "load_comparison"]

_NO_COMPARISON_HINT = "compare a candidate with a baseline first (see 'modellab eval --help')"


@dataclass(frozen=True, slots=True)
class EvalSuite:
    """The cases both runs were graded on, and the export they came from."""

    id: str
    path: str
    export_dir: str
    export_manifest_sha256: str
    redaction_report_sha256: str | None
    cases: int


@dataclass(frozen=True, slots=True)
class ComparisonRecord:
    """A paired comparison of a candidate run with a baseline run on the same suite."""

    id: str
    created_at: str
    candidate: RunInfo
    baseline: RunInfo
    #: The candidate's suite (the gate checks the baseline ran the same one).
    suite: EvalSuite
    statistics: dict[str, Any]


def _resolve_id(catalog: Catalog, ref: str | None) -> str:
    if ref is None:
        rows = catalog.query(
            "SELECT id FROM eval_comparisons ORDER BY created_at DESC, rowid DESC LIMIT 1"
        )
        if not rows:
            raise UsageError("there is no eval comparison in the catalog", hint=_NO_COMPARISON_HINT)
        return str(rows[0][0])
    exact = catalog.query("SELECT id FROM eval_comparisons WHERE id = ?", (ref,))
    if exact:
        return ref
    # A unique prefix is enough, as for session ids. LIKE's wildcards are escaped.
    pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = catalog.query(
        "SELECT id FROM eval_comparisons WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (pattern,)
    )
    if len(rows) == 1:
        return str(rows[0][0])
    reason = "no eval comparison matches" if not rows else "more than one comparison matches"
    raise UsageError(f"{reason} {ref!r}", hint="give the full comparison id")


def _suite(catalog: Catalog, suite_id: str) -> EvalSuite:
    rows = catalog.query(
        "SELECT id, path, export_dir, export_manifest_sha256, redaction_report_sha256, cases "
        "FROM eval_suites WHERE id = ?",
        (suite_id,),
    )
    if not rows:
        raise PromotionError(f"eval suite {suite_id!r} is not in the catalog")
    sid, path, export_dir, manifest, report, cases = rows[0]
    return EvalSuite(
        id=str(sid),
        path=str(path),
        export_dir=str(export_dir),
        export_manifest_sha256=str(manifest),
        redaction_report_sha256=None if report is None else str(report),
        cases=int(cases),
    )


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = jsonio.loads(text)
    except jsonio.JSONError as exc:
        raise PromotionError(f"{what} are not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise PromotionError(f"{what} are not a JSON object")
    return value


def _check_statistics(comparison_id: str, stats: dict[str, Any]) -> None:
    """Refuse statistics without the numbers the gate reads, rather than guess them."""
    ci = stats.get("ci")
    wanted: list[tuple[str, Any]] = [
        ("n", stats.get("n")),
        ("difference", stats.get("difference")),
        ("ci.low", ci.get("low") if isinstance(ci, dict) else None),
        ("ci.high", ci.get("high") if isinstance(ci, dict) else None),
    ]
    missing = [
        name
        for name, value in wanted
        if not isinstance(value, int | float) or isinstance(value, bool)
    ]
    slices = stats.get("slices", {})
    if not isinstance(slices, dict) or not all(isinstance(v, dict) for v in slices.values()):
        missing.append("slices")
    if missing:
        raise PromotionError(
            f"comparison {comparison_id}: its statistics lack {', '.join(missing)}",
            hint="re-run the comparison with this version of Model Lab",
        )


def load_comparison(catalog: Catalog, ref: str | None) -> ComparisonRecord:
    """The comparison ``ref`` (an id or unique prefix), or the newest one when ``None``.

    Raises:
        UsageError: no comparison matches, or there is none at all.
        PromotionError: the comparison's runs, suite or statistics are missing or malformed.
    """
    comparison_id = _resolve_id(catalog, ref)
    candidate_id, baseline_id, statistics, created_at = catalog.query(
        "SELECT candidate_run, baseline_run, statistics, created_at FROM eval_comparisons "
        "WHERE id = ?",
        (comparison_id,),
    )[0]
    stats = _json_object(statistics, f"comparison {comparison_id} statistics")
    _check_statistics(comparison_id, stats)
    # The eval package owns its runs; imported here so --history and --rollback stay light.
    from modellab.evals import RunStore

    runs = RunStore(catalog)
    candidate = runs.run(str(candidate_id))
    return ComparisonRecord(
        id=comparison_id,
        created_at=str(created_at),
        candidate=candidate,
        baseline=runs.run(str(baseline_id)),
        suite=_suite(catalog, candidate.suite_id),
        statistics=stats,
    )
