"""Start a launch plan as a supervised, confined server; wait for it; check where it listens.

The server is the leader of a session of its own (``setsid``), so it survives the command
that started it and a terminal's Ctrl-C, and ``serve stop`` ends it with everything it
started. Its output goes to ``server.log`` in its folder. Readiness is the backend's own
probe (``/health``, ``/v1/models``), polled with short timeouts: some servers accept a
connection long before they answer it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "free_port",
    "listening",
    "log_tail",
    "start_detached",
    "wait_ready",
]

#: Servers this process started, by pid: waited for when stopped, so none stays a zombie.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` now (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def start_detached(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Start ``argv`` in a session of its own, output to ``log``; return its pid."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=True,
        )
    _STARTED[process.pid] = process
    return process.pid


def exited(pid: int) -> int | None:
    """The exit code of a server this process started, once it has ended; else ``None``."""
    process = _STARTED.get(pid)
    if process is None:
        return None
    return process.poll()


def forget(pid: int) -> None:
    """Wait for a server this process started, after it was stopped."""
    process = _STARTED.pop(pid, None)
    if process is not None:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _STARTED[pid] = process


def wait_ready(
    url: str,
    check: Callable[[int, bytes], bool],
    *,
    pid: int,
    timeout: float,
    still_alive: Callable[[], bool],
) -> float:
    """Poll ``url`` until ``check(status, body)`` holds; return the seconds it took.

    :raises TimeoutError: not ready within ``timeout`` seconds.
    :raises ChildProcessError: the server ended first.
    """
    import httpx

    started = time.monotonic()
    delay = 0.05
    with httpx.Client(timeout=httpx.Timeout(2.0, connect=0.5), trust_env=False) as client:
        while True:
            if not still_alive():
                raise ChildProcessError(f"the server (pid {pid}) ended before it was ready")
            try:
                answer = client.get(url)
                if check(answer.status_code, answer.content):
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass  # not listening yet, or not answering yet
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not ready after {timeout:.0f} s ({url})")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)  # a ready server waits at most 0.1 s for us


def _session_inodes(session: int) -> set[str]:
    """Socket inodes held by the processes of ``session``."""
    from modellab.serving._records import session_members

    inodes: set[str] = set()
    for pid in session_members(session, 0):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue  # it ended meanwhile
    return inodes


def _address(hex_address: str) -> str:
    """``0100007F`` (or IPv6's 32 digits), as /proc/net/tcp writes it, as an address."""
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening(session: int) -> list[tuple[str, int]]:
    """Every ``(address, port)`` the processes of ``session`` listen on (TCP)."""
    inodes = _session_inodes(session)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A" or fields[9] not in inodes:
                continue  # 0A: LISTEN
            address, _, port = fields[1].partition(":")
            found.append((_address(address), int(port, 16)))
    return sorted(set(found))


def log_tail(log: Path, lines: int = 5) -> list[str]:
    """The last ``lines`` non-empty lines of a server's log (for error messages)."""
    try:
        with log.open("rb") as stream:
            stream.seek(max(0, log.stat().st_size - 16384))
            text = stream.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]
