"""Build the plugin manager: built-in plugins, then the worksets a command needs.

Worksets are registered only after their install, manifest hash, signer and consent have
been checked (``modellab.worksets``), and only those implementing the hook the caller is
about to call. pluggy's ``load_setuptools_entrypoints`` is never used: it would import
every installed plugin before anyone could say no.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pluggy

from modellab.plugins import hookspecs

if TYPE_CHECKING:
    from modellab.settings import Settings

__all__ = ["build_plugin_manager"]


def build_plugin_manager(
    settings: Settings, *, worksets_for: str | None = None
) -> pluggy.PluginManager:
    """Return a fresh plugin manager with the hookspecs and the built-in plugins.

    :param worksets_for: a hook name; active worksets implementing it are registered too.
        ``None`` loads no workset. ``settings.no_worksets`` always loads none.
    """
    from modellab.sources import builtin_importer_plugins

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    # pluggy calls the last-registered plugin first; register in reverse so importers are
    # asked in the documented order (and plugins added later are asked before built-ins).
    for name, plugin in reversed(builtin_importer_plugins()):
        manager.register(plugin, name=f"builtin:{name}")
    if worksets_for is not None:
        from modellab.worksets import register_worksets

        problems = register_worksets(manager, settings, hook=worksets_for)
        for name, problem in sorted(problems.items()):
            print(f"modellab: warning: workset {name} not loaded: {problem}", file=sys.stderr)
    manager.check_pending()
    return manager
