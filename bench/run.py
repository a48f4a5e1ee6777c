"""Model Lab benchmarks: import+export throughput, streaming memory, start-up, redaction speed,
workset installs.

One command runs everything and writes ``bench/.data/results/latest.json`` (untracked)::

    uv run python bench/run.py                 # full run (1 GiB + 256 MiB corpora)
    uv run python bench/run.py --only startup  # just start-up
    uv run python bench/run.py --only redact   # just redaction speed (bench/redact.py)
    uv run python bench/run.py --only detectors # secret detectors compared (bench/detectors.py)
    uv run python bench/run.py --only evalbuild # eval build's context fitting (bench/eval_build.py)
    uv run python bench/run.py --only worksets # just workset installs (bench/worksets.py)
    uv run python bench/run.py --only datasets # dataset build memory (bench/datasets.py;
                                               # minutes, so not part of the full run)
    uv run python bench/run.py --only training # modellab train vs plain TRL (bench/training.py)
    uv run python bench/run.py --only serving  # modellab serve vs a hand-started llama.cpp
                                               # server (bench/serving.py; about 1 minute)
    uv run python bench/run.py --only evals    # eval runner throughput (bench/evals.py;
                                               # needs the model server, about 6 minutes,
                                               # so not part of the full run)
    uv run python bench/run.py --size-mb 128 --small-mb 32   # quick smoke run

Targets (exit status 1 if any fails):

* throughput: ``modellab sessions import`` + ``modellab export --all --raw`` over the corpus
  runs at no less than 1/3 of the speed of parsing the same bytes with stdlib ``json``, and
  so does import + the default, redacted export (issue 10), measured in the same run;
* memory: peak RSS of those processes on the big corpus is within 1.5x (or +64 MiB) of the
  peak on the small corpus;
* start-up: ``python -m modellab --help`` is at most 3x ``python -c pass`` (best of N);
* redaction (``bench/redact.py``): the export's ``Scanner.scan_many`` (our rules and
  kingfisher's) over the content strings of real agent sessions and a CodeWhale slice runs
  at least 150 MB/s on one core on both pooled sets, and at least 50x faster than
  detect-secrets on the same bytes;
* worksets (``bench/worksets.py``): ``modellab worksets install`` of a pure-Python workset
  from a local registry, warm uv cache, takes at most 1/4 of the time of ``pip install`` of
  the same wheel (best of N each, interleaved), and ``python -m modellab --help`` with every
  workset installed is at most 3x ``python -c pass``;
* datasets (``bench/datasets.py``): ``modellab dataset build`` streams: peak RSS on a 1 GiB
  export is within 1.5x (or +64 MiB) of the peak on a small one;
* evals (``bench/evals.py``): ``modellab eval run`` at concurrency N reaches at least 90% of
  the throughput of a plain load generator on the same llama-cpp-python server;
* serving (``bench/serving.py``): the server ``modellab serve --backend llama.cpp`` starts
  answers at least 0.95x the requests/s of llama-cpp-python's server started by hand with
  the same flags, and is ready within 1.2x of its time.

Every measured command runs in a fresh process started with this interpreter (the
workspace venv). Peak RSS is ``ru_maxrss`` of that child, read with ``os.wait4``.
Corpora live in ``bench/.data/`` and are reused while the generator parameters match.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / ".data"
#: Where a run writes its results: untracked (bench/.data/ is ignored), so a run never
#: dirties the tree. Recorded figures live in bench/README.md and are updated by hand.
RESULTS = BENCH / ".data" / "results"
MIB = 1024 * 1024

sys.path.insert(0, str(BENCH))
import gen_codewhale as gen  # noqa: E402  (bench/ is not a package)
import redact as redact_bench  # noqa: E402

import worksets as worksets_bench  # noqa: E402

THROUGHPUT_TARGET = 1 / 3
STARTUP_TARGET = 3.0
MEMORY_FACTOR = 1.5
MEMORY_SLACK_MIB = 64.0
COMMAND_TIMEOUT_S = 900

# Environment variables stripped from every child, like the test suite does.
_STRIP_PREFIXES = ("MODELLAB_", "CODEWHALE_", "DEEPSEEK_", "CODEX_", "CLAUDE_")


# --------------------------------------------------------------------------------------
# Process helpers


@dataclass
class Proc:
    """One finished child process."""

    argv: list[str]
    rc: int
    wall_s: float
    peak_rss_mib: float
    stdout: str = ""
    stderr: str = ""

    def brief(self) -> str:
        tail = (self.stderr or self.stdout).strip().splitlines()[-8:]
        return f"exit {self.rc}: {' '.join(self.argv[1:])}\n    " + "\n    ".join(tail)


#: Bytecode caches for every child. Measuring with warm ``.pyc`` files is the steady state
#: a user sees; a prefix keeps them out of the source tree and the venv, and it works even
#: where the environment sets PYTHONDONTWRITEBYTECODE (which would make every run compile
#: every module from source).
PYCACHE = DATA / "pycache"


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_STRIP_PREFIXES) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT_S
) -> Proc:
    """Run ``argv`` to completion; return its wall time and peak RSS (``ru_maxrss``).

    ``os.wait4`` hands back the rusage of exactly this child (and any descendants it
    waited for), which is what a ``getrusage(RUSAGE_CHILDREN)`` wrapper would report.
    Output goes to temporary files, not pipes, so a chatty child cannot block.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not reap it again
        out.seek(0)
        err.seek(0)
        return Proc(
            argv=argv,
            rc=p.returncode,
            wall_s=wall,
            peak_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------
# Corpus


@dataclass
class Corpus:
    size_mb: int
    seed: int
    sessions: Path
    files: int
    bytes: int
    largest_file_mib: float
    generated_s: float | None  # None when reused

    @property
    def mib(self) -> float:
        return self.bytes / MIB


def ensure_corpus(size_mb: int, seed: int) -> Corpus:
    """Generate the corpus, or reuse it when its stamp matches and its files are intact."""
    base = DATA / f"codewhale-{size_mb}mb-s{seed}"
    sessions = base / "sessions"
    stamp_path = base / "stamp.json"
    want = {"generator_version": gen.GENERATOR_VERSION, "size_mb": size_mb, "seed": seed}
    if stamp_path.is_file():
        stamp = json.loads(stamp_path.read_text())
        if all(stamp.get(k) == v for k, v in want.items()):
            files = list(gen.session_files(sessions))
            total = sum(p.stat().st_size for p in files)
            if len(files) == stamp["files"] and total == stamp["bytes"]:
                largest = max(p.stat().st_size for p in files)
                return Corpus(size_mb, seed, sessions, len(files), total, largest / MIB, None)
    stamp_path.unlink(missing_ok=True)
    info = gen.generate(sessions, size_mb, seed=seed)
    files = list(gen.session_files(sessions))
    total = sum(p.stat().st_size for p in files)
    largest = max(p.stat().st_size for p in files)
    stamp_path.write_text(json.dumps({**want, "files": len(files), "bytes": total}, indent=2))
    return Corpus(size_mb, seed, sessions, len(files), total, largest / MIB, info["seconds"])


# --------------------------------------------------------------------------------------
# Baseline: stdlib json over the same bytes

_BASELINE_CODE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    loads = json.loads
    if sys.argv[2] == "orjson":
        import orjson
        loads = orjson.loads
    files = [p for p in sorted(Path(sys.argv[1]).glob("*.json"))
             if p.name != "session_boot_owners.json"]
    t0 = time.perf_counter()
    n = 0
    for p in files:
        data = p.read_bytes()
        n += len(data)
        loads(data)
    print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": n}))
    """
)


@dataclass
class Baseline:
    parser: str
    runs_s: list[float]
    best_s: float
    mib_per_s: float
    peak_rss_mib: float


def baseline(corpus: Corpus, parser: str = "json", repeats: int = 2) -> Baseline:
    runs: list[float] = []
    peak = 0.0
    for _ in range(repeats):
        proc = run_measured(
            [sys.executable, "-c", _BASELINE_CODE, str(corpus.sessions), parser], child_env()
        )
        if proc.rc != 0:
            raise RuntimeError(f"baseline failed: {proc.brief()}")
        res = json.loads(proc.stdout)
        assert res["bytes"] == corpus.bytes
        runs.append(res["seconds"])
        peak = max(peak, proc.peak_rss_mib)
    best = min(runs)
    return Baseline(parser, [round(r, 3) for r in runs], best, corpus.mib / best, peak)


# --------------------------------------------------------------------------------------
# Ours: modellab sessions import + modellab export --all


@dataclass
class OursRun:
    corpus_mib: float
    ok: bool
    import_s: float | None = None
    export_s: float | None = None
    #: The same export with ``--raw`` (no redaction): what issue 2's target measures.
    export_raw_s: float | None = None
    total_raw_s: float | None = None
    mib_per_s_raw: float | None = None
    total_s: float | None = None
    mib_per_s: float | None = None
    import_peak_rss_mib: float | None = None
    export_peak_rss_mib: float | None = None
    peak_rss_mib: float | None = None
    catalog_mib: float | None = None
    export_mib: float | None = None
    import_json: Any = None
    export_json: Any = None
    error: str | None = None


def _summarise(value: Any) -> Any:
    """Keep the record small: replace long lists (per-file, per-session) by their length."""
    if isinstance(value, dict):
        return {k: _summarise(v) for k, v in value.items()}
    if isinstance(value, list):
        return f"<list of {len(value)}>" if len(value) > 10 else [_summarise(v) for v in value]
    return value


def _parse_json_out(text: str) -> Any:
    text = text.strip()
    try:
        return _summarise(json.loads(text))
    except ValueError:
        return {"unparsed_stdout_tail": text[-500:]}


def run_ours(corpus: Corpus, keep: bool, module: str = "modellab") -> OursRun:
    DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{corpus.size_mb}mb-", dir=DATA))
    home = work / "home"
    out = work / "export"
    home.mkdir()
    env = child_env(MODELLAB_HOME=str(home / ".modellab"), HOME=str(home))
    py = sys.executable
    result = OursRun(corpus_mib=corpus.mib, ok=False)
    try:
        imp = run_measured(
            [py, "-m", module, "sessions", "import", str(corpus.sessions), "--json"], env
        )
        result.import_s = imp.wall_s
        result.import_peak_rss_mib = imp.peak_rss_mib
        result.import_json = _parse_json_out(imp.stdout)
        if imp.rc != 0:
            result.error = "import " + imp.brief()
            return result
        exp = run_measured([py, "-m", module, "export", "--all", "--out", str(out), "--json"], env)
        result.export_s = exp.wall_s
        result.export_peak_rss_mib = exp.peak_rss_mib
        result.export_json = _parse_json_out(exp.stdout)
        if exp.rc != 0:
            result.error = "export " + exp.brief()
            return result
        raw = run_measured(
            [py, "-m", module, "export", "--all", "--raw", "--out", str(work / "raw"), "--json"],
            env,
        )
        if raw.rc != 0:
            result.error = "export --raw " + raw.brief()
            return result
        result.export_raw_s = raw.wall_s
        result.total_raw_s = imp.wall_s + raw.wall_s
        result.mib_per_s_raw = corpus.mib / result.total_raw_s
        result.total_s = imp.wall_s + exp.wall_s
        result.mib_per_s = corpus.mib / result.total_s
        result.peak_rss_mib = max(imp.peak_rss_mib, exp.peak_rss_mib, raw.peak_rss_mib)
        result.catalog_mib = dir_bytes(home) / MIB
        result.export_mib = dir_bytes(out) / MIB if out.exists() else 0.0
        result.ok = True
        return result
    finally:
        if keep:
            print(f"  kept run folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def warm_up(seed: int, module: str) -> None:
    """One import+export over a 1 MiB corpus, so measured runs find warm ``.pyc`` files."""
    run_ours(ensure_corpus(1, seed), keep=False, module=module)


# --------------------------------------------------------------------------------------
# Start-up


@dataclass
class Startup:
    repeats: int
    pass_best_ms: float
    help_best_ms: float | None
    ratio: float | None
    help_rc: int
    #: Best CPU time (user + sys): less sensitive to a busy machine (informational).
    pass_best_cpu_ms: float | None = None
    help_best_cpu_ms: float | None = None
    #: ``modellab --help`` through the venv's console script (informational).
    console_script_best_ms: float | None = None
    importtime_file: str | None = None
    top_self: list[dict[str, Any]] = field(default_factory=list)
    top_cumulative: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys) and exit code of one fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, p.returncode


def parse_importtime(text: str) -> list[tuple[str, int, int]]:
    """``(module, self_us, cumulative_us)`` rows from ``-X importtime`` output."""
    rows: list[tuple[str, int, int]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cum_us, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
            rows.append((name, int(self_us), int(cum_us)))
        except ValueError:
            continue
    return rows


def startup(repeats: int, module: str = "modellab", results_dir: Path = RESULTS) -> Startup:
    py = sys.executable
    tmp_home = Path(tempfile.mkdtemp(prefix="startup-"))
    env = child_env(MODELLAB_HOME=str(tmp_home / ".modellab"), HOME=str(tmp_home))
    try:
        base_argv = [py, "-c", "pass"]
        help_argv = [py, "-m", module, "--help"]
        for argv in (base_argv, help_argv, base_argv, help_argv):  # warm caches and .pyc
            _timed(argv, env)
        pass_times: list[tuple[float, float, int]] = []
        help_times: list[tuple[float, float, int]] = []
        script = Path(py).with_name(module)  # the console script, measured for information
        script_argv = [str(script), "--help"] if script.is_file() else None
        script_times: list[tuple[float, float, int]] = []
        for _ in range(repeats):  # interleave so drift hits all equally
            pass_times.append(_timed(base_argv, env))
            help_times.append(_timed(help_argv, env))
            if script_argv:
                script_times.append(_timed(script_argv, env))
        help_rc = next((rc for _, _, rc in help_times if rc != 0), 0)
        pass_best = min(t[0] for t in pass_times) * 1000
        res = Startup(repeats, pass_best, None, None, help_rc)
        res.pass_best_cpu_ms = min(t[1] for t in pass_times) * 1000
        if help_rc != 0:
            probe = run_measured(help_argv, env)
            res.error = probe.brief()
            return res
        res.help_best_ms = min(t[0] for t in help_times) * 1000
        res.ratio = res.help_best_ms / pass_best
        res.help_best_cpu_ms = min(t[1] for t in help_times) * 1000
        if script_times and all(rc == 0 for _, _, rc in script_times):
            res.console_script_best_ms = 1000 * min(t[0] for t in script_times)

        proc = subprocess.run(
            [py, "-X", "importtime", "-m", module, "--help"],
            capture_output=True,
            text=True,
            env=env,
        )
        results_dir.mkdir(parents=True, exist_ok=True)
        it_file = results_dir / "importtime.txt"
        it_file.write_text(proc.stderr)
        res.importtime_file = str(
            it_file.relative_to(ROOT) if it_file.is_relative_to(ROOT) else it_file
        )
        rows = parse_importtime(proc.stderr)
        res.top_self = [
            {"module": n, "self_ms": s / 1000, "cumulative_ms": c / 1000}
            for n, s, c in sorted(rows, key=lambda r: -r[1])[:5]
        ]
        res.top_cumulative = [
            {"module": n, "self_ms": s / 1000, "cumulative_ms": c / 1000}
            for n, s, c in sorted(rows, key=lambda r: -r[2])[:5]
        ]
        return res
    finally:
        shutil.rmtree(tmp_home, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Benchmarks with a script of their own (bench/<name>.py), each in a fresh process


def run_child(
    script: str, args: list[str], *, timeout_s: float = COMMAND_TIMEOUT_S
) -> dict[str, Any]:
    """``bench/<script> ARGS --json FILE`` in a fresh process; its report, or ``{"error": ...}``.

    The report gains the child's wall time and peak RSS.
    """
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{Path(script).stem}-", dir=DATA) as tmp:
        out = Path(tmp) / "report.json"
        argv = [sys.executable, str(BENCH / script), *args, "--json", str(out)]
        proc = run_measured(argv, child_env(), timeout=timeout_s)
        if not out.is_file():
            return {"error": proc.brief()}
        report: dict[str, Any] = json.loads(out.read_text())
    report["wall_s"] = round(proc.wall_s, 1)
    report["peak_rss_mib"] = round(proc.peak_rss_mib, 1)
    return report


# --------------------------------------------------------------------------------------
# Report


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        import orjson

        info["orjson"] = orjson.__version__
    except ImportError:
        pass
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        )
        info["git_commit"] = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        pass
    return info


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _verdict(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "ERROR"}[ok]


def markdown_table(report: dict[str, Any], rows: list[tuple[str, str, str, str]]) -> str:
    """The results as a Markdown table, ready to paste into the docs."""
    m = report["machine"]
    lines = [
        f"Measured {report['date']} on {m.get('cpu_count')} CPUs ({m.get('cpu_model', '?')}), "
        f"{m.get('mem_total_gib', '?')} GiB RAM, Python {m['python']}, "
        f"commit {m.get('git_commit', '?')}; reproduce with `{report['command'].strip()}`.",
        "",
        "| Measure | Value | Detail | Verdict |",
        "|---|---|---|---|",
    ]
    for name, value, detail, verdict in rows:
        cells = (name.strip(), value, detail, f"**{verdict}**" if verdict else "")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="big corpus, MiB (default 1024)")
    ap.add_argument("--small-mb", type=int, default=256, help="small corpus, MiB (default 256)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-memory", action="store_true", help="do not run the small corpus")
    ap.add_argument(
        "--only",
        choices=(
            "startup",
            "throughput",
            "memory",
            "redact",
            "detectors",
            "evalbuild",
            "worksets",
            "datasets",
            "evals",
            "serving",
            "training",
        ),
    )
    ap.add_argument("--keep", action="store_true", help="keep catalog and export folders")
    ap.add_argument("--startup-repeats", type=int, default=15)
    ap.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    # For testing the harness against a stand-in CLI module (importable via PYTHONPATH).
    ap.add_argument("--cli-module", default="modellab", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    do_startup = args.only in (None, "startup")
    do_throughput = args.only in (None, "throughput")
    do_memory = args.only in (None, "memory") and not args.skip_memory
    do_redact = args.only in (None, "redact")
    do_worksets = args.only in (None, "worksets")
    # Minutes on a 1 GiB export (bench/datasets.py), so only when asked for.
    do_datasets = args.only == "datasets"
    do_evals = args.only == "evals"
    # Minutes: installs the unsloth workset's stack and trains both sides twice.
    do_training = args.only == "training"
    do_serving = args.only == "serving"
    # About 40 s, and it compares libraries rather than checking ours: only when asked for.
    do_detectors = args.only == "detectors"
    # Minutes: the build without the flag writes every case's whole conversation.
    do_evalbuild = args.only == "evalbuild"

    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "uv run python bench/run.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine_info(),
        "targets": {
            "throughput_ratio_min": round(THROUGHPUT_TARGET, 3),
            "startup_ratio_max": STARTUP_TARGET,
            "redact_mb_per_s_min": redact_bench.SPEED_TARGET_MB_S,
            "redact_vs_detect_secrets_min": redact_bench.RATIO_TARGET,
            "workset_install_vs_pip_max": worksets_bench.INSTALL_RATIO_MAX,
            "worksets_help_ratio_max": worksets_bench.HELP_RATIO_MAX,
            "memory_rule": f"big peak <= {MEMORY_FACTOR}x small peak or small + "
            f"{MEMORY_SLACK_MIB:.0f} MiB",
        },
        "results": {},
        "verdicts": {},
    }
    results: dict[str, Any] = report["results"]
    verdicts: dict[str, str] = report["verdicts"]
    rows: list[tuple[str, str, str, str]] = []

    if do_startup:
        print(f"[startup] best of {args.startup_repeats} fresh processes ...", flush=True)
        st = startup(args.startup_repeats, args.cli_module, args.output.parent)
        results["startup"] = asdict(st)
        ok = None if st.ratio is None else st.ratio <= STARTUP_TARGET
        verdicts["startup"] = _verdict(ok)
        rows.append(("python -c pass", f"{st.pass_best_ms:.1f} ms", "", ""))
        rows.append(
            (
                f"python -m {args.cli_module} --help",
                f"{_fmt(st.help_best_ms)} ms",
                f"{_fmt(st.ratio, '.2f')}x (<= {STARTUP_TARGET:.0f}x)",
                _verdict(ok),
            )
        )
        if st.help_best_cpu_ms is not None and st.pass_best_cpu_ms:
            rows.append(
                (
                    "  same, CPU time (user+sys)",
                    f"{st.help_best_cpu_ms:.1f} ms",
                    f"{st.help_best_cpu_ms / st.pass_best_cpu_ms:.2f}x vs "
                    f"{st.pass_best_cpu_ms:.1f} ms (info)",
                    "",
                )
            )
        if st.console_script_best_ms is not None:
            ratio = st.console_script_best_ms / st.pass_best_ms
            rows.append(
                (
                    f"{args.cli_module} --help (script)",
                    f"{st.console_script_best_ms:.1f} ms",
                    f"{ratio:.2f}x (info)",
                    "",
                )
            )
        if st.error:
            print(f"  start-up error: {st.error}")

    big_run: OursRun | None = None
    big: Corpus | None = None
    if do_throughput or do_memory:
        big = ensure_corpus(args.size_mb, args.seed)
        how = "reused" if big.generated_s is None else f"generated in {big.generated_s:.1f} s"
        print(f"[corpus] {big.files} files, {big.mib:.0f} MiB ({how})", flush=True)
        results["corpus_big"] = {
            "size_mb_requested": big.size_mb,
            "files": big.files,
            "mib": round(big.mib, 1),
            "largest_file_mib": round(big.largest_file_mib, 2),
            "generated_s": big.generated_s,
            "path": str(big.sessions.relative_to(ROOT)),
        }

    if do_throughput and big is not None:
        print("[baseline] stdlib json.loads over every file, best of 2 ...", flush=True)
        base = baseline(big, "json")
        fast = baseline(big, "orjson", repeats=1)
        results["baseline_json"] = asdict(base)
        results["baseline_orjson_info"] = asdict(fast)
        print(f"  json {base.mib_per_s:.0f} MiB/s, orjson {fast.mib_per_s:.0f} MiB/s")
        print("[ours] modellab sessions import + export --all ...", flush=True)
        warm_up(args.seed, args.cli_module)
        big_run = run_ours(big, args.keep, args.cli_module)
        results["ours_big"] = asdict(big_run)
        rows.append(
            (
                f"stdlib json.loads, {big.mib:.0f} MiB",
                f"{base.mib_per_s:.0f} MiB/s",
                f"{base.best_s:.1f} s",
                "",
            )
        )
        rows.append(
            (f"orjson.loads (info), {big.mib:.0f} MiB", f"{fast.mib_per_s:.0f} MiB/s", "", "")
        )
        if big_run.ok and big_run.mib_per_s is not None and big_run.mib_per_s_raw is not None:
            ratio = big_run.mib_per_s_raw / base.mib_per_s
            redacted_ratio = big_run.mib_per_s / base.mib_per_s
            results["throughput_ratio"] = ratio
            results["throughput_ratio_redacted"] = redacted_ratio
            verdicts["throughput"] = _verdict(ratio >= THROUGHPUT_TARGET)
            # Issue 10: the default, redacted export is held to the same 1/3.
            verdicts["throughput_redacted"] = _verdict(redacted_ratio >= THROUGHPUT_TARGET)
            rows.append(
                (
                    "modellab import + export --raw",
                    f"{big_run.mib_per_s_raw:.0f} MiB/s",
                    f"{ratio:.2f}x json (>= 0.33x)",
                    verdicts["throughput"],
                )
            )
            rows.append(
                (
                    "modellab import + export (redacted)",
                    f"{big_run.mib_per_s:.0f} MiB/s",
                    f"{redacted_ratio:.2f}x json (>= 0.33x)",
                    verdicts["throughput_redacted"],
                )
            )
            rows.append(
                (
                    "  import / export / export --raw wall",
                    f"{_fmt(big_run.import_s)} s / {_fmt(big_run.export_s)} s / "
                    f"{_fmt(big_run.export_raw_s)} s",
                    "",
                    "",
                )
            )
        else:
            verdicts["throughput"] = verdicts["throughput_redacted"] = "ERROR"
            rows.append(("modellab import + export", "-", "did not run", "ERROR"))
            print(f"  error: {big_run.error}")

    if do_memory and big is not None:
        small = ensure_corpus(args.small_mb, args.seed)
        how = "reused" if small.generated_s is None else f"generated in {small.generated_s:.1f} s"
        print(f"[corpus] {small.files} files, {small.mib:.0f} MiB ({how})", flush=True)
        results["corpus_small"] = {
            "size_mb_requested": small.size_mb,
            "files": small.files,
            "mib": round(small.mib, 1),
            "largest_file_mib": round(small.largest_file_mib, 2),
            "generated_s": small.generated_s,
        }
        print("[memory] import + export on the small corpus ...", flush=True)
        if big_run is None:
            warm_up(args.seed, args.cli_module)
        small_run = run_ours(small, args.keep, args.cli_module)
        results["ours_small"] = asdict(small_run)
        if big_run is None:
            print("[memory] import + export on the big corpus ...", flush=True)
            big_run = run_ours(big, args.keep, args.cli_module)
            results["ours_big"] = asdict(big_run)
        if small_run.peak_rss_mib is not None and big_run.peak_rss_mib is not None:
            limit = max(
                small_run.peak_rss_mib * MEMORY_FACTOR, small_run.peak_rss_mib + MEMORY_SLACK_MIB
            )
            mem_ok = big_run.peak_rss_mib <= limit
            verdicts["memory"] = _verdict(mem_ok)
            results["memory_limit_mib"] = limit
            rows.append(
                (
                    f"peak RSS, {small.mib:.0f} MiB corpus",
                    f"{small_run.peak_rss_mib:.0f} MiB",
                    f"import {_fmt(small_run.import_peak_rss_mib, '.0f')}"
                    f" / export {_fmt(small_run.export_peak_rss_mib, '.0f')}",
                    "",
                )
            )
            rows.append(
                (
                    f"peak RSS, {big.mib:.0f} MiB corpus",
                    f"{big_run.peak_rss_mib:.0f} MiB",
                    f"import {_fmt(big_run.import_peak_rss_mib, '.0f')}"
                    f" / export {_fmt(big_run.export_peak_rss_mib, '.0f')}; limit {limit:.0f} MiB",
                    verdicts["memory"],
                )
            )
        else:
            verdicts["memory"] = "ERROR"
            rows.append(("peak RSS (streaming)", "-", "did not run", "ERROR"))
            if small_run.error:
                print(f"  error: {small_run.error}")

    # (key, what it does, script, its arguments, timeout, verdicts it gives)
    parts = [
        (
            "redact",
            "scanner vs detect-secrets on session content strings",
            "redact.py",
            ["--seed", str(args.seed)],
            COMMAND_TIMEOUT_S,
            ["redact_speed"],
        ),
        (
            "detectors",
            "secret detectors: recall by provider, precision on code, speed",
            "detectors.py",
            [],
            COMMAND_TIMEOUT_S,
            ["detector_recall", "detector_precision"],
        ),
        (
            "evalbuild",
            "eval build with and without --max-context-tokens",
            "eval_build.py",
            ["--seed", str(args.seed)],
            3 * COMMAND_TIMEOUT_S,
            ["eval_build_context"],
        ),
        (
            "worksets",
            "install vs pip install; --help with worksets",
            "worksets.py",
            ["--traces", str(args.output.parent)],
            COMMAND_TIMEOUT_S,
            ["workset_install", "worksets_help"],
        ),
        (
            "datasets",
            "dataset build on a small and a big approved export",
            "datasets.py",
            [
                "--size-mb",
                str(args.size_mb),
                "--small-mb",
                str(args.small_mb),
                "--seed",
                str(args.seed),
            ],
            3 * COMMAND_TIMEOUT_S,
            ["dataset_memory"],
        ),
        (
            "evals",
            "eval runner vs a plain load generator on the real model server",
            "evals.py",
            [],
            COMMAND_TIMEOUT_S,
            ["eval_runner_throughput"],
        ),
        (
            "serving",
            "modellab serve --backend llama.cpp vs a hand-started llama-cpp-python server",
            "serving.py",
            [],
            COMMAND_TIMEOUT_S,
            ["serve_requests_per_s", "serve_time_to_ready"],
        ),
        (
            "training",
            "modellab train --backend trl vs a plain TRL SFTTrainer script",
            "training.py",
            [],
            3 * COMMAND_TIMEOUT_S,
            ["train_throughput", "train_peak_rss"],
        ),
    ]
    chosen = {
        "redact": do_redact,
        "detectors": do_detectors,
        "evalbuild": do_evalbuild,
        "worksets": do_worksets,
        "datasets": do_datasets,
        "evals": do_evals,
        "serving": do_serving,
        "training": do_training,
    }
    for key, what, script, script_args, timeout_s, verdict_keys in parts:
        if not chosen[key]:
            continue
        print(f"[{key}] {what} ...", flush=True)
        part = run_child(script, script_args, timeout_s=timeout_s)
        results[key] = part
        if "error" in part:
            verdicts.update(dict.fromkeys(verdict_keys, "ERROR"))
            rows.append((what, "-", "did not run", "ERROR"))
            print(f"  error: {part['error']}")
            continue
        # Imported here: datasets.py imports this module, and evals.py needs the model server.
        module = importlib.import_module(Path(script).stem)
        verdicts.update(part["verdicts"])
        rows.extend(module.table_rows(part))

    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(args.output)
    args.output.with_suffix(".md").write_text(markdown_table(report, rows))

    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(4)]
    print()
    print(
        f"Model Lab benchmarks ({report['machine'].get('cpu_count')} CPUs, "
        f"Python {report['machine']['python']}, {report['wall_s']:.0f} s)"
    )
    for r in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    if do_startup and results["startup"]["top_self"]:
        print("  slowest imports (self time, -X importtime):")
        for row in results["startup"]["top_self"]:
            print(f"    {row['self_ms']:7.2f} ms  {row['module']}")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"results: {shown}")
    return 0 if verdicts and all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
