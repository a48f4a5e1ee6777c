"""Every hook Model Lab calls. Worksets and built-ins implement them; the core calls them.

Each docstring follows one shape: what the hook is for; *Called by*; the arguments; what
it returns and how results combine; what an implementation must not do; the version added.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from modellab.evals import Grader
    from modellab.settings import Settings
    from modellab.sources import Importer

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "modellab_eval",
    "modellab_export",
    "modellab_finetune_remote",
    "modellab_redaction_rules",
    "modellab_register_importers",
    "modellab_run_command",
    "modellab_serve",
    "modellab_train",
]

PROJECT_NAME = "modellab"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator for hook implementations in built-ins and worksets.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def modellab_register_importers(register: Callable[[Importer], None]) -> None:
    """Register session importers (readers for one agent's on-disk format).

    *Called by* :func:`modellab.sources.collect_importers`, once per command that imports,
    before any file is read.

    :param register: call it once per importer. The core checks each importer's shape and
        rejects a second importer with a ``name`` already taken, naming both plugins.
    :returns: nothing; every implementation is called and results come through
        ``register``.

    An implementation must not read files or touch the network here: it only says which
    importers exist. Importers themselves must never write to the agent's files.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def modellab_run_command(command: str, argv: list[str], settings: Settings) -> int | None:
    """Run ``modellab COMMAND ARGV...``, a command a workset adds.

    *Called by* the CLI when the first argument names a command that an enabled, consented
    workset declares in its manifest (``commands``). Only that workset is imported, and
    only then: ``modellab --help`` lists workset commands from their manifests.

    :param command: the command name, as declared in the manifest.
    :param argv: the arguments after it, unparsed (the workset owns its own parser and
        ``--help``).
    :param settings: where the catalog and exports live.
    :returns: the exit code, or ``None`` when ``command`` is not this workset's (the next
        implementation is asked; the first non-``None`` answer wins).

    An implementation must not send data off the machine without calling
    :func:`modellab.plugins.require_approved` on what it sends.

    .. versionadded:: 0.1
    """


@hookspec
def modellab_export(export_dir: Path, settings: Settings) -> list[Path]:
    """Write extra renderings of an export (a Hugging Face dataset folder, say) beside it.

    *Called by* export commands after ``trajectories.jsonl`` and ``manifest.json`` are
    written (from the datasets issue on).

    :returns: the files written, inside ``export_dir``; every implementation is called and
        the lists are joined.

    Files written here change the export, so an approval given before is stale by design.

    .. versionadded:: 0.1
    """
    raise NotImplementedError  # a hookspec's body never runs


@hookspec
def modellab_redaction_rules() -> Path | None:
    """Return an extra ``rules.toml`` (same format as the built-in one) to redact with.

    *Called by* redaction, before exports and scans. Rule ids must not clash with built-in
    ones; a clash is an error naming both.

    .. versionadded:: 0.1
    """
    raise NotImplementedError  # a hookspec's body never runs


@hookspec(firstresult=True)
def modellab_train(
    job: dict[str, Any], dataset_dir: Path, settings: Settings
) -> dict[str, Any] | None:
    """Run a local fine-tuning job on a dataset built from an approved export.

    *Called by* ``modellab train`` (the training issue). ``job`` holds the base model,
    method and hyper-parameters. Returns a description of the result (adapter path,
    metrics), or ``None`` when this workset does not handle the job's method.

    .. versionadded:: 0.1
    """
    raise NotImplementedError  # a hookspec's body never runs


@hookspec(firstresult=True)
def modellab_finetune_remote(
    job: dict[str, Any], export_dir: Path, settings: Settings
) -> dict[str, Any] | None:
    """Start a fine-tuning job on a hosted backend the user chose explicitly.

    *Called by* ``modellab train --remote`` (the training issue). An implementation MUST
    call :func:`modellab.plugins.require_approved` on ``export_dir`` before sending
    anything, and send only the approved files. Returns the remote job's description, or
    ``None`` when ``job`` names another backend.

    .. versionadded:: 0.1
    """
    raise NotImplementedError  # a hookspec's body never runs


@hookspec
def modellab_eval(register: Callable[[Grader], None]) -> None:
    """Register graders that ``modellab eval`` runs beside the built-in ones.

    *Called by* :func:`modellab.evals.collect_graders`, once per eval run, before any case
    is sent.

    :param register: call it once per grader. A grader has a ``name`` (unique; a second
        grader with a taken name is an error naming it) and a method
        ``grade(case, action) -> Grade | None`` returning a score in [0, 1] with a reason,
        or ``None`` when it does not apply to that case. See :mod:`modellab.evals`.
    :returns: nothing; every implementation is called.

    A case's score multiplies the built-in ``decision`` grade by the mean of every other
    grade that applied, so a registered grader moves scores and the promotion gate.
    An execution-based grader must run the model's action in a sandbox it owns, never in
    the user's working tree, and must not send data off the machine.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def modellab_serve(model: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    """Start serving a model locally behind an OpenAI-compatible endpoint.

    *Called by* evals and promotion when a candidate must be served. Returns
    ``{"base_url": ..., "model": ...}``, or ``None`` when this workset cannot serve it.

    .. versionadded:: 0.1
    """
    raise NotImplementedError  # a hookspec's body never runs
