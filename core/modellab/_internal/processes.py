"""Naming a process so that a reused pid is told apart: ``PID:START_TICKS``.

A training run or a model server is recorded with the token of the process that runs it.
The process is alive only while a process with that pid *and* that start time exists
(``/proc/PID/stat`` field 22), so a pid the kernel handed to someone else after a
``kill -9`` is never mistaken for it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["alive", "process_token"]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rpartition(")")[2].split()
    if len(fields) > 1 and fields[0] == "Z":
        return None  # a zombie has ended; only its parent has not collected it yet
    return fields[19] if len(fields) > 19 else None


def process_token(pid: int | None = None) -> str:
    """``PID:START``: names this process (or ``pid``) so that a reused pid is told apart."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid) or '?'}"


def alive(token: str | None) -> bool:
    """Whether the process ``token`` names is still running."""
    if not token:
        return False
    pid, _, start = token.partition(":")
    if not pid.isdigit():
        return False
    now = _start_time(int(pid))
    return now is not None and (start == "?" or now == start)
