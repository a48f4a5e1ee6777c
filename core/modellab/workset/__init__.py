"""The stable API for worksets: everything a workset imports from Model Lab, in one place.

A workset imports ``modellab.workset`` and nothing else of ``modellab`` (a test enforces
it for everything under ``worksets/``). Every name below is stable: it keeps its name,
signature and meaning for the whole 0.x series, and a change that breaks one is a major
change announced in the changelog. Anything reached another way (``modellab._internal``,
``modellab.cli._common``, ``modellab.store`` directly) may change in any release.

Importing this package is cheap: each name loads its module on first use, so a workset's
``plugin.py`` may import :data:`hookimpl` from here without loading the catalog or the gate.

Command line (a workset parses its own arguments; these make it read like the core's)

* ``add_selection_flags(parser, *, ids, last=False)``: ``--ids``, ``--last``, ``--since``,
  ``--source``, ``--label``, ``--outcome``; ``selection_from_args(args)`` turns them into a
  ``Selection`` and ``parse_since(text)`` checks ``--since`` alone.
* ``add_json_flag(parser)`` and ``emit_json(value)``: ``--json``, one document on stdout,
  escaped so a terminal cannot be driven by what the data holds.
* ``EXIT_CODES`` (the core's numbered exit codes and their meaning), ``exit_code_for(error)``
  (the code for one of the errors below) and ``exit_codes_epilog(codes)`` (the ``exit codes:``
  table for ``--help``): a workset uses the same number for the same failure.
* ``Progress``: the one-line progress bar on stderr, drawn only on a terminal.
* ``shown(text, *, lines=False)``: text that came from outside (session content, file
  names, server replies), escaped for the terminal. Print nothing untrusted without it.

Data

* ``Settings``: the resolved settings the core passes to ``modellab_run_command``.
* ``Catalog``, ``Selection``, ``SessionRow``: read access to the session catalog, for a
  workset whose manifest declares ``reads_catalog``. Stable for reading: ``Catalog(path)``
  as a context manager, ``list_sessions``, ``trajectory_refs`` and ``objects.get``; its
  writing methods are the core's own and are not part of this API.
* ``from_atif`` and the session model: ``Session``, ``Turn``, ``Step``, ``Usage``,
  ``Label``, ``LabelKind``, ``Outcome``, ``ToolCallStatus``, ``derive_outcome``,
  ``Agent``, ``Provenance``.
* ``FileImport``: what an importer's ``read(path)`` returns (its sessions and line counts).
* ``ApprovedExport`` and ``open_approved``: the only way to read an export, and only one
  that was approved, every byte checked (``modellab.gate``).

Hooks and their typed models (``modellab.plugins.hookspecs``)

* ``hookimpl``: the marker for hook implementations.
* Descriptors: ``BackendDescriptor``, ``GraderDescriptor``. Requests and results:
  ``TrainRequest``/``TrainResult``, ``ServeRequest``/``ServeResult``,
  ``RemoteFinetuneRequest``/``RemoteFinetuneResult``, ``GradeRequest``/``CaseToGrade``/
  ``GradeResult``/``GradeAnswer``, and the ``ApprovalRecord`` a request carries.
  ``InputPath`` and ``OutputPath`` mark the paths a call may read and write.

Errors a workset may raise or catch (``modellab.errors``)

* ``ModellabError`` (the root), ``UsageError`` (bad arguments: exit 2),
  ``SessionNotFoundError`` (exit 3), ``StoreError`` (exit 5), ``ExportError`` (exit 6),
  ``GateError`` (exit 9: not approved, stale or raw), ``EvalError`` (exit 12) and
  ``DiskFullError`` (exit 15). Most take a message and an optional ``hint=``;
  ``GateError`` takes the path and the reason, ``DiskFullError`` the path, the disk and
  what was kept (see :mod:`modellab.errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellab._internal.term import Progress, shown
    from modellab.cli._exit import EXIT_CODES, exit_code_for
    from modellab.cli.options import (
        add_json_flag,
        add_selection_flags,
        emit_json,
        exit_codes_epilog,
        parse_since,
        selection_from_args,
    )
    from modellab.errors import (
        DiskFullError,
        EvalError,
        ExportError,
        GateError,
        ModellabError,
        SessionNotFoundError,
        StoreError,
        UsageError,
    )
    from modellab.gate import ApprovedExport, open_approved
    from modellab.plugins.hookspecs import (
        ApprovalRecord,
        BackendDescriptor,
        CaseToGrade,
        GradeAnswer,
        GraderDescriptor,
        GradeRequest,
        GradeResult,
        InputPath,
        OutputPath,
        RemoteFinetuneRequest,
        RemoteFinetuneResult,
        ServeRequest,
        ServeResult,
        TrainRequest,
        TrainResult,
        hookimpl,
    )
    from modellab.settings import Settings
    from modellab.sources import FileImport
    from modellab.store import Catalog, Selection, SessionRow
    from modellab.traces import (
        Agent,
        Label,
        LabelKind,
        Outcome,
        Provenance,
        Session,
        Step,
        ToolCallStatus,
        Turn,
        Usage,
        derive_outcome,
        from_atif,
    )

__all__ = [
    "EXIT_CODES",
    "Agent",
    "ApprovalRecord",
    "ApprovedExport",
    "BackendDescriptor",
    "CaseToGrade",
    "Catalog",
    "DiskFullError",
    "EvalError",
    "ExportError",
    "FileImport",
    "GateError",
    "GradeAnswer",
    "GradeRequest",
    "GradeResult",
    "GraderDescriptor",
    "InputPath",
    "Label",
    "LabelKind",
    "ModellabError",
    "Outcome",
    "OutputPath",
    "Progress",
    "Provenance",
    "RemoteFinetuneRequest",
    "RemoteFinetuneResult",
    "Selection",
    "ServeRequest",
    "ServeResult",
    "Session",
    "SessionNotFoundError",
    "SessionRow",
    "Settings",
    "Step",
    "StoreError",
    "ToolCallStatus",
    "TrainRequest",
    "TrainResult",
    "Turn",
    "Usage",
    "UsageError",
    "add_json_flag",
    "add_selection_flags",
    "derive_outcome",
    "emit_json",
    "exit_code_for",
    "exit_codes_epilog",
    "from_atif",
    "hookimpl",
    "open_approved",
    "parse_since",
    "selection_from_args",
    "shown",
]

#: Where each name lives in the core. The facade owns no code: it only names these.
_HOMES: dict[str, tuple[str, ...]] = {
    "modellab._internal.term": ("Progress", "shown"),
    "modellab.cli._exit": ("EXIT_CODES", "exit_code_for"),
    "modellab.cli.options": (
        "add_json_flag",
        "add_selection_flags",
        "emit_json",
        "exit_codes_epilog",
        "parse_since",
        "selection_from_args",
    ),
    "modellab.errors": (
        "DiskFullError",
        "EvalError",
        "ExportError",
        "GateError",
        "ModellabError",
        "SessionNotFoundError",
        "StoreError",
        "UsageError",
    ),
    "modellab.gate": ("ApprovedExport", "open_approved"),
    "modellab.plugins.hookspecs": (
        "ApprovalRecord",
        "BackendDescriptor",
        "CaseToGrade",
        "GradeAnswer",
        "GradeRequest",
        "GradeResult",
        "GraderDescriptor",
        "InputPath",
        "OutputPath",
        "RemoteFinetuneRequest",
        "RemoteFinetuneResult",
        "ServeRequest",
        "ServeResult",
        "TrainRequest",
        "TrainResult",
        "hookimpl",
    ),
    "modellab.settings": ("Settings",),
    "modellab.store": ("Catalog", "Selection", "SessionRow"),
    "modellab.sources": ("FileImport",),
    "modellab.traces": (
        "Agent",
        "Label",
        "LabelKind",
        "Outcome",
        "Provenance",
        "Session",
        "Step",
        "ToolCallStatus",
        "Turn",
        "Usage",
        "derive_outcome",
        "from_atif",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load a name's module on first use (PEP 562), then keep the name here."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
