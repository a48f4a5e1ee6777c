"""The gate's rules, one at a time and all together, on comparisons in a real catalog."""

from __future__ import annotations

import pytest

from modellab.errors import PromotionError, PromotionRefusedError, UsageError
from modellab.promote import GateRules, SliceWatch, evaluate_gate, load_comparison, require_passed
from promote.helpers import GOOD_STATS, stats_with


def verdict_for(lab, stats=None, rules=None, **kwargs):
    cid = lab.add_comparison(stats, **kwargs)
    with lab.catalog() as catalog:
        comparison = load_comparison(catalog, cid)
    return evaluate_gate(comparison, rules or GateRules())


def failed(verdict):
    return [c.message for c in verdict.checks if not c.passed]


def test_a_clear_win_passes_every_rule(lab):
    verdict = verdict_for(lab)
    assert verdict.passed
    rules = [c.rule for c in verdict.checks]
    assert rules == [
        "same_suite",
        "runs_finished",
        "runs_finished",
        "min_cases",
        "ci_lower_bound",
        "slice",
        "slice",
    ]
    # Default watch: tool slices with n >= 20 (bash 40, edit 30), not read (8) nor repo.
    slices = [c.message for c in verdict.checks if c.rule == "slice"]
    assert slices == [
        "slice tool=bash: difference 0.100 is not below -0.050 (n=40)",
        "slice tool=edit: difference 0.020 is not below -0.050 (n=30)",
    ]
    require_passed(verdict)  # returns quietly


def test_too_few_cases_alone(lab):
    verdict = verdict_for(lab, stats_with(n=12))
    assert failed(verdict) == [
        "n = 12 cases is below the minimum 30 (at this n only a difference of 0.120 or "
        "more is detectable)"
    ]


def test_ci_lower_bound_not_above_margin_alone(lab):
    verdict = verdict_for(lab, stats_with(ci_low=-0.012))
    assert failed(verdict) == [
        "ci lower bound -0.012 is not above margin 0.000 (95% ci -0.012 to 0.250, difference 0.150)"
    ]


def test_a_bound_equal_to_the_margin_is_not_above_it(lab):
    verdict = verdict_for(lab, rules=GateRules(margin=0.05))
    assert failed(verdict) == [
        "ci lower bound 0.050 is not above margin 0.050 (95% ci 0.050 to 0.250, difference 0.150)"
    ]


def test_a_regressing_slice_alone(lab):
    verdict = verdict_for(lab, stats_with(bash=(40, -0.081)))
    assert failed(verdict) == ["slice tool=bash: difference -0.081 is below -0.050 (n=40)"]


def test_the_tolerance_is_inclusive_and_uses_the_point_estimate(lab):
    # The slice's ci_high is +0.05 > -0.05; the point estimate (-0.05) decides, and equal passes.
    verdict = verdict_for(lab, stats_with(bash=(40, -0.05)))
    assert verdict.passed
    verdict = verdict_for(lab, stats_with(bash=(40, -0.06)), GateRules(slice_tolerance=0.1))
    assert verdict.passed


def test_unfinished_runs_and_unpaired_suites_fail(lab):
    verdict = verdict_for(lab, candidate_status="incomplete", baseline_suite="b" * 64)
    messages = failed(verdict)
    assert messages[0].startswith("candidate ran suite ") and "not paired" in messages[0]
    assert messages[1] == "candidate run run-cand-1 is 'incomplete', not finished"


def test_every_failure_is_listed_together(lab):
    stats = stats_with(n=12, ci_low=-0.012, bash=(40, -0.081))
    verdict = verdict_for(lab, stats, GateRules(watch=(SliceWatch.parse("tool:grep"),)))
    assert [c.rule for c in verdict.checks if not c.passed] == [
        "min_cases",
        "ci_lower_bound",
        "slice",
    ]
    with pytest.raises(PromotionRefusedError) as caught:
        require_passed(verdict)
    assert caught.value.failures == tuple(failed(verdict))
    assert "3 rules failed" in caught.value.message
    assert "slice tool=grep: not in the comparison" in caught.value.message


def test_explicit_watches_replace_the_default(lab):
    rules = GateRules(watch=(SliceWatch.parse("repo"), SliceWatch.parse("tool:read")))
    verdict = verdict_for(lab, rules=rules)
    assert failed(verdict) == [
        "slice repo=alpha: difference -0.200 is below -0.050 (n=30)",
        # Named explicitly, so checked although it has only 8 cases.
        "slice tool=read: difference -0.500 is below -0.050 (n=8)",
    ]
    rules = GateRules(watch=(SliceWatch.parse("tool"),), min_slice_cases=5)
    assert "tool=read" in " ".join(failed(verdict_for(lab, rules=rules)))


def test_an_empty_verdict_never_passes(lab):
    from modellab.promote import Verdict

    assert not Verdict(comparison_id="x", checks=()).passed
    with pytest.raises(PromotionRefusedError):
        require_passed(Verdict(comparison_id="x", checks=()))


@pytest.mark.parametrize("text", ["", ":bash", "tool:"])
def test_bad_watch_specs_are_refused(text):
    with pytest.raises(UsageError):
        SliceWatch.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_cases": 0}, {"slice_tolerance": -0.1}, {"margin": 1.0}, {"margin": float("nan")}],
)
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(UsageError):
        GateRules(**kwargs)


def test_newest_comparison_and_unique_prefix(lab):
    lab.add_comparison(comparison_id="aaa-old")
    lab.add_comparison(comparison_id="bbb-new")
    with lab.catalog() as catalog:
        assert load_comparison(catalog, None).id == "bbb-new"
        assert load_comparison(catalog, "aaa").id == "aaa-old"
        with pytest.raises(UsageError, match="no eval comparison matches 'zzz'"):
            load_comparison(catalog, "zzz")


def test_no_comparison_at_all(lab):
    with lab.catalog() as catalog, pytest.raises(UsageError, match="no eval comparison"):
        load_comparison(catalog, None)


def test_statistics_without_the_gates_numbers_are_refused(lab):
    stats = {k: v for k, v in GOOD_STATS.items() if k != "ci"}
    cid = lab.add_comparison(stats)
    with lab.catalog() as catalog, pytest.raises(PromotionError, match=r"lack ci\.low, ci\.high"):
        load_comparison(catalog, cid)
