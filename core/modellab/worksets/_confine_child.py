"""The first code a workset's child runs: confine this process, then start the real module.

Started by :func:`modellab.worksets._sandbox.confined` as::

    python -I -S .../_confine_child.py POLICY.json -- -m modellab.worksets._host ARGS...

``-S`` keeps ``site`` from running, so no ``.pth`` file of the workset's venv (and none of
the core's) runs before the Landlock ruleset is in place; ``-I`` keeps the current folder,
``PYTHON*`` variables and the user's site folder out. Then, in this same interpreter (one
start, not two):

1. read POLICY.json (written by the parent into the run's private folder);
   for a workset that declares hosts, fork the egress forwarder (:func:`_start_forwarder`);
2. restrict this process with Landlock (:mod:`modellab.worksets._landlock`): files, and,
   for a workset that declares no network, TCP ``bind``/``connect`` too; it holds for every
   process the workset starts and cannot be undone;
3. watch, with a Python audit hook, for opens and sockets outside the policy and note each
   one (at most :data:`_MOST`) in the run's refusal log, which the parent copies into the
   audit log: the kernel refuses them whatever the hook sees, the hook only says what was
   tried (code that bypasses Python's own ``open`` is refused all the same, unrecorded);
4. run ``site`` (the venv, its ``.pth`` files), then the module, as ``python -m`` would.

Chosen over a call at the top of ``_host``: by the time ``_host`` runs, ``site`` has run
every ``.pth`` file of the workset's venv unconfined, and the module's own imports too.
This file is run by path and loads ``_landlock`` beside it; it imports nothing else of
Model Lab before the restriction.

Where the policy says files are not enforced here (no Landlock), steps 2 and 3 are skipped:
the parent has already told the user and written the run to the audit log.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

#: Most refusals noted per run: enough to see what a workset tried, not a flood.
_MOST = 100
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


class _Watch:
    """An audit hook that notes file opens and sockets the policy does not allow."""

    def __init__(
        self,
        log_fd: int,
        read: list[str],
        write: list[str],
        network: bool,
        binds: tuple[int, ...] = (),
    ) -> None:
        self.fd = log_fd
        self.write = tuple(write)
        self.read = (*read, *write)
        self.network = network
        self.binds = binds
        self.count = 0

    def _note(self, **entry: object) -> None:
        if self.count < _MOST:
            self.count += 1
            os.write(self.fd, json.dumps(entry).encode() + b"\n")

    def _allowed(self, path: str, roots: tuple[str, ...], resolve: bool) -> bool:
        full = os.path.abspath(path)
        if _under(full, roots) and not resolve:
            return True
        # Resolved: a symlink inside the workset's folder may point anywhere (the kernel
        # checks where it leads, and so does this).
        return _under(os.path.realpath(full), roots)

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        try:
            if event == "open":
                path, mode, flags = args
                if not isinstance(path, (str, bytes)):
                    return  # an fd: already open
                name = os.fsdecode(path)
                writes = (
                    any(c in (mode or "") for c in "wax+")
                    if isinstance(mode, str)
                    else (isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
                )
                if writes and not self._allowed(name, self.write, resolve=True):
                    self._note(kind="write", target=name)
                elif not writes and not self._allowed(name, self.read, resolve=False):
                    self._note(kind="read", target=name)
            elif event in ("socket.connect", "socket.bind") and not self.network:
                address = args[1]
                if isinstance(address, tuple) and len(address) >= 2:
                    if event == "socket.bind" and address[1] in self.binds:
                        return  # a model server's own port
                    self._note(kind=event.split(".")[1], target=f"{address[0]}:{address[1]}")
        except Exception:  # a hook must never break the workset
            pass


def _beside(name: str) -> Any:
    """Module ``name`` loaded from beside this file (no package import before the rules)."""
    import importlib.util

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"modellab_confine{name}", here)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _start_forwarder(socket_path: str) -> int:
    """Fork the egress forwarder (``lo`` up, ``127.0.0.1:PORT`` -> the parent's proxy).

    A process of its own, started before Landlock: its threads are out of the workset's
    reach (Landlock scopes signals and ``ptrace`` away from it, and ``/proc`` of other
    processes is unreadable), and it dies with this process (``PR_SET_PDEATHSIG``).
    Returns the port; this process then gets the ``*_PROXY`` variables.
    """
    import ctypes
    import signal
    import time

    parent = os.getpid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forwarder
        try:
            os.close(read_end)
            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            egress = _beside("_egress")
            egress.loopback_up()
            port = egress.start_forwarder(socket_path)
            os.write(write_end, f"{port}".encode())
            os.close(write_end)
            # PR_SET_PDEATHSIG is not enough alone (it is tied to the forking thread):
            # also leave as soon as this process's parent, the workset, is gone.
            while os.getppid() == parent:
                time.sleep(0.2)
        except BaseException as exc:
            print(f"modellab: egress forwarder: {exc}", file=sys.stderr)
        finally:
            os._exit(1)
    os.close(write_end)
    answer = os.read(read_end, 32)
    os.close(read_end)
    if not answer.isdigit():
        raise OSError("the egress forwarder could not start")
    proxy = f"http://127.0.0.1:{int(answer)}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        os.environ[name] = os.environ[name.lower()] = proxy
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ""
    return int(answer)


def _die_with_parent() -> None:
    """End with Model Lab: a ``kill -9`` of the command must not leave its workset working
    on (a trainer would go on writing a run that ``train --resume`` then takes over)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    """Confine this process as POLICY says, then run ``-m MODULE ARGS`` in it."""
    if len(argv) < 4 or argv[1:3] != ["--", "-m"]:
        print("usage: _confine_child.py POLICY.json -- -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        policy = json.load(file)
    if not policy.get("detached"):
        _die_with_parent()  # a model server outlives the command that started it
    module, rest = argv[3], argv[4:]
    given = policy["tcp_connect"]
    tcp = None if given is None else tuple(given)
    if policy.get("egress_socket"):
        try:
            tcp = (*(tcp or ()), _start_forwarder(policy["egress_socket"]))
        except OSError as exc:
            print(f"modellab: error: cannot reach the egress proxy: {exc}", file=sys.stderr)
            return 1
    if policy["files"]:
        landlock = _beside("_landlock")
        log_fd = os.open(policy["refusals"], os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            binds = tuple(policy.get("tcp_bind") or ())
            landlock.restrict(policy["read"], policy["write"], tcp_connect=tcp, tcp_bind=binds)
        except OSError as exc:
            # Fail closed: the user was told this run would be confined.
            print(f"modellab: error: cannot confine workset: {exc}", file=sys.stderr)
            return 1
        sys.addaudithook(_Watch(log_fd, policy["read"], policy["write"], tcp is None, binds))
    import runpy
    import site

    # Installed code is read-only to the child: writing __pycache__ would only be refused
    # (and audited) on every run after a source change.
    sys.dont_write_bytecode = True
    site.main()  # the venv and its .pth files: confined now
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
