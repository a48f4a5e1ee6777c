"""A workset that declares hosts reaches those and nothing else (issue 12, item 3).

The allow-list proxy (``modellab.worksets._egress``) runs in this test process on a UNIX
socket; the "workset" is a small Python program started through util-linux ``unshare`` in
a new user and network namespace, which sets up its side (``lo`` up, the forwarder, the
proxy variables) exactly as a confined workset's child does, then attacks: undeclared ports,
a name that resolves to loopback, direct connections that ignore the proxy, garbage. Every
server is a real one on 127.0.0.1; nothing here reaches the internet.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modellab.cli import main
from modellab.settings import Settings
from modellab.worksets import _egress as egress_module
from modellab.worksets._egress import (
    EgressEvent,
    EgressProxy,
    describe,
    keeping_caps,
    non_global_reason,
    parse_declared,
    record_egress,
)

BODY = b"hello from the declared host"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, Server)
        server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class Server(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 that records the paths it was asked for."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.port = int(self.server_address[1])
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def declared() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


@pytest.fixture
def undeclared() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def _ask(path: str, request: bytes, *, read_all: bool = False) -> bytes:
    """Send ``request`` to the proxy's socket; the status line (or the whole reply)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        # A proxy that refuses at once (too many connections) may have closed already;
        # its answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        reply = b""
        while read_all or b"\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply if read_all else reply.split(b"\r\n")[0]


def _wait_events(proxy: EgressProxy, count: int) -> list[EgressEvent]:
    """The proxy's events once ``count`` have ended (each is recorded when it closes)."""
    deadline = time.monotonic() + 5
    while len(proxy.events) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(proxy.events)


# -- what a manifest host means ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("api.example.com", {("api.example.com", 443), ("api.example.com", 80)}),
        ("API.Example.COM.", {("api.example.com", 443), ("api.example.com", 80)}),
        ("hub.test:8443", {("hub.test", 8443)}),
        ("127.0.0.1:8080", {("127.0.0.1", 8080)}),
        ("[::1]:9000", {("::1", 9000)}),
        ("0:0:0:0:0:0:0:1", {("::1", 443), ("::1", 80)}),
    ],
)
def test_a_manifest_host_allows_exactly_these_pairs(
    entry: str, expected: set[tuple[str, int]]
) -> None:
    assert {(d.host, d.port) for d in parse_declared(entry)} == expected


@pytest.mark.parametrize(
    "entry",
    [
        "*.example.com",  # no pattern syntax: the manifest validates hosts as text only
        "https://api.example.com",
        "api.example.com/v1",
        "user@api.example.com",
        "api.example.com:0",
        "api.example.com:65536",
        "api.example.com:http",
        "[::1",
        "bad host",
        "exämple.com",  # must be written as IDNA (xn--...) to be compared exactly
        "a" * 64 + ".com",
    ],
)
def test_anything_but_a_plain_host_allows_nothing(entry: str) -> None:
    with pytest.raises(ValueError, match=r"wildcards|not a host"):
        parse_declared(entry)
    proxy = EgressProxy([entry], workset="w", call="c")
    assert proxy.allowed == frozenset()
    assert len(proxy.ignored) == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.53.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 inside
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_classes(address: str, reason: str | None) -> None:
    assert non_global_reason(address) == reason


# -- the proxy, driven directly over its socket --------------------------------------------------


def test_the_socket_is_private_and_gone_after_use(declared: Server) -> None:
    with EgressProxy([f"127.0.0.1:{declared.port}"], workset="w", call="c") as proxy:
        path = Path(proxy.socket_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists() and not path.parent.exists()


def test_connect_to_a_declared_pair_is_piped_and_logged_with_bytes(declared: Server) -> None:
    with EgressProxy([f"127.0.0.1:{declared.port}"], workset="w", call="c") as proxy:
        request = (
            f"CONNECT 127.0.0.1:{declared.port} HTTP/1.1\r\n\r\n"
            "GET /through-connect HTTP/1.0\r\n\r\n"
        ).encode()
        reply = _ask(proxy.socket_path, request, read_all=True)
        [event] = _wait_events(proxy, 1)
    assert reply.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.0 200")
    assert reply.endswith(BODY)
    assert declared.paths == ["/through-connect"]
    assert (event.decision, event.host, event.port, event.method) == (
        "allow",
        "127.0.0.1",
        declared.port,
        "CONNECT",
    )
    assert event.up == len(b"GET /through-connect HTTP/1.0\r\n\r\n")
    assert event.down > len(BODY)


def test_refusals_name_the_reason(declared: Server, undeclared: Server) -> None:
    hosts = [f"127.0.0.1:{declared.port}", f"localhost:{declared.port}", "*.example.com"]
    with EgressProxy(hosts, workset="w", call="c") as proxy:
        sock = proxy.socket_path
        wrong_port = _ask(sock, f"CONNECT 127.0.0.1:{undeclared.port} HTTP/1.1\r\n\r\n".encode())
        wrong_host = _ask(sock, f"CONNECT 127.0.0.2:{declared.port} HTTP/1.1\r\n\r\n".encode())
        # Declared as a name, and the name resolves to loopback here: refused as non-global.
        rebound = _ask(sock, f"GET http://LOCALHOST:{declared.port}/x HTTP/1.1\r\n\r\n".encode())
        wildcard = _ask(sock, b"CONNECT api.example.com:443 HTTP/1.1\r\n\r\n")
        events = _wait_events(proxy, 4)
    assert (
        wrong_port
        == (
            f"HTTP/1.1 403 Forbidden by modellab egress policy: 127.0.0.1:{undeclared.port} "
            "port not declared"
        ).encode()
    )
    assert wrong_host.endswith(f"127.0.0.2:{declared.port} host not declared".encode())
    assert b"403" in rebound and b"localhost resolves to non-global addresses" in rebound
    assert b"127.0.0.1 loopback" in rebound
    assert wildcard.endswith(b"api.example.com:443 host not declared")
    assert declared.paths == [] and undeclared.paths == []  # nothing reached either server
    assert [(e.decision, e.host) for e in sorted(events, key=lambda e: e.ts)] == [
        ("deny", "127.0.0.1"),
        ("deny", "127.0.0.2"),
        ("deny", "localhost"),
        ("deny", "api.example.com"),
    ]


def test_absolute_form_http_is_forwarded_one_request_per_connection(declared: Server) -> None:
    with EgressProxy([f"127.0.0.1:{declared.port}"], workset="w", call="c") as proxy:
        request = (
            f"GET http://127.0.0.1:{declared.port}/plain?q=1 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{declared.port}\r\nProxy-Authorization: Basic c2VjcmV0\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        reply = _ask(proxy.socket_path, request, read_all=True)
        [event] = _wait_events(proxy, 1)
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(BODY)
    assert declared.paths == ["/plain?q=1"]
    assert (event.decision, event.method) == ("allow", "GET")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"\x00\xff\xfe garbage \x1b[2J\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # origin-form: not a proxy request
        (b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n", b"400"),  # https must use CONNECT
        (b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n", b"400"),  # no port
        (b"CONNECT 127.0.0.1:1 HTTP/9.9\r\n\r\n", b"400"),
        (b"GET http://user:pw@127.0.0.1/ HTTP/1.1\r\n\r\n", b"400"),
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", b"431"),
        (b"GET http://127.0.0.1/" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", b"431"),
        (b"A" * 40_000, b"431"),  # no end of head at all
    ],
)
def test_garbage_is_refused_and_the_proxy_survives(
    declared: Server, request_bytes: bytes, status: bytes
) -> None:
    with EgressProxy([f"127.0.0.1:{declared.port}"], workset="w", call="c") as proxy:
        refused = _ask(proxy.socket_path, request_bytes)
        after = _ask(
            proxy.socket_path, f"CONNECT 127.0.0.1:{declared.port} HTTP/1.1\r\n\r\n".encode()
        )
        events = _wait_events(proxy, 2)
    assert refused.split(b" ")[1] == status, refused
    assert after == b"HTTP/1.1 200 Connection established"
    bad = min(events, key=lambda e: e.ts)
    assert (bad.decision, bad.host, bad.port) == ("deny", "", 0)
    assert bad.reason and bad.reason.isprintable()  # ours, never the client's raw bytes


def test_a_silent_client_times_out_and_connections_are_bounded(declared: Server) -> None:
    hosts = [f"127.0.0.1:{declared.port}"]
    with EgressProxy(hosts, workset="w", call="c", max_connections=2, head_timeout=0.5) as proxy:
        silent = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
        for sock in silent:
            sock.connect(proxy.socket_path)
        time.sleep(0.1)  # both are being served, holding both slots
        third = _ask(proxy.socket_path, b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n")
        timed_out = [s.recv(4096).split(b"\r\n")[0] for s in silent]
        for sock in silent:
            sock.close()
        _wait_events(proxy, 3)  # their slots are free again once their events are in
        again = _ask(
            proxy.socket_path, f"CONNECT 127.0.0.1:{declared.port} HTTP/1.1\r\n\r\n".encode()
        )
        events = _wait_events(proxy, 4)
    assert third.startswith(b"HTTP/1.1 503") and third.endswith(b"too many connections")
    assert all(line.startswith(b"HTTP/1.1 408") for line in timed_out), timed_out
    assert again == b"HTTP/1.1 200 Connection established"
    assert sorted(e.reason for e in events if e.decision == "deny") == [
        "no complete request in time",
        "no complete request in time",
        "too many connections",
    ]


def test_a_trickling_client_gets_the_whole_head_timeout_not_one_per_byte(
    declared: Server,
) -> None:
    hosts = [f"127.0.0.1:{declared.port}"]
    with EgressProxy(hosts, workset="w", call="c", head_timeout=0.5) as proxy:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(proxy.socket_path)
            started = time.monotonic()
            sent = 0
            with contextlib.suppress(OSError):  # the proxy gives up while we still send
                for byte in b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nX-Slow: " + b"z" * 100:
                    if select.select([sock], [], [], 0)[0]:
                        break  # the proxy has answered
                    sock.sendall(bytes([byte]))
                    sent += 1
                    time.sleep(0.05)  # always within any per-read timeout
            answered = time.monotonic() - started
            reply = sock.recv(4096)
        [event] = _wait_events(proxy, 1)
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert answered < 2 and sent < 40  # not after the whole 6-second trickle
    assert event.reason == "no complete request in time"


def test_an_unreachable_declared_host_is_an_error_not_a_hang() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with EgressProxy([f"127.0.0.1:{port}"], workset="w", call="c") as proxy:
        reply = _ask(proxy.socket_path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        [event] = _wait_events(proxy, 1)
    assert reply.startswith(b"HTTP/1.1 502") and reply.endswith(b"(ECONNREFUSED)")
    assert (event.decision, event.reason) == (
        "error",
        f"127.0.0.1:{port} unreachable (ECONNREFUSED)",
    )


def test_a_failing_event_callback_does_not_break_the_proxy(declared: Server) -> None:
    seen: list[EgressEvent] = []

    def flaky(event: EgressEvent) -> None:
        seen.append(event)
        raise RuntimeError("the audit log is unavailable")

    hosts = [f"127.0.0.1:{declared.port}"]
    with EgressProxy(hosts, workset="w", call="c", on_event=flaky) as proxy:
        first = _ask(proxy.socket_path, b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n")
        second = _ask(
            proxy.socket_path, f"CONNECT 127.0.0.1:{declared.port} HTTP/1.1\r\n\r\n".encode()
        )
        _wait_events(proxy, 2)
    assert first.startswith(b"HTTP/1.1 403") and second.startswith(b"HTTP/1.1 200")
    assert len(seen) == 2


# -- the audit log ---------------------------------------------------------------------------


def _event(decision: str, **changes: Any) -> EgressEvent:
    values: dict[str, Any] = {
        "ts": 1_800_000_000.0,
        "workset": "spy",
        "call": "spy",
        "host": "hub.test",
        "port": 443,
        "decision": decision,
        "method": "CONNECT",
        "up": 517,
        "down": 4096,
        "ms": 12.345,
    }
    values.update(changes)
    if "reason" not in values:
        values["reason"] = "" if decision == "allow" else f"{values['host']}:443 host not declared"
    return EgressEvent(**values)


def test_events_are_audited_and_shown_by_worksets_audit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("modellab.worksets._egress.MAX_AUDIT_EVENTS", 3)
    events = [_event("allow"), _event("deny", host="evil.test", up=0, down=0)]
    events += [_event("deny", host=f"h{i}.test") for i in range(3)]
    record_egress(Settings.from_env(), events)
    record_egress(Settings.from_env(), [])  # nothing to write: no catalog transaction needed

    assert main(["worksets", "audit", "--json"]) == 0
    logged = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "workset-egress"]
    assert [e.get("host") for e in logged] == ["hub.test", "evil.test", "h0.test", None]
    assert logged[0]["up"] == 517 and logged[0]["down"] == 4096 and logged[0]["ms"] == 12.3
    assert logged[0]["started"] == "2027-01-15T08:00:00.000+00:00"
    assert logged[-1]["dropped"] == 2  # the rest are counted, not written one by one

    assert main(["worksets", "audit"]) == 0
    table = capsys.readouterr().out
    assert "allow hub.test:443 spy/spy up=517B down=4096B" in table
    assert "deny evil.test:443 spy/spy: host not declared" in table
    assert "deny h0.test:443 spy/spy: host not declared" in table
    assert "spy/spy: 2 more not logged" in table


def test_describe_shows_ipv6_hosts_bracketed() -> None:
    details = _event("error", host="::1", reason="[::1]:443 unreachable (ECONNREFUSED)").details()
    assert describe(details) == "error [::1]:443 spy/spy: unreachable (ECONNREFUSED)"


# -- a real child in its own network namespace ---------------------------------------------------

CHILD = r"""
import errno, json, socket, sys, urllib.error, urllib.request

import importlib.util

args = json.loads(sys.argv[1])
# Loaded by path, as the confined child's bootstrap does: no package import needed.
spec = importlib.util.spec_from_file_location("egress_under_test", args["module"])
egress = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = egress
spec.loader.exec_module(egress)
enter_child = egress.enter_child
found = {}


def code(exc):
    return errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)


def get(url, **kwargs):
    try:
        with urllib.request.urlopen(url, timeout=10, **kwargs) as reply:
            return [reply.status, reply.read().decode()]
    except urllib.error.HTTPError as exc:
        return [exc.code, exc.reason]
    except OSError as exc:
        return code(getattr(exc, "reason", exc))


def ask(request):
    with socket.create_connection(("127.0.0.1", found["forwarder"]), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n")[0].decode("ascii", "replace")


def direct(address, port):
    try:
        socket.create_connection((address, port), timeout=5).close()
        return "connected"
    except OSError as exc:
        return code(exc)


try:
    found["forwarder"] = enter_child(args["socket"])
except OSError as exc:
    found["setup"] = code(exc)
    print(json.dumps(found))
    sys.exit(0)
declared, undeclared = args["declared"], args["undeclared"]
found["interfaces"] = sorted(name for _, name in socket.if_nameindex())
# (a) through the proxy, as any library that honours HTTP_PROXY does
found["urllib"] = get(f"http://127.0.0.1:{declared}/urllib")
# (b) an undeclared port of the same host, by CONNECT
found["undeclared"] = ask(f"CONNECT 127.0.0.1:{undeclared} HTTP/1.1\r\n\r\n".encode())
# (c) ignoring the proxy: the declared server itself, and the outside world
found["direct_declared"] = direct("127.0.0.1", declared)
found["direct_outside"] = direct("192.0.2.1", 80)
no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    no_proxy.open(f"http://127.0.0.1:{declared}/bypass", timeout=5)
    found["urllib_no_proxy"] = "connected"
except OSError as exc:
    found["urllib_no_proxy"] = code(getattr(exc, "reason", exc))
# (d) a name declared as a name, which resolves to loopback
found["localhost"] = get(f"http://localhost:{declared}/rebound")
# (e) garbage, then the proxy still serves
tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xff" * 300
found["garbage"] = ask(tls_hello + b"\r\n\r\n")
found["oversized"] = ask(b"GET http://127.0.0.1/" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n")
found["after_garbage"] = get(f"http://127.0.0.1:{declared}/after")
# (f) httpx, which reads the same variables
try:
    import httpx
except ImportError:
    found["httpx"] = "absent"
else:
    found["httpx"] = httpx.get(f"http://127.0.0.1:{declared}/httpx").text
    try:
        httpx.get(f"http://127.0.0.1:{declared}/httpx-direct", trust_env=False, timeout=5)
        found["httpx_direct"] = "connected"
    except httpx.HTTPError as exc:
        found["httpx_direct"] = type(exc).__name__
print(json.dumps(found))
"""


#: The unprivileged user the child is also run as, when these tests run as root.
NOBODY = 65534


def _run_child(
    proxy: EgressProxy, declared: Server, undeclared: Server, *, unprivileged: bool
) -> dict[str, Any]:
    from modellab.worksets import _sandbox  # here: the probe is only needed by this test

    how = _sandbox.no_network()
    if not how.enforced:
        pytest.skip(f"network namespaces cannot be created on this machine: {how.reason}")
    prefix = keeping_caps(how.prefix)
    python = sys.executable
    if unprivileged:
        # As most users run it: a uid that is not 0 outside, so not 0 inside either. The
        # system's interpreter: this venv's may live in a folder only root can enter.
        prefix = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *prefix)
        python = "/usr/bin/python3"
    args = {
        "socket": proxy.socket_path,
        "declared": declared.port,
        "undeclared": undeclared.port,
        "module": egress_module.__file__,
    }
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    done = subprocess.run(
        [*prefix, python, "-I", "-c", CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    assert "setup" not in found, f"lo up or the forwarder failed: {found}"
    return found


@pytest.fixture(params=["caller", "unprivileged"])
def unprivileged(request: pytest.FixtureRequest) -> bool:
    """Run the child as this test's user, and (when that is root) as ``nobody`` too."""
    if request.param == "caller":
        return False
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("running the child as another user needs root and setpriv")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("no system /usr/bin/python3 to run the child as another user")
    blocked = _closed_to_others(Path(egress_module.__file__).resolve().parent)
    if blocked is not None:
        pytest.skip(f"nobody cannot read this checkout's code: {blocked} is closed to others")
    return True


def _closed_to_others(folder: Path) -> Path | None:
    """The first folder on the way to ``folder`` that another user cannot enter or read
    (a checkout under ``mktemp -d``'s 0700 folder, say), or ``None``."""
    for step in [*reversed(folder.parents), folder]:
        mode = step.stat().st_mode
        if not mode & stat.S_IXOTH or (step == folder and not mode & stat.S_IROTH):
            return step
    return None


@contextlib.contextmanager
def _proxy_for(hosts: list[str], unprivileged: bool) -> Iterator[EgressProxy]:
    """The proxy, its socket usable by the child's user (its folder stays 0700)."""
    run_dir = Path(tempfile.mkdtemp(prefix="modellab-egress-test-"))
    try:
        with EgressProxy(hosts, workset="spy", call="spy", run_dir=run_dir) as proxy:
            if unprivileged:
                os.chown(run_dir, NOBODY, NOBODY)
                os.chown(proxy.socket_path, NOBODY, NOBODY)
            yield proxy
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def test_a_confined_child_reaches_only_its_declared_host(
    declared: Server, undeclared: Server, unprivileged: bool
) -> None:
    hosts = [f"127.0.0.1:{declared.port}", f"localhost:{declared.port}"]
    with _proxy_for(hosts, unprivileged) as proxy:
        found = _run_child(proxy, declared, undeclared, unprivileged=unprivileged)
        events = sorted(_wait_events(proxy, 7), key=lambda e: e.ts)

    assert found["interfaces"] == ["lo"]  # its own namespace, not the host's
    # (a) allowed, with bytes both ways in the log
    assert found["urllib"] == [200, BODY.decode()]
    assert found["after_garbage"] == [200, BODY.decode()]
    # (b) refused, 403 with the reason
    assert found["undeclared"] == (
        f"HTTP/1.1 403 Forbidden by modellab egress policy: 127.0.0.1:{undeclared.port} "
        "port not declared"
    )
    # (c) nothing but the proxy: loopback in the namespace is not the host's loopback, and
    # there is no route anywhere else
    assert found["direct_declared"] == "ECONNREFUSED"
    assert found["urllib_no_proxy"] == "ECONNREFUSED"
    assert found["direct_outside"] == "ENETUNREACH"
    # (d) a declared name that resolves to loopback reaches nothing
    assert found["localhost"][0] == 403
    # (e) garbage and oversized heads are refused, the proxy survives
    assert found["garbage"].startswith("HTTP/1.1 400")
    assert found["oversized"].startswith("HTTP/1.1 431")
    # (f) httpx honours the proxy variables; without them it cannot connect
    if found["httpx"] != "absent":
        assert found["httpx"] == BODY.decode()
        assert found["httpx_direct"] == "ConnectError"

    expected_paths = ["/urllib", "/after"] + (["/httpx"] if found["httpx"] != "absent" else [])
    assert declared.paths == expected_paths  # only what went through the proxy arrived
    assert undeclared.paths == []
    allowed = [e for e in events if e.decision == "allow"]
    assert [(e.host, e.port, e.method) for e in allowed] == [
        ("127.0.0.1", declared.port, "GET")
    ] * len(expected_paths)
    assert all(e.up > 0 and e.down > len(BODY) for e in allowed)
    denied = [(e.host, e.reason) for e in events if e.decision == "deny"]
    assert denied[0] == ("127.0.0.1", f"127.0.0.1:{undeclared.port} port not declared")
    assert denied[1] == (
        "localhost",
        "localhost resolves to non-global addresses (127.0.0.1 loopback)",
    )
    assert [reason for host, reason in denied[2:]] == [
        "request head is not ASCII",
        "request head too large",
    ]
    assert all(e.workset == "spy" and e.call == "spy" for e in events)


# -- end to end: a signed workset, installed and run through the CLI -------------------------

SPY = """\
import errno
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


def _code(exc):
    return errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return [reply.status, reply.read().decode()]
    except urllib.error.HTTPError as exc:
        return [exc.code, exc.reason]
    except OSError as exc:
        return _code(getattr(exc, "reason", exc))


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        declared, undeclared = int(argv[0]), int(argv[1])
        found = {"proxy": os.environ.get("HTTPS_PROXY", "")}
        found["declared"] = _get(f"http://127.0.0.1:{declared}/spy")
        found["undeclared"] = _get(f"http://127.0.0.1:{undeclared}/spy")
        try:
            with socket.create_connection(("127.0.0.1", declared), timeout=5) as sock:
                sock.sendall(b"the installation's redaction key")
            found["direct"] = "connected"
        except OSError as exc:
            found["direct"] = _code(exc)
        report = Path(os.environ["MODELLAB_WORKSET_DATA"]) / "report.json"
        report.write_text(json.dumps(found))
        return 0


plugin = _Plugin()
"""


def test_a_signed_workset_reaches_only_its_declared_host(
    publisher: Any,
    capsys: pytest.CaptureFixture[str],
    declared: Server,
    undeclared: Server,
) -> None:
    import re

    from workset_core.builders import MANIFEST, make_workset

    from modellab.worksets import _sandbox

    how = _sandbox.no_network()
    if not how.enforced:
        pytest.skip(f"network namespaces cannot be created on this machine: {how.reason}")
    manifest = MANIFEST.format(name="spy", version="0.1.0", isolation="venv", command="spy")
    egress = f'[{{host = "127.0.0.1:{declared.port}", commands = ["spy"]}}]'
    manifest = manifest.replace("network_egress = []", f"network_egress = {egress}")
    source = make_workset(publisher.root / "sources", "spy", isolation="venv", manifest=manifest)
    (source / "src" / "modellab_spy" / "plugin.py").write_text(SPY)
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "spy"]) == 10  # shows the manifest, asks for consent
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", capsys.readouterr().out)
    assert found
    assert main(["worksets", "install", "spy", "--accept-manifest", found.group(1)]) == 0

    assert main(["spy", str(declared.port), str(undeclared.port)]) == 0
    settings = Settings.from_env()
    report = json.loads((_sandbox.data_dir(settings, "spy") / "report.json").read_text())
    assert report["proxy"].startswith("http://127.0.0.1:")
    assert report["declared"] == [200, BODY.decode()]
    assert report["undeclared"][0] == 403
    # Ignoring the proxy: the namespace's own loopback has nothing there (or Landlock
    # refuses any TCP port but the forwarder's).
    assert report["direct"] in {"ECONNREFUSED", "EACCES", "ENETUNREACH", "EPERM"}, report
    assert declared.paths == ["/spy"] and undeclared.paths == []

    capsys.readouterr()
    assert main(["worksets", "audit", "--json"]) == 0
    logged = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "workset-egress"]
    assert [(e["name"], e["call"], e["decision"], e["host"], e["port"]) for e in logged] == [
        ("spy", "spy", "allow", "127.0.0.1", declared.port),
        ("spy", "spy", "deny", "127.0.0.1", undeclared.port),
    ]
    assert logged[0]["down"] > len(BODY)
    assert main(["worksets", "audit"]) == 0
    assert f"deny 127.0.0.1:{undeclared.port} spy/spy: port not declared" in (
        capsys.readouterr().out
    )


def test_without_kept_capabilities_an_unprivileged_child_cannot_bring_lo_up(
    unprivileged: bool,
) -> None:
    # Why keeping_caps() exists: with --map-current-user alone, a uid other than 0 loses
    # its capabilities in the new namespace at exec, and lo stays down (EPERM).
    from modellab.worksets import _sandbox

    how = _sandbox.no_network()
    if not how.enforced or "--map-current-user" not in how.prefix:
        pytest.skip(f"this machine does not use --map-current-user ({how.prefix or how.reason})")
    user = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    python = "/usr/bin/python3" if unprivileged else sys.executable
    program = (
        "import errno, importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('egress_under_test', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        "try:\n"
        "    module.loopback_up()\n"
        "    print('up')\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno])\n"
    )
    results = {}
    for name, prefix in (("plain", how.prefix), ("kept", keeping_caps(how.prefix))):
        argv = [*(user if unprivileged else ()), *prefix, python, "-I", "-c", program]
        done = subprocess.run(
            [*argv, str(egress_module.__file__)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        results[name] = done.stdout.strip()
    assert results["kept"] == "up"
    assert results["plain"] == ("EPERM" if unprivileged or os.geteuid() != 0 else "up")
