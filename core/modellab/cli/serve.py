"""``modellab serve``: serve a model or candidate behind an OpenAI-compatible endpoint; and
``serve list | stop ID | logs ID``.

Only ``argparse`` is imported at module level: the grammar is built for every ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from modellab.cli import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from modellab.serving import Server
    from modellab.settings import Settings
    from modellab.store import Catalog

__all__ = ["add_serve_command", "cmd_serve"]

_DESCRIPTION = (
    "Serve an installed model (modellab models list) or a trained candidate "
    "(candidate:NAME, candidate:RUN_ID or candidate:latest) behind an OpenAI-compatible "
    "endpoint, with a "
    "backend a workset registers (the serving workset: llama.cpp, which runs on a CPU; "
    "vllm, sglang, tgi and ollama where their stack is installed). A candidate is "
    "converted to GGUF for llama.cpp first, with llama.cpp's own converters from the pinned "
    "llama-cpp-python sdist (--converters FILE). The server is bound to 127.0.0.1 on a free "
    "port, runs confined (it may listen on its port and connect nowhere) and detached, is "
    "probed until ready, checked to listen nowhere else, and smoke-tested with a chat "
    "completion and a forced tool call. Prints the endpoint and the CodeWhale provider "
    "block that talks to it. Also: 'serve list' (--all for stopped ones), 'serve stop "
    "ID|MODEL|--all', 'serve logs ID'. A server killed behind Model Lab's back is marked "
    "exited by the next serve command."
)
_EPILOG = (
    "exit codes: 0 served (or listed, stopped); 2 bad arguments, unknown model, candidate, "
    "backend or server, or a port in use; 4 a model file is damaged; 10 a model file changed "
    "since install, or the backend's workset could not be trusted; 17 the server could not "
    "be planned, started or made ready, or failed its smoke test (it was stopped)"
)
_ACTIONS = ("list", "stop", "logs")


def add_serve_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add ``serve`` and its options to the top-level command group."""
    serve = add(
        commands,
        "serve",
        help="serve a model or candidate on 127.0.0.1; list, stop, show logs of servers",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    serve.add_argument(
        "target",
        nargs="*",
        metavar="MODEL | list | stop ID | logs ID",
        help="an installed model or candidate:REF to serve, or an action on servers",
    )
    how = serve.add_argument_group("the server")
    how.add_argument(
        "--backend", default="llama.cpp", metavar="NAME", help="the server (default: llama.cpp)"
    )
    how.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDR",
        help="listen on ADDR (default 127.0.0.1; any other address is reachable from other "
        "machines, with no key: you are warned)",
    )
    how.add_argument("--port", type=int, metavar="N", help="listen on port N (default: a free one)")
    how.add_argument(
        "--context",
        type=int,
        metavar="N",
        help="tokens per request (default: the model's, at most 4096)",
    )
    how.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads (default: the backend's)"
    )
    how.add_argument(
        "--converters",
        metavar="FILE",
        help="llama_cpp_python-0.3.36.tar.gz, whose converters turn a candidate into GGUF "
        "(default: $MODELLAB_CONVERTERS)",
    )
    how.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a backend option, passed to its workset; repeatable",
    )
    how.add_argument("--no-smoke", action="store_true", help="skip the smoke test")
    serve.add_argument("--all", action="store_true", help="list: stopped servers too; stop: all")
    serve.add_argument(
        "--lines", type=int, default=50, metavar="N", help="logs: the last N lines (default: 50)"
    )
    serve.add_argument("--json", action="store_true", help="print machine-readable JSON")


def cmd_serve(args: argparse.Namespace) -> int:
    """Dispatch ``serve``: a model to serve, or an action on servers."""
    from modellab.cli._common import settings_from_args
    from modellab.errors import UsageError
    from modellab.store import Catalog

    settings = settings_from_args(args)
    target: list[str] = args.target
    with Catalog(settings.catalog_path) as catalog:
        if target and target[0] in _ACTIONS:
            return _action(settings, catalog, target, args)
        if len(target) != 1:
            raise UsageError(
                "serve needs one MODEL" if not target else f"one MODEL, not {len(target)}",
                hint="modellab serve MODEL --backend llama.cpp (modellab models list)",
            )
        return _serve(settings, catalog, target[0], args)


def _options(args: argparse.Namespace) -> dict[str, str | int | float | bool]:
    from modellab.errors import UsageError

    found: dict[str, str | int | float | bool] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {item!r}: expected KEY=VALUE")
        found[key] = value
    return found


def converters_path(given: str | None) -> Any:
    """``--converters FILE``, else ``$MODELLAB_CONVERTERS``, as a checked path (or ``None``)."""
    import os
    from pathlib import Path

    from modellab.errors import UsageError

    text = given or os.environ.get("MODELLAB_CONVERTERS")
    if not text:
        return None
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        source = "--converters" if given else "MODELLAB_CONVERTERS"
        raise UsageError(f"{source} {text}: no such file")
    return path


def _serve(settings: Settings, catalog: Catalog, model: str, args: argparse.Namespace) -> int:
    from modellab._internal.term import shown
    from modellab.serving import ServeOptions, provider_toml, start_server

    options = ServeOptions(
        backend=args.backend,
        host=args.host,
        port=args.port,
        context=args.context,
        threads=args.threads,
        converters=converters_path(args.converters),
        options=_options(args),
        smoke=not args.no_smoke,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {shown(args.host)}: anyone who can reach this machine on that "
            "address can use the model, with no key",
            file=sys.stderr,
        )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    server = start_server(settings, catalog, model, options, say=say)
    if args.json:
        from modellab.cli.options import emit_json
        from modellab.serving import provider_name, provider_table

        emit_json(
            {
                **server.to_json(),
                "provider": {provider_name(server.model): provider_table(server)},
            }
        )
        return 0
    print(f"Serving {shown(server.model)} ({shown(server.backend)}) as server {server.id}")
    print(f"  endpoint: {shown(server.base_url)}  model: {shown(server.served_model)}")
    print("  CodeWhale provider block (config.toml):")
    for line in provider_toml(server).splitlines():
        print(f"    {shown(line)}")
    print(
        f"Next: modellab eval run SUITE --base-url {server.base_url} --model "
        f"{shown(server.served_model)}; stop it with: modellab serve stop {server.id}"
    )
    return 0


def _action(
    settings: Settings, catalog: Catalog, target: list[str], args: argparse.Namespace
) -> int:
    from modellab.errors import UsageError

    action, rest = target[0], target[1:]
    if action == "list":
        if rest:
            raise UsageError(f"serve list takes no argument (got {rest[0]!r})")
        return _list(catalog, args)
    if action == "stop":
        if args.all and not rest:
            return _stop_all(settings, catalog, args)
        if len(rest) != 1:
            raise UsageError("serve stop needs one server id or model (or --all)")
        return _stop(settings, catalog, rest[0], args)
    if len(rest) != 1:
        raise UsageError("serve logs needs one server id")
    return _logs(catalog, rest[0], args)


def _list(catalog: Catalog, args: argparse.Namespace) -> int:
    from modellab._internal.term import render_table
    from modellab.serving import list_servers, reap

    reap(catalog)
    servers = list_servers(catalog, everything=args.all)
    answering = {s.id: answers(s) for s in servers if s.status == "running"}
    if args.json:
        from modellab.cli.options import emit_json

        emit_json([{**s.to_json(), "answering": answering.get(s.id)} for s in servers])
        return 0
    if not servers:
        print("No servers running." if not args.all else "No servers yet.")
        print("Start one with: modellab serve MODEL --backend llama.cpp")
        return 0
    rows = [
        [s.id, s.model, s.backend, s.base_url, _status(s, answering), s.created_at] for s in servers
    ]
    print(render_table(["server", "model", "backend", "endpoint", "status", "started"], rows))
    return 0


def _status(server: Server, answering: dict[str, bool]) -> str:
    if server.status == "running" and not answering.get(server.id, True):
        return "running, not answering"
    return server.status


def answers(server: Server) -> bool:
    """Whether a running server answers its readiness probe now (within half a second)."""
    import http.client
    from urllib.parse import urlsplit

    path = str(server.plan.get("health_path") or "/")
    host = urlsplit(server.base_url).hostname or server.host
    connection = http.client.HTTPConnection(host, server.port, timeout=0.5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _stop(settings: Settings, catalog: Catalog, ref: str, args: argparse.Namespace) -> int:
    from modellab._internal.term import shown
    from modellab.serving import stop_server

    server = stop_server(settings, catalog, ref)
    _stopped([server], args)
    if not args.json:
        print(f"Stopped server {server.id} ({shown(server.model)} on {shown(server.base_url)}).")
    return 0


def _stop_all(settings: Settings, catalog: Catalog, args: argparse.Namespace) -> int:
    from modellab.serving import list_servers, reap, stop_server

    reap(catalog)
    stopped = [stop_server(settings, catalog, s.id) for s in list_servers(catalog)]
    _stopped(stopped, args)
    if not args.json:
        print(f"Stopped {len(stopped)} server{'s' if len(stopped) != 1 else ''}.")
    return 0


def _stopped(servers: list[Server], args: argparse.Namespace) -> None:
    if args.json:
        from modellab.cli.options import emit_json

        emit_json([s.to_json() for s in servers])


def _logs(catalog: Catalog, ref: str, args: argparse.Namespace) -> int:
    from modellab._internal.term import shown
    from modellab.errors import UsageError
    from modellab.serving import find_server
    from modellab.serving._launch import log_tail

    if args.lines < 1:
        raise UsageError(f"--lines must be 1 or more, not {args.lines}")
    server = find_server(catalog, ref)
    lines = log_tail(server.log, args.lines)
    if args.json:
        from modellab.cli.options import emit_json

        emit_json({"server": server.id, "log": str(server.log), "lines": lines})
        return 0
    if not lines:
        print(f"Server {server.id} has printed nothing ({shown(str(server.log))}).")
    for line in lines:
        print(shown(line))  # the server's output is not ours: never raw to a terminal
    return 0
