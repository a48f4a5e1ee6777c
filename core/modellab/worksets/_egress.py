"""Declared network egress, enforced: a workset reaches only the hosts its manifest names.

A ``venv`` workset that declares hosts runs, like one that declares none, in a network
namespace of its own where nothing is routed. Its only way out is an allow-list proxy that
the core runs in its own process, on a UNIX socket in a private run folder (a pathname
socket crosses network namespaces through the file system):

* **Parent** (:class:`EgressProxy`): speaks HTTP ``CONNECT host:port`` (https, or any TCP)
  and plain-HTTP absolute-form requests (``GET http://host/path``), which it forwards. It
  lets a connection through only to a declared ``(host, port)`` pair, resolves the name
  itself and never connects to a loopback, private, link-local, metadata or otherwise
  non-global address unless the manifest declared that very IP literal (so a name that
  resolves, or is rebound, to a local service reaches nothing). Every attempt, allowed or
  refused, becomes an :class:`EgressEvent`; :func:`record_egress` writes them to the audit
  log (``workset-egress``), which ``modellab worksets audit`` shows.
* **Child** (:func:`enter_child`, run inside the namespace before any workset code):
  brings ``lo`` up, starts a forwarder on ``127.0.0.1:<ephemeral>`` that pipes each
  connection to the parent's socket, and points ``HTTP_PROXY``, ``HTTPS_PROXY`` and
  ``ALL_PROXY`` (both cases) at it, with ``NO_PROXY`` empty. A workset that ignores those
  variables cannot connect anywhere: the namespace has no route but loopback.

What a manifest host means (``[privacy] network_egress = [{host = ...}]``): ``name`` or an
IP literal allows ports 443 and 80; ``name:port``, ``1.2.3.4:port`` or ``[v6]:port`` allows
that port only. Names match exactly, case-insensitively, with one trailing dot ignored. The
manifest validates a host only as printable text, so no pattern syntax is defined for it: a
wildcard such as ``*.example.com``, a URL, or anything else that is not a plain host allows
nothing (it is listed in :attr:`EgressProxy.ignored`).

This module imports only the standard library at load time, because the child imports it
first thing inside the workset's own interpreter.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import re
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from modellab.settings import Settings

__all__ = [
    "EGRESS_SOCKET_ENV",
    "Destination",
    "EgressEvent",
    "EgressProxy",
    "describe",
    "enter_child",
    "keeping_caps",
    "loopback_up",
    "non_global_reason",
    "parse_declared",
    "record_egress",
    "start_forwarder",
]

#: The variable through which the parent tells the child bootstrap where its proxy listens.
EGRESS_SOCKET_ENV = "MODELLAB_EGRESS_SOCKET"
#: Ports a manifest host without ``:port`` allows.
DEFAULT_PORTS = (443, 80)
#: Longest request head (request line and headers) the proxy reads.
MAX_HEAD = 16 * 1024
#: Most header lines in a request head.
MAX_HEADER_LINES = 100
#: Most audit rows :func:`record_egress` writes for one run; the rest are counted in one row.
MAX_AUDIT_EVENTS = 1000

Decision = Literal["allow", "deny", "error"]

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_METHOD = re.compile(r"^[A-Z]{1,20}$")
_PORT = re.compile(r"^[0-9]{1,5}$")
#: Addresses that are cloud metadata services: named in a refusal, as people look for them.
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, order=True)
class Destination:
    """One ``(host, port)`` pair a workset may reach: ``host`` lower-case, IPs normalised."""

    host: str
    port: int

    @property
    def literal(self) -> bool:
        """Whether ``host`` is an IP literal (then it is allowed whatever its address class)."""
        return _ip(self.host) is not None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(text: str) -> str | None:
    """``text`` as a host to compare (lower-case, IPs normalised), or None if it is none."""
    if text.startswith("[") and text.endswith("]"):
        found = _ip(text[1:-1])
        return str(found) if isinstance(found, ipaddress.IPv6Address) else None
    found = _ip(text)
    if found is not None:
        return str(found)
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253 or not name.isascii() or not _HOSTNAME.fullmatch(name):
        return None
    return name


def _port(text: str) -> int | None:
    if not _PORT.fullmatch(text):
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def _split_authority(text: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal, as
    (host, port or None); None when ``text`` is none of them."""
    port: int | None = None
    if text.startswith("["):
        host_part, close, rest = text.partition("]")
        host_part += close
        if rest:
            if not rest.startswith(":"):
                return None
            port = _port(rest[1:])
            if port is None:
                return None
    elif text.count(":") == 1:
        host_part, _, port_text = text.partition(":")
        port = _port(port_text)
        if port is None:
            return None
    else:  # a name, an IPv4 address, or a bare IPv6 literal: no port
        host_part = text
    host = _normal_host(host_part)
    return None if host is None else (host, port)


def parse_declared(entry: str) -> tuple[Destination, ...]:
    """The destinations one manifest ``network_egress`` host allows.

    :raises ValueError: ``entry`` is not a plain host, IP literal, or either with ``:port``
        (a wildcard, a URL, a path): it allows nothing.
    """
    text = entry.strip()
    if "*" in text:
        raise ValueError(f"{entry!r}: wildcards are not part of the manifest's host format")
    parsed = _split_authority(text)
    if parsed is None:
        raise ValueError(f"{entry!r}: not a host name, IP address, or either with :port")
    host, port = parsed
    ports = DEFAULT_PORTS if port is None else (port,)
    return tuple(Destination(host, p) for p in ports)


def non_global_reason(address: str) -> str | None:
    """Why ``address`` is not a public internet address (loopback, private...), or None.

    IPv4 addresses embedded in IPv6 (``::ffff:127.0.0.1``, NAT64) are judged as IPv4.
    """
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True)
class EgressEvent:
    """One connection attempt through the proxy, as the audit log records it."""

    #: When the attempt started (seconds since the epoch).
    ts: float
    workset: str
    call: str
    #: Where it asked to go ("" when the request could not be read).
    host: str
    port: int
    decision: Decision
    #: Why it was refused or failed; empty when allowed.
    reason: str
    #: ``CONNECT``, the forwarded method, or "" when the request could not be read.
    method: str
    #: Bytes sent to the destination / received from it.
    up: int
    down: int
    #: How long the attempt lasted, in milliseconds.
    ms: float

    def details(self) -> dict[str, Any]:
        """The audit log's ``details`` for this event (key order is how it is shown)."""
        started = datetime.fromtimestamp(self.ts, UTC).isoformat(timespec="milliseconds")
        return {
            "name": self.workset,
            "call": self.call,
            "decision": self.decision,
            "host": self.host,
            "port": self.port,
            "method": self.method,
            "reason": self.reason,
            "up": self.up,
            "down": self.down,
            "ms": round(self.ms, 1),
            "started": started,
        }


def describe(details: Mapping[str, Any]) -> str:
    """One short line for a ``workset-egress`` audit entry, as ``worksets audit`` shows it."""
    if "dropped" in details:
        return f"{details.get('name')}/{details.get('call')}: {details['dropped']} more not logged"
    port = details.get("port") or ""
    host = str(details.get("host") or "?")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    who = f"{details.get('name')}/{details.get('call')}"
    if details.get("decision") == "allow":
        return f"allow {where} {who} up={details.get('up')}B down={details.get('down')}B"
    reason = str(details.get("reason") or "")
    for said in (f"{where} ", f"{host} "):  # the reason repeats the destination: once is enough
        if reason.startswith(said):
            reason = reason[len(said) :]
            break
    return f"{details.get('decision')} {where} {who}: {reason}"


def record_egress(settings: Settings, events: Sequence[EgressEvent]) -> None:
    """Write ``events`` to the audit log as ``workset-egress`` entries, in one transaction.

    At most :data:`MAX_AUDIT_EVENTS` are written one by one; one more entry counts the rest,
    so a workset that opens connections in a loop cannot flood the catalog.
    """
    if not events:
        return
    from modellab.store import Catalog

    with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
        for event in events[:MAX_AUDIT_EVENTS]:
            catalog.audit(db, "workset-egress", event.details())
        if len(events) > MAX_AUDIT_EVENTS:
            last = events[-1]
            more = len(events) - MAX_AUDIT_EVENTS
            catalog.audit(
                db, "workset-egress", {"name": last.workset, "call": last.call, "dropped": more}
            )


class _Refused(Exception):
    """A request answered with an HTTP error and recorded as denied (or failed)."""

    def __init__(self, status: int, reason: str, decision: Decision = "deny") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.decision = decision


_STATUS_TEXT = {
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _error_response(status: int, reason: str) -> bytes:
    # The reason is ours (never raw client bytes), so it is safe in the status line, where
    # clients such as httpx show it in their ProxyError.
    text = _STATUS_TEXT.get(status, "Error")
    body = f"modellab egress policy: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {text} by modellab egress policy: {reason}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii", "replace") + body


def _refuse(conn: socket.socket, refused: _Refused) -> None:
    """Answer with the refusal, then read a little of what the client still sends.

    Closing a socket with unread input resets the connection, which can destroy the reply
    before the client reads it (a client still sending an oversized head, say); a short,
    bounded drain lets the reply arrive.
    """
    try:
        conn.settimeout(1)
        conn.sendall(_error_response(refused.status, refused.reason))
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1  # in all, so a trickling client cannot keep the slot
        drained = 0
        while drained < 256 * 1024 and (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            chunk = conn.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass


@dataclass
class _Request:
    method: str
    destination: Destination
    #: What to send upstream first: nothing for CONNECT, the rewritten head otherwise.
    head: bytes


_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)


def _read_head(conn: socket.socket, timeout: float) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever arrived after it.

    ``timeout`` bounds the whole head, not each read, so a client trickling a byte at a
    time cannot hold a connection slot for long.
    """
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
        if end >= 0:
            return buffer[: end + 4], buffer[end + 4 :]
        if len(buffer) >= MAX_HEAD + 4:
            raise _Refused(431, "request head too large")
        try:
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = conn.recv(4096)
        except TimeoutError:
            raise _Refused(408, "no complete request in time") from None
        if not chunk:
            raise _Refused(400, "connection closed before a complete request")
        buffer += chunk


def _parse(head: bytes) -> _Request:
    """Read a CONNECT or absolute-form request; refuse anything else."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise _Refused(400, "request head is not ASCII") from None
    lines = text[:-4].split("\r\n")
    if len(lines) - 1 > MAX_HEADER_LINES:
        raise _Refused(431, "too many header lines")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _METHOD.fullmatch(parts[0]):
        raise _Refused(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _Refused(400, "unsupported HTTP version")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or any(c in name for c in " \t"):
            raise _Refused(400, "malformed header line")
        headers.append((name, value.strip()))
    if method == "CONNECT":
        parsed = _split_authority(target)
        if parsed is None or parsed[1] is None:
            raise _Refused(400, "CONNECT needs host:port")
        return _Request(method, Destination(parsed[0], parsed[1]), b"")
    if target[:7].lower() != "http://":
        if target[:8].lower() == "https://":
            raise _Refused(400, "use CONNECT for https")
        raise _Refused(400, "only CONNECT and absolute http:// requests are proxied")
    url = urlsplit(target)
    if "@" in url.netloc:
        raise _Refused(400, "credentials in the URL are not forwarded")
    parsed = _split_authority(url.netloc)
    if parsed is None:
        raise _Refused(400, "malformed host in the URL")
    host, port = parsed
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    forwarded = [f"{method} {path} {version}"]
    forwarded += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_BY_HOP]
    # One request per connection: the proxy checks only the first request line it reads.
    forwarded.append("Connection: close")
    return _Request(
        method, Destination(host, port or 80), "\r\n".join([*forwarded, "", ""]).encode()
    )


def _pipe(a: socket.socket, b: socket.socket, idle: float) -> tuple[int, int]:
    """Relay bytes both ways until both sides are done or ``idle`` s pass with no traffic.

    Returns the bytes sent a→b and b→a.
    """
    counts = [0, 0]
    for sock in (a, b):
        sock.settimeout(idle)  # bounds a blocked sendall too
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, (a, b, 0))
        selector.register(b, selectors.EVENT_READ, (b, a, 1))
        open_sides = 2
        while open_sides:
            ready = selector.select(timeout=idle)
            if not ready:
                break  # idle: give up on both directions
            for key, _ in ready:
                source, target, index = key.data
                try:
                    data = source.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(source)
                    open_sides -= 1
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_WR)
                    continue
                try:
                    target.sendall(data)
                except OSError:
                    # The receiver is gone: stop this direction only, so that what the
                    # other side still has to say (an error reply, say) gets through.
                    selector.unregister(source)
                    open_sides -= 1
                    continue
                counts[index] += len(data)
    return counts[0], counts[1]


Resolver = Callable[[str, int], Sequence[str]]


def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to here (the parent's network and resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


@dataclass
class EgressProxy:
    """The parent's allow-list proxy for one workset call, on a UNIX socket.

    Use as a context manager: entering makes a private 0700 run folder, binds
    ``<run dir>/egress.sock`` (0600) and starts accepting; leaving stops, closes every open
    connection and removes the folder. Give the child :attr:`socket_path` (for example in
    :data:`EGRESS_SOCKET_ENV`); after the call, write :attr:`events` with
    :func:`record_egress`.

    :param hosts: the manifest's ``network_egress`` hosts (see :func:`parse_declared`).
    :param on_event: also called with each event as it ends (from a proxy thread); an
        exception it raises is ignored, so logging can never break the proxy.
    """

    hosts: Iterable[str]
    workset: str
    call: str
    on_event: Callable[[EgressEvent], None] | None = None
    run_dir: Path | None = None
    max_connections: int = 64
    head_timeout: float = 10.0
    connect_timeout: float = 10.0
    idle_timeout: float = 300.0
    resolver: Resolver = _resolve
    #: The declared destinations.
    allowed: frozenset[Destination] = field(init=False)
    #: Manifest hosts that allow nothing, each with why.
    ignored: list[str] = field(init=False)
    #: Every attempt so far, oldest first.
    events: list[EgressEvent] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        allowed: set[Destination] = set()
        self.ignored = []
        for entry in self.hosts:
            try:
                allowed.update(parse_declared(entry))
            except ValueError as exc:
                self.ignored.append(str(exc))
        self.allowed = frozenset(allowed)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._own_dir: Path | None = None
        self._wake: tuple[int, int] = (-1, -1)
        self._workers: set[threading.Thread] = set()

    @property
    def socket_path(self) -> str:
        """Where the proxy listens (only while entered)."""
        if self._listener is None:
            raise RuntimeError("the egress proxy is not running")
        return str(self._listener.getsockname())

    def __enter__(self) -> EgressProxy:
        if self.run_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="modellab-egress-"))  # 0700
            folder = self._own_dir
        else:
            folder = self.run_dir
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        path = folder / "egress.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o600)  # the folder is 0700 already: no window for others
            listener.listen(64)
        except OSError:
            listener.close()
            self._remove_dir()
            raise
        self._listener = listener
        self._stopping.clear()
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._accept, name="egress-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        listener = self._listener
        os.write(self._wake[1], b"x")  # wakes the accept loop's select()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            workers = list(self._workers)
        deadline = time.monotonic() + 5  # a name still resolving cannot be interrupted
        for worker in workers:
            worker.join(timeout=max(deadline - time.monotonic(), 0))
        if listener is not None:
            with contextlib.suppress(OSError):
                os.unlink(listener.getsockname())
            listener.close()
        self._listener = None
        for fd in self._wake:
            os.close(fd)
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def _accept(self) -> None:
        assert self._listener is not None
        listener = self._listener
        listener.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                if self._stopping.is_set():
                    return
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                except OSError:
                    time.sleep(0.05)  # e.g. EMFILE: do not spin, keep serving
                    continue
                conn.setblocking(True)
                self._start_worker(conn)

    def _start_worker(self, conn: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            started = time.time()
            with contextlib.suppress(OSError):
                conn.settimeout(1)
                conn.sendall(_error_response(503, "too many connections"))
            conn.close()
            self._emit(started, None, "", "deny", "too many connections", (0, 0))
            return
        worker = threading.Thread(target=self._serve, args=(conn,), name="egress-conn", daemon=True)
        with self._lock:
            self._workers.add(worker)
            self._open.add(conn)
        worker.start()

    def _serve(self, conn: socket.socket) -> None:
        started = time.time()
        destination: Destination | None = None
        method = ""
        decision: Decision = "deny"
        reason = ""
        counts = (0, 0)
        upstream: socket.socket | None = None
        try:
            head, early = _read_head(conn, self.head_timeout)
            request = _parse(head)
            destination, method = request.destination, request.method
            upstream = self._connect(destination)
            with self._lock:
                self._open.add(upstream)
            if method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.settimeout(self.idle_timeout)
            upstream.sendall(request.head + early)
            decision = "allow"
            up, down = _pipe(conn, upstream, self.idle_timeout)
            counts = (up + len(request.head) + len(early), down)
        except _Refused as refused:
            decision, reason = refused.decision, refused.reason
            _refuse(conn, refused)
        except Exception as exc:  # one bad connection must not stop the proxy
            if decision != "allow":
                decision, reason = "error", f"proxy error ({type(exc).__name__})"
        finally:
            with self._lock:
                self._open.discard(conn)
                if upstream is not None:
                    self._open.discard(upstream)
                self._workers.discard(threading.current_thread())
            for sock in (conn, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            self._slots.release()
            self._emit(started, destination, method, decision, reason, counts)

    def _connect(self, destination: Destination) -> socket.socket:
        """A connection to ``destination`` if it is declared and resolves to allowed addresses."""
        if destination not in self.allowed:
            hosts = {d.host for d in self.allowed}
            why = "host not declared" if destination.host not in hosts else "port not declared"
            raise _Refused(403, f"{destination} {why}")
        if destination.literal:
            # Declared as this very IP: the user consented to exactly this address.
            addresses = [destination.host]
        else:
            try:
                addresses = list(self.resolver(destination.host, destination.port))
            except (OSError, UnicodeError):
                raise _Refused(502, f"{destination.host} does not resolve", "error") from None
            refused = {a: non_global_reason(a) for a in addresses}
            bad = [f"{a} {why}" for a, why in refused.items() if why]
            addresses = [a for a, why in refused.items() if why is None]
            if not addresses:
                said = ", ".join(bad[:3]) or "no address"
                raise _Refused(403, f"{destination.host} resolves to non-global addresses ({said})")
        last = "no address"
        for address in addresses:
            try:
                return socket.create_connection(
                    (address, destination.port), timeout=self.connect_timeout
                )
            except TimeoutError:
                last = "timed out"
            except OSError as exc:
                last = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise _Refused(502, f"{destination} unreachable ({last})", "error")

    def _emit(
        self,
        started: float,
        destination: Destination | None,
        method: str,
        decision: Decision,
        reason: str,
        counts: tuple[int, int],
    ) -> None:
        event = EgressEvent(
            ts=started,
            workset=self.workset,
            call=self.call,
            host=destination.host if destination else "",
            port=destination.port if destination else 0,
            decision=decision,
            reason=reason,
            method=method,
            up=counts[0],
            down=counts[1],
            ms=(time.time() - started) * 1000,
        )
        with self._lock:
            self.events.append(event)
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(event)


# -- the child side: inside the namespace, before any workset code ---------------------------

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sh22x"  # struct ifreq: the name, then the flags in a 24-byte union


def loopback_up() -> None:
    """Bring the namespace's ``lo`` up (needs ``CAP_NET_ADMIN`` over the namespace).

    ``unshare --map-current-user`` keeps it only when the caller is root; unprivileged, map
    root (``--map-root-user``) or keep capabilities (:func:`keeping_caps`).

    :raises OSError: when the interface cannot be brought up.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0)
        _, flags = struct.unpack(_IFREQ, fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))
        if not flags & _IFF_UP:
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def keeping_caps(prefix: Sequence[str]) -> tuple[str, ...]:
    """The ``unshare`` command ``prefix``, changed so the child can bring ``lo`` up.

    With ``--map-current-user`` an unprivileged caller's capabilities in the new user
    namespace are lost at ``exec`` (its uid there is not 0), so :func:`loopback_up` would
    fail with ``EPERM``: ``--keep-caps`` (util-linux 2.38, like ``--map-current-user``)
    keeps them. They hold only over the child's own namespaces, which have no route out;
    root, and ``--map-root-user``, have them anyway.
    """
    options = tuple(prefix)
    if "--map-current-user" in options and "--keep-caps" not in options:
        at = options.index("--map-current-user") + 1
        options = (*options[:at], "--keep-caps", *options[at:])
    return options


def _forward(conn: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.settimeout(10)
        upstream.connect(socket_path)
        _pipe(conn, upstream, idle=3600)
    except OSError:
        pass
    finally:
        upstream.close()
        conn.close()


def start_forwarder(socket_path: str) -> int:
    """Listen on ``127.0.0.1:<ephemeral>`` and pipe each connection to ``socket_path``.

    Runs in daemon threads of the calling process (one per connection); returns the port.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    port = int(listener.getsockname()[1])

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                time.sleep(0.05)  # e.g. EMFILE: do not spin, keep serving
                continue
            threading.Thread(
                target=_forward, args=(conn, socket_path), name="egress-forward", daemon=True
            ).start()

    threading.Thread(target=accept, name="egress-forwarder", daemon=True).start()
    return port


def enter_child(socket_path: str | None = None) -> int | None:
    """Set up a confined child's only way out; call it before any workset code runs.

    ``socket_path`` defaults to :data:`EGRESS_SOCKET_ENV` (which is then removed from the
    environment); with neither, nothing is done and None returned. Otherwise brings ``lo``
    up, starts the forwarder, sets ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` (both
    cases) to it and ``NO_PROXY`` (both cases) to empty, so loopback goes through the proxy
    too, and returns the forwarder's port.

    :raises OSError: ``lo`` cannot be brought up or the forwarder cannot listen.
    """
    if socket_path is None:
        socket_path = os.environ.pop(EGRESS_SOCKET_ENV, None)
        if not socket_path:
            return None
    loopback_up()
    port = start_forwarder(socket_path)
    proxy = f"http://127.0.0.1:{port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ[name] = os.environ[name.lower()] = proxy
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ""
    return port
