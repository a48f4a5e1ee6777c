"""Write an export folder: trajectories, manifest and, when redacted, the findings.

The files are ``trajectories.jsonl`` (ATIF, one per line), ``manifest.json`` and, for
redacted exports, ``redaction-findings.jsonl``.

The folder is built under a temporary sibling name and renamed into place only when every
file is written and fsynced, so an interrupted export leaves nothing that looks complete;
the staging folder carries the output marker, so the next export to the same ``--out``
removes what a killed one left (:func:`modellab._internal.files.claim_output`).
Rows stream from the catalog one at a time: memory does not grow with the export's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.files import (
    atomic_write_bytes,
    claim_output,
    fsync_dir,
    open_private,
    remove_tree_quietly,
    write_output_marker,
)

# Not from modellab.traces: exporting streams stored bytes and must not pay for pydantic.
from modellab._internal.formats import ATIF_SCHEMA_VERSION
from modellab._internal.pool import choose_jobs
from modellab.errors import ExportError, UsageError
from modellab.export._redaction import RenderedSession, redact_stored
from modellab.export._report import RedactionReport
from modellab.gate.layout import FINDINGS, MANIFEST, REDACTED, REDACTION_RAW, TRAJECTORIES
from modellab.redact import RedactionConfig
from modellab.store import Catalog, Selection, SessionRow, utc_now

__all__ = ["EXPORT_FORMAT_VERSION", "ExportResult", "write_export"]

EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ExportResult:
    """Where the export went and what it holds."""

    out_dir: Path
    sessions: int
    manifest: dict[str, Any]


class _BackgroundDigest:
    """Hashes on a second thread while the file is written.

    It computes the sha256 of the whole file, and checks each line against the sha256 the
    catalog recorded for it, so a damaged trajectory object is never exported unnoticed.
    ``hashlib`` releases the GIL on large buffers, so hashing overlaps the writes instead of
    adding to them. The queue is bounded: memory stays flat.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[tuple[str, bytes, str | None] | None] = queue.Queue(maxsize=8)
        #: Session ids whose bytes did not match their recorded sha256.
        self.damaged: list[str] = []
        #: sha256 of each line, in order (complete once :meth:`hexdigest` returns).
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, name="export-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            session_id, line, expected = item
            self._digest.update(line)
            self._digest.update(b"\n")
            line_sha256 = hashlib.sha256(line).hexdigest()
            self.lines.append(line_sha256)
            if expected is not None and line_sha256 != expected:
                self.damaged.append(session_id)

    def update(self, session_id: str, line: bytes, expected_sha256: str | None) -> None:
        """Hash ``line`` and a newline into the file digest, and check the line.

        ``expected_sha256`` is None for a redacted line: its source was checked on read.
        """
        self._queue.put((session_id, line, expected_sha256))

    def hexdigest(self) -> str:
        """Finish and return the file's hex digest."""
        self.close()
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stop the thread (idempotent); called on every path out of an export."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class _EarlyWriteback:
    """Asks the OS to write the file to disk while the export is still producing it.

    The export must be on disk before it is renamed into place. Left to the end, that one
    fsync waits for the whole file; flushing every few dozen MiB on a second thread lets
    the disk work overlap the reading and hashing instead.
    """

    EVERY = 64 * 1024 * 1024

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="export-writeback", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            # Errors here are not lost: the final fsync meets and reports them.
            with contextlib.suppress(OSError):
                if hasattr(os, "fdatasync"):  # data only; metadata waits for the final fsync
                    os.fdatasync(self._fd)
                else:
                    os.fsync(self._fd)

    def wrote(self, size: int) -> None:
        """Count ``size`` bytes written; wake the flusher every ``EVERY`` bytes."""
        self._pending += size
        if self._pending >= self.EVERY:
            self._pending = 0
            self._wake.set()

    def close(self) -> None:
        """Stop the flusher (idempotent); the caller still fsyncs at the end."""
        self._stop = True
        self._wake.set()
        self._thread.join()


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``; an old folder there is moved aside first."""
    retired: Path | None = None
    if out_dir.exists():
        retired = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, retired)
    os.replace(staging, out_dir)
    fsync_dir(out_dir.parent)
    if retired is not None:
        remove_tree_quietly(retired)


class _Tally:
    """Counts for the manifest, one session at a time."""

    def __init__(self) -> None:
        self.by_source: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.formats: Counter[tuple[str, str | None, str]] = Counter()
        self.turns = self.tool_calls = self.errors = 0
        self.sessions: list[dict[str, Any]] = []

    def add(self, row: SessionRow, entry: dict[str, Any]) -> None:
        self.by_source[row.source] += 1
        self.by_outcome[row.outcome] += 1
        self.formats[(row.source_format, row.source_format_version, row.parser_version)] += 1
        self.turns += row.turns
        self.tool_calls += row.tool_calls
        self.errors += row.errors
        self.sessions.append(entry)

    def counts(self) -> dict[str, Any]:
        return {
            "sessions": len(self.sessions),
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "tool_errors": self.errors,
            "by_source": dict(self.by_source),
            "by_outcome": dict(self.by_outcome),
        }

    def sources(self) -> list[dict[str, Any]]:
        return [
            {
                "source_format": fmt,
                "source_format_version": version,
                "parser_version": parser,
                "sessions": count,
            }
            for (fmt, version, parser), count in sorted(self.formats.items(), key=str)
        ]


#: (row, line to write, sha256 the line must have or None, its redaction if redacted)
_Line = tuple[SessionRow, bytes, str | None, RenderedSession | None]


def _raw_lines(catalog: Catalog, refs: list[tuple[SessionRow, str, int]]) -> Iterator[_Line]:
    for row, digest, _size in refs:
        yield row, catalog.objects.get(digest, verify=False), digest, None


def _redacted_lines(
    catalog: Catalog,
    refs: list[tuple[SessionRow, str, int]],
    config: RedactionConfig,
    jobs: int | None,
) -> Iterator[_Line]:
    workers = choose_jobs(jobs, len(refs), sum(size for _, _, size in refs))
    renderer, templates = redact_stored(
        config, catalog.objects.root, [(row.id, digest) for row, digest, _ in refs], jobs=workers
    )
    for (row, _digest, _size), template in zip(refs, templates, strict=True):
        rendered = renderer.render(template)
        yield row, rendered.line, None, rendered


def write_export(
    catalog: Catalog,
    selection: Selection,
    out_dir: Path,
    *,
    redaction: RedactionConfig | None,
    force: bool = False,
    jobs: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    describe_selection: dict[str, Any] | None = None,
) -> ExportResult:
    """Export the selected sessions to ``out_dir``; raise if nothing matches.

    With a ``redaction`` configuration every trajectory is redacted and the manifest and
    ``redaction-findings.jsonl`` carry the report. ``redaction=None`` writes the stored
    trajectories as they are and marks the export raw: the gate refuses it for ever.
    ``jobs`` is the number of redaction worker processes (``None``: decide by size).

    ``out_dir`` is claimed first (:func:`modellab._internal.files.claim_output`): never
    the lab's home or a trusted registry, replaced (``force``) only when an earlier export
    wrote it, and locked against a second writer; leftovers of a killed export beside it
    are removed then.
    """
    refs = catalog.trajectory_refs(selection)
    if not refs:
        raise UsageError(
            "no sessions match the selection",
            hint="capture sessions with 'modellab capture', or pass --all",
        )
    # A session with no messages at all is no ATIF trajectory (one needs steps): it stays
    # listed in the catalog, and the export says how many it left out.
    empty = [row.id for row, _digest, _size in refs if row.turns == 0]
    refs = [ref for ref in refs if ref[0].turns > 0]
    if not refs:
        raise UsageError(
            f"all {len(empty)} selected session(s) are empty (no messages): nothing to export"
        )
    with claim_output(out_dir, kind="export", force=force, catalog=catalog):
        return _write_claimed(
            catalog, refs, empty, out_dir, redaction, jobs, on_progress, describe_selection
        )


def _write_claimed(
    catalog: Catalog,
    refs: list[tuple[SessionRow, str, int]],
    empty: list[str],
    out_dir: Path,
    redaction: RedactionConfig | None,
    jobs: int | None,
    on_progress: Callable[[int, int], None] | None,
    describe_selection: dict[str, Any] | None,
) -> ExportResult:
    """Write the export into a staging folder beside the claimed ``out_dir``, then swap."""
    from modellab import __version__

    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    digest = _BackgroundDigest()
    status = REDACTED if redaction is not None else REDACTION_RAW
    try:
        # First: a staging folder a killed export leaves is recognisably ours (and cleaned).
        write_output_marker(staging, "export")
        written = 0
        tally = _Tally()
        lines = (
            _raw_lines(catalog, refs)
            if redaction is None
            else _redacted_lines(catalog, refs, redaction, jobs)
        )
        with contextlib.ExitStack() as files:
            handle = files.enter_context(open_private(staging / TRAJECTORIES))
            outputs = [handle]
            report: RedactionReport | None = None
            if redaction is not None:
                outputs.append(files.enter_context(open_private(staging / FINDINGS)))
                report = RedactionReport(outputs[-1], redaction)
            writeback = _EarlyWriteback(handle.fileno())
            try:
                for row, line, expected, rendered in lines:
                    handle.write(line)
                    handle.write(b"\n")
                    writeback.wrote(len(line) + 1)
                    digest.update(row.id, line, expected)
                    written += len(line) + 1
                    entry: dict[str, Any] = {"id": row.id, "source": row.source}
                    if report is not None and rendered is not None:
                        entry["findings"] = report.add(rendered)
                        # The stored original: review reveals values from it on request.
                        entry["trajectory_sha256"] = refs[len(tally.sessions)][1]
                    tally.add(row, entry)
                    if on_progress is not None:
                        on_progress(len(tally.sessions), len(refs))
            finally:
                writeback.close()
            for output in outputs:
                output.flush()
                os.fsync(output.fileno())
        file_sha256 = digest.hexdigest()
        for entry, line_sha256 in zip(tally.sessions, digest.lines, strict=True):
            entry["sha256"] = line_sha256
        if digest.damaged:
            raise ExportError(
                f"{len(digest.damaged)} stored trajectories are damaged "
                f"({', '.join(digest.damaged[:5])}); nothing was exported",
                hint="re-import those sessions with 'modellab sessions import --force PATH'",
            )
        files_section: dict[str, Any] = {
            TRAJECTORIES: {"sha256": file_sha256, "bytes": written, "lines": len(tally.sessions)}
        }
        if report is not None:
            files_section[FINDINGS] = report.file_entry()
        manifest = {
            "format": "modellab-export",
            "format_version": EXPORT_FORMAT_VERSION,
            "created_at": utc_now(),
            "modellab_version": __version__,
            "redaction_status": status,
            "trajectory_format": ATIF_SCHEMA_VERSION,
            "selection": describe_selection or {},
            "counts": tally.counts(),
            "redaction": report.manifest_section() if report is not None else None,
            "files": files_section,
            "sources": tally.sources(),
            "sessions": tally.sessions,
            "left_out": {"empty": {"count": len(empty), "ids": empty}} if empty else {},
        }
        manifest_bytes = jsonio.dumps(manifest, indent=True) + b"\n"
        atomic_write_bytes(staging / MANIFEST, manifest_bytes)
        fsync_dir(staging)
        _swap_into_place(staging, out_dir)
    except OSError as exc:
        remove_tree_quietly(staging)
        raise ExportError(
            f"{out_dir}: export failed ({exc.strerror or exc}); nothing was written"
        ) from exc
    except BaseException:
        remove_tree_quietly(staging)
        raise
    finally:
        digest.close()
    catalog.record_export(
        out_dir=out_dir,
        sessions=len(tally.sessions),
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        redaction_status=status,
        rules_path=None if redaction is None else redaction.rules_file_path("--rules"),
    )
    return ExportResult(out_dir, len(tally.sessions), manifest)
