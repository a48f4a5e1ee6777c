"""Start a workset's child process: the only place the core starts one.

Every workset invocation, a command or a hook, ``shared`` or ``venv``, runs in a child
(``python -m modellab.worksets._host``): a ``shared`` workset under the core's own
interpreter with its ``site`` folder on the path, a ``venv`` one under its venv's python.
The child's environment is scrubbed: of the ``MODELLAB_*`` variables it keeps only
``MODELLAB_HOME``, and only for a call that needs the catalog (a workset command); a hook
call gets none, so it holds no catalog handle and no path to the redaction key.

The OS-level confinement (no network for a workset that declares none, file confinement)
comes from :mod:`modellab.worksets._sandbox`: :func:`run_workset_child` builds the call's
policy (``policy_for``: the manifest, the install folder, the request's input and output
paths) and starts the child inside ``confined``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.worksets._loader import Active
    from modellab.worksets._manifest import WorksetManifest

__all__ = ["ChildTarget", "child_env", "run_workset_child", "target_of"]

#: Variables a child keeps from the core's environment (besides ``MODELLAB_HOME`` when the
#: call needs it): enough for Python, locale and temp files to work.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "TERM", "COLUMNS")


@dataclass(frozen=True, slots=True)
class ChildTarget:
    """What the core needs to start a workset's child: who, with which python, from where."""

    name: str
    isolation: str
    python: Path
    site: Path
    #: The hooks its manifest declares (the child refuses a plugin that differs).
    implements: tuple[str, ...]
    #: Hosts its manifest declares network egress to (empty: no network).
    egress: tuple[str, ...] = ()
    #: The workset's install folder (readable by its child).
    location: Path = Path()
    #: The consented manifest (the sandbox builds the call's policy from it).
    manifest: WorksetManifest | None = None


def target_of(active: Active) -> ChildTarget:
    """The child target of a workset that passed every check."""
    record, manifest = active.record, active.found.manifest
    location = Path(record.location)
    python = (
        location / "venv" / "bin" / "python" if record.isolation == "venv" else Path(sys.executable)
    )
    return ChildTarget(
        name=record.name,
        isolation=record.isolation,
        python=python,
        site=active.site,
        implements=tuple(manifest.hooks.implements) if manifest else (),
        egress=tuple(e.host for e in manifest.privacy.network_egress) if manifest else (),
        location=location,
        manifest=manifest,
    )


def child_env(target: ChildTarget, settings: Settings, *, needs_home: bool) -> dict[str, str]:
    """The child's environment: a short allow-list, never the core's ``MODELLAB_*``."""
    env = {key: os.environ[key] for key in _KEPT if key in os.environ}
    if needs_home:
        env["MODELLAB_HOME"] = str(settings.home)
    if settings.no_worksets:
        env["MODELLAB_NO_WORKSETS"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@contextlib.contextmanager
def _confined(
    target: ChildTarget,
    argv: list[str],
    env: dict[str, str],
    settings: Settings,
    *,
    call: str,
    command: str | None,
    command_argv: Sequence[str],
    reads: Sequence[Path],
    writes: Sequence[Path],
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """``argv`` and ``env`` wrapped in the call's sandbox policy (see ``_sandbox.confined``)."""
    from modellab.worksets._sandbox import confined, policy_for

    if target.manifest is None:  # never active without one; refuse rather than run unconfined
        raise RuntimeError(f"workset {target.name} has no manifest to confine it by")
    policy = policy_for(
        target.manifest,
        target.location,
        settings,
        command=command,
        argv=command_argv,
        inputs=reads,
        outputs=writes,
    )
    with confined(argv, env, policy, settings, call) as (started, started_env):
        yield list(started), dict(started_env)


@contextlib.contextmanager
def run_workset_child(
    target: ChildTarget,
    args: Sequence[str],
    settings: Settings,
    *,
    call: str,
    needs_home: bool = False,
    command: str | None = None,
    command_argv: Sequence[str] = (),
    reads: Sequence[Path] = (),
    writes: Sequence[Path] = (),
    pipes: bool = False,
    capture: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python -m modellab.worksets._host ARGS`` for ``target``; yield the process.

    :param call: what runs (a command or hook name), for the audit log and the policy.
    :param needs_home: pass ``MODELLAB_HOME`` (a workset command reads the catalog).
    :param command: for a workset command, its name and ``command_argv`` its arguments
        (the sandbox policy reads the outputs the manifest declares for it from them).
    :param reads: paths the call may read (a request's input paths).
    :param writes: paths the call may write (a request's output paths).
    :param pipes: give the child a stdin and stdout pipe (hook calls); otherwise it shares
        the terminal (commands).
    :param capture: pipe the child's stdout and stderr (a command whose caller has no real
        file descriptors to share, e.g. one run in-process by tests); the caller copies.

    On leaving, a child still running is stopped.
    """
    # The host looks the entry point up in the workset's own install folder only; a shared
    # workset's folder goes at the end of the child's sys.path: the core's packages win.
    argv = [str(target.python), "-m", "modellab.worksets._host", "--site", str(target.site)]
    argv += list(args)
    env = child_env(target, settings, needs_home=needs_home)
    confinement = _confined(
        target,
        argv,
        env,
        settings,
        call=call,
        command=command,
        command_argv=command_argv,
        reads=reads,
        writes=writes,
    )
    with confinement as (started, started_env):
        process = subprocess.Popen(
            started,
            env=started_env,
            stdin=subprocess.PIPE if pipes else None,
            stdout=subprocess.PIPE if pipes or capture else None,
            stderr=subprocess.PIPE if capture else None,
            close_fds=True,
        )
        try:
            yield process
        finally:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(timeout=30 if pipes else None)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
