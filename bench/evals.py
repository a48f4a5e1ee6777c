"""The eval runner against a plain load generator, on the same real model server, in one run.

Run it alone or as part of ``bench/run.py`` (``--only evals``)::

    uv run python bench/evals.py                  # table, exit 1 if the target is missed
    uv run python bench/evals.py --json out.json --concurrency 4 --rounds 3

Target (the evals issue): against the real local server (llama-cpp-python serving
SmolLM2-135M-Instruct, ``tests/evals/llama_server.py``), the eval runner at concurrency N
reaches at least **90%** of the throughput a plain load generator gets from the same server
at the same concurrency. Model Lab must not be the bottleneck.

Set-up, not timed: the bundled sample sessions (``examples/codewhale-sessions``) are
imported, exported, reviewed and approved with the real CLI, and ``modellab eval build``
turns them into a suite. The server starts once and serves both sides.

Each round, in alternating order:

* **load generator**: the exact request bodies the runner sends (``request_body`` for every
  case), each POSTed once over N keep-alive HTTP/1.1 connections written with asyncio
  streams: no retries, no grading, no storage. Throughput is cases / wall time.
* **runner**: ``modellab eval run SUITE --base-url ... --fresh --concurrency N`` in a fresh
  process, which sends, grades and commits every case to the catalog. Throughput is the
  runner's own cases / seconds (from sending the first case to committing the last; Python
  start-up and reading the suite are reported beside it, for information).

Both sides ask for temperature 0 and the same seed and ``max_tokens``, so the server does
the same work for each. The best round of each side is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests" / "evals"))
sys.path.insert(0, str(BENCH))

import llama_server  # noqa: E402
from _finish import finish  # noqa: E402
from _lab import approved_sample_export, modellab  # noqa: E402

RATIO_MIN = 0.90


def _make_suite(work: Path, env: dict[str, str], max_context: int) -> Path:
    export, suite = work / "export", work / "suite"
    approved_sample_export(env, export)
    modellab(
        env,
        "eval",
        "build",
        str(export),
        "--out",
        str(suite),
        "--max-context-tokens",
        str(max_context),
    )
    return suite


async def _load(base_url: str, bodies: list[bytes], concurrency: int) -> float:
    """POST every body once over ``concurrency`` keep-alive connections; the wall time."""
    host, port = base_url.split("//", 1)[1].split("/", 1)[0].split(":")
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                body = queue.get_nowait()
                writer.write(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: "
                    + host.encode()
                    + b"\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1]
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if status != b"200":
                    raise RuntimeError(f"load generator got HTTP {status.decode()}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started


def _bodies(suite: Path, max_tokens: int) -> list[bytes]:
    from modellab.evals import Endpoint, Sampling, read_suite, request_body

    endpoint = Endpoint(label="bench", model=llama_server.MODEL_ALIAS, base_url="http://x/v1")
    sampling = Sampling(max_tokens=max_tokens)
    cases = read_suite(suite).cases
    return [json.dumps(request_body(case, endpoint, sampling)).encode() for case in cases]


def _runner(env: dict[str, str], suite: Path, base_url: str, n: int, max_tokens: int) -> dict:
    started = time.perf_counter()
    out = modellab(
        env,
        "eval",
        "run",
        str(suite),
        "--base-url",
        base_url,
        "--model",
        llama_server.MODEL_ALIAS,
        "--fresh",
        "--concurrency",
        str(n),
        "--max-tokens",
        str(max_tokens),
        "--json",
    )
    wall = time.perf_counter() - started
    report = json.loads(out)
    return {"elapsed_s": report["elapsed_s"], "wall_s": wall, "cases": report["cases"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--max-context-tokens", type=int, default=1024)
    ap.add_argument("--json", type=Path, help="write the report here")
    args = ap.parse_args()
    llama_server.ensure()
    with tempfile.TemporaryDirectory(prefix="evals-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELLAB_", "CODEWHALE_"))}
        env.update(MODELLAB_HOME=str(work / "home"), HOME=str(work))
        suite = _make_suite(work, env, args.max_context_tokens)
        bodies = _bodies(suite, args.max_tokens)
        # One server thread: the client side keeps the other CPU of a 2-CPU machine, and
        # llama.cpp's spinning worker threads do not fight the client for cores (with two
        # threads, the same eight requests took anywhere from 21 s to 77 s).
        threads = max(1, (os.cpu_count() or 2) - 1)
        with llama_server.serve(n_ctx=4096, threads=threads, log=work / "server.log") as base_url:
            asyncio.run(_load(base_url, bodies, args.concurrency))  # warm the server
            loads: list[float] = []
            runs: list[dict[str, Any]] = []
            for round_ in range(args.rounds):
                sides = ["load", "runner"] if round_ % 2 == 0 else ["runner", "load"]
                for side in sides:
                    if side == "load":
                        loads.append(asyncio.run(_load(base_url, bodies, args.concurrency)))
                    else:
                        runs.append(
                            _runner(env, suite, base_url, args.concurrency, args.max_tokens)
                        )
    cases = len(bodies)
    load_rate = cases / min(loads)
    best = min(runs, key=lambda r: r["elapsed_s"])
    run_rate = cases / best["elapsed_s"]
    ratio = run_rate / load_rate
    paired = [cases / r["elapsed_s"] / (cases / t) for r, t in zip(runs, loads, strict=True)]
    report = {
        "server_threads": max(1, (os.cpu_count() or 2) - 1),
        "round_ratios": paired,
        "median_round_ratio": statistics.median(paired),
        "cases": cases,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "load_generator_s": loads,
        "runner": runs,
        "load_generator_cases_per_s": load_rate,
        "runner_cases_per_s": run_rate,
        "ratio": ratio,
        "verdicts": {"eval_runner_throughput": "PASS" if ratio >= RATIO_MIN else "FAIL"},
    }
    rows = table_rows(report)
    return finish(report, rows, args.json)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The benchmark's lines for the results table."""
    n = report["concurrency"]
    best = min(report["runner"], key=lambda r: r["elapsed_s"])
    return [
        ("Measure", "Value", "Detail", "Verdict"),
        (
            f"load generator, concurrency {n}",
            f"{report['load_generator_cases_per_s']:.2f} cases/s",
            f"{report['cases']} cases, best of {len(report['load_generator_s'])}",
            "",
        ),
        (
            f"modellab eval run, concurrency {n}",
            f"{report['runner_cases_per_s']:.2f} cases/s",
            f"{report['ratio']:.2f}x the load generator (>= {RATIO_MIN:.2f}x), best of "
            f"{len(report['runner'])}; median of rounds {report['median_round_ratio']:.2f}x; "
            f"process wall {best['wall_s']:.1f} s",
            report["verdicts"]["eval_runner_throughput"],
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
