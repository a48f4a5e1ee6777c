"""Peak memory of ``modellab dataset build`` on a ~1 GiB export against a small one.

Run it alone or as part of ``bench/run.py`` (``--only datasets``)::

    uv run python bench/datasets.py                      # 1024 MiB and 256 MiB corpora
    uv run python bench/datasets.py --size-mb 64 --small-mb 16   # quick run
    uv run python bench/run.py --only datasets           # fresh process, table + results JSON

Set-up, not measured, once per corpus size and reused while the corpus and the approval
stand (``bench/.data/dataset-export-<size>mb-s<seed>/``): ``bench/run.py``'s generated
CodeWhale corpus is imported, exported (redacted, as the gate requires), reviewed with
``redact review --accept-all`` and approved with ``redact approve``, all through the real
CLI. Measured: ``modellab dataset build EXPORT --out DIR --from all --format FORMATS
--json`` in a fresh process on each export; peak RSS is that process's ``ru_maxrss``
(``bench/run.py``'s ``run_measured``). ``--from all`` makes one row per session, so the
output grows linearly with the export (a per-turn ``--from`` repeats the earlier turns in
every row, and its output grows with the square of a session's length).

Target (the datasets issue): the build streams, so the big export's peak RSS is at most
1.5x the small one's, or the small one's plus 64 MiB, the rule ``bench/run.py`` applies to
import and export.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run as bench  # noqa: E402  (bench/ is not a package)

DEFAULT_FORMATS = "trl-sft,llama-factory"
#: Bump when the prepared export would differ (a new export flow, other review flags).
PREPARED_VERSION = 1


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "modellab", *args]


def prepare_export(size_mb: int, seed: int) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """An approved export of the generated corpus, reused while its stamp matches."""
    corpus = bench.ensure_corpus(size_mb, seed)
    base = bench.DATA / f"dataset-export-{size_mb}mb-s{seed}"
    home, export, stamp_path = base / "home", base / "export", base / "stamp.json"
    env = bench.child_env(MODELLAB_HOME=str(home / ".modellab"), HOME=str(home))
    want = {"version": PREPARED_VERSION, "corpus_files": corpus.files, "corpus_bytes": corpus.bytes}
    if stamp_path.is_file() and json.loads(stamp_path.read_text()).get("want") == want:
        return export, env, json.loads(stamp_path.read_text())
    shutil.rmtree(base, ignore_errors=True)
    home.mkdir(parents=True)
    timings: dict[str, float] = {}
    steps = {
        "import": _cli("sessions", "import", str(corpus.sessions), "--json"),
        "export": _cli("export", "--all", "--out", str(export), "--json"),
        "review": _cli("redact", "review", str(export), "--accept-all"),
        "approve": _cli("redact", "approve", str(export)),
    }
    for name, argv in steps.items():
        proc = bench.run_measured(argv, env)
        if proc.rc != 0:
            raise RuntimeError(f"{name}: {proc.brief()}")
        timings[f"{name}_s"] = round(proc.wall_s, 1)
    stamp = {
        "want": want,
        "corpus_mib": round(corpus.mib, 1),
        "export_mib": round(bench.dir_bytes(export) / bench.MIB, 1),
        "prepare": timings,
    }
    stamp_path.write_text(json.dumps(stamp, indent=2))
    return export, env, stamp


def measure_build(export: Path, env: dict[str, str], formats: str) -> dict[str, Any]:
    """One ``dataset build`` in a fresh process: wall time, peak RSS and what it wrote."""
    with tempfile.TemporaryDirectory(prefix="dataset-out-", dir=bench.DATA) as tmp:
        out = Path(tmp) / "ds"
        argv = _cli("dataset", "build", str(export), "--out", str(out), "--from", "all")
        proc = bench.run_measured([*argv, "--format", formats, "--json"], env)
        if proc.rc != 0:
            return {"error": proc.brief()}
        manifest = json.loads(proc.stdout)
        return {
            "wall_s": round(proc.wall_s, 1),
            "peak_rss_mib": round(proc.peak_rss_mib, 1),
            "sessions": manifest["source"]["sessions"],
            "rows": {n: e["rows"] for n, e in manifest["formats"].items()},
            "output_mib": round(bench.dir_bytes(out) / bench.MIB, 1),
        }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    sides: dict[str, Any] = {}
    for name, size in (("small", args.small_mb), ("big", args.size_mb)):
        print(f"[datasets] preparing the {size} MiB export ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        export, env, stamp = prepare_export(size, args.seed)
        print(
            f"[datasets] ready in {time.perf_counter() - started:.0f} s; dataset build ...",
            file=sys.stderr,
            flush=True,
        )
        sides[name] = {"size_mb": size, **stamp, "build": measure_build(export, env, args.formats)}
    verdicts: dict[str, str] = {}
    small, big = sides["small"]["build"], sides["big"]["build"]
    limit = None
    if "error" in small or "error" in big:
        verdicts["dataset_memory"] = "ERROR"
    else:
        limit = max(
            small["peak_rss_mib"] * bench.MEMORY_FACTOR,
            small["peak_rss_mib"] + bench.MEMORY_SLACK_MIB,
        )
        verdicts["dataset_memory"] = "PASS" if big["peak_rss_mib"] <= limit else "FAIL"
    return {
        "command": f"dataset build EXPORT --out DIR --from all --format {args.formats} --json",
        "seed": args.seed,
        "sides": sides,
        "memory_limit_mib": limit,
        "verdicts": verdicts,
    }


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench/run.py's table: (measure, value, detail, verdict)."""
    rows: list[tuple[str, str, str, str]] = []
    for name in ("small", "big"):
        side = report["sides"][name]
        build = side["build"]
        label = f"dataset build, {side.get('export_mib', '?')} MiB export"
        if "error" in build:
            rows.append((label, "-", build["error"].splitlines()[0], "ERROR"))
            continue
        limit = report["memory_limit_mib"]
        rows.append(
            (
                label,
                f"{build['peak_rss_mib']:.0f} MiB peak",
                f"{build['wall_s']:.0f} s, {build['sessions']} sessions, "
                f"{build['output_mib']:.0f} MiB written"
                + (f"; limit {limit:.0f} MiB" if name == "big" and limit else ""),
                report["verdicts"]["dataset_memory"] if name == "big" else "",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1024, help="big corpus, MiB (default 1024)")
    ap.add_argument("--small-mb", type=int, default=256, help="small corpus, MiB (default 256)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--formats", default=DEFAULT_FORMATS, help=f"--format (default {DEFAULT_FORMATS})"
    )
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    report = run_bench(args)
    from _finish import finish

    return finish(report, table_rows(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
