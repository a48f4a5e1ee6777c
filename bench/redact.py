"""Redaction speed: the export's ``Scanner`` against detect-secrets on the same bytes, in one run.

Run it alone or as part of ``bench/run.py`` (``--only redact``)::

    uv run python bench/redact.py                # table, exit 1 if a target is missed
    uv run python bench/redact.py --json out.json

Data: the content strings of real agent sessions in ``shared/corpus/`` (Claude Code,
Codex, SWE-agent, OpenHands) and of a slice of the generated CodeWhale corpus. A session is
one file; its content strings are every JSON string outside the structural keys that
``redact_trajectory`` skips (ids, hashes, timestamps, enums), found the same way.

The scanner measured is the one every export uses (``RedactionConfig.scanner()``): our
rules and kingfisher-secret-scanner's provider rules, merged. Each of the two is also timed
alone on the pooled data sets, for information.

Targets (issue 10):

* ours: ``Scanner.scan_many`` over each session's strings, one core (the scanner is
  single-threaded), at least 150 MB/s over all the real sessions together and over the
  CodeWhale slice (MB = 10**6 bytes of UTF-8 content; the best of at least ``--repeats``
  passes and one second). Each source's own figure is shown too: the small ones take a
  few milliseconds a pass, so they move most with a busy machine;
* ratio: at least 50x the speed of detect-secrets 1.5.0 (``SecretsCollection.scan_file``,
  default plugins and filters) on the same bytes. detect-secrets runs at well under
  1 MB/s, so it scans a fixed subset: each data set's sessions in order, strings in order,
  up to ``--ds-mb`` MB; ours is timed again on exactly that subset for the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CORPUS = ROOT.parent / "shared" / "corpus"
MB = 1_000_000

SPEED_TARGET_MB_S = 150.0
RATIO_TARGET = 50.0
REAL_SETS = ("claude-code-spotter", "codex-rollouts-codemie", "swe-agent-traj", "openhands")
REAL_ALL = "real sessions, all"
CODEWHALE = "codewhale slice"
POOLED = (REAL_ALL, CODEWHALE)
_SESSION_SUFFIXES = (".jsonl", ".json", ".traj")

Session = list[str]


# --------------------------------------------------------------------------------------
# Data


def _records(path: Path) -> Iterator[Any]:
    if path.suffix == ".jsonl":
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
    else:
        yield json.loads(path.read_text("utf-8"))


def session_strings(path: Path) -> Session:
    """The content strings of one session file, as ``redact_trajectory`` would pick them."""
    from modellab.redact._trajectory import content_strings

    return content_strings(list(_records(path)))


def real_sessions(name: str, corpus: Path = CORPUS) -> list[Session]:
    folder = corpus / name
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in _SESSION_SUFFIXES and "LICENSE" not in p.name
    )
    return [session_strings(p) for p in files]


def codewhale_sessions(size_mb: int, seed: int) -> tuple[list[Session], str]:
    """Sessions of a generated CodeWhale corpus (cached under bench/.data, like run.py)."""
    sys.path.insert(0, str(BENCH))
    import gen_codewhale
    import run  # bench/run.py: corpus cache shared with the throughput benchmark

    corpus = run.ensure_corpus(size_mb, seed)
    files = sorted(gen_codewhale.session_files(corpus.sessions))
    where = str(corpus.sessions.relative_to(ROOT))
    return [session_strings(p) for p in files], where


def nbytes(sessions: list[Session]) -> int:
    return sum(len(t.encode("utf-8", "surrogatepass")) for s in sessions for t in s)


def subset(sessions: list[Session], limit: int) -> list[Session]:
    """Sessions in order, strings in order, until ``limit`` bytes: the same for every run."""
    out: list[Session] = []
    total = 0
    for session in sessions:
        part: Session = []
        for text in session:
            if total >= limit:
                break
            part.append(text)
            total += len(text.encode("utf-8", "surrogatepass"))
        if part:
            out.append(part)
        if total >= limit:
            break
    return out


# --------------------------------------------------------------------------------------
# Measurements


@dataclass
class Ours:
    sessions: int
    strings: int
    bytes: int
    runs_s: list[float]
    best_s: float
    mb_per_s: float
    findings: int
    by_rule: dict[str, int] = field(default_factory=dict)


def measure_ours(
    scanner: Any, sessions: list[Session], repeats: int, min_seconds: float = 1.0
) -> Ours:
    size = nbytes(sessions)
    found = [scanner.scan_many(s) for s in sessions]  # warm-up, and the findings
    by_rule = Counter(
        f.rule_id for per_session in found for per_text in per_session for f in per_text
    )
    del found  # keep the heap as it was: a larger one makes every garbage collection slower
    runs: list[float] = []
    while len(runs) < repeats or sum(runs) < min_seconds:
        t0 = time.perf_counter()
        for session in sessions:
            scanner.scan_many(session)
        runs.append(time.perf_counter() - t0)
    best = min(runs)
    return Ours(
        sessions=len(sessions),
        strings=sum(len(s) for s in sessions),
        bytes=size,
        runs_s=[round(r, 4) for r in runs],
        best_s=best,
        mb_per_s=size / MB / best if best else float("inf"),
        findings=sum(by_rule.values()),
        by_rule=dict(by_rule.most_common()),
    )


@dataclass
class Theirs:
    tool: str
    sessions: int
    bytes: int
    seconds: float
    mb_per_s: float
    findings: int
    by_type: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def measure_detect_secrets(sessions: list[Session]) -> Theirs:
    """``SecretsCollection.scan_file`` over one temporary file per session (strings, one a line).

    Default plugins and filters, as ``detect-secrets scan`` runs them; timed without the
    writing of the files.
    """
    size = nbytes(sessions)
    try:
        from detect_secrets.__version__ import VERSION
        from detect_secrets.core.secrets_collection import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError as exc:
        return Theirs("detect-secrets (missing)", len(sessions), size, 0.0, 0.0, 0, error=str(exc))
    tool = f"detect-secrets {VERSION}"
    with tempfile.TemporaryDirectory(prefix="redact-bench-") as tmp:
        paths = []
        for index, session in enumerate(sessions):
            path = Path(tmp) / f"session-{index:04d}.txt"
            path.write_text("\n".join(session) + "\n", "utf-8", errors="surrogatepass")
            paths.append(path)
        by_type: Counter[str] = Counter()
        with default_settings():
            t0 = time.perf_counter()
            for path in paths:
                collection = SecretsCollection()
                collection.scan_file(str(path))
                for _, secret in collection:
                    by_type[secret.type] += 1
            seconds = time.perf_counter() - t0
    return Theirs(
        tool,
        len(sessions),
        size,
        seconds,
        size / MB / seconds if seconds else 0.0,
        sum(by_type.values()),
        dict(by_type.most_common()),
    )


@dataclass
class DataSet:
    name: str
    where: str
    ours: Ours
    ours_subset: Ours | None = None
    theirs: Theirs | None = None
    ratio: float | None = None
    #: The two detectors timed alone (pooled sets only): "our rules", "kingfisher".
    parts: dict[str, Ours] = field(default_factory=dict)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    from modellab.redact import RedactionConfig, Scanner, load_rules
    from modellab.redact._providers import provider_detector

    # The export's scanner, keyed as an installation's is (value hashes are HMACs).
    scanner = RedactionConfig(hash_key=bytes(32)).scanner()
    alone = {
        "our rules": Scanner(load_rules(), hash_key=bytes(32)),
        "kingfisher": Scanner((), hash_key=bytes(32), providers=provider_detector()),
    }
    sets: list[tuple[str, str, list[Session]]] = []
    for name in REAL_SETS:
        sets.append((name, f"shared/corpus/{name}", real_sessions(name, args.corpus)))
    real = [s for _, _, sessions in sets for s in sessions]
    sets.append((REAL_ALL, "the four above", real))
    cw, where = codewhale_sessions(args.codewhale_mb, args.seed)
    sets.append((CODEWHALE, where, cw))

    results: list[DataSet] = []
    for name, where, sessions in sets:
        print(f"[redact] {name}: ours ...", file=sys.stderr, flush=True)
        entry = DataSet(name, where, measure_ours(scanner, sessions, args.repeats))
        if name in POOLED:
            for part, part_scanner in alone.items():
                entry.parts[part] = measure_ours(part_scanner, sessions, args.repeats)
        if not args.skip_detect_secrets and name != REAL_ALL:
            part = subset(sessions, int(args.ds_mb * MB))
            print(
                f"[redact] {name}: detect-secrets on {nbytes(part) / MB:.2f} MB ...",
                file=sys.stderr,
                flush=True,
            )
            entry.ours_subset = measure_ours(scanner, part, args.repeats)
            entry.theirs = measure_detect_secrets(part)
            if entry.theirs.error is None and entry.theirs.seconds:
                entry.ratio = entry.theirs.seconds / entry.ours_subset.best_s
        results.append(entry)

    verdicts: dict[str, str] = {}
    # The verdict is on the pooled data sets; each source's own figure is for information.
    slowest = min(r.ours.mb_per_s for r in results if r.name in POOLED)
    verdicts["redact_speed"] = "PASS" if slowest >= SPEED_TARGET_MB_S else "FAIL"
    if not args.skip_detect_secrets:
        ratios = [r.ratio for r in results if r.theirs is not None]
        if ratios and all(x is not None for x in ratios):
            ok = min(x for x in ratios if x is not None) >= RATIO_TARGET
            verdicts["redact_ratio"] = "PASS" if ok else "FAIL"
        else:
            verdicts["redact_ratio"] = "ERROR"
    # Pooled detect-secrets figure over every subset it scanned.
    pooled: dict[str, float] | None = None
    scanned = [r for r in results if r.theirs is not None and r.ours_subset is not None]
    if scanned:
        their_s = sum(r.theirs.seconds for r in scanned if r.theirs is not None)
        our_s = sum(r.ours_subset.best_s for r in scanned if r.ours_subset is not None)
        size = sum(r.theirs.bytes for r in scanned if r.theirs is not None)
        pooled = {
            "bytes": size,
            "detect_secrets_s": their_s,
            "detect_secrets_mb_per_s": size / MB / their_s if their_s else 0.0,
            "ours_s": our_s,
            "ours_mb_per_s": size / MB / our_s if our_s else 0.0,
            "ratio": their_s / our_s if our_s else 0.0,
        }
    return {
        "targets": {"ours_mb_per_s_min": SPEED_TARGET_MB_S, "ratio_min": RATIO_TARGET},
        "settings": {
            "codewhale_mb": args.codewhale_mb,
            "seed": args.seed,
            "repeats": args.repeats,
            "detect_secrets_subset_mb": args.ds_mb,
            "mb": "10**6 bytes of UTF-8 content strings",
        },
        "datasets": [asdict(r) for r in results],
        "pooled_subsets": pooled,
        "slowest_mb_per_s": slowest,
        "verdicts": verdicts,
    }


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench/run.py's table: (measure, value, detail, verdict)."""
    rows: list[tuple[str, str, str, str]] = []
    speed_verdict = report["verdicts"]["redact_speed"]
    ratio_verdict = report["verdicts"].get("redact_ratio", "")
    for d in report["datasets"]:
        ours = d["ours"]
        rows.append(
            (
                f"redact scan_many, {d['name']}",
                f"{ours['mb_per_s']:.1f} MB/s",
                f"{ours['bytes'] / MB:.2f} MB, {ours['sessions']} sessions, "
                f"{ours['strings']} strings, {ours['findings']} findings",
                "",
            )
        )
        for part, figures in d.get("parts", {}).items():
            rows.append(
                (
                    f"  {part} alone",
                    f"{figures['mb_per_s']:.1f} MB/s",
                    f"{figures['findings']} findings (info)",
                    "",
                )
            )
        theirs = d.get("theirs")
        if theirs:
            sub = d["ours_subset"]
            ratio = d["ratio"]
            rows.append(
                (
                    f"  {theirs['tool']}, same {theirs['bytes'] / MB:.2f} MB",
                    f"{theirs['mb_per_s']:.2f} MB/s",
                    f"{theirs['findings']} findings; ours {sub['mb_per_s']:.1f} MB/s, "
                    f"{sub['findings']} findings; "
                    + ("-" if ratio is None else f"{ratio:.0f}x (>= {RATIO_TARGET:.0f}x)"),
                    "",
                )
            )
    pooled = report.get("pooled_subsets")
    if pooled:
        rows.append(
            (
                "redact vs detect-secrets, pooled",
                f"{pooled['ratio']:.0f}x",
                f"{pooled['ours_mb_per_s']:.1f} vs {pooled['detect_secrets_mb_per_s']:.2f} MB/s "
                f"on {pooled['bytes'] / MB:.2f} MB; slowest set >= {RATIO_TARGET:.0f}x",
                ratio_verdict,
            )
        )
    rows.append(
        (
            "redact speed, slower pooled set",
            f"{report['slowest_mb_per_s']:.1f} MB/s",
            f">= {SPEED_TARGET_MB_S:.0f} MB/s on one core (real sessions, all; codewhale)",
            speed_verdict,
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--codewhale-mb", type=int, default=32, help="CodeWhale slice, MiB")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=5, help="passes of ours; best is kept")
    ap.add_argument("--ds-mb", type=float, default=1.5, help="detect-secrets subset per set, MB")
    ap.add_argument("--skip-detect-secrets", action="store_true")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    report = run_bench(args)
    from _finish import finish  # bench/ is not a package; it is on sys.path when run

    return finish(report, table_rows(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
