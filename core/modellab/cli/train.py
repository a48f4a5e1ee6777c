"""``modellab train``: fine-tune an installed model on an approved dataset, with a trainer
a workset registers; and ``train list | show ID | cancel ID``, ``train --resume ID``.

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

    from modellab.settings import Settings
    from modellab.store import Catalog
    from modellab.training._job import JobSpec
    from modellab.training._runs import TrainRun

__all__ = ["add_train_command", "cmd_train"]

_DESCRIPTION = (
    "Fine-tune an installed base model (modellab models install) on a dataset built from an "
    "approved export (modellab dataset build), with a trainer a workset registers: "
    "'unsloth' (a CUDA GPU) or 'trl' (TRL + PEFT, CPU or GPU), from the unsloth workset "
    "(modellab worksets backends lists them). The gate refuses a dataset whose approval no "
    "longer stands, the model store a model whose files changed, and preflight checks the "
    "dataset's shape and token lengths, the chat template, licence and provenance, memory "
    "and deployability before anything trains (--preflight-only stops there). The job, its "
    "config and lineage are recorded; progress shows step, loss, tokens/s and ETA (--json "
    "streams the events). The result becomes a candidate model (modellab models list). "
    "A run that was killed goes on from its newest checkpoint with --resume ID. Also: "
    "'train list', 'train show ID', 'train cancel ID'."
)
_EPILOG = (
    "exit codes: 0 trained (or preflight passed); 2 bad arguments, unknown run or model; "
    "4 a model file is damaged; 9 the gate refused the dataset; 10 a base model file changed "
    "since install, or the trainer's workset could not be trusted; 16 preflight failed "
    "(nothing trained), or the trainer failed or was cancelled (resume with --resume ID); "
    "130 interrupted (resume with --resume ID)"
)
#: ``train ACTION``: words that are not a dataset folder.
_ACTIONS = ("list", "show", "cancel")
#: Flags that set a hyper-parameter: (flag, key, type, help).
_HYPER: tuple[tuple[str, str, type, str], ...] = (
    ("--max-steps", "max_steps", int, "optimizer steps (default: --epochs over the data)"),
    ("--epochs", "epochs", float, "passes over the dataset (default: 1)"),
    ("--lr", "learning_rate", float, "learning rate (default: 2e-4 LoRA, 2e-5 full, 5e-5 DPO)"),
    ("--lora-r", "lora_r", int, "LoRA rank (default: 16)"),
    ("--lora-alpha", "lora_alpha", int, "LoRA alpha (default: 32)"),
    ("--max-seq-len", "max_seq_len", int, "tokens per row; longer rows are cut (default: 2048)"),
    ("--batch-size", "batch_size", int, "rows per device step (default: 2)"),
    ("--grad-accum", "grad_accum", int, "steps accumulated per update (default: 1)"),
    ("--seed", "seed", int, "random seed (default: 42)"),
    ("--save-steps", "save_steps", int, "checkpoint every N steps (default: 50)"),
    ("--dpo-beta", "dpo_beta", float, "DPO beta (default: 0.1)"),
)


def add_train_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add ``train`` and its options to the top-level command group."""
    train = add(
        commands,
        "train",
        help="fine-tune a model on an approved dataset; list, show, cancel, resume runs",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    train.add_argument(
        "target",
        nargs="*",
        metavar="DATASET | list | show ID | cancel ID",
        help="a dataset folder to train on, or an action on runs",
    )
    job = train.add_argument_group("the job")
    job.add_argument("--base", metavar="MODEL", help="an installed base model")
    job.add_argument("--backend", metavar="NAME", help="the trainer: unsloth (GPU) or trl")
    job.add_argument(
        "--method",
        choices=("sft-lora", "sft-qlora", "sft-full", "dpo"),
        help="what to train (default: sft-lora; dpo needs a --format preference dataset)",
    )
    job.add_argument(
        "--config",
        metavar="FILE",
        help="a job.toml: dataset, base, backend, method, [hyperparameters]; flags override it",
    )
    job.add_argument(
        "--chat-template",
        metavar="FILE",
        help="train with this chat template instead of the model's (or 'chatml-tools', "
        "shipped: ChatML with tools and assistant-only loss masking)",
    )
    job.add_argument("--merge", action="store_true", default=None, help="also write merged weights")
    hyper = train.add_argument_group("hyper-parameters")
    for flag, key, kind, text in _HYPER:
        hyper.add_argument(
            flag, dest=key, type=kind, metavar="F" if kind is float else "N", help=text
        )
    train.add_argument("--preflight-only", action="store_true", help="run the checks, then stop")
    train.add_argument("--resume", metavar="ID", help="go on with an interrupted run")
    train.add_argument("--json", action="store_true", help="stream events and results as JSON")


def cmd_train(args: argparse.Namespace) -> int:
    """Dispatch ``train``: a job, ``--resume``, or an action on runs."""
    from modellab.cli._common import settings_from_args
    from modellab.errors import UsageError
    from modellab.store import Catalog

    settings = settings_from_args(args)
    target: list[str] = args.target
    with Catalog(settings.catalog_path) as catalog:
        if target and target[0] in _ACTIONS:
            return _action(catalog, target, args)
        if args.resume:
            if target:
                raise UsageError("--resume ID takes no dataset: the run records its own")
            return _resume(settings, catalog, args)
        if len(target) > 1:
            raise UsageError(f"one dataset folder, not {len(target)} (got {target[1]!r} too)")
        return _start(settings, catalog, _spec(args, target[0] if target else None), args)


def _spec(args: argparse.Namespace, dataset: str | None) -> JobSpec:
    """The job from --config, then the flags over it."""
    from pathlib import Path

    from modellab.errors import UsageError
    from modellab.training._job import DEFAULTS, LEARNING_RATES, JobSpec, template_path

    config: dict[str, Any] = {}
    hyper: dict[str, Any] = dict(DEFAULTS)
    if args.config:
        config, given = _read_config(Path(args.config))
        hyper.update(given)
    for _flag, key, _kind, _text in _HYPER:
        value = getattr(args, key)
        if value is not None:
            hyper[key] = value
    if args.merge:
        hyper["merge"] = True
    dataset = dataset or config.get("dataset")
    base = args.base or config.get("base")
    backend = args.backend or config.get("backend")
    method = args.method or config.get("method") or "sft-lora"
    missing = [
        name
        for name, value in (("DATASET", dataset), ("--base", base), ("--backend", backend))
        if not value
    ]
    if missing:
        raise UsageError(
            f"train needs {', '.join(missing)}",
            hint="modellab train DATASET --base MODEL --backend trl (see modellab train --help)",
        )
    for key in ("max_seq_len", "batch_size", "grad_accum", "lora_r", "save_steps"):
        if int(hyper[key]) < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be 1 or more, not {hyper[key]}")
    for key in ("epochs", "dpo_beta"):
        if float(hyper[key]) <= 0:
            raise UsageError(f"--{key.replace('_', '-')} must be above 0, not {hyper[key]}")
    for key, flag in (("max_steps", "--max-steps"), ("learning_rate", "--lr")):
        if float(hyper[key]) < 0:
            raise UsageError(f"{flag} must be 0 or more, not {hyper[key]}")
    if method in LEARNING_RATES and not hyper["learning_rate"]:
        hyper["learning_rate"] = LEARNING_RATES[method]
    template = args.chat_template or config.get("chat_template")
    return JobSpec(
        dataset_dir=Path(str(dataset)).expanduser().resolve(),
        base_model=str(base),
        backend=str(backend),
        method=str(method),
        hyperparameters=hyper,
        chat_template=None if not template else template_path(str(template)),
    )


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(job keys, hyper-parameters) of a job.toml; an unknown key is an error naming it."""
    import tomllib

    from modellab.errors import UsageError
    from modellab.training._job import DEFAULTS

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not TOML ({exc})") from None
    hyper = data.pop("hyperparameters", {})
    allowed = {"dataset", "base", "backend", "method", "chat_template"}
    for key in data:
        if key not in allowed:
            raise UsageError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")
    if not isinstance(hyper, dict):
        raise UsageError(f"{path}: [hyperparameters] must be a table")
    for key, value in hyper.items():
        if key not in DEFAULTS:
            raise UsageError(f"{path}: unknown hyper-parameter {key!r}")
        if type(value) is not type(DEFAULTS[key]) and not (
            isinstance(value, int | float) and isinstance(DEFAULTS[key], float)
        ):
            raise UsageError(
                f"{path}: hyperparameters.{key} must be {type(DEFAULTS[key]).__name__}, "
                f"not {value!r}"
            )
    return data, hyper


def _show_checks(checks: list[Any], as_json: bool) -> None:
    """One line a check, its reason whole (it names the file, row or value at fault)."""
    from modellab._internal.term import shown

    if as_json:
        return
    width = max((len(c.name) for c in checks), default=0)
    print("preflight:", file=sys.stderr)
    for check in checks:
        verdict = check.verdict.upper()
        print(f"  {verdict:<4}  {check.name:<{width}}  {shown(check.reason)}", file=sys.stderr)


def _events(as_json: bool) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """Where events go: JSON lines on stdout, or the progress view on stderr."""
    from modellab.training._events import ProgressView

    if as_json:
        from modellab._internal import jsonio

        def emit(event: dict[str, Any]) -> None:
            sys.stdout.write(jsonio.dumps(event).decode() + "\n")
            sys.stdout.flush()

        return emit, lambda: None
    view = ProgressView()
    return view.show, view.close


def _start(settings: Settings, catalog: Catalog, spec: JobSpec, args: argparse.Namespace) -> int:
    from modellab.errors import PreflightError
    from modellab.training._job import prepare, start_job

    prepared = prepare(settings, catalog, spec)
    _show_checks(prepared.checks, args.json)
    if args.preflight_only:
        if args.json:
            from modellab.cli.options import emit_json

            emit_json(
                {
                    "ok": not prepared.failed,
                    "checks": [
                        {
                            "check": c.name,
                            "verdict": c.verdict,
                            "reason": c.reason,
                            "details": c.details,
                        }
                        for c in prepared.checks
                    ],
                }
            )
        if prepared.failed:
            names = ", ".join(c.name for c in prepared.failed)
            raise PreflightError(f"preflight failed ({names})")
        return 0
    on_event, close = _events(args.json)
    try:
        run, result = start_job(settings, catalog, prepared, on_event=on_event)
    finally:
        close()
    return _finish(settings, catalog, run, result, args.json)


def _resume(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    from modellab.training._job import resume_job

    on_event, close = _events(args.json)
    try:
        run, result = resume_job(settings, catalog, args.resume, on_event=on_event)
    finally:
        close()
    return _finish(settings, catalog, run, result, args.json)


def _finish(settings: Settings, catalog: Catalog, run: TrainRun, result: Any, as_json: bool) -> int:
    from modellab._internal.term import shown
    from modellab.training._register import register_result

    candidate = register_result(settings, catalog, run, result)
    if as_json:
        from modellab._internal import jsonio

        summary = {
            "event": "result",
            "run": run.id,
            "status": "succeeded",
            "candidate": candidate,
            "output_dir": str(result.output_dir),
            "metrics": result.metrics,
        }
        sys.stdout.write(jsonio.dumps(summary).decode() + "\n")
        return 0
    metrics = result.metrics
    print(f"run {run.id}: succeeded on {shown(result.device or 'an unnamed device')}")
    if "loss_first" in metrics and "loss_last" in metrics:
        print(f"  loss          {metrics['loss_first']:.4f} -> {metrics['loss_last']:.4f}")
    if "tokens_per_s" in metrics:
        print(f"  throughput    {metrics['tokens_per_s']:,.0f} tokens/s")
    print(f"  output        {shown(result.output_dir)}")
    if candidate:
        print(f"  candidate     {shown(candidate)} (modellab models info {shown(candidate)})")
    return 0


def _action(catalog: Catalog, target: list[str], args: argparse.Namespace) -> int:
    from modellab.errors import UsageError
    from modellab.training._runs import find_run, list_runs

    action, rest = target[0], target[1:]
    if action == "list":
        if rest:
            raise UsageError(f"train list takes no arguments (got {rest[0]!r})")
        return _list(list_runs(catalog), args.json)
    if len(rest) != 1:
        raise UsageError(f"train {action} takes one run id")
    run = find_run(catalog, rest[0])
    if action == "show":
        return _show(run, args.json)
    return _cancel(catalog, run)


def _list(runs: list[TrainRun], as_json: bool) -> int:
    from modellab._internal.term import render_table

    if as_json:
        from modellab.cli.options import emit_json

        emit_json([r.to_json() for r in runs])
        return 0
    if not runs:
        print("No training runs yet. Start one: modellab train DATASET --base MODEL --backend trl")
        return 0
    rows = [
        (
            r.id,
            r.status,
            r.backend,
            r.method,
            r.base_model,
            _loss(r.metrics),
            r.created_at,
        )
        for r in runs
    ]
    print(render_table(("run", "status", "backend", "method", "base", "loss", "started"), rows))
    return 0


def _loss(metrics: dict[str, Any]) -> str:
    first, last = metrics.get("loss_first"), metrics.get("loss_last")
    if isinstance(first, int | float) and isinstance(last, int | float):
        return f"{first:.3f} -> {last:.3f}"
    return ""


def _show(run: TrainRun, as_json: bool) -> int:
    from modellab._internal.term import shown

    if as_json:
        from modellab.cli.options import emit_json

        emit_json(run.to_json())
        return 0
    lineage = run.lineage
    approval = lineage.get("approval", {})
    base = lineage.get("base_model", {})
    dataset = lineage.get("dataset", {})
    lines = [
        f"run           {run.id}",
        f"status        {run.status}" + (f" ({shown(run.error)})" if run.error else ""),
        f"trainer       {shown(run.backend)} ({shown(lineage.get('backend', {}).get('workset'))})",
        f"method        {run.method}",
        f"base model    {shown(run.base_model)} "
        f"(files sha256 {str(base.get('files_sha256'))[:12]})",
        f"dataset       {shown(run.dataset_dir)} ({shown(dataset.get('rows_file'))}, sha256 "
        f"{str(dataset.get('rows_sha256'))[:12]})",
        f"approval      {shown(approval.get('export_dir'))} "
        f"approved {shown(approval.get('approved_at'))}",
        f"seed          {lineage.get('seed')}",
        "config        " + ", ".join(f"{k}={v}" for k, v in sorted(run.config.items())),
        f"output        {shown(run.output_dir)}",
    ]
    if run.metrics:
        lines.append(
            "metrics       "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in sorted(run.metrics.items())
            )
        )
    for check in run.preflight:
        lines.append(
            f"preflight     {shown(check.get('check'))}: {shown(check.get('verdict'))} "
            f"({shown(check.get('reason'))})"
        )
    # Config values come from the user's job.toml, metrics from the trainer: escaped whole.
    print("\n".join(shown(line) for line in lines))
    if run.status == "interrupted":
        print(f"resume it: modellab train --resume {run.id}")
    return 0


def _cancel(catalog: Catalog, run: TrainRun) -> int:
    import os
    import signal
    import time

    from modellab.errors import UsageError
    from modellab.training._runs import find_run, update_run

    if run.status == "interrupted":
        update_run(catalog, run.id, status="cancelled", error="cancelled")
        print(f"run {run.id} was not running; marked cancelled")
        return 0
    if run.status != "running" or run.pid is None:
        raise UsageError(f"training run {run.id} is not running (it has {run.status})")
    os.kill(run.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and find_run(catalog, run.id).status == "running":
        time.sleep(0.2)
    status = find_run(catalog, run.id).status
    print(f"run {run.id}: {status}")
    return 0 if status != "running" else 16
