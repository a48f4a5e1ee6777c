"""``modellab serve``: plan, start, probe, check and record one model server; stop it.

The steps, each of which stops the server again and records why when it fails:

1. **Resolve** the model (an installed model or ``candidate:REF``), its files re-hashed.
2. **Plan**: the backend's workset answers a :class:`~modellab.plugins.hookspecs.ServeResult`
   in its confined child (converting a candidate to GGUF on the way, into a work folder
   kept per model).
3. **Check the plan**: a module to run (``-m``), and the paths it wants to read: nothing
   in or around Model Lab's home or the user's home that the request did not hand over.
4. **Start** it confined (:func:`modellab.worksets._sandbox.server_launch`: listen on the
   chosen port only, connect nowhere, read only the plan's paths) and detached.
5. **Ready**: the backend's own probe, within the plan's time.
6. **Where it listens**: every listening socket of the server's processes must be on the
   host and port it was given, else it is stopped.
7. **Smoke test**: a chat completion and a forced tool call
   (:mod:`modellab.serving._smoke`).
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.errors import ServingError, UsageError
from modellab.serving._records import (
    LIVE,
    Server,
    _now,
    create_server,
    end_process_group,
    find_server,
    list_servers,
    new_server_id,
    reap,
    update_server,
)

if TYPE_CHECKING:
    from modellab.plugins.hookspecs import ServeRequest, ServeResult
    from modellab.serving._resolve import ServeTarget
    from modellab.settings import Settings
    from modellab.store import Catalog
    from modellab.worksets._child import ChildTarget

__all__ = ["HOOK", "ServeOptions", "serve_dir", "start_server", "stop_server"]

HOOK = "modellab_register_servers"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What ``modellab serve`` was asked, beyond the model."""

    backend: str = "llama.cpp"
    host: str = "127.0.0.1"
    port: int | None = None
    context: int | None = None
    threads: int | None = None
    converters: Path | None = None
    options: dict[str, str | int | float | bool] = field(default_factory=dict)
    smoke: bool = True
    #: ``serve``, or ``eval:<run>`` for a server an eval run starts and stops.
    started_by: str = "serve"


def serve_dir(settings: Settings) -> Path:
    """``$MODELLAB_HOME/serve``: one folder per server, and ``work/`` per model."""
    return settings.home / "serve"


def _check_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {host!r} is not an IP address") from None
    return host


def _request(target: ServeTarget, options: ServeOptions, port: int, work_dir: Path) -> ServeRequest:
    from modellab.plugins.hookspecs import ServeRequest

    return ServeRequest(
        backend=options.backend,
        host=options.host,
        port=port,
        context_length=target.context_length(options.context),
        threads=options.threads,
        work_dir=work_dir,
        converters=options.converters,
        options=dict(options.options),
        **target.request_fields(),
    )


def _granted(request: ServeRequest) -> list[Path]:
    from modellab.plugins.hookspecs import request_paths

    reads, writes = request_paths(request)
    return [p.resolve() for p in (*reads, *writes)]


def _check_reads(plan: ServeResult, request: ServeRequest, settings: Settings) -> list[Path]:
    """The plan's ``reads``, each absolute and not a way into the user's files.

    A path the request handed over (the model's folders, the work folder) is fine. Any
    other may not be, hold or sit in Model Lab's home or the user's home folder: a
    workset's plan cannot widen what its server reads to the user's data.
    """
    granted = _granted(request)
    lab, user = settings.home.resolve(), Path.home().resolve()
    checked = []
    for text in plan.reads:
        path = Path(text)
        if not path.is_absolute():
            raise ServingError(f"the {request.backend} plan reads {text!r}: not an absolute path")
        real = path.resolve()
        if any(real.is_relative_to(g) for g in granted):
            checked.append(real)
            continue
        for guarded in (lab, user):
            if real.is_relative_to(guarded) or guarded.is_relative_to(real):
                raise ServingError(
                    f"the {request.backend} plan asks to read {real}, in or around {guarded}, "
                    "which the request did not hand over; refused"
                )
        checked.append(real)
    return checked


def _ready_check(plan: ServeResult) -> Callable[[int, bytes], bool]:
    def check(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        if plan.health_check == "ok":
            return True
        import json

        try:
            listed = json.loads(body).get("data", [])
        except (ValueError, AttributeError):
            return False
        return any(isinstance(m, dict) and m.get("id") == plan.served_model for m in listed)

    return check


def _fail(catalog: Catalog, server: Server, settings: Settings, message: str) -> ServingError:
    """Stop ``server``, record ``message``, and the error to raise (with its log's tail)."""
    from modellab._internal.term import shown
    from modellab.serving._launch import forget, log_tail
    from modellab.worksets._sandbox import server_refusals

    end_process_group(server, grace=5.0)
    if server.pid is not None:
        forget(server.pid)
    server_refusals(settings, server.workset, f"serve:{server.backend}", server.folder)
    shutil.rmtree(server.folder / "tmp", ignore_errors=True)
    update_server(catalog, server.id, status="failed", error=message)
    tail = " | ".join(shown(line)[:160] for line in log_tail(server.log, 3))
    return ServingError(
        f"server {server.id} ({server.backend}): {message}"
        + (f"; its log ends: {tail}" if tail else ""),
        hint=f"modellab serve logs {server.id}",
    )


def _listening_problem(server: Server, host: str, port: int) -> str | None:
    """Why the server's listening sockets are not just ``host:port``, or ``None``."""
    from modellab.serving._launch import listening

    assert server.pid is not None
    found = listening(server.pid)
    if not found:
        return f"it answered, but no process of it listens on {host}:{port}"
    wanted = ipaddress.ip_address(host)
    for address, bound in found:
        ip = ipaddress.ip_address(address)
        same = ip == wanted or (wanted.is_unspecified and ip.is_unspecified)
        if bound != port or not (same or (wanted.is_loopback and ip.is_loopback)):
            return f"it listens on {address}:{bound}, not only on {host}:{port}; stopped"
    return None


def _plan(settings: Settings, request: ServeRequest) -> tuple[ChildTarget, ServeResult]:
    """The backend's workset (its child target) and the plan it answered."""
    from modellab._internal.term import shown
    from modellab.plugins.hookspecs import ServeResult
    from modellab.worksets._backends import call_named_in
    from modellab.worksets._hooks import WorksetHookError

    backend = request.backend
    try:
        target, plan = call_named_in(settings, HOOK, backend, request, ServeResult)
    except WorksetHookError as exc:
        raise ServingError(f"{backend}: {shown(exc.message)}") from None
    assert isinstance(plan, ServeResult)
    if plan.argv[0] != "-m":
        raise ServingError(
            f"the {backend} plan must run a module (-m MODULE), not {plan.argv[0]!r}"
        )
    return target, plan


def start_server(
    settings: Settings,
    catalog: Catalog,
    model_ref: str,
    options: ServeOptions,
    *,
    say: Callable[[str], None] = lambda _line: None,
) -> Server:
    """Serve ``model_ref`` with ``options.backend``; the running, smoke-tested server.

    :raises UsageError: unknown model, backend, or a bad host or port.
    :raises ServingError: the plan, the start, readiness, the listening check or the smoke
        test failed (the server was stopped, and the record says why).
    """
    from modellab._internal.processes import process_token
    from modellab._internal.term import shown
    from modellab.serving._launch import exited, free_port, port_taken, start_detached
    from modellab.serving._resolve import resolve_model
    from modellab.worksets._child import child_env
    from modellab.worksets._sandbox import policy_for, server_launch

    reap(catalog)
    host = _check_host(options.host)
    options = ServeOptions(**{**_fields(options), "host": host})
    target = resolve_model(catalog, settings, model_ref)
    for other in list_servers(catalog):
        if other.model == target.model.name and other.backend == options.backend:
            say(
                f"Note: server {other.id} already serves {other.model} with {other.backend} at "
                f"{other.base_url}; starting another (stop one with: modellab serve stop ID)"
            )
    if options.port is not None:
        if not 1 <= options.port <= 65535:
            raise UsageError(f"--port {options.port} is not a TCP port (1-65535)")
        if port_taken(host, options.port):
            raise UsageError(f"--port {options.port}: something already listens on {host}")
    port = options.port or free_port(host)
    work_dir = serve_dir(settings) / "work" / target.model.name
    request = _request(target, options, port, work_dir)
    say(f"Planning {target.model.name} on {options.backend} ({target.weights} weights)...")
    child, plan = _plan(settings, request)
    for note in plan.notes:
        say(f"  note: {shown(note)}")  # the workset's words, never raw to a terminal
    reads = _check_reads(plan, request, settings)

    server_id = new_server_id()
    folder = serve_dir(settings) / server_id
    folder.mkdir(parents=True, exist_ok=False)
    assert child.manifest is not None
    policy = policy_for(child.manifest, child.location, settings, inputs=reads)
    argv = [str(child.python), *plan.argv]
    # HOME is the server's own temporary folder: a GPU stack writes caches under ~ (Triton,
    # vLLM, torch), and the confinement lets it write nowhere else.
    private = folder / "tmp"
    env = {**child_env(child, settings, needs_home=False), **plan.env}
    env.update(HOME=str(private), XDG_CACHE_HOME=str(private / "cache"))
    call = f"serve:{options.backend}"
    argv, env = server_launch(argv, env, policy, settings, call=call, folder=folder, port=port)
    base_url = f"http://{_url_host(host)}:{port}{plan.api_path}"
    now = _now()
    server = Server(
        id=server_id,
        status="starting",
        model=target.model.name,
        backend=options.backend,
        workset=child.name,
        host=host,
        port=port,
        base_url=base_url,
        served_model=plan.served_model,
        folder=folder,
        plan=plan.model_dump(mode="json"),
        smoke={},
        context_window=request.context_length,
        started_by=options.started_by,
        error=None,
        process=None,
        created_at=now,
        updated_at=now,
    )
    pid = start_detached(argv, env, server.log)
    server = _replace(server, process=process_token(pid))
    create_server(catalog, server)
    say(f"Started server {server_id} (pid {pid}); waiting for {plan.health_path}...")
    return _bring_up(settings, catalog, server, plan, options, exited, say)


def _bring_up(
    settings: Settings,
    catalog: Catalog,
    server: Server,
    plan: ServeResult,
    options: ServeOptions,
    exited: Callable[[int], int | None],
    say: Callable[[str], None],
) -> Server:
    from modellab._internal.processes import alive
    from modellab.serving._launch import wait_ready

    assert server.pid is not None
    pid = server.pid
    probe = f"http://{_url_host(server.host)}:{server.port}{plan.health_path}"
    try:
        seconds = wait_ready(
            probe,
            _ready_check(plan),
            pid=pid,
            timeout=plan.ready_timeout_s,
            still_alive=lambda: exited(pid) is None and alive(server.process),
        )
    except (TimeoutError, ChildProcessError) as exc:
        raise _fail(catalog, server, settings, str(exc)) from None
    except KeyboardInterrupt:
        _fail(catalog, server, settings, "interrupted while starting")
        raise
    say(f"Ready in {seconds:.1f} s.")
    problem = _listening_problem(server, server.host, server.port)
    if problem is not None:
        raise _fail(catalog, server, settings, problem)
    smoke: dict[str, Any] = {"skipped": True}
    if options.smoke:
        from modellab.serving._smoke import smoke_test

        report = smoke_test(
            server.base_url, plan.served_model, forced_tool_choice=plan.forced_tool_choice
        )
        smoke = report.to_json()
        if not report.ok:
            update_server(catalog, server.id, smoke=smoke)
            raise _fail(catalog, server, settings, f"smoke test failed: {_smoke_reason(smoke)}")
        say("Smoke test passed: " + _smoke_summary(smoke))
    smoke["ready_seconds"] = round(seconds, 3)
    update_server(catalog, server.id, status="running", smoke=smoke)
    return _replace(server, status="running", smoke=smoke)


def _smoke_reason(smoke: dict[str, Any]) -> str:
    failed = [s for s in smoke.get("steps", []) if not s.get("ok")]
    if not failed:
        return "no step passed"
    return f"{failed[0].get('name')}: {failed[0].get('detail')}"


def _smoke_summary(smoke: dict[str, Any]) -> str:
    return ", ".join(
        f"{s.get('name')} {float(s.get('seconds', 0)):.2f} s" for s in smoke.get("steps", [])
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _fields(options: ServeOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in ServeOptions.__slots__}


def _replace(server: Server, **changes: Any) -> Server:
    import dataclasses

    return dataclasses.replace(server, **changes)


def stop_server(settings: Settings, catalog: Catalog, ref: str) -> Server:
    """Stop the live server ``ref`` names (its id, or the model it serves).

    :raises UsageError: nothing live by that name.
    """
    from modellab.serving._launch import forget
    from modellab.worksets._sandbox import server_refusals

    reap(catalog)
    server = find_server(catalog, ref)
    if server.status not in LIVE:
        raise UsageError(f"server {server.id} is not running (it is {server.status})")
    end_process_group(server)
    if server.pid is not None:
        forget(server.pid)
    server_refusals(settings, server.workset, f"serve:{server.backend}", server.folder)
    shutil.rmtree(server.folder / "tmp", ignore_errors=True)
    update_server(catalog, server.id, status="stopped")
    return _replace(server, status="stopped")
