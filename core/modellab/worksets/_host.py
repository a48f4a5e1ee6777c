"""Run one workset command inside that workset's own environment (``isolation = "venv"``).

The core checks install, manifest and consent, then starts this module with the workset's
venv interpreter: ``python -m modellab.worksets._host NAME COMMAND ARGS...``. The venv sees
the core's packages through a ``.pth`` file, after its own, so the workset's pinned versions
win inside it while the core's process never imports them.
"""

from __future__ import annotations

import sys
from importlib import metadata

import pluggy

from modellab.plugins import hookspecs
from modellab.settings import Settings
from modellab.worksets._discovery import ENTRY_POINT_GROUP

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Load workset ``argv[0]`` from this environment and run command ``argv[1]``."""
    if len(argv) < 2:
        print("usage: python -m modellab.worksets._host NAME COMMAND [ARGS...]", file=sys.stderr)
        return 2
    name, command, rest = argv[0], argv[1], argv[2:]
    entries = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
    if not entries:
        print(f"modellab: error: workset {name} is not installed here", file=sys.stderr)
        return 1
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(entries[0].load(), name=f"workset:{name}")
    code = manager.hook.modellab_run_command(
        command=command, argv=rest, settings=Settings.from_env()
    )
    return 1 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
