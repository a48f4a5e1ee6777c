"""Paired statistics: exact McNemar, the cluster bootstrap, the detectable effect, compare()."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from fractions import Fraction

import pytest

from modellab.evals._stats import (
    PairedCase,
    _cluster_draws,
    clustered_standard_error,
    compare,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_bootstrap,
)


def case(case_id, session, candidate, baseline, **slices):
    return PairedCase(
        case_id=case_id,
        session_id=session,
        candidate_score=candidate,
        baseline_score=baseline,
        candidate_passed=candidate == 1,
        baseline_passed=baseline == 1,
        slices=slices,
    )


def random_cases(seed, sessions=30, per_session=(1, 8), p_candidate=0.6, p_baseline=0.5):
    """Pass/fail cases with a session effect, so sessions really are clusters."""
    rng = random.Random(seed)
    out = []
    for s in range(sessions):
        skill = rng.uniform(-0.2, 0.2)
        for i in range(rng.randint(*per_session)):
            cand = 1.0 if rng.random() < p_candidate + skill else 0.0
            base = 1.0 if rng.random() < p_baseline + skill else 0.0
            out.append(case(f"s{s}:{i}", f"s{s}", cand, base, tool=rng.choice(["bash", "edit"])))
    return out


# ---- McNemar ---------------------------------------------------------------------------------

# (b, c, one-sided, two-sided) from scipy.stats.binomtest(c, b + c, 0.5) 1.x, alternative
# "greater" and "two-sided"; scipy is not a dev dependency, so the values are written down.
SCIPY = [
    (3, 11, 0.0286865234375, 0.057373046875),
    (11, 3, 0.9935302734375, 0.057373046875),
    (5, 5, 0.623046875, 1.0),
    (0, 7, 0.0078125, 0.015625),
    (40, 60, 0.028443966820490444, 0.05688793364098089),
    (1, 0, 1.0, 1.0),
    (12, 25, 0.02351551371975802, 0.04703102743951604),
    (250, 290, 0.046599057111377906, 0.09319811422275581),
]


@pytest.mark.parametrize(("b", "c", "one_sided", "two_sided"), SCIPY)
def test_mcnemar_matches_scipy_binomtest(b, c, one_sided, two_sided):
    result = mcnemar_exact(b, c)
    assert (result.b, result.c) == (b, c)
    assert result.p_value == pytest.approx(one_sided, rel=1e-12)
    assert result.p_value_two_sided == pytest.approx(two_sided, rel=1e-12)


def pascal_row(n):
    """Binomial coefficients by repeated addition: independent of math.comb."""
    row = [1]
    for _ in range(n):
        row = [a + b for a, b in zip([0, *row], [*row, 0], strict=True)]
    return row


@pytest.mark.parametrize("n", [1, 2, 9, 20, 61])
def test_mcnemar_equals_exact_tail_sums(n):
    row = pascal_row(n)
    for c in range(n + 1):
        upper = Fraction(sum(row[c:]), 2**n)
        lower = Fraction(sum(row[: c + 1]), 2**n)
        result = mcnemar_exact(n - c, c)
        assert result.p_value == float(upper)
        assert result.p_value_two_sided == float(min(Fraction(1), 2 * min(upper, lower)))


def test_mcnemar_without_discordant_pairs_is_one():
    assert mcnemar_exact(0, 0).p_value == 1.0
    assert mcnemar_exact(0, 0).p_value_two_sided == 1.0


def test_mcnemar_survives_huge_counts():
    result = mcnemar_exact(1000, 1400)
    assert 0 < result.p_value < 1e-8
    assert mcnemar_exact(1400, 1000).p_value == pytest.approx(1.0)


def test_mcnemar_refuses_negative_counts():
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 3)


def test_candidate_winning_every_discordant_pair_of_30():
    cases = [case(f"c{i}", f"s{i % 6}", 1.0, 0.0) for i in range(30)]
    result = compare(cases, resamples=500)
    assert (result.mcnemar.b, result.mcnemar.c) == (0, 30)
    assert result.mcnemar.p_value == 0.5**30
    assert result.mcnemar.p_value_two_sided == 2 * 0.5**30


# ---- the bootstrap ---------------------------------------------------------------------------


def test_identical_models_differ_by_nothing():
    cases = [case(f"c{i}", f"s{i % 7}", s, s) for i, s in enumerate([1.0, 0.0, 0.5] * 10)]
    result = compare(cases, resamples=1000)
    assert result.difference == 0
    assert (result.ci.low, result.ci.high) == (0, 0)
    assert (result.mcnemar.b, result.mcnemar.c, result.mcnemar.p_value) == (0, 0, 1.0)
    assert result.mde == 0


@pytest.mark.parametrize("seed", range(8))
def test_interval_contains_the_difference(seed):
    result = compare(random_cases(seed), resamples=2000, seed=seed)
    assert result.ci.low <= result.difference <= result.ci.high
    assert result.ci.low < result.ci.high
    for values in result.slices.values():
        for s in values.values():
            assert s.ci_low <= s.difference <= s.ci_high


def test_same_seed_same_interval_other_seed_other_interval():
    cases = random_cases(1)
    first = compare(cases, resamples=2000, seed=7).to_json()
    assert compare(cases, resamples=2000, seed=7).to_json() == first
    assert compare(cases, resamples=2000, seed=8).to_json()["ci"] != first["ci"]


def test_case_order_does_not_change_the_result():
    cases = random_cases(2)
    shuffled = cases[:]
    random.Random(0).shuffle(shuffled)
    one, two = compare(cases, resamples=1000), compare(shuffled, resamples=1000)
    assert (one.ci.low, one.ci.high) == (two.ci.low, two.ci.high)
    assert one.slices == two.slices


def width(by_cluster):
    interval = paired_bootstrap(by_cluster, resamples=4000, seed=3)
    return interval.high - interval.low


def test_sessions_that_move_together_widen_the_interval():
    rng = random.Random(5)
    # 40 sessions of 5 cases; in the first design all cases of a session share its difference.
    together = {f"s{s}": [rng.choice([-1.0, 1.0])] * 5 for s in range(40)}
    diffs = [d for values in together.values() for d in values]
    rng.shuffle(diffs)
    # The same 200 differences, dealt out at random: cases within a session are independent.
    independent = {f"s{s}": diffs[5 * s : 5 * s + 5] for s in range(40)}
    assert width(together) > 1.7 * width(independent)
    # And ignoring the clusters of the first design would understate its uncertainty.
    as_cases = {f"c{i}": [d] for i, d in enumerate(d for v in together.values() for d in v)}
    assert width(together) > 1.7 * width(as_cases)


def test_bootstrap_standard_error_agrees_with_the_clustered_formula():
    cases = random_cases(4, sessions=60)
    by_cluster = {}
    for c in cases:
        by_cluster.setdefault(c.session_id, []).append(c.difference)
    interval = paired_bootstrap(by_cluster, resamples=4000)
    assert interval.standard_error == pytest.approx(clustered_standard_error(by_cluster), rel=0.1)


@pytest.mark.parametrize("k", [1, 3, 100, 129, 1000])
def test_every_cluster_is_equally_likely(k):
    # Without rejection, byte values past the last multiple of k would favour low clusters
    # (for k=100, clusters 0-55 would be drawn 3/2 as often as the rest).
    encoded = [complex(i, 1) for i in range(k)]
    draws = 200 * k
    counts = Counter(int(z.real) for z in _cluster_draws_n(encoded, draws))
    assert set(counts) == set(range(k))
    sigma = math.sqrt(200 * (1 - 1 / k)) or 1
    assert max(abs(n - 200) for n in counts.values()) < 6 * sigma


def test_more_clusters_than_a_table_holds_still_resample():
    rng = random.Random(1)
    by_cluster = {f"s{i}": [rng.choice([-1.0, 0.0, 1.0])] for i in range(70_000)}
    one = paired_bootstrap(by_cluster, resamples=5, seed=2)
    assert one == paired_bootstrap(by_cluster, resamples=5, seed=2)
    assert one.low <= one.estimate + 0.02
    assert one.high >= one.estimate - 0.02


def _cluster_draws_n(encoded, n):
    stream = _cluster_draws(encoded, random.Random(0))
    return [next(stream) for _ in range(n)]


def test_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match="no clusters"):
        paired_bootstrap({})
    with pytest.raises(ValueError, match="no cases"):
        paired_bootstrap({"s": []})
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap({"s": [0.1]}, level=1.0)
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap({"s": [0.1]}, resamples=0)


# ---- minimum detectable effect ---------------------------------------------------------------


def test_mde_is_z_alpha_plus_z_power_times_se():
    # z_0.95 = 1.6449, z_0.8 = 0.8416 (normal tables).
    assert minimum_detectable_effect(0.1, alpha=0.05) == pytest.approx(0.24865, abs=1e-4)
    assert minimum_detectable_effect(0.1, alpha=0.025) == pytest.approx(0.28016, abs=1e-4)
    assert minimum_detectable_effect(math.inf, alpha=0.05) == 1.0


def test_mde_shrinks_as_n_grows():
    small = compare(random_cases(9, sessions=20), resamples=200)
    large = compare(random_cases(9, sessions=200), resamples=200)
    assert large.mde < small.mde
    assert large.mde < 0.6 * small.mde  # ten times the sessions: about a third


def test_mde_of_one_session_is_nothing_detectable():
    result = compare([case("a", "s", 1.0, 0.0), case("b", "s", 0.0, 0.0)], resamples=100)
    assert result.mde == 1.0


def test_default_alpha_matches_the_interval_gate():
    result = compare(random_cases(0), resamples=200, level=0.9)
    assert result.alpha == pytest.approx(0.05)


# ---- compare: input and output ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidate_score": 1.5}, "candidate_score must be in"),
        ({"baseline_score": -0.1}, "baseline_score must be in"),
        ({"baseline_score": math.nan}, "baseline_score must be in"),
        ({"candidate_passed": 1}, "candidate_passed must be a bool"),
        ({"case_id": ""}, "case_id must be a non-empty"),
        ({"slices": {"tool": 3}}, "slice keys and values"),
    ],
)
def test_paired_case_refuses_bad_values(kwargs, message):
    fields = {
        "case_id": "c",
        "session_id": "s",
        "candidate_score": 1.0,
        "baseline_score": 0.0,
        "candidate_passed": True,
        "baseline_passed": False,
    }
    with pytest.raises(ValueError, match=message):
        PairedCase(**{**fields, **kwargs})


def test_compare_refuses_empty_and_duplicate_input():
    with pytest.raises(ValueError, match="no cases"):
        compare([])
    with pytest.raises(ValueError, match="'a' appears more than once"):
        compare([case("a", "s1", 1.0, 0.0), case("a", "s2", 0.0, 0.0)])


def test_slices_of_one_session_are_flagged_and_keep_the_point():
    cases = [case(f"a{i}", f"s{i}", 1.0, float(i % 2), repo="big") for i in range(6)]
    cases += [case("lone1", "solo", 0.0, 1.0, repo="tiny"), case("lone2", "solo", 0.0, 0.5)]
    repo = compare(cases, resamples=500).slices["repo"]
    assert repo["tiny"].too_small
    assert repo["tiny"].ci_low == repo["tiny"].ci_high == repo["tiny"].difference == -1.0
    assert not repo["big"].too_small
    # A case without the key is in no slice of it (but still in the totals).
    assert repo["big"].n + repo["tiny"].n == 7


def test_slice_keys_choose_the_breakdown():
    cases = [case(f"c{i}", f"s{i}", 1.0, 0.0, tool="bash", repo="r") for i in range(3)]
    assert set(compare(cases, resamples=100).slices) == {"repo", "tool"}
    assert set(compare(cases, resamples=100, slice_keys=["tool"]).slices) == {"tool"}


def test_json_has_exactly_the_documented_shape():
    data = compare(random_cases(3), resamples=300, seed=11).to_json()
    assert set(data) == {
        "n", "sessions", "candidate_score", "baseline_score", "difference", "ci",
        "mcnemar", "mde", "alpha", "power", "slices", "per_session", "per_case",
    }  # fmt: skip
    assert data["ci"] == {**data["ci"], "level": 0.95, "resamples": 300, "seed": 11}
    assert set(data["ci"]) == {"level", "low", "high", "resamples", "seed", "cluster"}
    assert data["ci"]["cluster"] == "session"
    assert set(data["mcnemar"]) == {"b", "c", "p_value", "p_value_two_sided", "alternative"}
    assert data["mcnemar"]["alternative"] == "candidate better"
    assert data["power"] == 0.8
    bash = data["slices"]["tool"]["bash"]
    assert set(bash) == {
        "n", "sessions", "candidate", "baseline", "difference", "ci_low", "ci_high", "too_small",
    }  # fmt: skip
    first = data["per_case"][0]
    assert set(first) == {
        "case_id", "session_id", "candidate", "baseline", "candidate_passed",
        "baseline_passed", "slices",
    }  # fmt: skip
    assert first["slices"] == {"tool": first["slices"]["tool"]}
    assert len(data["per_case"]) == data["n"]
    # Plain JSON: no NaN or infinity sneaks in, and it round-trips.
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_per_session_sums_each_session_worst_first():
    cases = [
        case("a", "s1", 1.0, 0.0),
        case("b", "s1", 0.5, 0.5),
        case("c", "s2", 0.0, 1.0),
        case("d", "s3", 0.5, 0.5),
    ]
    rows = compare(cases, resamples=50).to_json()["per_session"]
    assert [r["session_id"] for r in rows] == ["s2", "s3", "s1"]
    s1 = rows[-1]
    assert (s1["n"], s1["candidate"], s1["baseline"], s1["difference"]) == (2, 0.75, 0.25, 0.5)
    assert (s1["candidate_passed"], s1["baseline_passed"]) == (1, 0)
    assert sum(r["n"] for r in rows) == len(cases)


def test_scores_are_means_and_the_difference_is_theirs():
    cases = [case("a", "s1", 1.0, 0.5), case("b", "s1", 0.5, 0.5), case("c", "s2", 0.0, 1.0)]
    result = compare(cases, resamples=100)
    assert result.candidate_score == pytest.approx(0.5)
    assert result.baseline_score == pytest.approx(2 / 3)
    assert result.difference == pytest.approx(-1 / 6)
    assert (result.n, result.sessions) == (3, 2)
