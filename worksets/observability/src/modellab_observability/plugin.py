"""The pluggy entry point (``modellab.worksets``: ``observability``).

Importing this module is cheap: the command's code is imported only when the core asks
this workset to run ``observability``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modellab.workset import hookimpl

if TYPE_CHECKING:
    from modellab.workset import Settings

__all__ = ["COMMAND", "ObservabilityPlugin", "plugin"]

#: The one command this workset adds (declared in ``workset.toml`` too).
COMMAND = "observability"


class ObservabilityPlugin:
    """Implements the ``modellab_run_command`` hook."""

    @hookimpl
    def modellab_run_command(self, command: str, argv: list[str], settings: Settings) -> int | None:
        """Run ``modellab observability ARGV...``; ``None`` for any other command."""
        if command != COMMAND:
            return None  # not ours: pluggy asks the next workset
        from modellab_observability.cli import main

        return main(argv, settings)


#: The object the entry point names; the core registers it with its plugin manager.
plugin = ObservabilityPlugin()
