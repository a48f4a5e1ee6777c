"""What a model server may do, tried by a server that attacks: listen on its own port and
nothing else, connect nowhere, read nothing of the user's, write nothing outside its
folder; the core's check of where it listens; and the plan check that keeps a workset
from widening what its server reads.

The attacking "server" is a real process started exactly as ``modellab serve`` starts one
(:func:`modellab.worksets._sandbox.server_launch`, a session of its own), running a probe
script that reports what each attempt got.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace as dataclass_replace
from pathlib import Path

import pytest

from modellab.errors import ServingError
from modellab.plugins.hookspecs import ServeRequest, ServeResult
from modellab.serving._records import Server
from modellab.serving._serve import _check_reads, _listening_problem
from modellab.settings import Settings
from modellab.store import Catalog
from modellab.worksets._sandbox import Policy, files_confinement, server_launch, server_refusals

PROBE = """\
import json, socket, sys
port, other, target, secret, outside = sys.argv[1:6]
seen = {}
def attempt(name, action):
    try:
        action()
        seen[name] = "allowed"
    except OSError as exc:
        seen[name] = type(exc).__name__
def bind(number):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", int(number)))
        sock.listen()
def connect():
    with socket.create_connection(("127.0.0.1", int(target)), timeout=2):
        pass
def read():
    with open(secret) as handle:
        handle.read()
def write():
    with open(outside, "w") as handle:
        handle.write("x")
attempt("bind own port", lambda: bind(port))
attempt("bind another port", lambda: bind(other))
attempt("connect", connect)
attempt("read the user's file", read)
attempt("write outside", write)
print("PROBE " + json.dumps(seen), flush=True)
"""


def _ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.skipif(files_confinement()[0] < 4, reason="Landlock ABI 4+ confines TCP")
def test_a_server_listens_on_its_port_only_and_reaches_nothing(tmp_path: Path):
    settings = Settings.from_env()
    Catalog(settings.catalog_path).close()
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    probe = probe_dir / "probe.py"
    probe.write_text(PROBE)
    secret = Path.home() / "secret.txt"
    secret.write_text("the user's")
    outside = tmp_path / "outside.txt"
    port, other = _ports(2)
    folder = settings.home / "serve" / "s-probe"
    folder.mkdir(parents=True)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = listener.getsockname()[1]
        argv = [sys.executable, "-m", "cProfile", str(probe)]
        argv += [str(port), str(other), str(target), str(secret), str(outside)]
        policy = Policy(workset="probe", read_only=(probe_dir,))
        argv, env = server_launch(
            argv,
            {"PATH": "/usr/bin:/bin"},
            policy,
            settings,
            call="serve:probe",
            folder=folder,
            port=port,
        )
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, start_new_session=True
        )
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    seen = json.loads(line[6:])
    assert seen == {
        "bind own port": "allowed",
        "bind another port": "PermissionError",
        "connect": "PermissionError",
        "read the user's file": "PermissionError",
        "write outside": "PermissionError",
    }
    assert not outside.exists()
    # What it tried outside its policy reaches the audit log when the server is stopped.
    server_refusals(settings, "probe", "serve:probe", folder)
    with Catalog(settings.catalog_path) as catalog:
        rows = catalog.query("SELECT details FROM audit_log WHERE action = 'workset-refused'")
    tried = {json.loads(r[0])["kind"] for r in rows}
    assert {"bind", "connect", "read", "write"} <= tried
    assert str(port) not in " ".join(r[0] for r in rows if '"bind"' in r[0])


def _server(pid: int, port: int) -> Server:
    return Server(
        id="s-test",
        status="running",
        model="m",
        backend="b",
        workset="w",
        host="127.0.0.1",
        port=port,
        base_url="",
        served_model="m",
        folder=Path("/nonexistent"),
        plan={},
        smoke={},
        context_window=1,
        started_by=None,
        error=None,
        process=f"{pid}:?",
        created_at="",
        updated_at="",
    )


@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_the_listening_check_sees_every_address_a_server_listens_on(bind: str):
    (port,) = _ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", bind],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        problem = _listening_problem(_server(process.pid, port), "127.0.0.1", port)
        if bind == "127.0.0.1":
            assert problem is None
        else:
            assert problem == f"it listens on 0.0.0.0:{port}, not only on 127.0.0.1:{port}; stopped"
            # Asked for on purpose (serve --host 0.0.0.0), the same server passes.
            assert _listening_problem(_server(process.pid, port), "0.0.0.0", port) is None
        assert "not only" in (
            _listening_problem(_server(process.pid, port + 1), "127.0.0.1", port + 1) or ""
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_plan_may_not_widen_what_its_server_reads(tmp_path: Path):
    settings = Settings.from_env()
    model = tmp_path / "model"
    model.mkdir()
    work = settings.home / "serve" / "work" / "m"
    request = ServeRequest(backend="b", model="m", model_dir=model, port=8000, work_dir=work)
    plan = ServeResult(argv=["-m", "x"], served_model="m")

    def reads(*paths: str) -> list[Path]:
        return _check_reads(plan.model_copy(update={"reads": list(paths)}), request, settings)

    # What the request handed over, and a stack's own install outside both homes: fine.
    assert reads(str(model / "w.gguf"), str(work / "x.gguf"), "/usr/lib") == [
        (model / "w.gguf").resolve(),
        (work / "x.gguf").resolve(),
        Path("/usr/lib"),
    ]
    for wanted, why in (
        (str(Path.home() / ".ssh"), "in or around"),
        (str(Path.home()), "in or around"),
        (str(settings.home / "catalog.sqlite3"), "in or around"),
        ("/", "in or around"),
        ("relative/path", "not an absolute path"),
    ):
        with pytest.raises(ServingError, match=why):
            reads(wanted)


def test_stopping_a_server_whose_pid_was_reused_kills_nothing():
    # A session leader that is not our server: the same pid as a record, another start time.
    from modellab._internal.processes import process_token
    from modellab.serving._records import end_process_group

    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid, _, start = process_token(other.pid).partition(":")
        stale = _server(other.pid, 1)
        reused = dataclass_replace(stale, process=f"{pid}:{int(start) - 1}")
        end_process_group(reused, grace=1.0)
        assert other.poll() is None  # untouched
        end_process_group(dataclass_replace(stale, process=f"{pid}:{start}"), grace=1.0)
        assert other.wait(timeout=10) is not None  # its own record does stop it
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
