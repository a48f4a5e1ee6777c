"""Paired statistics for comparing a candidate model with a baseline on the same cases.

Both models answer the same cases, so every statistic here is paired: it works on the
per-case difference (candidate minus baseline) or on the discordant pairs, never on two
independent accuracies. Cases from one session are not independent (one repository, one
user, one long conversation), so intervals resample whole sessions (a cluster bootstrap).

Only the standard library is used: NumPy is not a core dependency.
"""

from __future__ import annotations

import math
import random
import statistics
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, islice, repeat
from types import MappingProxyType
from typing import Any

__all__ = [
    "BootstrapInterval",
    "Comparison",
    "McNemarResult",
    "PairedCase",
    "SliceResult",
    "clustered_standard_error",
    "compare",
    "mcnemar_exact",
    "minimum_detectable_effect",
    "paired_bootstrap",
]

#: The power every minimum detectable effect is computed for.
DEFAULT_POWER = 0.8


@dataclass(frozen=True, slots=True)
class PairedCase:
    """One case answered by both models, validated on construction.

    Raises:
        ValueError: a score outside [0, 1] (or NaN), a ``passed`` that is not a bool, an
            empty id, or a slice key or value that is not a string.
    """

    case_id: str
    session_id: str
    candidate_score: float
    baseline_score: float
    candidate_passed: bool
    baseline_passed: bool
    slices: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("case_id", "session_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        for name in ("candidate_score", "baseline_score"):
            score = getattr(self, name)
            # ``not 0 <= x <= 1`` is also true for NaN, which must not slip through.
            if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
                raise ValueError(f"case {self.case_id!r}: {name} must be in [0, 1], got {score!r}")
        for name in ("candidate_passed", "baseline_passed"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"case {self.case_id!r}: {name} must be a bool")
        # Typed loosely on purpose: slices often come straight from parsed JSON.
        pairs: Iterable[tuple[object, object]] = self.slices.items()
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
            raise ValueError(f"case {self.case_id!r}: slice keys and values must be strings")
        # A read-only copy, so a caller mutating its dict cannot change a validated case.
        object.__setattr__(self, "slices", MappingProxyType(dict(self.slices)))

    @property
    def difference(self) -> float:
        """Candidate score minus baseline score."""
        return self.candidate_score - self.baseline_score


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """Exact McNemar test on the discordant pairs.

    ``b`` counts cases the baseline passes and the candidate fails, ``c`` the reverse.
    ``p_value`` is one-sided (the candidate is better); ``p_value_two_sided`` tests any
    difference.
    """

    b: int
    c: int
    p_value: float
    p_value_two_sided: float


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """A percentile interval from a cluster bootstrap of the mean difference."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    seed: int
    #: Standard deviation of the resampled means: the bootstrap's standard error.
    standard_error: float


@dataclass(frozen=True, slots=True)
class SliceResult:
    """The comparison restricted to the cases sharing one slice value (``tool=bash``)."""

    n: int
    sessions: int
    candidate: float
    baseline: float
    difference: float
    ci_low: float
    ci_high: float
    #: Fewer than two sessions: no interval can be estimated, so it is the point itself.
    too_small: bool

    def to_json(self) -> dict[str, Any]:
        """The slice as the JSON object the report and the promotion gate read."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Everything ``compare`` measured; ``to_json`` is the stable, documented shape."""

    n: int
    sessions: int
    candidate_score: float
    baseline_score: float
    difference: float
    ci: BootstrapInterval
    mcnemar: McNemarResult
    #: Smallest true difference detectable with ``power`` at one-sided ``alpha``.
    mde: float
    alpha: float
    power: float
    slices: Mapping[str, Mapping[str, SliceResult]]
    cases: tuple[PairedCase, ...]

    def per_session(self) -> list[dict[str, Any]]:
        """Each session's cases summed up, the sessions where the candidate lost most first."""
        groups: dict[str, list[PairedCase]] = {}
        for case in self.cases:
            groups.setdefault(case.session_id, []).append(case)
        rows = []
        for session_id, cases in groups.items():
            candidate, baseline, difference = _means(cases)
            rows.append(
                {
                    "session_id": session_id,
                    "n": len(cases),
                    "candidate": candidate,
                    "baseline": baseline,
                    "difference": difference,
                    "candidate_passed": sum(c.candidate_passed for c in cases),
                    "baseline_passed": sum(c.baseline_passed for c in cases),
                }
            )
        return sorted(rows, key=lambda row: (row["difference"], row["session_id"]))

    def to_json(self) -> dict[str, Any]:
        """The comparison as plain JSON types, in the shape the promotion gate reads."""
        return {
            "n": self.n,
            "sessions": self.sessions,
            "candidate_score": self.candidate_score,
            "baseline_score": self.baseline_score,
            "difference": self.difference,
            "ci": {
                "level": self.ci.level,
                "low": self.ci.low,
                "high": self.ci.high,
                "resamples": self.ci.resamples,
                "seed": self.ci.seed,
                "cluster": "session",
            },
            "mcnemar": {
                "b": self.mcnemar.b,
                "c": self.mcnemar.c,
                "p_value": self.mcnemar.p_value,
                "p_value_two_sided": self.mcnemar.p_value_two_sided,
                "alternative": "candidate better",
            },
            "mde": self.mde,
            "alpha": self.alpha,
            "power": self.power,
            "slices": {
                key: {value: result.to_json() for value, result in values.items()}
                for key, values in self.slices.items()
            },
            "per_session": self.per_session(),
            "per_case": [
                {
                    "case_id": case.case_id,
                    "session_id": case.session_id,
                    "candidate": case.candidate_score,
                    "baseline": case.baseline_score,
                    "candidate_passed": case.candidate_passed,
                    "baseline_passed": case.baseline_passed,
                    "slices": dict(case.slices),
                }
                for case in self.cases
            ],
        }


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Exact McNemar test: under no difference, ``c ~ Binomial(b + c, 1/2)``.

    Args:
        b: cases the baseline passes and the candidate fails.
        c: cases the candidate passes and the baseline fails.

    Returns:
        One-sided ``P(X >= c)`` (the candidate is better) and the two-sided p-value
        ``min(1, 2 * min(P(X >= c), P(X <= c)))``, which for a symmetric binomial equals
        summing every outcome no more likely than ``c``. With no discordant pairs both are 1.

    Raises:
        ValueError: a negative count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return McNemarResult(b=b, c=c, p_value=1.0, p_value_two_sided=1.0)
    # Exact integer counts divided once: Python's int / int rounds correctly even for 2**2000.
    total = 1 << n
    lower = _binomial_head(n, c)  # outcomes X <= c
    upper = total - lower + math.comb(n, c)  # outcomes X >= c
    return McNemarResult(
        b=b,
        c=c,
        p_value=upper / total,
        p_value_two_sided=min(1.0, 2 * min(upper, lower) / total),
    )


def _binomial_head(n: int, c: int) -> int:
    """``sum(comb(n, k) for k <= c)``, each term from the last, in O(c) steps."""
    term = total = 1
    for k in range(c):
        term = term * (n - k) // (k + 1)
        total += term
    return total


def paired_bootstrap(
    diffs_by_cluster: Mapping[str, Sequence[float]],
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Cluster bootstrap percentile interval of the mean per-case difference.

    Each resample draws as many clusters as there are, with replacement, takes all their
    cases and computes the mean over cases. Clusters are visited in sorted key order, so
    the result depends on the seed and the data, not on the order cases arrived in.

    Args:
        diffs_by_cluster: per-case differences (candidate minus baseline) by session id.
        resamples: number of bootstrap resamples.
        level: the interval's coverage, e.g. 0.95.
        seed: seed of the resampling; the same seed gives the same interval.

    Returns:
        The observed mean, the percentile interval (linear interpolation between order
        statistics) and the bootstrap standard error.

    Raises:
        ValueError: no clusters, an empty cluster, ``resamples < 1`` or ``level`` not in (0, 1).
    """
    if not diffs_by_cluster:
        raise ValueError("no clusters to resample")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    sums, counts = _cluster_totals(diffs_by_cluster)
    estimate = math.fsum(sums) / sum(counts)
    k = len(sums)
    # A cluster as one complex number, sum + count·i: one C-level ``sum`` adds both at once.
    encoded = [complex(s, n) for s, n in zip(sums, counts, strict=True)]
    draws = _cluster_draws(encoded, random.Random(seed))
    means = []
    for _ in range(resamples):
        total = sum(islice(draws, k), 0j)
        means.append(total.real / total.imag)
    means.sort()
    tail = (1 - level) / 2
    return BootstrapInterval(
        estimate=estimate,
        low=_quantile(means, tail),
        high=_quantile(means, 1 - tail),
        level=level,
        resamples=resamples,
        seed=seed,
        standard_error=statistics.pstdev(means) if resamples > 1 else 0.0,
    )


def clustered_standard_error(diffs_by_cluster: Mapping[str, Sequence[float]]) -> float:
    """Cluster-robust standard error of the mean per-case difference.

    With ``S_g`` and ``N_g`` the sum and count of cluster ``g``, ``N = Σ N_g``, ``m = Σ S_g / N``
    and ``k`` clusters, the linearised variance of the ratio mean is
    ``k / (k - 1) · Σ (S_g - m·N_g)² / N²``. It is what the cluster bootstrap estimates, without
    its resampling noise, so the minimum detectable effect does not move with the seed.

    Returns:
        The standard error, or infinity with fewer than two clusters (nothing to estimate from).

    Raises:
        ValueError: no clusters or an empty cluster.
    """
    if not diffs_by_cluster:
        raise ValueError("no clusters")
    sums, counts = _cluster_totals(diffs_by_cluster)
    k = len(sums)
    if k < 2:
        return math.inf
    total = sum(counts)
    mean = math.fsum(sums) / total
    spread = math.fsum((s - mean * n) ** 2 for s, n in zip(sums, counts, strict=True))
    return math.sqrt(k / (k - 1) * spread) / total


def minimum_detectable_effect(
    standard_error: float, *, alpha: float, power: float = DEFAULT_POWER
) -> float:
    """Smallest true difference a one-sided test at ``alpha`` detects with ``power``.

    Normal approximation: ``MDE = (z_{1-alpha} + z_{power}) · SE``, with ``z`` the standard
    normal quantile and ``SE`` the (clustered) standard error of the mean difference at the
    current n. With ``alpha=0.025`` and power 0.8 that is ``2.80 · SE``.

    Returns:
        The effect, capped at 1.0: differences of scores in [0, 1] never exceed 1, so 1.0 means
        this suite can detect nothing (also when ``standard_error`` is infinite).

    Raises:
        ValueError: ``alpha`` or ``power`` not in (0, 1), or a negative standard error.
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha} and {power}")
    if standard_error < 0:
        raise ValueError(f"standard error must be non-negative, got {standard_error}")
    normal = statistics.NormalDist()
    return min(1.0, (normal.inv_cdf(1 - alpha) + normal.inv_cdf(power)) * standard_error)


def compare(
    cases: Sequence[PairedCase],
    *,
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    slice_keys: Sequence[str] | None = None,
    alpha: float | None = None,
    power: float = DEFAULT_POWER,
) -> Comparison:
    """Compare candidate and baseline on the same cases, overall and per slice.

    Args:
        cases: one entry per case, each answered by both models.
        resamples: bootstrap resamples for every interval.
        level: coverage of every interval.
        seed: bootstrap seed; every slice uses it too, so the whole result is reproducible.
        slice_keys: slice keys to break the result down by; ``None`` means every key any case
            has. A case without a key is left out of that key's slices only.
        alpha: one-sided level for the minimum detectable effect. ``None`` means
            ``(1 - level) / 2``: a lower bound above zero of a two-sided 95 % interval is a
            one-sided test at 0.025, and the effect should match the gate actually applied.
        power: power for the minimum detectable effect.

    Raises:
        ValueError: no cases, or a case id given twice.
    """
    if not cases:
        raise ValueError("no cases to compare: the suite is empty")
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            raise ValueError(f"case id {case.case_id!r} appears more than once")
        seen.add(case.case_id)
    if alpha is None:
        alpha = (1 - level) / 2
    by_cluster = _by_cluster(cases)
    candidate, baseline, difference = _means(cases)
    discordant_b = sum(1 for case in cases if case.baseline_passed and not case.candidate_passed)
    discordant_c = sum(1 for case in cases if case.candidate_passed and not case.baseline_passed)
    keys = sorted({k for case in cases for k in case.slices}) if slice_keys is None else slice_keys
    slices: dict[str, Mapping[str, SliceResult]] = {}
    for key in keys:
        groups: dict[str, list[PairedCase]] = {}
        for case in cases:
            if key in case.slices:
                groups.setdefault(case.slices[key], []).append(case)
        slices[key] = MappingProxyType(
            {
                value: _summarise(groups[value], resamples=resamples, level=level, seed=seed)
                for value in sorted(groups)
            }
        )
    return Comparison(
        n=len(cases),
        sessions=len(by_cluster),
        candidate_score=candidate,
        baseline_score=baseline,
        difference=difference,
        ci=paired_bootstrap(by_cluster, resamples=resamples, level=level, seed=seed),
        mcnemar=mcnemar_exact(discordant_b, discordant_c),
        mde=minimum_detectable_effect(
            clustered_standard_error(by_cluster), alpha=alpha, power=power
        ),
        alpha=alpha,
        power=power,
        slices=MappingProxyType(slices),
        cases=tuple(cases),
    )


def _summarise(
    cases: Sequence[PairedCase], *, resamples: int, level: float, seed: int
) -> SliceResult:
    """Scores, difference and interval of a group of cases."""
    by_cluster = _by_cluster(cases)
    candidate, baseline, difference = _means(cases)
    too_small = len(by_cluster) < 2
    if too_small:
        low = high = difference
    else:
        interval = paired_bootstrap(by_cluster, resamples=resamples, level=level, seed=seed)
        low, high = interval.low, interval.high
    return SliceResult(
        n=len(cases),
        sessions=len(by_cluster),
        candidate=candidate,
        baseline=baseline,
        difference=difference,
        ci_low=low,
        ci_high=high,
        too_small=too_small,
    )


def _means(cases: Sequence[PairedCase]) -> tuple[float, float, float]:
    """Mean candidate score, mean baseline score and mean per-case difference."""
    n = len(cases)
    return (
        math.fsum(c.candidate_score for c in cases) / n,
        math.fsum(c.baseline_score for c in cases) / n,
        math.fsum(c.difference for c in cases) / n,
    )


def _by_cluster(cases: Iterable[PairedCase]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for case in cases:
        groups.setdefault(case.session_id, []).append(case.difference)
    return groups


def _cluster_totals(
    diffs_by_cluster: Mapping[str, Sequence[float]],
) -> tuple[list[float], list[int]]:
    """Per-cluster sums and counts in sorted key order, so each resample is O(clusters)."""
    sums: list[float] = []
    counts: list[int] = []
    for key in sorted(diffs_by_cluster):
        diffs = diffs_by_cluster[key]
        if not diffs:
            raise ValueError(f"cluster {key!r} has no cases")
        sums.append(math.fsum(diffs))
        counts.append(len(diffs))
    return sums, counts


def _cluster_draws(encoded: Sequence[complex], rng: random.Random) -> Iterator[complex]:
    """An endless stream of clusters drawn uniformly with replacement.

    ``random.choices`` runs a Python-level step per draw; mapping random bytes through a
    lookup table keeps the loop in C and is about twice as fast. Words at or above the
    largest multiple of the cluster count are rejected, so every cluster stays exactly
    equally likely. Rejected words map to ``0j``, which ``filter(None, ...)`` drops; a real
    cluster is never ``0j`` because its count is at least one.
    """
    k = len(encoded)
    if k > 1 << 16:  # too many clusters for a table: fall back to the slower, simple way
        return chain.from_iterable(rng.choices(encoded, k=k) for _ in repeat(None))
    code, width = ("B", 1 << 8) if k <= 128 else ("H", 1 << 16)
    usable = width - width % k
    table = [encoded[word % k] if word < usable else 0j for word in range(width)]
    return filter(None, map(table.__getitem__, chain.from_iterable(_random_words(rng, code))))


def _random_words(rng: random.Random, code: str) -> Iterator[array[int]]:
    """Endless chunks of random unsigned words, the same on every platform for a seed."""
    while True:
        words = array(code, rng.randbytes(1 << 16))
        if sys.byteorder == "big":
            words.byteswap()  # randbytes is defined as bytes; read them little-endian everywhere
        yield words


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolating linearly (NumPy's default)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction
