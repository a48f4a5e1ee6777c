"""The core's side of a workset's hooks: everything crosses to its child as JSON.

:class:`WorksetHooks` holds one child (:mod:`modellab.worksets._host`) answering one
workset's hooks: on start it lists every backend the workset registers, then each call
names a backend and sends a request model, and gets the result model back. One child
serves a whole command (an eval run's grading, an import's reads), not one per call.

:func:`proxy_plugin` makes a stand-in plugin for the core's plugin manager: its
register-hooks register the workset's backends with handlers that call the child, so the
core's collectors (importers, graders) treat a workset's backends like built-in ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from modellab.errors import ModellabError
from modellab.plugins.hookspecs import hookimpl, request_paths
from modellab.worksets._child import ChildTarget, run_workset_child

if TYPE_CHECKING:
    import subprocess

    from modellab.settings import Settings
    from modellab.sources import FileImport

__all__ = ["WorksetHookError", "WorksetHooks", "open_hooks", "proxy_plugin"]


class WorksetHookError(ModellabError):
    """A workset's hook failed or was refused in its child process."""


class WorksetHooks:
    """A running child answering one workset's hooks (see the module docstring)."""

    def __init__(self, target: ChildTarget, process: subprocess.Popen[bytes]) -> None:
        self.target = target
        self._process = process
        # One request, one answer: callers on several threads take turns.
        self._lock = threading.Lock()
        first = self._read()
        if "error" in first:
            raise WorksetHookError(f"workset {target.name}: {first['error']}")
        #: {hook: [descriptor as JSON, ...]}: what the workset registers.
        self.backends: dict[str, list[dict[str, Any]]] = first.get("backends", {})

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            code = self._process.poll()
            raise WorksetHookError(
                f"workset {self.target.name}: its child ended without answering (exit {code})",
                hint="its own error is printed above",
            )
        value = json.loads(line)
        if not isinstance(value, dict):
            raise WorksetHookError(f"workset {self.target.name}: answered {type(value).__name__}")
        return value

    def call_raw(
        self, hook: str, backend: str, request: dict[str, Any], method: str | None = None
    ) -> Any:
        """Send one call; its ``result`` (JSON), or raise with the child's error."""
        assert self._process.stdin is not None
        message = {"hook": hook, "backend": backend, "request": request, "method": method}
        with self._lock:
            try:
                self._process.stdin.write(json.dumps(message).encode() + b"\n")
                self._process.stdin.flush()
            except OSError:
                raise WorksetHookError(f"workset {self.target.name}: its child is gone") from None
            answer = self._read()
        if "error" in answer:
            raise WorksetHookError(f"workset {self.target.name}: {backend}: {answer['error']}")
        return answer.get("result")

    def call(self, hook: str, backend: str, request: BaseModel, result: type[BaseModel]) -> Any:
        """Call ``backend`` (registered through ``hook``) with ``request``; a ``result``."""
        raw = self.call_raw(hook, backend, request.model_dump(mode="json"))
        return result.model_validate(raw)


@contextlib.contextmanager
def open_hooks(
    target: ChildTarget,
    settings: Settings,
    *,
    call: str,
    reads: Sequence[Path] = (),
    writes: Sequence[Path] = (),
) -> Iterator[WorksetHooks]:
    """Start ``target``'s hook child for one call (or one command's worth of calls).

    ``reads`` / ``writes``: the paths the calls may touch (see
    :func:`modellab.plugins.hookspecs.request_paths`).
    """
    args = ["--declares", ",".join(target.implements), "--hooks", target.name]
    with run_workset_child(
        target, args, settings, call=call, reads=reads, writes=writes, pipes=True
    ) as process:
        yield WorksetHooks(target, process)


def call_backend(
    target: ChildTarget,
    settings: Settings,
    hook: str,
    backend: str,
    request: BaseModel,
    result: type[BaseModel],
) -> Any:
    """One work call (train, serve, fine-tune) in a child of its own, confined to the
    request's input and output paths."""
    reads, writes = request_paths(request)
    for folder in writes:
        # Output paths are folders: made here, so the child's file policy can name them.
        folder.mkdir(parents=True, exist_ok=True)
    with open_hooks(target, settings, call=f"{hook}:{backend}", reads=reads, writes=writes) as h:
        return h.call(hook, backend, request, result)


# Children that serve a whole command (importers, graders) stay up until it ends.
_KEPT = contextlib.ExitStack()
atexit.register(_KEPT.close)


class _ChildHandler:
    """A registered backend's handler: each call goes to the workset's child."""

    def __init__(
        self, hooks: WorksetHooks, hook: str, backend: str, result: type[BaseModel]
    ) -> None:
        self.workset = hooks.target.name
        self._hooks, self._hook, self._backend, self._result = hooks, hook, backend, result

    def __call__(self, request: BaseModel) -> Any:
        return self._hooks.call(self._hook, self._backend, request, self._result)


class _ChildImporter:
    """An importer a workset registers: its methods run in the workset's child."""

    def __init__(
        self, hooks: WorksetHooks, name: str, parser_version: str, settings: Settings
    ) -> None:
        self.name, self.parser_version, self.workset = name, parser_version, hooks.target.name
        self._hooks = hooks
        self._settings = settings
        #: {granted root: a child that may read under it}: the child that registered the
        #: importer may read nothing of the user's; each root imported gets its own child.
        self._scoped: dict[Path, WorksetHooks] = {}

    def _reader_for(self, path: Path) -> WorksetHooks:
        """A child allowed to read ``path``: one already granted a folder holding it, or a
        new one granted ``path`` itself (a folder being discovered, or a single file)."""
        path = path.absolute()
        for root, hooks in self._scoped.items():
            if path.is_relative_to(root):
                return hooks
        home = self._settings.home.absolute()
        if path.is_relative_to(home) or home.is_relative_to(path):
            raise WorksetHookError(
                f"workset {self.workset}: importer {self.name} may not read {path}: it is, "
                f"holds or sits in Model Lab's home ({home})",
                hint="import the agent's own session folders, not a folder above them",
            )
        hooks = _KEPT.enter_context(
            open_hooks(
                self._hooks.target,
                self._settings,
                call=f"modellab_register_importers:{self.name}",
                reads=[path],
            )
        )
        self._scoped[path] = hooks
        return hooks

    def _call(self, method: str, at: Path | None = None, **request: Any) -> Any:
        hooks = self._hooks if at is None else self._reader_for(at)
        return hooks.call_raw("modellab_register_importers", self.name, request, method=method)

    def default_roots(self, settings: Settings) -> list[Path]:
        return [Path(p) for p in self._call("default_roots")]

    def discover(self, root: Path) -> Iterator[Path]:
        yield from (Path(p) for p in self._call("discover", at=root, root=str(root)))

    def sniff(self, path: Path, head: bytes) -> bool:
        return bool(self._call("sniff", at=path, path=str(path)))

    def read(self, path: Path) -> FileImport:
        from modellab.sources import FileImport
        from modellab.traces import Session

        got = self._call("read", at=path, path=str(path))
        return FileImport(
            path=path,
            importer=self.name,
            sessions=[Session.model_validate(s) for s in got["sessions"]],
            lines_total=int(got["lines_total"]),
            lines_mapped=int(got["lines_mapped"]),
            skipped=Counter({str(k): int(v) for k, v in got["skipped"].items()}),
        )


def _register_all(
    hooks: WorksetHooks, hook: str, register: Callable[..., None], settings: Settings
) -> None:
    from modellab.plugins._table import hook_table

    info = next(i for i in hook_table() if i.name == hook)
    for described in hooks.backends.get(hook, []):
        if info.descriptor is None:  # importers: (name, "importer (parser VERSION)")
            version = str(described["summary"]).removeprefix("importer (parser ").rstrip(")")
            register(_ChildImporter(hooks, described["name"], version, settings))
            continue
        assert info.result is not None
        descriptor = info.descriptor.model_validate(described)
        register(descriptor, _ChildHandler(hooks, hook, described["name"], info.result))


class _Proxy:
    """A stand-in plugin for a workset: its register-hooks start (once) its child.

    A workset whose child cannot start, or refuses (an undeclared hook, an import that
    fails), is reported on stderr and registers nothing: the command goes on without it,
    as with any workset that cannot be loaded.
    """

    def __init__(self, target: ChildTarget, settings: Settings) -> None:
        self.target, self.settings = target, settings
        self._hooks: WorksetHooks | None = None
        self._failed = False

    def _register(self, hook: str, register: Callable[..., None]) -> None:
        if self._failed:
            return
        if self._hooks is None:
            try:
                self._hooks = _KEPT.enter_context(open_hooks(self.target, self.settings, call=hook))
            except WorksetHookError as exc:
                self._failed = True
                from modellab._internal.term import shown

                said = shown(f"workset {self.target.name} not loaded: {exc.message}", lines=True)
                print(f"modellab: warning: {said}", file=sys.stderr)
                return
        _register_all(self._hooks, hook, register, self.settings)

    @hookimpl
    def modellab_register_importers(self, register: Callable[..., None]) -> None:
        self._register("modellab_register_importers", register)

    @hookimpl
    def modellab_register_graders(self, register: Callable[..., None]) -> None:
        self._register("modellab_register_graders", register)

    @hookimpl
    def modellab_register_trainers(self, register: Callable[..., None]) -> None:
        self._register("modellab_register_trainers", register)

    @hookimpl
    def modellab_register_servers(self, register: Callable[..., None]) -> None:
        self._register("modellab_register_servers", register)

    @hookimpl
    def modellab_register_remote_backends(self, register: Callable[..., None]) -> None:
        self._register("modellab_register_remote_backends", register)


def proxy_plugin(target: ChildTarget, settings: Settings, hooks: Sequence[str]) -> object:
    """A plugin answering ``hooks`` (register-hooks) through ``target``'s child."""
    cls = type(f"WorksetProxy_{target.name.replace('-', '_')}", (_Proxy,), {})
    # Hooks not asked for must not be answered: hide the base class's methods for them.
    for name in dir(_Proxy):
        if name.startswith("modellab_") and name not in hooks:
            setattr(cls, name, None)
    return cls(target, settings)
