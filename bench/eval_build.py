"""``modellab eval build`` with ``--max-context-tokens`` against the same build without it.

Run it alone or as part of ``bench/run.py`` (``--only evalbuild``)::

    uv run python bench/eval_build.py                 # 16 MiB corpus
    uv run python bench/eval_build.py --size-mb 4     # quick run

Set-up, not measured: the approved export ``bench/datasets.py`` prepares for this corpus
size (import, redacted export, ``redact review --accept-all``, ``redact approve``, through
the real CLI; reused while it stands). Measured: ``modellab eval build EXPORT --out DIR
--json`` in a fresh process, with and without ``--max-context-tokens 4096``, interleaved,
best of ``--repeats`` each.

Target (issue 11): fitting every case to a context window keeps the build linear, so the
build with the flag takes at most 1.5x the time of the build without it. Before the fix it
took about 10x: each case re-measured (``json.dumps``) every message of its context on
every exchange it dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import datasets  # noqa: E402  (bench/ is not a package)
import run as bench  # noqa: E402

RATIO_TARGET = 1.5
MAX_CONTEXT_TOKENS = 4096


def measure(export: Path, env: dict[str, str], *flags: str) -> dict[str, Any]:
    """One ``eval build`` in a fresh process: wall time and how many cases it wrote."""
    with tempfile.TemporaryDirectory(prefix="eval-build-", dir=bench.DATA) as tmp:
        argv = [sys.executable, "-m", "modellab", "eval", "build", str(export)]
        proc = bench.run_measured([*argv, "--out", str(Path(tmp) / "suite"), *flags, "--json"], env)
        if proc.rc != 0:
            return {"error": proc.brief()}
        suite = json.loads(proc.stdout)
        return {"wall_s": proc.wall_s, "cases": suite["counts"]["cases"]}


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    print(f"[eval-build] preparing the {args.size_mb} MiB export ...", file=sys.stderr, flush=True)
    export, env, _stamp = datasets.prepare_export(args.size_mb, args.seed)
    flag = ("--max-context-tokens", str(MAX_CONTEXT_TOKENS))
    plain: list[dict[str, Any]] = []
    fitted: list[dict[str, Any]] = []
    for _ in range(args.repeats):
        print("[eval-build] eval build, then with --max-context-tokens ...", file=sys.stderr)
        plain.append(measure(export, env))
        fitted.append(measure(export, env, *flag))
    verdicts: dict[str, str] = {}
    errors = [r["error"] for r in plain + fitted if "error" in r]
    ratio = None
    if errors:
        verdicts["eval_build_context"] = "ERROR"
    else:
        best_plain = min(r["wall_s"] for r in plain)
        best_fitted = min(r["wall_s"] for r in fitted)
        ratio = best_fitted / best_plain
        verdicts["eval_build_context"] = "PASS" if ratio <= RATIO_TARGET else "FAIL"
    return {
        "size_mb": args.size_mb,
        "max_context_tokens": MAX_CONTEXT_TOKENS,
        "plain": plain,
        "fitted": fitted,
        "ratio": ratio,
        "errors": errors,
        "verdicts": verdicts,
    }


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench/run.py's table: (measure, value, detail, verdict)."""
    verdict = report["verdicts"]["eval_build_context"]
    if report["ratio"] is None:
        return [("eval build --max-context-tokens", "-", "; ".join(report["errors"]), verdict)]
    plain = min(r["wall_s"] for r in report["plain"])
    fitted = min(r["wall_s"] for r in report["fitted"])
    cases = report["plain"][0]["cases"]
    return [
        (
            f"eval build, {report['size_mb']} MiB export",
            f"{plain:.2f} s",
            f"{cases} cases",
            "",
        ),
        (
            f"  with --max-context-tokens {report['max_context_tokens']}",
            f"{fitted:.2f} s",
            f"{report['ratio']:.2f}x (<= {RATIO_TARGET}x)",
            verdict,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=16, help="corpus to export, MiB")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=2, help="builds of each kind; best is kept")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    report = run_bench(args)
    from _finish import finish

    return finish(report, table_rows(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
