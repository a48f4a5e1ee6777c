"""``modellab promote``: gate a comparison and switch CodeWhale's default model, or undo it.

Only ``argparse`` is imported at module level: the grammar is built for every ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from modellab.cli import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from modellab.promote import PromotionPlan, Verdict
    from modellab.settings import Settings

__all__ = ["add_promote_command", "cmd_promote"]

_DESCRIPTION = (
    "Make the candidate of an eval comparison CodeWhale's default model, but only when the "
    "comparison shows it is better: the lower bound of the confidence interval on the "
    "difference must be above --margin, the comparison must have at least --min-cases cases, "
    "and no watched slice may regress by more than --slice-tolerance (judged on the slice's "
    "point estimate, the cautious choice for small slices). Every rule is checked and every "
    "failure listed. On success CodeWhale's config.toml gets provider, default_text_model and "
    "a [providers.<name>] table; everything else in it is kept byte for byte. The old file "
    "is kept beside it as config.toml.modellab-backup-<time>, the write is atomic, and the "
    "promotion is recorded with its provenance. --rollback undoes the newest promotion still "
    "in effect (a second one undoes the one before), refusing when the config was edited "
    "since unless --force. --history lists promotions and rollbacks."
)
_EPILOG = (
    "exit codes: 0 promoted, rolled back, or the dry run passed; 2 bad arguments, unknown "
    "comparison, unknown context window, or nothing to roll back; 5 catalog error; 13 the gate "
    "refused (nothing changed); 14 config.toml unreadable, not TOML, or changed since the "
    "promotion (nothing changed)"
)


def add_promote_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add ``promote`` and its options to the top-level command group."""
    promote = add(
        commands,
        "promote",
        help="make a better candidate CodeWhale's default model, or roll back",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    mode = promote.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--if-better", action="store_true", help="promote the candidate if it passes the gate"
    )
    mode.add_argument(
        "--rollback", action="store_true", help="undo the newest promotion still in effect"
    )
    mode.add_argument("--history", action="store_true", help="list promotions and rollbacks")
    gate = promote.add_argument_group("the gate (with --if-better)")
    gate.add_argument(
        "--comparison", metavar="ID", help="an eval comparison id or prefix (default: the newest)"
    )
    gate.add_argument(
        "--margin",
        type=float,
        default=0.0,
        metavar="F",
        help="the ci lower bound on the difference must be above F (default: 0.0)",
    )
    gate.add_argument(
        "--min-cases", type=int, default=30, metavar="N", help="cases required (default: 30)"
    )
    gate.add_argument(
        "--watch-slice",
        action="append",
        metavar="KIND[:VALUE]",
        help="a slice kind (every slice of it with n >= --min-slice-cases) or one slice to "
        "check for regressions; repeatable (default: every tool slice with n >= 20)",
    )
    gate.add_argument(
        "--min-slice-cases",
        type=int,
        default=20,
        metavar="N",
        help="cases a slice needs to be watched by kind (default: 20); a slice named as "
        "KIND:VALUE is always checked",
    )
    gate.add_argument(
        "--slice-tolerance",
        type=float,
        default=0.05,
        metavar="F",
        help="a watched slice regresses when its difference is below -F (default: 0.05)",
    )
    config = promote.add_argument_group("CodeWhale's config (with --if-better)")
    config.add_argument(
        "--provider-name",
        metavar="NAME",
        help="the [providers.NAME] table to write (default: modellab-<model name>)",
    )
    config.add_argument(
        "--context-window",
        type=int,
        metavar="N",
        help="tokens the server accepts; required unless a provider table in the config "
        "already serves this model at this URL (it is never guessed)",
    )
    config.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="the variable CodeWhale reads the key from (default for loopback URLs: "
        'auth_mode = "none"; required for any other URL)',
    )
    config.add_argument(
        "--dataset", metavar="DIR", help="the dataset folder the model was trained on (provenance)"
    )
    promote.add_argument(
        "--config",
        metavar="PATH",
        help="CodeWhale's config.toml (default: $CODEWHALE_CONFIG_PATH, else "
        "$CODEWHALE_HOME/config.toml, else ~/.codewhale/config.toml)",
    )
    promote.add_argument(
        "--dry-run",
        action="store_true",
        help="print the verdict and the config diff; write nothing",
    )
    promote.add_argument(
        "--force",
        action="store_true",
        help="with --rollback: roll back even though the config was edited since the promotion",
    )
    promote.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_promote(args: argparse.Namespace) -> int:
    """Dispatch to --if-better, --rollback or --history."""
    from modellab.cli._common import settings_from_args
    from modellab.store import Catalog

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        if args.history:
            return _history(catalog, args)
        if args.rollback:
            return _rollback(catalog, args, settings)
        return _if_better(catalog, args, settings)


def _config_path(args: argparse.Namespace, settings: Settings) -> Path:
    from pathlib import Path

    if args.config:
        return Path(args.config).expanduser()
    return settings.codewhale_config_path


def _legacy_config(args: argparse.Namespace, settings: Settings) -> Path | None:
    """The legacy file CodeWhale falls back to, when neither a path nor an override is set."""
    if args.config or settings.codewhale_config_override or not settings.legacy_codewhale_home:
        return None
    return settings.legacy_codewhale_home / "config.toml"


def _shown(text: object) -> str:
    """Model names, endpoints, paths and config text come from outside: shown escaped."""
    from modellab._internal.term import shown

    return shown(text, lines=True)


def _print_verdict(verdict: Verdict, plan_summary: str) -> None:
    print(_shown(plan_summary))
    for check in verdict.checks:
        print(f"  {'ok  ' if check.passed else 'FAIL'}  {_shown(check.message)}")


def _summary(stats: dict[str, Any], cid: str, candidate: Any, baseline: Any) -> str:
    ci = stats["ci"]
    p = stats.get("mcnemar", {}).get("p_value")
    p_text = f", McNemar p = {p:.3g}" if isinstance(p, int | float) else ""
    where = f"{candidate.model} at {candidate.endpoint}" if candidate.endpoint else "no endpoint"
    return (
        f"Comparison {cid}: candidate {candidate.label!r} ({where}) "
        f"against baseline {baseline.label!r}, {stats['n']} cases: "
        f"difference {stats['difference']:+.3f} (ci {ci['low']:.3f} to {ci['high']:.3f}{p_text})"
    )


def _served_by(catalog: Any, comparison: Any) -> tuple[Any, dict[str, Any] | None]:
    """The comparison, its candidate pointed at the live server of the backend that served
    it in the eval (``modellab serve``, or ``eval run --model candidate:NAME``), and what
    that backend is; unchanged with ``None`` for an endpoint Model Lab did not serve."""
    import dataclasses

    from modellab.serving import served_at

    candidate = comparison.candidate
    if not candidate.endpoint:
        return comparison, None
    try:
        found, live = served_at(catalog, candidate.endpoint, candidate.model)
    except LookupError:
        return comparison, None
    server = live or found
    how = f"modellab serve {found.model} --backend {found.backend} --port {found.port}"
    note = (
        f"Served by {found.backend} (server {server.id}, running)"
        if live is not None
        else f"Served by {found.backend} in the eval (server {found.id}, {found.status}); "
        f"CodeWhale needs it running: {how}"
    )
    if live is not None and live.base_url != candidate.endpoint:
        candidate = dataclasses.replace(candidate, endpoint=live.base_url)
        comparison = dataclasses.replace(comparison, candidate=candidate)
    return comparison, {
        "backend": found.backend,
        "model": found.model,
        "server": server.id,
        "running": live is not None,
        "base_url": server.base_url,
        "start_command": how,
        "note": note,
    }


def _if_better(catalog: Any, args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from modellab.cli._common import emit_json, warn
    from modellab.errors import ConfigFileError, UsageError
    from modellab.promote import (
        GateRules,
        PromotionRequest,
        SliceWatch,
        apply_promotion,
        evaluate_gate,
        load_comparison,
        plan_promotion,
        require_passed,
    )

    if args.force:
        raise UsageError("--force only applies to --rollback: the gate cannot be overridden")
    rules = GateRules(
        margin=args.margin,
        min_cases=args.min_cases,
        watch=None
        if args.watch_slice is None
        else tuple(SliceWatch.parse(text) for text in args.watch_slice),
        min_slice_cases=args.min_slice_cases,
        slice_tolerance=args.slice_tolerance,
    )
    comparison = load_comparison(catalog, args.comparison)
    comparison, served = _served_by(catalog, comparison)
    verdict = evaluate_gate(comparison, rules)
    report: dict[str, Any] = {
        **verdict.as_dict(),
        "thresholds": rules.as_dict(),
        "candidate": asdict(comparison.candidate),
        "baseline": asdict(comparison.baseline),
        "dry_run": args.dry_run,
        "promotion": None,
    }
    report["served"] = served
    summary = _summary(
        comparison.statistics, comparison.id, comparison.candidate, comparison.baseline
    )
    if not args.json:
        _print_verdict(verdict, summary)
        if served is not None:
            print(f"  {_shown(served['note'])}")
    request = PromotionRequest(
        rules=rules,
        config_path=_config_path(args, settings),
        provider_name=args.provider_name,
        context_window=args.context_window,
        api_key_env=args.api_key_env,
        dataset_dir=Path(args.dataset).expanduser() if args.dataset else None,
        legacy_config_path=_legacy_config(args, settings),
    )
    plan: PromotionPlan | None = None
    if verdict.passed or args.dry_run:
        try:
            plan = plan_promotion(comparison, request)
        except (UsageError, ConfigFileError) as exc:
            if verdict.passed:
                raise
            # The gate's answer comes first; the config problem is secondary.
            warn(f"cannot show the config change: {exc.message}")
    if plan is not None:
        report.update(config_path=str(plan.before.path), provider=plan.entry.table())
        report.update(provider_name=plan.entry.name, diff=plan.diff)
        if args.dry_run and not args.json:
            sys.stdout.write(_shown(plan.diff or "(the config already says this; no change)\n"))
    if not verdict.passed:
        if args.json:
            emit_json(report)
        require_passed(verdict)
    assert plan is not None  # the gate passed, so planning ran (or raised)
    if args.dry_run:
        if args.json:
            emit_json(report)
        else:
            print("Dry run: the gate passed; nothing was written.")
        return 0
    result = apply_promotion(catalog, plan)
    report["promotion"] = {
        "id": result.promotion_id,
        "config_path": str(result.config_path),
        "backup_path": None if result.backup_path is None else str(result.backup_path),
        "sha256_before": result.sha256_before,
        "sha256_after": result.sha256_after,
    }
    if args.json:
        emit_json(report)
        return 0
    backup = result.backup_path or "none (there was no config before)"
    print(
        _shown(
            f"Promoted {plan.entry.model} as provider {plan.entry.name!r} in "
            f"{result.config_path} (promotion #{result.promotion_id}; backup: {backup})."
        )
    )
    print("Undo with: modellab promote --rollback")
    return 0


def _rollback(catalog: Any, args: argparse.Namespace, settings: Settings) -> int:
    from modellab.cli._common import emit_json
    from modellab.promote import apply_rollback, plan_rollback

    plan = plan_rollback(catalog, _config_path(args, settings), force=args.force)
    target = plan.target
    report: dict[str, Any] = {
        "undoes": target.id,
        "config_path": str(plan.current.path),
        "removes_file": plan.restored is None,
        "forced": plan.changed_since,
        "dry_run": args.dry_run,
        "diff": plan.diff,
        "rollback": None,
    }
    if args.dry_run:
        if args.json:
            emit_json(report)
            return 0
        print(_shown(f"Would undo promotion #{target.id} ({target.model} as {target.provider!r}):"))
        sys.stdout.write(_shown(plan.diff or "(no change)\n"))
        print("Dry run: nothing was written.")
        return 0
    result = apply_rollback(catalog, plan)
    report["rollback"] = {
        "id": result.rollback_id,
        "backup_path": None if result.backup_path is None else str(result.backup_path),
    }
    if args.json:
        emit_json(report)
        return 0
    done = (
        f"removed {result.config_path} (there was none before)"
        if result.removed
        else f"{result.config_path} is as it was before it"
    )
    print(
        _shown(
            f"Rolled back promotion #{target.id} ({target.model} as {target.provider!r}): {done}."
        )
    )
    if result.backup_path is not None:
        print(_shown(f"The config as it was just now is kept in {result.backup_path}."))
    return 0


def _history(catalog: Any, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from modellab._internal.term import render_table
    from modellab.cli._common import emit_json
    from modellab.promote import list_rows

    rows = list_rows(catalog)
    undone_by = {r.provenance.get("undoes"): r.id for r in rows if r.action == "rollback"}
    if args.json:
        emit_json([{**asdict(r), "undone_by": undone_by.get(r.id)} for r in rows])
        return 0
    if not rows:
        print("No promotions yet.")
        return 0
    headers = ("ID", "WHEN (UTC)", "ACTION", "PROVIDER", "MODEL", "COMPARISON", "STATE", "CONFIG")
    table: list[tuple[object, ...]] = []
    for r in rows:
        if r.action == "promote":
            state = f"undone by #{undone_by[r.id]}" if r.id in undone_by else "in effect"
            comparison = str(r.provenance.get("comparison", ""))[:12]
        else:
            state = f"undid #{r.provenance.get('undoes')}"
            state += " (forced)" if r.provenance.get("forced") else ""
            comparison = ""
        when = r.created_at[:19].replace("T", " ")
        table.append((r.id, when, r.action, r.provider, r.model, comparison, state, r.config_path))
    print(render_table(headers, table, max_width=60))
    return 0
