"""Run a workset's command or hook inside that workset's own environment (``venv``).

The core checks install, manifest and consent, then starts this module with the workset's
venv interpreter. The venv sees the core's packages through a ``.pth`` file, after its own,
so the workset's pinned versions win inside it while the core's process never imports them.

* ``python -m modellab.worksets._host NAME COMMAND ARGS...``: a command the workset adds.
* ``python -m modellab.worksets._host --hook HOOK NAME REQUEST RESULT``: one hook call,
  arguments read from the JSON file REQUEST, the result written to the JSON file RESULT
  (see :mod:`modellab.worksets._venv_proxy`).

For a workset that declares no network egress, the core starts this module already inside
an empty network namespace (:mod:`modellab.worksets._sandbox`): it was entered before this
interpreter started, so nothing here, nor in the workset, nor in its venv's ``.pth`` files,
runs with the network.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from modellab.plugins import hookspecs
from modellab.settings import Settings
from modellab.worksets._discovery import ENTRY_POINT_GROUP

__all__ = ["main"]

_USAGE = (
    "usage: python -m modellab.worksets._host NAME COMMAND [ARGS...]\n"
    "       python -m modellab.worksets._host --hook HOOK NAME REQUEST RESULT"
)


def _manager(name: str) -> pluggy.PluginManager | None:
    entries = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
    if not entries:
        print(f"modellab: error: workset {name} is not installed here", file=sys.stderr)
        return None
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(entries[0].load(), name=f"workset:{name}")
    return manager


def _call_hook(hook: str, name: str, request: Path, result: Path) -> int:
    from modellab.worksets._venv_proxy import PROXIED_HOOKS

    if hook not in PROXIED_HOOKS:
        print(f"modellab: error: {hook} cannot run in a workset's own environment", file=sys.stderr)
        return 2
    manager = _manager(name)
    if manager is None:
        return 1
    parameters, _kind = PROXIED_HOOKS[hook]
    given = json.loads(request.read_text())
    kwargs: dict[str, Any] = {
        key: Path(given[key]) if is_path else given[key] for key, is_path in parameters
    }
    if hook != "modellab_redaction_rules":
        kwargs["settings"] = Settings.from_env()
    value = getattr(manager.hook, hook)(**kwargs)
    if isinstance(value, list) and hook != "modellab_export":
        value = value[0] if value else None  # not firstresult here: one plugin answers
    if hook == "modellab_export":
        value = [str(path) for paths in value or [] for path in paths]
    elif isinstance(value, Path):
        value = str(value)
    result.write_text(json.dumps({"result": value}))
    return 0


def main(argv: list[str]) -> int:
    """Run a command (``NAME COMMAND ARGS``) or one hook (``--hook HOOK NAME REQ RES``)."""
    if argv[:1] == ["--hook"] and len(argv) == 5:
        return _call_hook(argv[1], argv[2], Path(argv[3]), Path(argv[4]))
    if len(argv) < 2 or argv[0].startswith("-"):
        print(_USAGE, file=sys.stderr)
        return 2
    name, command, rest = argv[0], argv[1], argv[2:]
    manager = _manager(name)
    if manager is None:
        return 1
    code = manager.hook.modellab_run_command(
        command=command, argv=rest, settings=Settings.from_env()
    )
    return 1 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
