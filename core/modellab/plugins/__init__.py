"""The plugin API: hook specifications and the plugin manager.

Approval is not here: :mod:`modellab.gate` owns it, and the core hands a hook that sends
data only what :func:`modellab.gate.open_approved` let through.
"""

from modellab.plugins._manager import build_plugin_manager
from modellab.plugins.hookspecs import hookimpl

__all__ = ["build_plugin_manager", "hookimpl"]
