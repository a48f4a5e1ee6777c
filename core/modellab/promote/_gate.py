"""The promotion gate: every rule checked, every result kept, numbers in each message.

Rules, in the order they are reported:

1. ``same_suite``: candidate and baseline were graded on the same suite (the statistics are
   paired; two suites make the difference meaningless).
2. ``runs_finished``: neither run is incomplete.
3. ``min_cases``: the comparison has at least ``min_cases`` cases.
4. ``ci_lower_bound``: the lower bound of the confidence interval on the difference
   (candidate minus baseline) is strictly above ``margin``.
5. ``slice``: no watched slice regresses: its *point estimate* of the difference is not below
   ``-slice_tolerance``. The point estimate, not the interval's upper bound, because slices are
   small: an upper-bound rule only refuses regressions a slice of 20-50 cases can prove,
   which is almost none, while the point estimate refuses whenever the evidence leans towards
   a regression beyond the tolerance. Erring towards keeping the current model is the cheap
   mistake.

A verdict with no checks never passes (nothing checked must not mean "better").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modellab.errors import PromotionRefusedError, UsageError
from modellab.promote._comparison import ComparisonRecord

__all__ = [
    "DEFAULT_MIN_SLICE_CASES",
    "DEFAULT_WATCH_KIND",
    "GateRules",
    "RuleCheck",
    "SliceWatch",
    "Verdict",
    "evaluate_gate",
    "require_passed",
]

#: Without ``--watch-slice``, every slice of this kind is watched ...
DEFAULT_WATCH_KIND = "tool"
#: ... when it has at least this many cases. Below 20 a single case moves the slice's mean by
#: 5 points or more, so the 0.05 default tolerance would be crossed by noise.
DEFAULT_MIN_SLICE_CASES = 20


@dataclass(frozen=True, slots=True)
class SliceWatch:
    """A slice kind (``tool``), or one slice of it (``tool:bash``), to check for regressions."""

    kind: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> SliceWatch:
        """Read ``KIND`` or ``KIND:VALUE``."""
        kind, _, value = text.partition(":")
        if not kind or (_ and not value):
            raise UsageError(
                f"--watch-slice: {text!r} is not KIND or KIND:VALUE",
                hint="for example --watch-slice tool or --watch-slice tool:bash",
            )
        return cls(kind=kind, value=value or None)

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class GateRules:
    """The thresholds a candidate must meet. ``watch=None`` means the documented default."""

    margin: float = 0.0
    min_cases: int = 30
    watch: tuple[SliceWatch, ...] | None = None
    min_slice_cases: int = DEFAULT_MIN_SLICE_CASES
    slice_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.min_cases < 1:
            raise UsageError(f"--min-cases must be at least 1, not {self.min_cases}")
        if self.min_slice_cases < 1:
            raise UsageError(f"--min-slice-cases must be at least 1, not {self.min_slice_cases}")
        if not 0.0 <= self.slice_tolerance <= 1.0:
            raise UsageError(f"--slice-tolerance must be in 0..1, not {self.slice_tolerance}")
        if not -1.0 <= self.margin < 1.0:
            raise UsageError(f"--margin must be in -1..1 (scores are 0..1), not {self.margin}")

    def as_dict(self) -> dict[str, Any]:
        """The thresholds as recorded in provenance."""
        return {
            "margin": self.margin,
            "min_cases": self.min_cases,
            "watch": None if self.watch is None else [str(w) for w in self.watch],
            "default_watch": f"every {DEFAULT_WATCH_KIND} slice with n >= {self.min_slice_cases}",
            "min_slice_cases": self.min_slice_cases,
            "slice_tolerance": self.slice_tolerance,
            "slice_statistic": "point estimate of the difference",
        }


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule applied to one subject (a slice, or the whole comparison)."""

    rule: str
    passed: bool
    message: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Every check the gate made on a comparison."""

    comparison_id: str
    checks: tuple[RuleCheck, ...]

    @property
    def passed(self) -> bool:
        """True only when there were checks and all of them passed."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[str, ...]:
        """The message of each failed check, in order."""
        return tuple(check.message for check in self.checks if not check.passed)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready verdict."""
        return {
            "comparison": self.comparison_id,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }


def _num(value: float) -> str:
    return f"{value:.3f}"


def _suite_checks(comparison: ComparisonRecord) -> list[RuleCheck]:
    candidate, baseline = comparison.candidate, comparison.baseline
    same = candidate.suite_id == baseline.suite_id
    suite = (
        f"both runs were graded on suite {candidate.suite_id[:12]}"
        if same
        else f"candidate ran suite {candidate.suite_id[:12]} but baseline ran "
        f"{baseline.suite_id[:12]}: the comparison is not paired"
    )
    checks = [RuleCheck("same_suite", same, suite)]
    for role, run in (("candidate", candidate), ("baseline", baseline)):
        done = run.status == "finished"
        text = f"{role} run {run.id} is {run.status!r}" + ("" if done else ", not finished")
        checks.append(RuleCheck("runs_finished", done, text, {"run": run.id, "status": run.status}))
    return checks


def _overall_checks(stats: dict[str, Any], rules: GateRules) -> list[RuleCheck]:
    n = int(stats["n"])
    enough = n >= rules.min_cases
    text = f"n = {n} cases " + (
        f"meets the minimum {rules.min_cases}"
        if enough
        else f"is below the minimum {rules.min_cases}"
    )
    mde = stats.get("mde")
    if not enough and isinstance(mde, int | float):
        text += f" (at this n only a difference of {_num(mde)} or more is detectable)"
    ci = stats["ci"]
    low, high = float(ci["low"]), float(ci["high"])
    above = low > rules.margin
    level = ci.get("level", 0.95)
    ci_text = (
        f"ci lower bound {_num(low)} is {'above' if above else 'not above'} margin "
        f"{_num(rules.margin)} ({level:.0%} ci {_num(low)} to {_num(high)}, "
        f"difference {_num(float(stats['difference']))})"
    )
    return [
        RuleCheck("min_cases", enough, text, {"n": n, "min_cases": rules.min_cases}),
        RuleCheck(
            "ci_lower_bound",
            above,
            ci_text,
            {"ci_low": low, "ci_high": high, "margin": rules.margin},
        ),
    ]


def _watched(
    slices: dict[str, dict[str, Any]], rules: GateRules
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(kind, value, stats or None when absent) for every slice the rules watch."""
    watch = rules.watch if rules.watch is not None else (SliceWatch(DEFAULT_WATCH_KIND),)
    chosen: dict[tuple[str, str], dict[str, Any] | None] = {}
    for item in watch:
        of_kind = slices.get(item.kind, {})
        if item.value is not None:
            # Named explicitly: checked whatever its size, and missing is a failure.
            chosen[(item.kind, item.value)] = of_kind.get(item.value)
            continue
        for value, entry in sorted(of_kind.items()):
            if int(entry.get("n", 0)) >= rules.min_slice_cases:
                chosen.setdefault((item.kind, value), entry)
    return [(kind, value, entry) for (kind, value), entry in chosen.items()]


def _slice_checks(stats: dict[str, Any], rules: GateRules) -> list[RuleCheck]:
    floor = -rules.slice_tolerance
    checks = []
    for kind, value, entry in _watched(stats.get("slices", {}), rules):
        subject = f"slice {kind}={value}"
        if entry is None or not isinstance(entry.get("difference"), int | float):
            checks.append(RuleCheck("slice", False, f"{subject}: not in the comparison"))
            continue
        diff, n = float(entry["difference"]), int(entry.get("n", 0))
        ok = diff >= floor
        verb = "is not below" if ok else "is below"
        checks.append(
            RuleCheck(
                "slice",
                ok,
                f"{subject}: difference {_num(diff)} {verb} {_num(floor)} (n={n})",
                {"kind": kind, "value": value, "difference": diff, "n": n, "floor": floor},
            )
        )
    return checks


def evaluate_gate(comparison: ComparisonRecord, rules: GateRules) -> Verdict:
    """Apply every rule to ``comparison``; never stops at the first failure."""
    stats = comparison.statistics
    checks = [
        *_suite_checks(comparison),
        *_overall_checks(stats, rules),
        *_slice_checks(stats, rules),
    ]
    return Verdict(comparison_id=comparison.id, checks=tuple(checks))


def require_passed(verdict: Verdict) -> None:
    """Return if the verdict passed; raise :class:`PromotionRefusedError` listing each failure."""
    if verdict.passed:
        return
    raise PromotionRefusedError(verdict.comparison_id, verdict.failures or ("nothing was checked",))
