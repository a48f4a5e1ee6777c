"""``modellab train --backend trl`` against a plain TRL ``SFTTrainer`` script, in one run.

Run it alone or as part of ``bench/run.py`` (``--only training``)::

    uv run python bench/training.py                   # table, exit 1 if a target is missed
    uv run python bench/training.py --layers 0 --steps 12 --rounds 2 --json out.json

Targets (the training issue): with the identical model, rows and hyper-parameters, Model
Lab's ``trl`` trainer reaches at least **0.95x** the plain script's tokens/s, with a peak
RSS of at most **1.1x** the plain script's.

Set-up, not timed (as the tests do it, ``tests/training/conftest.py``): the unsloth
workset is published to a local signed registry and installed through the real flow, its
dependencies from the local wheelhouse (``tests/wheelhouse.py``); the bundled sample
sessions are imported, exported, reviewed, approved and built into a ``trl-sft`` dataset;
SmolLM2-135M-Instruct (``tests/tiny_models.py``; ``--layers N`` keeps N decoder layers,
0 the whole model) is installed as the base model.

Each round, in alternating order:

* **plain**: ``bench/plain_trl_sft.py`` in a fresh process on the installed model's folder
  and the dataset's rows: LoRA on all linear layers, float32, no activation checkpointing,
  the assistant mask, as the trainer does; no checkpoints, one ``save_model`` at the end.
* **modellab**: ``modellab train DATASET --backend trl`` in a fresh process, with its
  gate, preflight, catalog record, confined child, events and checkpoints.

Throughput on both sides is non-padding tokens / the wall time of ``trainer.train()``;
peak RSS is the training process's own ``ru_maxrss`` (the trainer's child, for Model Lab).

The verdict is the **median of the rounds' ratios**, each round's two runs taken back to
back: on this shared 2-CPU VM the same plain script drifted from 354 to 430 tokens/s
within one 15-minute run, so the best of each side compares runs minutes apart. The best
of each side is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
# tests/ first: its evals package (the model server that tiny_models converts SmolLM2 from)
# must win over bench/evals.py.
sys.path.insert(0, str(ROOT / "tests"))

import tiny_models  # noqa: E402
import wheelhouse  # noqa: E402
from _finish import finish  # noqa: E402
from _lab import approved_sample_export, modellab  # noqa: E402

SPEED_MIN = 0.95
RSS_MAX = 1.10
MODEL = "bench-base"


def _lab(work: Path, env: dict[str, str], layers: int) -> Path:
    """Install the workset and the model, build the dataset; the dataset folder."""
    house = wheelhouse.ready() or wheelhouse.ensure()
    folder = tiny_models.smollm2_folder(layers=layers or None)
    from modellab.testing import WorksetRegistry

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        registry = WorksetRegistry.create(work / "registry")
        release = registry.publish(ROOT / "worksets" / "unsloth")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    install_env = {**env, **wheelhouse.uv_environment(house), "UV_CACHE_DIR": str(work / "uv")}
    modellab(
        install_env,
        "worksets",
        "install",
        "unsloth",
        "--registry",
        registry.name,
        "--accept-manifest",
        release.manifest_sha256,
    )
    export, dataset = work / "export", work / "dataset"
    approved_sample_export(env, export)
    modellab(
        env,
        "dataset",
        "build",
        str(export),
        "--out",
        str(dataset),
        "--format",
        "trl-sft",
        "--from",
        "all",
    )
    modellab(
        env, "models", "install", str(folder), "--name", MODEL, "--accept-license", "apache-2.0"
    )
    return dataset


def _plain(env: dict[str, str], work: Path, dataset: Path, hyper: dict[str, Any]) -> dict:
    model = Path(env["MODELLAB_HOME"]) / "models" / MODEL
    spec = work / "hyper.json"
    spec.write_text(json.dumps(hyper))
    out = tempfile.mkdtemp(dir=work, prefix="plain-")
    done = subprocess.run(
        [
            sys.executable,
            "-I",  # not bench/ on sys.path: bench/datasets.py would hide Hugging Face's
            str(BENCH / "plain_trl_sft.py"),
            str(model),
            str(dataset / "trl-sft" / "train.jsonl"),
            out,
            str(spec),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"plain TRL script failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["tokens_per_s"] = report["tokens"] / report["train_seconds"]
    return report


def _ours(env: dict[str, str], dataset: Path, hyper: dict[str, Any]) -> dict:
    started = time.perf_counter()
    out = modellab(
        env,
        "train",
        str(dataset),
        "--base",
        MODEL,
        "--backend",
        "trl",
        "--max-steps",
        str(hyper["max_steps"]),
        "--lr",
        str(hyper["learning_rate"]),
        "--lora-r",
        str(hyper["lora_r"]),
        "--lora-alpha",
        str(hyper["lora_alpha"]),
        "--max-seq-len",
        str(hyper["max_seq_len"]),
        "--batch-size",
        str(hyper["batch_size"]),
        "--seed",
        str(hyper["seed"]),
        "--json",
    )
    wall = time.perf_counter() - started
    result = json.loads(out.strip().splitlines()[-1])
    metrics = result["metrics"]
    return {
        "tokens": metrics["tokens"],
        "train_seconds": metrics["train_seconds"],
        "tokens_per_s": metrics["tokens"] / metrics["train_seconds"],
        "peak_rss_bytes": metrics["peak_rss_bytes"],
        "command_wall_s": wall,
        "run": result["run"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=2, help="decoder layers kept (0: all 30)")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the report here")
    args = ap.parse_args()
    hyper = {
        "max_steps": args.steps,
        "learning_rate": 2e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "max_seq_len": 1024,
        "batch_size": 2,
        "grad_accum": 1,
        "seed": 42,
    }
    with tempfile.TemporaryDirectory(prefix="training-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELLAB_", "CODEWHALE_"))}
        env.update(MODELLAB_HOME=str(work / "home"), HOME=str(work))
        dataset = _lab(work, env, args.layers)
        plain: list[dict] = []
        ours: list[dict] = []
        for round_ in range(args.rounds):
            for side in ("plain", "ours") if round_ % 2 == 0 else ("ours", "plain"):
                if side == "plain":
                    plain.append(_plain(env, work, dataset, hyper))
                else:
                    ours.append(_ours(env, dataset, hyper))
    best_plain = max(plain, key=lambda r: r["tokens_per_s"])
    best_ours = max(ours, key=lambda r: r["tokens_per_s"])
    rounds = [o["tokens_per_s"] / p["tokens_per_s"] for o, p in zip(ours, plain, strict=True)]
    speed = statistics.median(rounds)
    rss = min(r["peak_rss_bytes"] for r in ours) / min(r["peak_rss_bytes"] for r in plain)
    report = {
        "layers": args.layers or 30,
        "hyperparameters": hyper,
        "plain": plain,
        "modellab": ours,
        "tokens_per_s_ratio": speed,
        "best_vs_best_ratio": best_ours["tokens_per_s"] / best_plain["tokens_per_s"],
        "peak_rss_ratio": rss,
        "round_speed_ratios": rounds,
        "verdicts": {
            "train_throughput": "PASS" if speed >= SPEED_MIN else "FAIL",
            "train_peak_rss": "PASS" if rss <= RSS_MAX else "FAIL",
        },
    }
    return finish(report, table_rows(report), args.json)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The benchmark's lines for the results table."""
    plain = max(report["plain"], key=lambda r: r["tokens_per_s"])
    ours = max(report["modellab"], key=lambda r: r["tokens_per_s"])
    mib = 1024 * 1024
    what = (
        f"SmolLM2-135M, {report['layers']} layers, {report['hyperparameters']['max_steps']} steps"
    )
    return [
        ("Measure", "Value", "Detail", "Verdict"),
        (
            "plain TRL SFTTrainer script",
            f"{plain['tokens_per_s']:.0f} tok/s",
            f"{what}; peak RSS {min(r['peak_rss_bytes'] for r in report['plain']) / mib:.0f} MiB",
            "",
        ),
        (
            "modellab train --backend trl",
            f"{ours['tokens_per_s']:.0f} tok/s",
            f"median round {report['tokens_per_s_ratio']:.2f}x plain (>= {SPEED_MIN}x); "
            f"best vs best {report['best_vs_best_ratio']:.2f}x; rounds "
            + ", ".join(f"{r:.2f}" for r in report["round_speed_ratios"]),
            report["verdicts"]["train_throughput"],
        ),
        (
            "  peak RSS of the trainer",
            f"{min(r['peak_rss_bytes'] for r in report['modellab']) / mib:.0f} MiB",
            f"{report['peak_rss_ratio']:.2f}x plain (<= {RSS_MAX}x)",
            report["verdicts"]["train_peak_rss"],
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
