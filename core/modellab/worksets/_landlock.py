"""Linux Landlock through ``ctypes``: which files and TCP ports this process may still use.

Landlock lets an unprivileged process drop access rights for itself and every process it
starts (across ``exec`` too), for good: once :func:`restrict` returns, a file outside the
rules cannot be opened, created, renamed into or removed, whatever its owner or mode, and
a symlink cannot lead out (the kernel checks the resolved path). Since ABI 4 the same
ruleset can deny TCP ``bind`` and ``connect``.

Only the three system calls and ``prctl(PR_SET_NO_NEW_PRIVS)`` are used, through ``ctypes``
(about 200 lines, no dependency; the PyPI ``landlock`` package is a development release).
The module imports nothing heavy: the child bootstrap
(:mod:`modellab.worksets._confine_child`) loads it before ``site`` runs.

Kernel interface: ``include/uapi/linux/landlock.h`` (ABI 1 = Linux 5.13, 2 = 5.19 adds
``REFER``, 3 = 6.2 ``TRUNCATE``, 4 = 6.7 TCP ports, 5 = 6.10 ``IOCTL_DEV``, 6 = 6.12 scopes).
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

__all__ = ["LandlockError", "abi_version", "restrict"]

# System call numbers: the same on every architecture that has Landlock (asm-generic and
# x86 were aligned from 5.x on: 444 onwards are shared).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

# File access rights, by the ABI that introduced them.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
#: Rights that make sense on a regular file (a rule on a file with more is refused).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
#: Reading and running: what a read-only path gets.
READ = EXECUTE | READ_FILE | READ_DIR
# Network rights (ABI 4) and scopes (ABI 6).
_BIND_TCP, _CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class LandlockError(OSError):
    """The kernel refused to build or apply the ruleset."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPort(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


_libc: ctypes.CDLL | None = None


def _syscall() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 where there is none (not Linux, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = _syscall()
        found = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(found), 0)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise LandlockError(code, f"landlock {what}: {os.strerror(code)}")
    return result


def restrict(
    read: list[str],
    write: list[str],
    *,
    tcp_connect: tuple[int, ...] | None,
    tcp_bind: tuple[int, ...] = (),
    abi: int | None = None,
) -> int:
    """Allow this process only ``read`` (read, list, run) and ``write`` (everything) paths.

    Paths that do not exist are skipped. ``tcp_connect``: ``None`` leaves TCP alone; a tuple
    refuses every TCP ``bind``, and every ``connect`` but to those ports (ABI 4 and later;
    an empty tuple: no TCP at all); ``tcp_bind``: the ports it may still listen on (a model
    server's one port). Abstract UNIX sockets and signals to processes outside
    the sandbox are scoped away where the kernel can (ABI 6). Sets ``no_new_privs`` first,
    as the kernel requires of an unprivileged caller. Returns the ABI used.

    :raises LandlockError: when there is no Landlock here or the kernel refuses a step.
    """
    version = abi_version() if abi is None else abi
    if version < 1:
        raise LandlockError(0, "landlock is not available on this system")
    handled = _FS_BY_ABI[max(v for v in _FS_BY_ABI if v <= version)]
    attr = _RulesetAttr(handled_access_fs=handled)
    if tcp_connect is not None and version >= 4:
        attr.handled_access_net = _BIND_TCP | _CONNECT_TCP  # granted below, port by port
    if version >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL
    # Older ABIs reject a larger struct with unknown fields set: pass only what they know.
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else (16 if version >= 4 else 8)
    libc = _syscall()
    ruleset = _check(
        libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0), "ruleset"
    )
    try:
        for paths, rights in ((read, READ & handled), (write, handled)):
            for path in paths:
                _add_path(libc, ruleset, path, rights)
        grants = [(port, _CONNECT_TCP) for port in tcp_connect or ()]
        grants += [(port, _BIND_TCP) for port in tcp_bind]
        for port, access in grants if attr.handled_access_net else ():
            rule = _NetPort(allowed_access=access, port=port)
            _check(
                libc.syscall(_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0),
                f"rule for port {port}",
            )
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _check(libc.syscall(_RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
    return version


def _add_path(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # not here (an optional /lib32, a missing CA folder): nothing to allow
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(allowed_access=rights, parent_fd=fd)
        _check(
            libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0),
            f"rule for {path}",
        )
    finally:
        os.close(fd)
