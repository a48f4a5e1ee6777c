"""Import session files into the catalog: plan, read, convert to ATIF, store.

One file at a time, so memory is bounded by the largest single file, not by the corpus.
A file that fails is reported with its reason and the rest still import.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.pool import choose_jobs, ordered_map, worker_context
from modellab.errors import SourceError
from modellab.plugins import build_plugin_manager
from modellab.settings import Settings
from modellab.sources import Importer, PlannedFile, collect_importers, plan_files
from modellab.store import Catalog, ObjectStore, utc_now
from modellab.traces import Session, to_atif

__all__ = ["FileOutcome", "ImportSummary", "default_paths", "run_import"]


@dataclass(slots=True)
class FileOutcome:
    """What happened to one file."""

    path: str
    importer: str
    status: str  # imported | unchanged | failed | unrecognised
    sessions: dict[str, str] = field(default_factory=dict)  # id -> new/updated/unchanged/...
    lines_total: int = 0
    lines_mapped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class ImportSummary:
    """The whole import report."""

    files: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        """Files that could not be imported."""
        return [f for f in self.files if f.status in {"failed", "unrecognised"}]

    def counts(self) -> dict[str, int]:
        """Session results and file statuses, counted."""
        sessions: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for outcome in self.files:
            statuses[f"files_{outcome.status}"] += 1
            sessions.update(outcome.sessions.values())
        return {
            "files": len(self.files),
            **statuses,
            **{f"sessions_{k}": v for k, v in sessions.items()},
        }

    def skipped_lines(self) -> dict[str, int]:
        """Lines skipped across all files, by reason."""
        total: Counter[str] = Counter()
        for outcome in self.files:
            total.update(outcome.skipped)
        return dict(total)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready report."""
        return {
            "counts": self.counts(),
            "skipped_lines": self.skipped_lines(),
            "files": [asdict(f) for f in self.files],
        }


def _summary_columns(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "source": session.source,
        "title": session.title,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "model": session.model,
        "turns": len(session.turns),
        "tool_calls": session.tool_call_count,
        "errors": session.error_count,
        "outcome": session.outcome,
        "source_path": session.provenance.source_path,
        "source_format": session.provenance.source_format,
        "source_format_version": session.provenance.source_format_version,
        "parser_version": session.provenance.parser_version,
        "source_sha256": session.provenance.sha256,
    }


def default_paths(settings: Settings, importers: list[Importer]) -> list[tuple[Path, Importer]]:
    """Every existing default session folder, paired with the importer that owns it."""
    return [
        (root, importer)
        for importer in importers
        for root in importer.default_roots(settings)
        if root.is_dir()
    ]


def _plan(
    settings: Settings, paths: Iterable[Path], importers: list[Importer]
) -> tuple[list[PlannedFile], list[Path]]:
    given = list(paths)
    if given:
        return plan_files(given, importers)
    planned: dict[Path, PlannedFile] = {}
    for root, importer in default_paths(settings, importers):
        for found in importer.discover(root):
            planned.setdefault(found.resolve(), PlannedFile(found, importer))
    return list(planned.values()), []


@dataclass(slots=True)
class _Parsed:
    """One file read and converted, ready to store: the part that needs no catalog."""

    outcome: FileOutcome
    size: int
    mtime_ns: int
    parser_version: str
    #: (summary columns, label kinds, trajectory sha256, trajectory size) per session.
    sessions: list[tuple[dict[str, Any], list[str], str, int]] = field(default_factory=list)
    #: (path, size, mtime_ns) of every other file the sessions were read from.
    sidecars: list[tuple[str, int, int]] = field(default_factory=list)


def _parse_file(planned: PlannedFile, objects: ObjectStore) -> _Parsed:
    """Read one file and store its sessions' ATIF in the object store (not the catalog)."""
    path, importer = planned.path, planned.importer
    stat = path.stat()
    parsed = _Parsed(
        FileOutcome(path=str(path), importer=importer.name, status="imported"),
        stat.st_size,
        stat.st_mtime_ns,
        importer.parser_version,
    )
    outcome = parsed.outcome
    try:
        report = importer.read(path)
    except SourceError as exc:
        outcome.status, outcome.error = "failed", exc.reason
        return parsed
    except Exception as exc:  # a plugin's bug must cost one file, not the run
        outcome.status = "failed"
        outcome.error = f"importer {importer.name!r} failed: {type(exc).__name__}: {exc}"
        return parsed
    outcome.lines_total, outcome.lines_mapped = report.lines_total, report.lines_mapped
    outcome.skipped, outcome.warnings = dict(report.skipped), list(report.warnings)
    parsed.sidecars = _sidecar_stats(path, report.sessions)
    for session in report.sessions:
        trajectory = jsonio.dumps(to_atif(session))
        parsed.sessions.append(
            (
                _summary_columns(session),
                sorted({label.kind for label in session.labels}),
                objects.put(trajectory),
                len(trajectory),
            )
        )
    return parsed


def _sidecar_stats(path: Path, sessions: list[Session]) -> list[tuple[str, int, int]]:
    """Size and mtime of every file besides ``path`` that the sessions were read from."""
    seen: dict[str, tuple[str, int, int]] = {}
    pending = list(sessions)
    while pending:
        session = pending.pop()
        pending.extend(session.subagents)
        names = [s.path for s in session.provenance.sidecars]
        names.append(session.provenance.source_path)
        for name in names:
            if name in seen or Path(name) == path:
                continue
            try:
                stat = os.stat(name)
            except OSError:
                continue
            seen[name] = (name, stat.st_size, stat.st_mtime_ns)
    return sorted(seen.values())


def _store(catalog: Catalog, parsed: _Parsed) -> FileOutcome:
    """Write one parsed file's sessions, and the file's fingerprint, in one transaction."""
    outcome = parsed.outcome
    if outcome.status == "failed":
        return outcome
    with catalog.transaction() as db:
        for summary, labels, digest, size in parsed.sessions:
            outcome.sessions[summary["id"]] = catalog.upsert_session(
                db, summary=summary, labels=labels, trajectory_sha256=digest, trajectory_size=size
            )
        catalog.record_file(
            db,
            Path(outcome.path).resolve(),
            importer=outcome.importer,
            size=parsed.size,
            mtime_ns=parsed.mtime_ns,
            sha256=parsed.sessions[0][0]["source_sha256"] if parsed.sessions else "",
            parser_version=parsed.parser_version,
            session_ids=list(outcome.sessions),
            sidecars=parsed.sidecars,
        )
    return outcome


def _stored(catalog: Catalog, parsed: _Parsed) -> tuple[FileOutcome, int]:
    return _store(catalog, parsed), parsed.size


def _is_unchanged(catalog: Catalog, planned: PlannedFile) -> bool:
    stat = planned.path.stat()
    return catalog.unchanged_file(
        planned.path.resolve(), stat.st_size, stat.st_mtime_ns, planned.importer.parser_version
    )


# Per-process state of an import worker, set once by ``_worker_start``.
_worker: dict[str, Any] = {}


def _importers(settings: Settings) -> list[Importer]:
    """Built-in importers plus those of active worksets that add importers."""
    manager = build_plugin_manager(settings, worksets_for="modellab_register_importers")
    return collect_importers(manager)


def _worker_start(settings: Settings) -> None:
    importers = collect_importers(
        build_plugin_manager(settings, worksets_for="modellab_register_importers")
    )
    _worker["importers"] = {importer.name: importer for importer in importers}
    _worker["catalog"] = Catalog(settings.catalog_path)


def _worker_import(path: str, importer_name: str) -> tuple[FileOutcome, int]:
    catalog = _worker["catalog"]
    parsed = _parse_file(
        PlannedFile(Path(path), _worker["importers"][importer_name]), catalog.objects
    )
    return _store(catalog, parsed), parsed.size


def _import_in_workers(
    settings: Settings, planned: list[PlannedFile], jobs: int
) -> Iterator[tuple[FileOutcome, int]]:
    """Import files in worker processes, yielding (outcome, bytes) in plan order.

    Each worker parses and stores its files through its own catalog connection; their
    transactions queue on SQLite's write lock, which is held only for the inserts. Only
    the small outcome travels back (shipping the trajectories to one writer measured
    slower on two cores). At most two files per worker are in flight, which keeps memory
    flat however large the corpus is.
    """
    context = worker_context(__name__)
    with ProcessPoolExecutor(jobs, context, _worker_start, (settings,)) as pool:
        yield from ordered_map(
            pool,
            _worker_import,
            ((str(item.path), item.importer.name) for item in planned),
            in_flight=2 * jobs,
        )


def run_import(
    settings: Settings,
    paths: Iterable[Path] = (),
    *,
    force: bool = False,
    jobs: int | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> ImportSummary:
    """Import sessions from ``paths`` (or every agent's default folders) into the catalog.

    ``jobs`` is the number of worker processes (``None``: one per CPU for large imports,
    none for small ones). ``on_progress(done_bytes, total_bytes, current_file)`` is called
    after each file.
    """
    importers = collect_importers(
        build_plugin_manager(settings, worksets_for="modellab_register_importers")
    )
    planned, unrecognised = _plan(settings, paths, importers)
    summary = ImportSummary()
    for path in unrecognised:
        summary.files.append(
            FileOutcome(
                str(path), "", "unrecognised", error="not a session file of any known agent"
            )
        )
    started = utc_now()
    with Catalog(settings.catalog_path) as catalog:
        to_read: list[PlannedFile] = []
        for item in planned:
            if not force and _is_unchanged(catalog, item):
                summary.files.append(FileOutcome(str(item.path), item.importer.name, "unchanged"))
            else:
                to_read.append(item)
        total = sum(item.path.stat().st_size for item in to_read)
        workers = choose_jobs(jobs, len(to_read), total)
        results: Iterator[tuple[FileOutcome, int]]
        if workers > 1:
            results = _import_in_workers(settings, to_read, workers)
        else:
            results = (_stored(catalog, _parse_file(item, catalog.objects)) for item in to_read)
        done = 0
        for outcome, size in results:
            summary.files.append(outcome)
            done += size
            if on_progress is not None:
                on_progress(done, total, Path(outcome.path).name)
        catalog.record_import_run(
            started, {"counts": summary.counts(), "failed": [f.path for f in summary.failed]}
        )
    return summary
