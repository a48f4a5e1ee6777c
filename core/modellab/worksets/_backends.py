"""Every backend registered by name: built-ins in the core, worksets each in their child.

Backs ``modellab worksets backends`` and the by-name calls commands make (``train
--backend NAME`` and the like, once they exist): the user always names the backend, and
a name two worksets register is an error naming both, never a silent pick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modellab.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from modellab.settings import Settings
    from modellab.worksets._child import ChildTarget

__all__ = [
    "BUILTIN",
    "Backend",
    "call_named",
    "call_named_in",
    "find_named",
    "kind_of",
    "list_backends",
]

#: What the ``workset`` column says for a backend of the core itself.
BUILTIN = "(built-in)"


def kind_of(hook: str) -> str:
    """``modellab_register_remote_backends`` -> ``remote_backend``."""
    return hook.removeprefix("modellab_register_").removesuffix("s")


@dataclass(frozen=True, slots=True)
class Backend:
    """One registered backend."""

    kind: str
    hook: str
    name: str
    workset: str
    summary: str
    accepts: tuple[str, ...] = ()
    #: The workset's child target (``None`` for a built-in).
    target: ChildTarget | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "name", "workset", "summary", "accepts"}``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "workset": self.workset,
            "summary": self.summary,
            "accepts": list(self.accepts),
        }


def _builtins(settings: Settings) -> list[Backend]:
    from modellab.evals._graders import BUILTIN_GRADERS
    from modellab.plugins import build_plugin_manager
    from modellab.sources import collect_importers

    rows = [
        Backend("importer", "modellab_register_importers", i.name, BUILTIN, i.parser_version)
        for i in collect_importers(build_plugin_manager(settings))
    ]
    for grader in BUILTIN_GRADERS:
        doc = (type(grader).__doc__ or grader.name).split("\n")[0]
        rows.append(Backend("grader", "modellab_register_graders", grader.name, BUILTIN, doc))
    return rows


def list_backends(settings: Settings) -> tuple[list[Backend], dict[str, str]]:
    """Every backend, built-ins first; and {workset: problem} for worksets not asked or clashing.

    Each active workset declaring a register-hook is started once, in its child, and lists
    what it registers. A second registration of a (kind, name) names both worksets as a
    problem and is left out.
    """
    from modellab.plugins._table import hook_table
    from modellab.store import Catalog
    from modellab.worksets._child import target_of
    from modellab.worksets._hooks import WorksetHookError, open_hooks
    from modellab.worksets._loader import active_worksets

    rows = _builtins(settings)
    problems: dict[str, str] = {}
    if settings.no_worksets or not settings.catalog_path.exists():
        return rows, problems
    with Catalog(settings.catalog_path) as catalog:
        active, problems = active_worksets(catalog)
    registering = {info.name for info in hook_table() if info.register}
    taken = {(row.kind, row.name): row.workset for row in rows}
    for workset in active:
        manifest = workset.found.manifest
        if manifest is None or not registering & set(manifest.hooks.implements):
            continue
        target = target_of(workset)
        try:
            with open_hooks(target, settings, call="worksets backends") as hooks:
                listed = hooks.backends
        except WorksetHookError as exc:
            problems[target.name] = exc.message
            continue
        for hook, described in sorted(listed.items()):
            for item in described:
                kind, name = kind_of(hook), str(item["name"])
                owner = taken.get((kind, name))
                if owner is not None:
                    problems[target.name] = (
                        f"{kind} {name!r} is registered by both {owner} and {target.name}"
                    )
                    continue
                taken[(kind, name)] = target.name
                rows.append(
                    Backend(
                        kind,
                        hook,
                        name,
                        target.name,
                        str(item.get("summary", "")),
                        tuple(item.get("accepts", ())),
                        target,
                    )
                )
    return rows, problems


def find_named(settings: Settings, hook: str, name: str) -> Backend:
    """The backend ``name`` registered through ``hook`` by a workset.

    :raises UsageError: no backend has that name, or two worksets register it.
    """
    rows, problems = list_backends(settings)
    kind = kind_of(hook)
    clash = [p for p in problems.values() if f"{kind} {name!r} is registered by both" in p]
    if clash:
        raise UsageError(clash[0], hint="disable one of them: modellab worksets disable NAME")
    found = [row for row in rows if row.hook == hook and row.name == name]
    if not found or found[0].target is None:
        known = ", ".join(sorted(row.name for row in rows if row.hook == hook)) or "none"
        raise UsageError(f"no {kind} named {name!r} (registered: {known})")
    return found[0]


def call_named(
    settings: Settings, hook: str, name: str, request: BaseModel, result: type[BaseModel]
) -> Any:
    """Call the backend ``name`` registered through ``hook``, in its workset's child.

    :raises UsageError: no backend has that name, or two worksets register it.
    """
    return call_named_in(settings, hook, name, request, result)[1]


def call_named_in(
    settings: Settings, hook: str, name: str, request: BaseModel, result: type[BaseModel]
) -> tuple[ChildTarget, Any]:
    """:func:`call_named`, and the child target of the workset that answered.

    When one active workset declares ``hook`` (the usual case: one serving workset), its
    child lists its backends and answers the call in one start, instead of one start to
    list and another to call; with several, each is listed first, so a name two of them
    register is refused as :func:`find_named` refuses it.

    :raises UsageError: no backend has that name, or two worksets register it.
    """
    from modellab.plugins.hookspecs import request_paths
    from modellab.store import Catalog
    from modellab.worksets._child import target_of
    from modellab.worksets._hooks import call_backend, open_hooks
    from modellab.worksets._loader import active_worksets

    declaring = []
    if not settings.no_worksets and settings.catalog_path.exists():
        with Catalog(settings.catalog_path) as catalog:
            active, _problems = active_worksets(catalog)
        declaring = [
            w for w in active if w.found.manifest and hook in w.found.manifest.hooks.implements
        ]
    if len(declaring) != 1:
        backend = find_named(settings, hook, name)
        assert backend.target is not None  # find_named returns workset backends only
        return backend.target, call_backend(backend.target, settings, hook, name, request, result)
    target = target_of(declaring[0])
    reads, writes = request_paths(request)
    for folder in writes:
        folder.mkdir(parents=True, exist_ok=True)  # the child's file policy names them
    with open_hooks(target, settings, call=f"{hook}:{name}", reads=reads, writes=writes) as h:
        registered = sorted(str(d.get("name")) for d in h.backends.get(hook, []))
        if name not in registered:
            known = ", ".join(registered) or "none"
            raise UsageError(f"no {kind_of(hook)} named {name!r} (registered: {known})")
        return target, h.call(hook, name, request, result)
