"""The lab's catalog: a SQLite file under ``$MODELLAB_HOME``, and the trajectory objects.

Session metadata, captures, exports and the audit log live in SQLite; each session's ATIF
trajectory lives in the content-addressed object store beside it (``objects/``), named by
its sha256 and referenced from the session's row.

Concurrency: the database runs in WAL mode with a busy timeout, and every write happens in
a ``BEGIN IMMEDIATE`` transaction, so two processes importing at once queue rather than
corrupt each other. Reads see a consistent snapshot.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from modellab._internal import jsonio
from modellab._internal.files import disk_full, is_disk_full_at
from modellab.errors import CatalogVersionError, DiskFullError, SessionNotFoundError, StoreError
from modellab.store._migrations import MIGRATIONS, SCHEMA_VERSION
from modellab.store._objects import ObjectStore

__all__ = ["Catalog", "Selection", "SessionRow", "UpsertResult", "utc_now"]

_BUSY_TIMEOUT_S = 60.0
#: What a write to the catalog that met a full disk kept: it was rolled back whole.
_CATALOG_KEPT = "the catalog is unchanged (the write was rolled back)"

#: What happened to a session on import.
UpsertResult = Literal["new", "updated", "unchanged", "superseded"]

_ROW_COLUMNS = (
    "id, source, title, created_at, updated_at, model, turns, tool_calls, errors, outcome, "
    "source_path, source_format, source_format_version, parser_version"
)


def utc_now() -> str:
    """The current time as RFC 3339 UTC text, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as listed in the catalog (without its trajectory)."""

    id: str
    source: str
    title: str | None
    created_at: str | None
    updated_at: str | None
    model: str | None
    turns: int
    tool_calls: int
    errors: int
    outcome: str
    source_path: str
    source_format: str
    source_format_version: str | None
    parser_version: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of the row."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Selection:
    """Which sessions a command acts on. Empty fields do not narrow."""

    ids: tuple[str, ...] = ()
    captured_only: bool = False
    since: str | None = None
    sources: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    last: int | None = None


class Catalog:
    """Open (creating and migrating as needed) the catalog at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Trajectories, by sha256.
        self.objects = ObjectStore(path.parent / "objects")
        # Objects that may have lost their last reference in the current transaction.
        self._maybe_unreferenced: set[str] = set()
        with self._full_disk_as_error():
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                self._db = self._open()
                return
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL, or migrating it, can meet another process
                # doing the same; SQLite then answers "locked" at once instead of waiting
                # (waiting could deadlock). Start over after a short, jittered pause.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise self._open_error(exc) from exc
                time.sleep(0.01 + random.random() * 0.05)  # jitter, not crypto
            except sqlite3.DatabaseError as exc:
                raise self._open_error(exc) from exc
            except OSError as exc:  # the folder or a new catalog file cannot be made
                if is_disk_full_at(exc, self.path):
                    raise disk_full(self.path, _CATALOG_KEPT) from exc
                raise

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db
            self._migrate()
        except BaseException:
            db.close()
            raise
        return db

    def _open_error(self, exc: sqlite3.DatabaseError) -> StoreError | DiskFullError:
        if is_disk_full_at(exc, self.path):
            return disk_full(self.path, _CATALOG_KEPT)
        return StoreError(
            f"{self.path}: cannot open the catalog ({exc})",
            hint="if the file is damaged, move it aside and re-import your sessions",
        )

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

        Everything in the block is committed, or nothing is. A full disk (``SQLITE_FULL``,
        here or in the block) rolls it back and raises :class:`~modellab.errors.DiskFullError`
        naming the catalog's disk.
        """
        with self._full_disk_as_error():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if is_disk_full_at(exc, self.path) and not isinstance(exc, DiskFullError):
                raise disk_full(self.path, _CATALOG_KEPT) from exc
            raise
        self._collect_garbage()

    def _rollback(self) -> None:
        """Roll back what the transaction wrote, if SQLite has not already done so.

        After some errors (``SQLITE_FULL`` among them) SQLite may have rolled back on its
        own; a ROLLBACK then fails with "no transaction is active", which is no news.
        """
        self._maybe_unreferenced.clear()
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    @contextlib.contextmanager
    def _full_disk_as_error(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            if is_disk_full_at(exc, self.path):
                raise disk_full(self.path, _CATALOG_KEPT) from exc
            raise

    def _collect_garbage(self) -> None:
        # After the commit, so a crash leaves at worst an orphan file, never a row whose
        # object is gone.
        candidates, self._maybe_unreferenced = self._maybe_unreferenced, set()
        for digest in candidates:
            used = self._db.execute(
                "SELECT 1 FROM sessions WHERE trajectory_sha256 = ? LIMIT 1", (digest,)
            ).fetchone()
            if used is None:
                self.objects.discard(digest)

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise CatalogVersionError(
                f"{self.path}: catalog schema {current} is newer than this Model Lab "
                f"understands ({SCHEMA_VERSION})",
                hint="upgrade Model Lab, or point MODELLAB_HOME at another folder",
            )
        if current == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        """The schema version the file is at."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only statement (for modules that own their own tables)."""
        return self._db.execute(sql, tuple(params)).fetchall()

    # -- audit -------------------------------------------------------------------------
    def audit(self, db: sqlite3.Connection, action: str, details: dict[str, Any]) -> None:
        """Append to the audit log inside the caller's transaction."""
        db.execute(
            "INSERT INTO audit_log (at, action, details) VALUES (?, ?, ?)",
            (utc_now(), action, jsonio.dumps(details).decode()),
        )

    # -- source files (fast, idempotent re-import) -------------------------------------
    def unchanged_file(self, path: Path, size: int, mtime_ns: int, parser_version: str) -> bool:
        """True when ``path`` was imported before with the same size, mtime and parser, the
        sidecars read with it are unchanged, and its trajectories are still stored.

        A sidecar that appears only after the import is not noticed here; agents rewrite
        the main file whenever they add one, which this does notice.
        """
        row = self._db.execute(
            "SELECT size_bytes, mtime_ns, parser_version, session_ids, sidecars "
            "FROM source_files WHERE path = ?",
            (str(path),),
        ).fetchone()
        if row is None or tuple(row[:3]) != (size, mtime_ns, parser_version):
            return False
        for sidecar, sidecar_size, sidecar_mtime in jsonio.loads(row[4]):
            try:
                stat = os.stat(sidecar)
            except OSError:
                return False
            if (stat.st_size, stat.st_mtime_ns) != (sidecar_size, sidecar_mtime):
                return False
        for session_id in jsonio.loads(row[3]):
            found = self._db.execute(
                "SELECT trajectory_sha256 FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if found is not None and not self.objects.exists(str(found[0])):
                return False  # a lost object: read the file again to restore it
        return True

    def record_file(
        self,
        db: sqlite3.Connection,
        path: Path,
        *,
        importer: str,
        size: int,
        mtime_ns: int,
        sha256: str,
        parser_version: str,
        session_ids: list[str],
        sidecars: list[tuple[str, int, int]],
    ) -> None:
        """Remember that ``path`` (and its sidecars) were imported, in the caller's transaction."""
        db.execute(
            "INSERT OR REPLACE INTO source_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(path),
                importer,
                size,
                mtime_ns,
                sha256,
                parser_version,
                jsonio.dumps(session_ids).decode(),
                jsonio.dumps(sidecars).decode(),
                utc_now(),
            ),
        )

    # -- sessions ----------------------------------------------------------------------
    def upsert_session(
        self,
        db: sqlite3.Connection,
        *,
        summary: dict[str, Any],
        labels: Iterable[str],
        trajectory_sha256: str,
        trajectory_size: int,
    ) -> UpsertResult:
        """Insert or update one session inside the caller's transaction.

        The trajectory must already be in ``self.objects``. The same id from a different
        file is resolved by ``updated_at``: the newest copy wins (CodeWhale's rule for
        ``~/.codewhale`` and ``~/.deepseek``).
        """
        existing = db.execute(
            "SELECT trajectory_sha256, updated_at, source_path FROM sessions WHERE id = ?",
            (summary["id"],),
        ).fetchone()
        if existing is not None:
            old_digest, old_updated, old_path = existing
            if old_digest == trajectory_sha256:
                return "unchanged"
            if old_path != summary["source_path"]:
                old_time, new_time = _parse_time(old_updated), _parse_time(summary["updated_at"])
                if old_time and new_time and old_time > new_time:
                    self._maybe_unreferenced.add(trajectory_sha256)
                    return "superseded"
            self._maybe_unreferenced.add(str(old_digest))
        columns = [*summary, "trajectory_sha256", "trajectory_size", "imported_at"]
        values = [*summary.values(), trajectory_sha256, trajectory_size, utc_now()]
        db.execute(
            f"INSERT OR REPLACE INTO sessions ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            values,
        )
        db.execute("DELETE FROM session_labels WHERE session_id = ?", (summary["id"],))
        db.executemany(
            "INSERT OR IGNORE INTO session_labels VALUES (?, ?)",
            [(summary["id"], kind) for kind in labels],
        )
        return "updated" if existing is not None else "new"

    def resolve_id(self, ref: str) -> str:
        """Turn a full id or a unique prefix into a session id."""
        row = self._db.execute("SELECT id FROM sessions WHERE id = ?", (ref,)).fetchone()
        if row is not None:
            return str(row[0])
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(
            "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 11",
            (f"{escaped}%",),
        ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if not rows:
            raise SessionNotFoundError(ref)
        # Several match: name them (the first ten), so the user can pick one.
        (total,) = self._db.execute(
            "SELECT COUNT(*) FROM sessions WHERE id LIKE ? ESCAPE '\\'", (f"{escaped}%",)
        ).fetchone()
        raise SessionNotFoundError(
            ref, matches=[str(row[0]) for row in rows[:10]], total=int(total)
        )

    def _where(self, selection: Selection) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if selection.ids:
            ids = [self.resolve_id(ref) for ref in selection.ids]
            clauses.append(f"id IN ({', '.join('?' * len(ids))})")
            params.extend(ids)
        if selection.captured_only:
            clauses.append("id IN (SELECT session_id FROM captures)")
        if selection.since:
            clauses.append("COALESCE(updated_at, created_at) >= ?")
            params.append(selection.since)
        if selection.sources:
            clauses.append(f"source IN ({', '.join('?' * len(selection.sources))})")
            params.extend(selection.sources)
        if selection.outcomes:
            clauses.append(f"outcome IN ({', '.join('?' * len(selection.outcomes))})")
            params.extend(selection.outcomes)
        for kind in selection.labels:
            clauses.append("id IN (SELECT session_id FROM session_labels WHERE kind = ?)")
            params.append(kind)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _select(self, columns: str, selection: Selection) -> Iterator[tuple[Any, ...]]:
        where, params = self._where(selection)
        order = "ORDER BY COALESCE(created_at, updated_at, '') DESC, id"
        if selection.last is not None:
            sql = (
                f"SELECT {columns} FROM (SELECT * FROM sessions{where} {order} LIMIT ?) "
                f"ORDER BY COALESCE(created_at, updated_at, ''), id"
            )
            params.append(selection.last)
        else:
            oldest_first = "ORDER BY COALESCE(created_at, updated_at, ''), id"
            sql = f"SELECT {columns} FROM sessions{where} {oldest_first}"
        yield from self._db.execute(sql, params)

    def list_sessions(self, selection: Selection | None = None) -> list[SessionRow]:
        """Sessions in the selection, oldest first."""
        return [SessionRow(*row) for row in self._select(_ROW_COLUMNS, selection or Selection())]

    def trajectory_refs(self, selection: Selection) -> list[tuple[SessionRow, str, int]]:
        """(row, trajectory sha256, size in bytes) of each selected session, oldest first.

        Listed in one read transaction, so rows and digests agree.
        """
        self._db.execute("BEGIN")
        try:
            rows = self.list_sessions(selection)
            refs = {
                str(r[0]): (str(r[1]), int(r[2]))
                for r in self._select("id, trajectory_sha256, trajectory_size", selection)
            }
        finally:
            self._db.execute("COMMIT")
        return [(row, *refs[row.id]) for row in rows]

    def iter_trajectories(self, selection: Selection) -> Iterator[tuple[SessionRow, bytes, str]]:
        """Stream (row, ATIF bytes, expected sha256), one session at a time.

        The bytes are not verified here, so a caller that hashes them anyway (the export)
        does it once; ``trajectory`` verifies.
        """
        for row, digest, _size in self.trajectory_refs(selection):
            yield row, self.objects.get(digest, verify=False), digest

    def trajectory(self, session_id: str) -> bytes:
        """The stored ATIF bytes of one session, checked against their sha256."""
        row = self._db.execute(
            "SELECT trajectory_sha256 FROM sessions WHERE id = ?", (self.resolve_id(session_id),)
        ).fetchone()
        return self.objects.get(str(row[0]))

    def labels_of(self, session_id: str) -> list[str]:
        """Label kinds recorded for a session."""
        rows = self._db.execute(
            "SELECT kind FROM session_labels WHERE session_id = ? ORDER BY kind", (session_id,)
        )
        return [str(r[0]) for r in rows]

    # -- captures ----------------------------------------------------------------------
    def capture(self, selection: Selection) -> list[str]:
        """Mark sessions as export candidates; returns the ids newly captured."""
        ids = [row.id for row in self.list_sessions(selection)]
        with self.transaction() as db:
            before = {r[0] for r in db.execute("SELECT session_id FROM captures")}
            now = utc_now()
            db.executemany("INSERT OR IGNORE INTO captures VALUES (?, ?)", [(i, now) for i in ids])
            added = [i for i in ids if i not in before]
            self.audit(db, "capture", {"ids": added})
        return added

    def uncapture(self, selection: Selection) -> list[str]:
        """Remove sessions from the candidates; returns the ids removed."""
        ids = [row.id for row in self.list_sessions(selection)]
        with self.transaction() as db:
            removed = [
                i
                for i in ids
                if db.execute("DELETE FROM captures WHERE session_id = ?", (i,)).rowcount
            ]
            self.audit(db, "uncapture", {"ids": removed})
        return removed

    def captured_at(self) -> dict[str, str]:
        """Captured session ids and when they were captured."""
        return {str(i): str(t) for i, t in self._db.execute("SELECT * FROM captures")}

    # -- exports and runs --------------------------------------------------------------
    def record_export(
        self,
        *,
        out_dir: Path,
        sessions: int,
        manifest_sha256: str,
        redaction_status: str,
        rules_path: str | None = None,
    ) -> None:
        """Remember a finished export (and the ``--rules`` file it was redacted with)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO exports (created_at, out_dir, sessions, manifest_sha256, "
                "redaction_status, rules_path) VALUES (?, ?, ?, ?, ?, ?)",
                (utc_now(), str(out_dir), sessions, manifest_sha256, redaction_status, rules_path),
            )
            self.audit(db, "export", {"out_dir": str(out_dir), "sessions": sessions})

    def export_rules_path(self, out_dir: Path) -> str | None:
        """The ``--rules`` file the newest export to ``out_dir`` was redacted with, if any."""
        row = self._db.execute(
            "SELECT rules_path FROM exports WHERE out_dir = ? ORDER BY id DESC LIMIT 1",
            (str(out_dir),),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    @property
    def catalog_id(self) -> str:
        """This catalog's random id (32 hex digits), made when it was created or migrated.

        It names the installation, never a path, so it may be written into an export.
        """
        row = self._db.execute("SELECT value FROM catalog_meta WHERE key = 'catalog_id'").fetchone()
        return str(row[0])

    def record_approval(self, export_dir: Path, files: dict[str, str], approved_by: str) -> str:
        """Store an approval of the files (name -> sha256) in an export; returns its time."""
        approved_at = utc_now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO approvals (export_dir, files, approved_at, approved_by) "
                "VALUES (?, ?, ?, ?)",
                (
                    str(export_dir),
                    jsonio.dumps(files, sort_keys=True).decode(),
                    approved_at,
                    approved_by,
                ),
            )
            self.audit(db, "approve", {"export_dir": str(export_dir), "files": files})
        return approved_at

    def latest_approval(self, export_dir: Path) -> tuple[dict[str, str], str, str] | None:
        """(files, approved_at, approved_by) of the newest approval of ``export_dir``."""
        row = self._db.execute(
            "SELECT files, approved_at, approved_by FROM approvals WHERE export_dir = ? "
            "ORDER BY id DESC LIMIT 1",
            (str(export_dir),),
        ).fetchone()
        if row is None:
            return None
        return dict(jsonio.loads(row[0])), str(row[1]), str(row[2])

    def record_import_run(self, started_at: str, summary: dict[str, Any]) -> None:
        """Remember an import run and its report."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO import_runs (started_at, finished_at, summary) VALUES (?, ?, ?)",
                (started_at, utc_now(), jsonio.dumps(summary).decode()),
            )
            self.audit(db, "import", {k: v for k, v in summary.items() if k != "files"})
