"""Import session files into the catalog: plan, read, convert to ATIF, store.

One file at a time, so memory is bounded by the largest single file, not by the corpus.
A file that fails is reported with its reason and the rest still import.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.files import disk_full, is_disk_full
from modellab._internal.pool import choose_jobs, ordered_map, worker_context
from modellab.errors import DiskFullError, SourceError
from modellab.plugins import build_plugin_manager
from modellab.settings import Settings
from modellab.sources import FileImport, Importer, PlannedFile, collect_importers, plan_files
from modellab.sources._collect import unclaimed_files
from modellab.store import Catalog, ObjectStore, utc_now
from modellab.traces import Session, to_atif

__all__ = ["FileOutcome", "ImportSummary", "NotImported", "default_paths", "run_import"]


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
    #: Other files the sessions were read from (a session's journal, its subagents...).
    sidecars: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NotImported:
    """A file inside a folder given to the import that no importer took, and why."""

    path: str
    reason: str
    #: The importer whose format the file has, when one recognised it by its content.
    format: str | None = None
    #: The folder given to the import that holds it.
    folder: str = ""

    @property
    def name(self) -> str:
        """The path relative to the folder given (the path itself if it is not inside)."""
        try:
            return str(Path(self.path).relative_to(self.folder))
        except ValueError:
            return self.path


#: Why a file found in a folder was not imported.
NOT_IN_LAYOUT = "not in a known folder layout"
UNKNOWN_FORMAT = "not a session file of any known agent"


@dataclass(slots=True)
class ImportSummary:
    """The whole import report."""

    files: list[FileOutcome] = field(default_factory=list)
    #: Files inside the folders given that were not imported, each with its reason.
    not_imported: list[NotImported] = field(default_factory=list)

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
            **({"files_not_imported": len(self.not_imported)} if self.not_imported else {}),
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
            "not_imported": [asdict(item) for item in self.not_imported],
        }

    def not_imported_by_reason(self) -> dict[str, list[NotImported]]:
        """Files not imported, grouped by their reason, in path order."""
        groups: dict[str, list[NotImported]] = {}
        for item in sorted(self.not_imported, key=lambda i: i.path):
            groups.setdefault(item.reason, []).append(item)
        return groups


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
    #: Objects this file put into the store that were not there before (its own).
    added: list[str] = field(default_factory=list)


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
    problem, fatal = _emptiness(report)
    if fatal:
        outcome.status, outcome.error = "failed", problem
        return parsed
    if problem:
        outcome.warnings.insert(0, problem)
    parsed.sidecars = _sidecar_stats(path, report.sessions)
    outcome.sidecars = [name for name, _, _ in parsed.sidecars]
    added: list[str] = []
    try:
        for session in report.sessions:
            trajectory = jsonio.dumps(to_atif(session))
            digest = hashlib.sha256(trajectory).hexdigest()
            if not objects.exists(digest):
                added.append(digest)
            parsed.sessions.append(
                (
                    _summary_columns(session),
                    sorted({label.kind for label in session.labels}),
                    objects.put(trajectory),
                    len(trajectory),
                )
            )
    except BaseException:
        # A full disk, say: the objects this file added would be referenced by nothing.
        for digest in added:
            objects.discard(digest)
        raise
    parsed.added = added
    return parsed


def _reasons(skipped: dict[str, int], limit: int = 3) -> str:
    ranked = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{count} {reason}" for reason, count in ranked[:limit])
    more = len(ranked) - limit
    return shown + (f", and {more} other reason{'s' if more > 1 else ''}" if more > 0 else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _emptiness(report: FileImport) -> tuple[str | None, bool]:
    """Say what a file's import lost when its content mapped to nothing, and if it is fatal.

    A file whose records were all skipped, or whose sessions came out with no steps while
    records were skipped, failed: it is never reported as imported. Some sessions empty for
    that reason is a warning. A session that is empty because its source is empty (no
    message was ever written) is neither.
    """
    skipped = sum(report.skipped.values())
    empty = [s for s in report.sessions if not any(turn.steps for turn in s.turns)]
    if report.lines_total > 0 and report.lines_mapped == 0:
        why = _reasons(report.skipped) if skipped else "no reason recorded"
        records = _plural(report.lines_total, "record")
        return f"nothing in the file could be mapped: {records}, all skipped ({why})", True
    if not skipped or not empty:
        return None, False
    why = f"{_plural(skipped, 'record')} skipped: {_reasons(report.skipped)}"
    if len(empty) == len(report.sessions):
        sessions = _plural(len(empty), "session")
        return f"no step could be built ({sessions} with no steps; {why})", True
    count = f"{len(empty)} of {_plural(len(report.sessions), 'session')}"
    return f"{count} have no steps ({why})", False


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
    try:
        _store_in_transaction(catalog, parsed)
    except BaseException:
        # Rolled back: the objects this file added are referenced by nothing.
        for digest in parsed.added:
            catalog.objects.discard(digest)
        raise
    return outcome


def _store_in_transaction(catalog: Catalog, parsed: _Parsed) -> None:
    outcome = parsed.outcome
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
    paths = list(paths)
    planned, unrecognised = _plan(settings, paths, importers)
    summary = ImportSummary()
    known = ", ".join(importer.name for importer in importers)
    for path in unrecognised:
        summary.files.append(
            FileOutcome(str(path), "", "unrecognised", error=f"{UNKNOWN_FORMAT} ({known})")
        )
    started = utc_now()
    try:
        _import_planned(
            settings, paths, planned, importers, summary, started, force, jobs, on_progress
        )
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        # The catalog could not even be opened (or a DiskFullError that says what it kept).
        if isinstance(exc, DiskFullError):
            raise
        raise disk_full(settings.catalog_path, "the catalog is unchanged") from exc
    return summary


def _import_planned(
    settings: Settings,
    paths: list[Path],
    planned: list[PlannedFile],
    importers: list[Importer],
    summary: ImportSummary,
    started: str,
    force: bool,
    jobs: int | None,
    on_progress: Callable[[int, int, str], None] | None,
) -> None:
    """Store every planned file in the catalog, adding each outcome to ``summary``."""
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
        try:
            for outcome, size in results:
                summary.files.append(outcome)
                done += size
                if on_progress is not None:
                    on_progress(done, total, Path(outcome.path).name)
            folders = [path for path in paths if path.is_dir()]
            if folders:
                summary.not_imported = _not_imported(catalog, folders, planned, summary, importers)
            catalog.record_import_run(
                started, {"counts": summary.counts(), "failed": [f.path for f in summary.failed]}
            )
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            close = getattr(results, "close", None)
            if close is not None:
                close()  # workers finish (or fail) their files first: then the count is true
            raise disk_full(settings.catalog_path, _kept_in(catalog, started)) from exc


def _kept_in(catalog: Catalog, started: str) -> str:
    """What an import the disk stopped kept, read back from the catalog: every file stored
    since ``started`` (each in one transaction with its sessions, so whole)."""
    rows = catalog.query("SELECT session_ids FROM source_files WHERE imported_at >= ?", (started,))
    if not rows:
        return "the catalog is unchanged (nothing was imported)"
    sessions = sum(len(jsonio.loads(ids)) for (ids,) in rows)
    return (
        f"the catalog kept the {_plural(sessions, 'session')} of the "
        f"{_plural(len(rows), 'file')} imported before the disk filled; the rest was not "
        "imported (each file is stored whole or not at all)"
    )


def _read_with(catalog: Catalog, summary: ImportSummary) -> set[Path]:
    """Every file the imported sessions were read from, besides the files themselves.

    An unchanged file was not read this time: its sidecars come from the catalog, and are
    filled into its outcome too.
    """
    used: set[Path] = set()
    for outcome in summary.files:
        names = list(outcome.sidecars)
        if outcome.status == "unchanged":
            rows = catalog.query(
                "SELECT sidecars FROM source_files WHERE path = ?",
                (str(Path(outcome.path).resolve()),),
            )
            for (sidecars,) in rows:
                names.extend(str(entry[0]) for entry in jsonio.loads(sidecars))
            outcome.sidecars = names
        used.update(Path(name).resolve() for name in names)
    return used


def _not_imported(
    catalog: Catalog,
    folders: list[Path],
    planned: list[PlannedFile],
    summary: ImportSummary,
    importers: list[Importer],
) -> list[NotImported]:
    """The files inside ``folders`` that were neither imported nor read with a session."""
    claimed = {item.path.resolve() for item in planned} | _read_with(catalog, summary)
    result: dict[Path, NotImported] = {}
    for folder in folders:
        for path, fmt in unclaimed_files(folder, claimed, importers):
            if fmt is None:
                reason = UNKNOWN_FORMAT
            else:
                reason = f"in {fmt} format but {NOT_IN_LAYOUT} (import it by path)"
            result.setdefault(
                path.resolve(), NotImported(str(path), reason, fmt, folder=str(folder))
            )
    return list(result.values())
