"""``modellab eval build|run|compare|runs``: replay suites against models and compare them."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal.term import shown
from modellab.cli._common import checked_labels, emit_json, settings_from_args, warn

if TYPE_CHECKING:
    from modellab.evals import Endpoint, RunStore, RunSummary
    from modellab.settings import Settings

__all__ = ["HANDLERS"]


def cmd_build(args: argparse.Namespace) -> int:
    """Build a suite from an approved export."""
    from modellab.evals import SuiteOptions, build_suite
    from modellab.gate import open_approved
    from modellab.store import Catalog

    options = SuiteOptions(
        outcomes=tuple(args.outcome),
        labels=checked_labels(args.label),
        max_context_tokens=args.max_context_tokens,
        max_cases=args.max_cases,
        seed=args.seed,
        force=args.force,
    )
    out_dir = Path(args.out).expanduser()
    with Catalog(settings_from_args(args).catalog_path) as catalog:
        export = open_approved(Path(args.export).expanduser(), catalog=catalog)
        suite = build_suite(export, out_dir, options, catalog=catalog)
    counts = suite.manifest["counts"]
    if args.json:
        emit_json({"out": str(out_dir), **suite.manifest})
        return 0
    print(
        f"Wrote {shown(out_dir)}: {counts['cases']} cases from {counts['sessions']} sessions "
        f"(suite {suite.id[:12]})."
    )
    tools = ", ".join(f"{shown(name)} {n}" for name, n in counts["by_tool"].items())
    print(f"Next actions: {tools}.")
    return 0


def _endpoint(args: argparse.Namespace, prefix: str = "") -> Endpoint | None:
    from modellab.evals import endpoint_from_args

    values = {k: getattr(args, f"{prefix}{k}") for k in ("model", "base_url", "provider")}
    if not any(values.values()):
        return None
    endpoint = endpoint_from_args(
        model=values["model"],
        base_url=values["base_url"],
        provider=values["provider"],
        api_key_env=getattr(args, f"{prefix}api_key_env"),
        label=getattr(args, f"{prefix}label"),
        config_path=settings_from_args(args).codewhale_config_path,
    )
    return _with_window(endpoint, getattr(args, f"{prefix}context_window"))


def _with_window(endpoint: Endpoint, window: int | None) -> Endpoint:
    """``--context-window`` overrides what CodeWhale's provider table says."""
    from modellab.errors import UsageError

    if window is None:
        return endpoint
    if window < 1:
        raise UsageError(f"--context-window: {window} must be a positive number of tokens")
    return dataclasses.replace(endpoint, context_window=window)


def _baseline(args: argparse.Namespace) -> Endpoint | None:
    from modellab.errors import UsageError
    from modellab.evals import RECORDED, endpoint_from_args

    explicit = _endpoint(args, "baseline_")
    if args.against is None:
        return explicit
    if explicit is not None:
        raise UsageError("give --against or the --baseline-* options, not both")
    against: str = args.against
    endpoint = endpoint_from_args(
        model=RECORDED if against == RECORDED else None,
        base_url=None,
        provider=None if against == RECORDED else against,
        api_key_env=None,
        label=args.baseline_label,
        config_path=settings_from_args(args).codewhale_config_path,
    )
    return _with_window(endpoint, args.baseline_context_window)


def _announce(endpoint: Endpoint, suite: Any, approval: Any) -> None:
    from modellab.evals import is_loopback

    if endpoint.base_url and not is_loopback(endpoint.base_url):
        warn(
            f"sending {len(suite.cases)} cases of suite {suite.id[:12]} to "
            f"{shown(endpoint.base_url)} (model {shown(endpoint.model)}); this leaves the "
            f"machine. They were built from export {shown(str(approval.path))}, "
            f"approved at {approval.approved_at} and unchanged since (checked just now)"
        )


def _run_one(
    args: argparse.Namespace,
    suite: Any,
    endpoint: Endpoint,
    store: RunStore,
    graders: list[Any],
    approval: Any,
) -> RunSummary:
    from modellab.evals import RunLimits, Sampling, run_suite

    _announce(endpoint, suite, approval)
    summary = run_suite(
        suite,
        endpoint,
        store,
        graders,
        sampling=Sampling(temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed),
        limits=RunLimits(
            concurrency=args.concurrency, timeout_s=args.timeout, retries=args.retries
        ),
        fresh=args.fresh,
        progress=not args.json,
    )
    if not args.json:
        resumed = f" (resumed: {summary.already} already answered)" if summary.resumed else ""
        refused = f", {summary.refused} refused by the endpoint" if summary.refused else ""
        print(
            f"Run {summary.run_id}: {shown(endpoint.label)} answered {summary.answered} cases in "
            f"{summary.elapsed_s:.1f} s{refused}{resumed}."
        )
    return summary


def cmd_run(args: argparse.Namespace) -> int:
    """Answer a suite with a model (and a baseline), then compare."""
    settings = settings_from_args(args)
    with contextlib.ExitStack() as stack:
        if (args.model or "").startswith("candidate:"):
            stack.enter_context(_served_for_the_run(settings, args))
        return _run_and_compare(settings, args)


@contextlib.contextmanager
def _served_for_the_run(settings: Settings, args: argparse.Namespace) -> Iterator[None]:
    """Serve ``--model candidate:NAME`` with ``--serve-backend`` for the run; stop it after.

    The run then talks to the server like to any endpoint (``--base-url``, ``--model``),
    under the candidate's name as its label.
    """
    from modellab.cli.serve import converters_path
    from modellab.errors import UsageError
    from modellab.serving import ServeOptions, start_server, stop_server
    from modellab.store import Catalog

    if args.base_url or args.provider:
        raise UsageError(
            "--model candidate:NAME is served for the run: no --base-url or --provider"
        )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with Catalog(settings.catalog_path) as catalog:
        options = ServeOptions(
            backend=args.serve_backend,
            port=_port_of_the_last_run(settings, catalog, args.model, args.serve_backend),
            converters=converters_path(args.converters),
            started_by="eval",
        )
        server = start_server(settings, catalog, args.model, options, say=say)
    say(f"Serving {shown(server.model)} at {server.base_url} for this run.")
    args.model, args.base_url = server.served_model, server.base_url
    args.label = args.label or server.model
    args.context_window = args.context_window or server.context_window
    try:
        yield
    finally:
        with Catalog(settings.catalog_path) as catalog:
            stop_server(settings, catalog, server.id)
        say(f"Stopped server {server.id}.")


def _port_of_the_last_run(settings: Settings, catalog: Any, ref: str, backend: str) -> int | None:
    """The port an earlier run served this candidate on, while it is free: the endpoint is
    then the same, so an interrupted run of it resumes instead of starting over."""
    from modellab.serving._launch import port_taken
    from modellab.serving._records import last_port
    from modellab.serving._resolve import model_name

    port = last_port(catalog, model_name(catalog, settings, ref), backend, "eval")
    return port if port is not None and not port_taken("127.0.0.1", port) else None


def _run_and_compare(settings: Settings, args: argparse.Namespace) -> int:
    """Answer the suite with the chosen model (and the baseline), then report or compare."""
    from modellab.errors import UsageError
    from modellab.evals import RunStore, collect_graders, read_suite, verify_suite_approval
    from modellab.plugins import build_plugin_manager
    from modellab.store import Catalog

    candidate = _endpoint(args)
    if candidate is None:
        raise UsageError(
            "no model chosen",
            hint="use --model recorded, --base-url URL --model NAME, or --provider NAME",
        )
    baseline = _baseline(args)
    suite = read_suite(Path(args.suite).expanduser())
    with Catalog(settings.catalog_path) as catalog:
        # The gate first: a suite whose approval no longer stands is refused before any
        # workset loads or any request is made (run_suite checks again before sending).
        approval = verify_suite_approval(suite, catalog)
        manager = build_plugin_manager(settings, worksets_for="modellab_register_graders")
        graders = collect_graders(manager.hook.modellab_register_graders)
        store = RunStore(catalog)
        first = _run_one(args, suite, candidate, store, graders, approval)
        if baseline is None:
            return _report_one(args, store, suite.id, first)
        second = _run_one(args, suite, baseline, store, graders, approval)
        return _compare(args, store, first.run_id, second.run_id)


#: Sessions listed on the terminal after a single run (all of them are in --json).
_SESSIONS_SHOWN = 10


def _report_one(args: argparse.Namespace, store: RunStore, suite_id: str, run: Any) -> int:
    from modellab._internal.term import render_table

    scores = store.score(run.run_id)
    sessions = store.by_session(run.run_id)
    if args.json:
        emit_json(
            {
                "candidate_run": run.run_id,
                "suite_id": suite_id,
                "resumed": run.resumed,
                "answered_now": run.answered,
                "refused_now": run.refused,
                "elapsed_s": round(run.elapsed_s, 4),
                **scores,
                "per_session": sessions,
            }
        )
        return 0
    print(
        f"Score {scores['score']:.3f}, {scores['pass_rate']:.1%} of {scores['cases']} cases passed."
    )
    weakest = sessions[:_SESSIONS_SHOWN]
    print("\nWeakest sessions" if len(sessions) > len(weakest) else "\nBy session")
    print(
        render_table(
            ["session", "cases", "score", "passed", "refused"],
            [
                [r["session_id"], r["cases"], round(r["score"], 3), r["passed"], r["refused"]]
                for r in weakest
            ],
        )
    )
    if len(sessions) > len(weakest):
        print(f"({len(sessions) - len(weakest)} more sessions in --json)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two finished runs of one suite."""
    from modellab.evals import RunStore
    from modellab.store import Catalog

    with Catalog(settings_from_args(args).catalog_path) as catalog:
        store = RunStore(catalog)
        return _compare(args, store, store.run(args.candidate).id, store.run(args.baseline).id)


def _compare(args: argparse.Namespace, store: RunStore, candidate_id: str, baseline_id: str) -> int:
    from modellab.evals import compare_runs, render_terminal, write_html

    candidate, baseline = store.run(candidate_id), store.run(baseline_id)
    comparison = compare_runs(
        store, candidate, baseline, resamples=args.resamples, seed=args.stats_seed
    )
    statistics = comparison.to_json()
    comparison_id = store.save_comparison(candidate.id, baseline.id, statistics)
    meta = _meta(candidate, baseline, comparison_id)
    if args.html:
        write_html(Path(args.html).expanduser(), statistics, meta)
    if args.json:
        emit_json({"comparison_id": comparison_id, **meta, "statistics": statistics})
        return 0
    print(render_terminal(statistics, candidate.label, baseline.label, color=sys.stdout.isatty()))
    print(f"\nComparison {comparison_id} saved; 'modellab promote --if-better' reads it.")
    if args.html:
        print(f"HTML report: {shown(args.html)}")
    return 0


def _meta(candidate: Any, baseline: Any, comparison_id: str) -> dict[str, Any]:
    def side(run: Any) -> Mapping[str, Any]:
        return {
            "run_id": run.id,
            "label": run.label,
            "model": run.model,
            "endpoint": run.endpoint,
            "settings": run.settings,
            "status": run.status,
        }

    return {
        "comparison_id": comparison_id,
        "suite_id": candidate.suite_id,
        "candidate": side(candidate),
        "baseline": side(baseline),
    }


def cmd_runs(args: argparse.Namespace) -> int:
    """List eval runs."""
    from modellab._internal.term import render_table
    from modellab.evals import RunStore
    from modellab.store import Catalog

    with Catalog(settings_from_args(args).catalog_path) as catalog:
        store = RunStore(catalog)
        rows = []
        for run in store.runs():
            scores = store.score(run.id)
            rows.append({**dataclasses.asdict(run), **scores})
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("No eval runs yet. Start one with 'modellab eval run SUITE --model recorded'.")
        return 0
    print(
        render_table(
            ["run", "suite", "model", "status", "cases", "score", "passed"],
            [
                [
                    r["id"],
                    r["suite_id"][:12],
                    r["label"],
                    r["status"],
                    r["cases"],
                    round(r["score"], 3),
                    f"{r['pass_rate']:.1%}",
                ]
                for r in rows
            ],
        )
    )
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "build": cmd_build,
    "run": cmd_run,
    "compare": cmd_compare,
    "runs": cmd_runs,
}
