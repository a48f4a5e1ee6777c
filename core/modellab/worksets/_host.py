"""The workset's side of the process boundary: run one command, or answer hook calls.

The core starts this module in a child (:func:`modellab.worksets._child.run_workset_child`)
with the workset's interpreter: the core's own for a ``shared`` workset, the venv's for a
``venv`` one. ``--site DIR`` is the folder the workset was installed into (a ``shared``
workset's ``site``, appended to ``sys.path``; a venv's site-packages): its entry point is
looked up there only.

``--declares HOOKS`` (comma-separated) is the manifest's ``hooks.implements``.

* ``python -m modellab.worksets._host [--site DIR] --declares HOOKS NAME COMMAND ARGS...``:
  a command the workset adds, sharing the terminal.
* ``python -m modellab.worksets._host [--site DIR] --declares HOOKS --hooks NAME``: hook
  calls, one JSON object a line on stdin, one answer a line on stdout. The first answer,
  unasked, lists every backend the workset registers (or the error). Each line
  calls one registered backend by name with a request (plain data) and gets its result.
  The workset's own prints go to stderr: stdout is moved away before its code is imported,
  so nothing it prints can be mistaken for an answer.

Before anything is called, the plugin must implement exactly the hooks its manifest
declares (``hooks.implements``): an undeclared implementation, or a declared hook it does
not implement, is refused, naming the hook.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import pluggy
from pydantic import BaseModel, ValidationError

from modellab.plugins import hookspecs
from modellab.plugins._table import HookInfo, hook_table
from modellab.settings import Settings
from modellab.worksets._discovery import ENTRY_POINT_GROUP

__all__ = ["HostError", "Registry", "collect_backends", "implemented_hooks", "main"]

_USAGE = (
    "usage: python -m modellab.worksets._host [--site DIR] --declares HOOKS NAME COMMAND [ARGS]\n"
    "       python -m modellab.worksets._host [--site DIR] --declares HOOKS --hooks NAME"
)


class HostError(Exception):
    """The workset cannot be loaded or answered (a one-line reason)."""


def implemented_hooks(manager: pluggy.PluginManager, plugin: object) -> set[str]:
    """The hook names ``plugin`` implements (as registered in ``manager``)."""
    callers = manager.get_hookcallers(plugin) or []
    return {caller.name for caller in callers}


def check_declared(name: str, implemented: set[str], declared: set[str]) -> None:
    """Refuse a plugin whose implemented hooks differ from its manifest's ``hooks.implements``."""
    undeclared = sorted(implemented - declared)
    if undeclared:
        raise HostError(
            f"workset {name} implements {', '.join(undeclared)}, which its manifest does not "
            "declare (hooks.implements); refused"
        )
    missing = sorted(declared - implemented)
    if missing:
        raise HostError(
            f"workset {name} declares {', '.join(missing)} in hooks.implements but does not "
            "implement it"
        )


def _entry_points(name: str, site: str | None) -> list[metadata.EntryPoint]:
    """Workset ``name``'s entry points: only those of the distributions in ``site`` (the
    installed, verified copy), never a same-named one elsewhere on ``sys.path``."""
    if site is None:
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        return [e for e in found if e.name == name]
    return [
        entry
        for dist in metadata.distributions(path=[site])
        for entry in dist.entry_points
        if entry.group == ENTRY_POINT_GROUP and entry.name == name
    ]


def load_plugin(name: str, declared: set[str], site: str | None = None) -> pluggy.PluginManager:
    """Import workset ``name``'s entry point (from ``site``) and register it, checked
    against ``declared``."""
    entries = _entry_points(name, site)
    if not entries:
        raise HostError(f"workset {name} is not installed here")
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    try:
        plugin = entries[0].load()
        manager.register(plugin, name=f"workset:{name}")
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise HostError(f"workset {name}: {exc}") from None
    except Exception as exc:  # its import failed: say so in one line
        raise HostError(f"workset {name}: import failed: {type(exc).__name__}: {exc}") from None
    check_declared(name, implemented_hooks(manager, plugin), declared)
    return manager


class Registry:
    """Every backend one workset registers, by hook and name, with its handler."""

    def __init__(self, workset: str) -> None:
        self.workset = workset
        self.descriptors: dict[str, list[dict[str, Any]]] = {}
        self.handlers: dict[tuple[str, str], Callable[[Any], Any]] = {}
        self.importers: dict[str, Any] = {}

    def register_for(self, info: HookInfo) -> Callable[..., None]:
        """The ``register`` callable handed to ``info``'s implementation."""

        def register(descriptor: Any, handler: Any = None) -> None:
            if info.descriptor is None:  # an importer: a live object, described here
                name = getattr(descriptor, "name", None)
                version = getattr(descriptor, "parser_version", None)
                if not isinstance(name, str) or not isinstance(version, str):
                    raise HostError(f"{info.name}: {descriptor!r} is not an importer")
                shown = {"name": name, "summary": f"importer (parser {version})"}
                self._add(info, name, shown, None)
                self.importers[name] = descriptor
                return
            if not isinstance(descriptor, info.descriptor):
                descriptor = info.descriptor.model_validate(descriptor)
            if not callable(handler):
                raise HostError(f"{info.name}: {descriptor.name} has no handler")
            self._add(info, descriptor.name, descriptor.model_dump(mode="json"), handler)

        return register

    def _add(self, info: HookInfo, name: str, shown: dict[str, Any], handler: Any) -> None:
        if (info.name, name) in self.handlers or name in self.importers:
            raise HostError(f"workset {self.workset} registers {name!r} twice ({info.name})")
        self.descriptors.setdefault(info.name, []).append(shown)
        self.handlers[(info.name, name)] = handler


def collect_backends(manager: pluggy.PluginManager, workset: str) -> Registry:
    """Call every register-hook the workset implements; what it registered, by name."""
    registry = Registry(workset)
    for info in hook_table():
        if not info.register:
            continue
        caller = getattr(manager.hook, info.name)
        if caller.get_hookimpls():
            caller(register=registry.register_for(info))
    return registry


def _answer_call(registry: Registry, message: dict[str, Any]) -> dict[str, Any]:
    hook, backend = str(message.get("hook")), str(message.get("backend"))
    info = next((i for i in hook_table() if i.name == hook and i.register), None)
    if info is None:
        return {"error": f"{hook} is not a register-hook"}
    if info.descriptor is None:
        return _answer_importer(registry, backend, message)
    handler = registry.handlers.get((hook, backend))
    if handler is None or info.request is None or info.result is None:
        return {"error": f"workset {registry.workset} registers no {backend!r} through {hook}"}
    request = info.request.model_validate(message.get("request"))
    result = handler(request)
    if not isinstance(result, BaseModel):
        result = info.result.model_validate(result)
    return {"result": info.result.model_validate(result.model_dump()).model_dump(mode="json")}


def _answer_importer(registry: Registry, name: str, message: dict[str, Any]) -> dict[str, Any]:
    """An importer's method, by name: paths in as strings, data out as JSON."""
    importer = registry.importers.get(name)
    if importer is None:
        return {"error": f"workset {registry.workset} registers no importer {name!r}"}
    method, given = message.get("method"), message.get("request") or {}
    if method == "default_roots":
        return {"result": [str(p) for p in importer.default_roots(Settings.from_env())]}
    if method == "discover":
        return {"result": [str(p) for p in importer.discover(Path(given["root"]))]}
    if method == "sniff":
        from modellab.sources._base import read_head

        path = Path(given["path"])
        return {"result": bool(importer.sniff(path, read_head(path)))}
    if method == "read":
        report = importer.read(Path(given["path"]))
        return {
            "result": {
                "importer": report.importer,
                "sessions": [s.model_dump(mode="json") for s in report.sessions],
                "lines_total": report.lines_total,
                "lines_mapped": report.lines_mapped,
                "skipped": dict(report.skipped),
            }
        }
    return {"error": f"importers have no method {method!r}"}


def _serve(name: str, declared: set[str], site: str | None, answers: IO[str]) -> int:
    """List the workset's backends, then answer calls from stdin (a JSON line each)."""

    def say(value: dict[str, Any]) -> None:
        answers.write(json.dumps(value) + "\n")
        answers.flush()

    try:
        registry = collect_backends(load_plugin(name, declared, site), name)
    except (HostError, ValidationError, ValueError, TypeError) as exc:
        say({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
        return 1
    say({"backends": registry.descriptors})
    for line in sys.stdin:
        try:
            answer = _answer_call(registry, json.loads(line))
        except ValidationError as exc:
            answer = {"error": f"invalid request or result: {exc.errors()[0]['msg']}"}
        except Exception as exc:  # the workset's own failure, named, never a traceback
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        say(answer)
    return 0


def _run_command(
    name: str, declared: set[str], site: str | None, command: str, rest: list[str]
) -> int:
    try:
        manager = load_plugin(name, declared, site)
    except HostError as exc:
        print(f"modellab: error: {exc}", file=sys.stderr)
        return 1
    code = manager.hook.modellab_run_command(
        command=command, argv=rest, settings=Settings.from_env()
    )
    if code is None:
        print(f"modellab: error: {name} did not handle {command}", file=sys.stderr)
        return 1
    return int(code)


def main(argv: list[str]) -> int:
    """Run a command (``NAME COMMAND ARGS``) or answer hooks (``--hooks NAME``)."""
    declared: set[str] = set()
    site: str | None = None
    while argv[:1] in (["--site"], ["--declares"]) and len(argv) >= 2:
        if argv[0] == "--site":
            site = argv[1]
            if site not in sys.path:
                # Appended, never prepended: the core's own packages always win.
                sys.path.append(site)
        else:
            declared = {hook for hook in argv[1].split(",") if hook}
        argv = argv[2:]
    if argv[:1] == ["--hooks"] and len(argv) == 2:
        # Answers go to a private copy of stdout; the workset's prints go to stderr.
        answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return _serve(argv[1], declared, site, answers)
    if len(argv) < 2 or argv[0].startswith("-"):
        print(_USAGE, file=sys.stderr)
        return 2
    return _run_command(argv[0], declared, site, argv[1], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
