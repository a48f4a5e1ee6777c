"""Promotion: make a candidate model CodeWhale's default only when an eval says it is better.

:func:`plan_promotion` applies the gate to an eval comparison and computes the exact change
to CodeWhale's ``config.toml`` without writing anything; :func:`apply_promotion` refuses a
plan that failed the gate, then backs up, rewrites and records in one step.
:func:`plan_rollback` and :func:`apply_rollback` undo the newest promotion still in effect.
"""

from modellab.promote._codewhale_config import (
    ConfigSnapshot,
    ProviderEntry,
    default_provider_name,
)
from modellab.promote._comparison import ComparisonRecord, EvalSuite, load_comparison
from modellab.promote._gate import (
    DEFAULT_MIN_SLICE_CASES,
    DEFAULT_WATCH_KIND,
    GateRules,
    RuleCheck,
    SliceWatch,
    Verdict,
    evaluate_gate,
    require_passed,
)
from modellab.promote._promote import (
    PromotionPlan,
    PromotionRequest,
    PromotionResult,
    apply_promotion,
    plan_promotion,
)
from modellab.promote._record import PromotionRow, active_promotions, list_rows
from modellab.promote._rollback import RollbackPlan, RollbackResult, apply_rollback, plan_rollback

__all__ = [
    "DEFAULT_MIN_SLICE_CASES",
    "DEFAULT_WATCH_KIND",
    "ComparisonRecord",
    "ConfigSnapshot",
    "EvalSuite",
    "GateRules",
    "PromotionPlan",
    "PromotionRequest",
    "PromotionResult",
    "PromotionRow",
    "ProviderEntry",
    "RollbackPlan",
    "RollbackResult",
    "RuleCheck",
    "SliceWatch",
    "Verdict",
    "active_promotions",
    "apply_promotion",
    "apply_rollback",
    "default_provider_name",
    "evaluate_gate",
    "list_rows",
    "load_comparison",
    "plan_promotion",
    "plan_rollback",
    "require_passed",
]
