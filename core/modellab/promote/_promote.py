"""``promote --if-better``: gate a comparison, then make its candidate CodeWhale's default.

Planning reads everything and changes nothing (it is all ``--dry-run`` needs); applying
refuses a plan whose verdict failed, then changes the config and records the promotion with
its provenance in one step (see ``_change``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab.errors import ConfigFileError, UsageError
from modellab.promote._change import change_config
from modellab.promote._codewhale_config import (
    ConfigSnapshot,
    ProviderEntry,
    config_diff,
    default_provider_name,
    known_context_window,
    read_config,
    render_config,
)
from modellab.promote._comparison import ComparisonRecord
from modellab.promote._gate import GateRules, Verdict, evaluate_gate, require_passed
from modellab.promote._record import insert_row
from modellab.store import Catalog

__all__ = [
    "PromotionPlan",
    "PromotionRequest",
    "PromotionResult",
    "apply_promotion",
    "plan_promotion",
]


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    """What the user asked for; ``None`` fields take the documented defaults."""

    rules: GateRules
    config_path: Path
    provider_name: str | None = None
    context_window: int | None = None
    api_key_env: str | None = None
    dataset_dir: Path | None = None
    #: A legacy config CodeWhale falls back to while ``config_path`` does not exist.
    legacy_config_path: Path | None = None


@dataclass(frozen=True, slots=True)
class PromotionPlan:
    """The verdict and the exact config change, computed without writing anything."""

    comparison: ComparisonRecord
    verdict: Verdict
    rules: GateRules
    entry: ProviderEntry
    before: ConfigSnapshot
    new_text: str
    #: ``{"dir", "manifest_sha256", "manifest"}`` of ``--dataset``, or ``None``.
    dataset: dict[str, Any] | None

    @property
    def diff(self) -> str:
        """The unified diff of the config change."""
        return config_diff(self.before.path, self.before.text, self.new_text)


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """A promotion as written and recorded."""

    promotion_id: int
    config_path: Path
    backup_path: Path | None
    sha256_before: str | None
    sha256_after: str


def _context_window(
    request: PromotionRequest, comparison: ComparisonRecord, before: ConfigSnapshot
) -> int:
    if request.context_window is not None:
        return request.context_window
    candidate = comparison.candidate
    recorded = candidate.settings.get("context_window")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded > 0:
        return recorded
    known = known_context_window(before, candidate.endpoint or "", candidate.model)
    if known is not None:
        return known
    raise UsageError(
        f"the context window of {candidate.model!r} at {candidate.endpoint} is not known",
        hint="pass --context-window N: the tokens that server accepts (vLLM's "
        "--max-model-len, SGLang's --context-length). Model Lab does not guess it.",
    )


def _dataset(directory: Path) -> dict[str, Any]:
    manifest = directory / "manifest.json"
    try:
        data = manifest.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"--dataset: cannot read {manifest} ({exc.strerror})",
            hint="give a folder written by 'modellab dataset build'",
        ) from None
    try:
        parsed = jsonio.loads(data)
    except jsonio.JSONError as exc:
        raise UsageError(
            f"--dataset: {manifest}: {jsonio.describe_json_error(data, exc)}"
        ) from None
    return {
        "dir": str(directory),
        "manifest_sha256": hashlib.sha256(data).hexdigest(),
        "manifest": parsed,
    }


def _refuse_shadowing(request: PromotionRequest, before: ConfigSnapshot) -> None:
    legacy = request.legacy_config_path
    if before.data is None and legacy is not None and legacy.is_file():
        # CodeWhale reads the legacy file only while the new one is absent; creating the new
        # one would silently drop every setting the user has there.
        raise ConfigFileError(
            before.path,
            f"does not exist, so CodeWhale reads {legacy} instead; creating it would hide "
            "every setting in that file",
            hint=f"pass --config {legacy} to edit that file, or move it to {before.path} first",
        )


def plan_promotion(comparison: ComparisonRecord, request: PromotionRequest) -> PromotionPlan:
    """Apply the gate to ``comparison`` and compute the config change; write nothing.

    The plan is returned whether or not the gate passed, so a dry run can show both.

    Raises:
        UsageError: a candidate with no endpoint, an unknown context window, a bad flag
            value, or an unreadable ``--dataset``.
        ConfigFileError: the config cannot be read or is not TOML (with its line).
    """
    verdict = evaluate_gate(comparison, request.rules)
    candidate = comparison.candidate
    if not candidate.endpoint:
        raise UsageError(
            f"the candidate of comparison {comparison.id} is run {candidate.id} "
            f"({candidate.label!r}), which has no endpoint to point CodeWhale at",
            hint="promote a comparison whose candidate is a served model",
        )
    before = read_config(request.config_path.expanduser().resolve())
    _refuse_shadowing(request, before)
    entry = ProviderEntry(
        name=request.provider_name or default_provider_name(candidate.model),
        base_url=candidate.endpoint,
        model=candidate.model,
        context_window=_context_window(request, comparison, before),
        api_key_env=request.api_key_env,
    )
    return PromotionPlan(
        comparison=comparison,
        verdict=verdict,
        rules=request.rules,
        entry=entry,
        before=before,
        new_text=render_config(before, entry),
        dataset=_dataset(request.dataset_dir) if request.dataset_dir is not None else None,
    )


def _provenance(
    plan: PromotionPlan, backup: Path | None, sha256_after: str | None
) -> dict[str, Any]:
    from modellab import __version__

    comparison = plan.comparison
    return {
        "model": plan.entry.model,
        "endpoint": plan.entry.base_url,
        "provider": plan.entry.name,
        "provider_table": plan.entry.table(),
        "comparison": comparison.id,
        "comparison_created_at": comparison.created_at,
        "eval_runs": {"candidate": comparison.candidate.id, "baseline": comparison.baseline.id},
        "candidate": asdict(comparison.candidate),
        "baseline": asdict(comparison.baseline),
        "suite": asdict(comparison.suite),
        "dataset": plan.dataset,
        "statistics": comparison.statistics,
        "thresholds": plan.rules.as_dict(),
        "verdict": plan.verdict.as_dict(),
        "config": {
            "path": str(plan.before.path),
            "existed_before": plan.before.data is not None,
            "mode_before": plan.before.mode,
            "sha256_before": plan.before.sha256,
            "sha256_after": sha256_after,
            "backup_path": None if backup is None else str(backup),
        },
        "modellab_version": __version__,
    }


def apply_promotion(catalog: Catalog, plan: PromotionPlan) -> PromotionResult:
    """Write the config change of a passing plan and record it with full provenance.

    Raises:
        PromotionRefusedError: the plan's verdict failed (nothing is written).
        ConfigChangedError: the config changed since the plan read it.
        PromotionError: the file could not be written; the config is as it was.
    """
    require_passed(plan.verdict)
    entry = plan.entry

    def record(db: sqlite3.Connection, backup: Path | None, after: str | None) -> int:
        return insert_row(
            db,
            action="promote",
            config_path=str(plan.before.path),
            backup_path=None if backup is None else str(backup),
            provider=entry.name,
            model=entry.model,
            base_url=entry.base_url,
            provenance=_provenance(plan, backup, after),
        )

    change = change_config(
        catalog,
        plan.before,
        plan.new_text.encode("utf-8"),
        mode=plan.before.mode,
        record=record,
    )
    assert change.sha256_after is not None  # a promotion always writes a file
    return PromotionResult(
        promotion_id=change.row_id,
        config_path=plan.before.path,
        backup_path=change.backup_path,
        sha256_before=plan.before.sha256,
        sha256_after=change.sha256_after,
    )
