"""Model servers in the catalog: what runs where, by which process, and how it ended.

A server is ``running`` while the process that ``modellab serve`` started lives (told
apart from a reused pid by its start time, :mod:`modellab._internal.processes`). One whose
process is gone without a ``serve stop`` (``kill -9``, a crash, a reboot) is marked
``exited`` by the next serve command (:func:`reap`), which also ends whatever that
server's process group left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.processes import alive
from modellab.errors import UsageError
from modellab.store import Catalog

__all__ = [
    "LIVE",
    "Server",
    "create_server",
    "end_process_group",
    "find_server",
    "last_port",
    "list_servers",
    "new_server_id",
    "reap",
    "served_at",
    "session_members",
    "update_server",
]

#: Statuses of a server whose process should be running.
LIVE = frozenset({"starting", "running"})

_COLUMNS = (
    "id, status, model, backend, workset, host, port, base_url, served_model, folder, plan, "
    "smoke, context_window, started_by, error, process, created_at, updated_at"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_server_id() -> str:
    """``s-3f9a1c``: short enough to type, random enough not to collide in one lab."""
    return "s-" + secrets.token_hex(3)


@dataclass(frozen=True, slots=True)
class Server:
    """One model server as the catalog records it."""

    id: str
    status: str
    model: str
    backend: str
    workset: str
    host: str
    port: int
    base_url: str
    served_model: str
    folder: Path
    plan: dict[str, Any]
    smoke: dict[str, Any]
    context_window: int
    started_by: str | None
    error: str | None
    process: str | None
    created_at: str
    updated_at: str

    @property
    def pid(self) -> int | None:
        """The server process's pid, if one was recorded."""
        head = (self.process or "").partition(":")[0]
        return int(head) if head.isdigit() else None

    @property
    def log(self) -> Path:
        """What the server printed (stdout and stderr together)."""
        return self.folder / "server.log"

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``serve list --json`` prints (no process token: it is internal)."""
        return {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "backend": self.backend,
            "workset": self.workset,
            "host": self.host,
            "port": self.port,
            "base_url": self.base_url,
            "served_model": self.served_model,
            "context_window": self.context_window,
            "pid": self.pid,
            "log": str(self.log),
            "started_by": self.started_by,
            "error": self.error,
            "smoke": self.smoke,
            "notes": list(self.plan.get("notes", [])),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _row(row: tuple[Any, ...]) -> Server:
    (ident, status, model, backend, workset, host, port, base_url, served, folder, plan) = row[:11]
    (smoke, window, started_by, error, process, created, updated) = row[11:]
    return Server(
        id=ident,
        status=status,
        model=model,
        backend=backend,
        workset=workset,
        host=host,
        port=int(port),
        base_url=base_url,
        served_model=served,
        folder=Path(folder),
        plan=jsonio.loads(plan) if plan else {},
        smoke=jsonio.loads(smoke) if smoke else {},
        context_window=int(window),
        started_by=started_by,
        error=error,
        process=process,
        created_at=created,
        updated_at=updated,
    )


def create_server(catalog: Catalog, server: Server) -> None:
    """Record a server that is about to start (status ``starting``)."""
    with catalog.transaction() as db:
        db.execute(
            f"INSERT INTO servers ({_COLUMNS}) VALUES ({', '.join('?' * 18)})",
            (
                server.id,
                server.status,
                server.model,
                server.backend,
                server.workset,
                server.host,
                server.port,
                server.base_url,
                server.served_model,
                str(server.folder),
                jsonio.dumps(server.plan).decode(),
                jsonio.dumps(server.smoke).decode() if server.smoke else None,
                server.context_window,
                server.started_by,
                server.error,
                server.process,
                server.created_at,
                server.updated_at,
            ),
        )
        catalog.audit(
            db,
            "serve-start",
            {
                "server": server.id,
                "model": server.model,
                "backend": server.backend,
                "host": server.host,
                "port": server.port,
            },
        )


_UPDATABLE = frozenset({"status", "smoke", "error", "process"})


def update_server(catalog: Catalog, server_id: str, **fields: Any) -> None:
    """Change ``status``, ``smoke``, ``error`` or ``process`` of one server."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"servers cannot update {sorted(unknown)}")
    values = {
        key: (jsonio.dumps(value).decode() if key == "smoke" else value)
        for key, value in fields.items()
    }
    assignments = ", ".join(f"{key} = ?" for key in values)
    with catalog.transaction() as db:
        db.execute(
            f"UPDATE servers SET {assignments}, updated_at = ? WHERE id = ?",
            (*values.values(), _now(), server_id),
        )
        if "status" in fields:
            catalog.audit(db, f"serve-{fields['status']}", {"server": server_id})


def list_servers(catalog: Catalog, *, everything: bool = False) -> list[Server]:
    """The servers that should be running (``everything``: every one ever recorded)."""
    where = "" if everything else " WHERE status IN ('starting', 'running')"
    rows = catalog.query(f"SELECT {_COLUMNS} FROM servers{where} ORDER BY created_at, id")
    return [_row(row) for row in rows]


def find_server(catalog: Catalog, ref: str) -> Server:
    """The server ``ref`` names: its id (or a unique prefix), or the model it serves while
    one server of it is live.

    :raises UsageError: nothing or more than one matches.
    """
    rows = [_row(r) for r in catalog.query(f"SELECT {_COLUMNS} FROM servers")]
    exact = [s for s in rows if s.id == ref]
    found = exact or [s for s in rows if s.id.startswith(ref) and len(ref) >= 3]
    if not found:
        found = [s for s in rows if s.model == ref and s.status in LIVE]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"no server {ref!r}", hint="modellab serve list --all shows every server")
    raise UsageError(
        f"{ref!r} names {len(found)} servers ({', '.join(s.id for s in found[:5])})",
        hint="name one by its id",
    )


def served_at(catalog: Catalog, base_url: str, served_model: str) -> tuple[Server, Server | None]:
    """The newest server that answered at ``base_url`` as ``served_model``, and a live server
    of the same model and backend now (itself, or one started since), if any.

    :raises LookupError: no server of Model Lab's ever answered there.
    """
    rows = [
        _row(r)
        for r in catalog.query(
            f"SELECT {_COLUMNS} FROM servers WHERE base_url = ? AND served_model = ? "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            (base_url, served_model),
        )
    ]
    if not rows:
        raise LookupError(base_url)
    found = rows[0]
    live = [
        s
        for s in list_servers(catalog)
        if s.model == found.model and s.backend == found.backend and s.status == "running"
    ]
    return found, (live[-1] if live else None)


def last_port(catalog: Catalog, model: str, backend: str, started_by: str) -> int | None:
    """The port the newest server of ``model`` on ``backend`` started by ``started_by`` had."""
    rows = catalog.query(
        "SELECT port FROM servers WHERE model = ? AND backend = ? AND started_by = ? "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        (model, backend, started_by),
    )
    return int(rows[0][0]) if rows else None


def session_members(session: int, started_after: int) -> list[int]:
    """Processes of session ``session`` that started at or after ``started_after`` ticks.

    A server runs as the leader of a session of its own (``setsid``); workers it started
    stay in it. The start-time floor keeps a later, unrelated session that happens to
    reuse the number out of reach.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 19 and int(fields[3]) == session and int(fields[19]) >= started_after:
            members.append(int(entry.name))
    return members


def _reused(pid: int, start_text: str) -> bool:
    """Whether ``pid`` is now a process other than the one recorded (started at
    ``start_text`` ticks). A zombie of the server still counts as the server; a pid that is
    gone is not reused (while any process of the server's session is left, the kernel keeps
    the session's number from being handed out again)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return start_text.isdigit() and len(fields) > 19 and fields[19] != start_text


def end_process_group(server: Server, *, grace: float = 10.0) -> None:
    """Stop the server's process and whatever it started: ``SIGTERM``, then ``SIGKILL``
    after ``grace`` seconds."""
    import time

    token = server.process or ""
    pid_text, _, start_text = token.partition(":")
    if not pid_text.isdigit():
        return
    pid = int(pid_text)
    floor = int(start_text) if start_text.isdigit() else 0
    if _reused(pid, start_text):
        return  # the number names someone else's process, and any session of it is theirs
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = session_members(pid, floor)
        if not members:
            return
        for member in members:
            with contextlib.suppress(OSError):
                os.kill(member, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            _collect(pid)
            if not session_members(pid, floor):
                return
            time.sleep(0.1)


def _collect(pid: int) -> None:
    """Reap ``pid`` if it is a child of this process (a server started by this command)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def reap(catalog: Catalog) -> list[Server]:
    """Mark every live server whose process is gone as ``exited``, end what its process
    group left running, and remove its temporary folder; returns those marked."""
    marked = []
    for server in list_servers(catalog):
        if server.pid is not None:
            _collect(server.pid)
        if alive(server.process):
            continue
        end_process_group(server, grace=2.0)
        shutil.rmtree(server.folder / "tmp", ignore_errors=True)
        update_server(
            catalog,
            server.id,
            status="exited",
            error=server.error
            or "the server process ended without 'serve stop' (killed, or it crashed); "
            f"its log: modellab serve logs {server.id}",
        )
        marked.append(server)
    return marked
