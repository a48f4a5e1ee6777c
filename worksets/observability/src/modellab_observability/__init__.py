"""Model Lab's ``observability`` workset: figures about the sessions in the catalog.

``modellab observability stats`` reads the selected sessions' trajectories and reports, per
session (and per turn on request), the tokens, cost, latency, tool calls, failures, approval
denials, interruptions and outcome that the sources recorded, with totals, as a table, as
JSON, or as a PNG chart. A figure a source did not record is reported as unknown, never as 0.

Modules: :mod:`.stats` computes (pure, no I/O), :mod:`.report` renders JSON and tables,
:mod:`.chart` draws the PNG, :mod:`.cli` parses arguments and reads the catalog, and
:mod:`.plugin` is the pluggy entry point. Importing this package imports none of them.

The version lives in ``pyproject.toml`` (``importlib.metadata.version(
"modellab-observability")`` at run time); ``workset.toml`` repeats it for the consent screen,
and ``modellab worksets check`` refuses a difference.
"""

from __future__ import annotations

__all__: list[str] = []
