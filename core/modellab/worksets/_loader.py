"""Activate worksets: only installed, enabled ones whose consent matches, and only on demand.

The checks run from the catalog and the installed files, before any workset code is
imported: the install must be complete and enabled, its installed files must be the ones
recorded at install (``_files``: a changed, added or missing file makes it *tampered*,
which is audited once and sticks until it is reinstalled or removed), its shipped manifest
must be the one installed (by sha256), and the user must have consented to that manifest
from that signer.
Then the worksets that declare the hook a command needs get a stand-in plugin that answers
it through the workset's own child process: no workset code is ever imported into the
core's process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.store import Catalog
from modellab.worksets._state import INSTALLED, TAMPERED, InstallRecord, WorksetState

if TYPE_CHECKING:
    import pluggy

    from modellab.settings import Settings
    from modellab.worksets._discovery import Found

# pluggy and the discovery module (importlib.metadata, the manifest models) are imported
# when used: ``worksets install`` imports this module before it starts uv, and reads
# manifests only after.

__all__ = [
    "TAMPERED_PROBLEM",
    "Active",
    "active_worksets",
    "check",
    "files_problem",
    "load_worksets",
    "refresh_command_index",
    "register_worksets",
    "site_of",
]


@dataclass(frozen=True, slots=True)
class Active:
    """A workset cleared to run: its install record, its entry point and where it lives."""

    record: InstallRecord
    found: Found
    site: Path


def site_of(record: InstallRecord) -> Path:
    """The folder on ``sys.path`` holding the workset's files."""
    location = Path(record.location)
    if record.isolation == "venv":
        found = sorted(location.glob("venv/lib/python*/site-packages"))
        return found[0] if found else location / "venv" / "site-packages"
    return location / "site"


#: How every problem of a tampered workset starts (``worksets list`` shows it as such).
TAMPERED_PROBLEM = "tampered"


def files_problem(state: WorksetState, record: InstallRecord, *, full: bool = False) -> str | None:
    """Why ``record``'s installed files are not the ones recorded at install, if they are
    not; a first finding is marked in the catalog (audited) and drops the workset's
    commands from the ``--help`` index."""
    from modellab.worksets._files import differences, install_root, summary

    if record.files is None:
        return (
            "no record of its installed files (installed by an older Model Lab); "
            "reinstall it to verify and load it"
        )
    # Once tampered, never loaded again: hashing everything costs nothing a load would pay,
    # and names what differs even when the size and mtime were kept.
    full = full or record.state == TAMPERED
    problems = differences(
        install_root(Path(record.location), record.isolation), record.files, full=full
    )
    if record.state == TAMPERED:
        found = summary(problems) or "its files changed after install (see worksets audit)"
        return f"{TAMPERED_PROBLEM}: {found}; remove or reinstall it"
    if not problems:
        return None
    state.mark_tampered(record.name, record.version, problems)
    from modellab.worksets._commands import drop_workset_commands

    # location is <worksets dir>/<name>/<version>: the index lives in <worksets dir>.
    drop_workset_commands(str(Path(record.location).parent.parent), record.name)
    return f"{TAMPERED_PROBLEM}: {summary(problems)}; remove or reinstall it"


def check(
    state: WorksetState, record: InstallRecord, *, full: bool = False
) -> tuple[Found | None, str | None]:
    """The workset's entry point if it may run, else why not (no workset code is run).

    :param full: hash every installed file (``worksets verify``), not only those whose
        size or mtime changed.
    """
    from modellab.worksets._discovery import find_in

    if record.state in (INSTALLED, TAMPERED):
        problem = files_problem(state, record, full=full)
        if problem is not None:
            return None, problem
    if record.state != INSTALLED:
        return None, f"install is {record.state} (interrupted); run any worksets command"
    found = find_in(site_of(record)).get(record.name)
    if found is None:
        return None, f"no entry point named {record.name!r} in {site_of(record)}"
    if found.problem or found.manifest_sha256 is None:
        return None, found.problem or "no manifest"
    if found.manifest_sha256 != record.manifest_sha256:
        return None, "its installed manifest is not the one verified at install"
    if not state.has_consent(record.name, found.manifest_sha256, record.signer):
        return None, "no consent for this manifest and signer"
    return found, None


def active_worksets(catalog: Catalog) -> tuple[list[Active], dict[str, str]]:
    """Enabled worksets that pass every check, and why the others enabled ones do not."""
    state = WorksetState(catalog)
    active: list[Active] = []
    problems: dict[str, str] = {}
    for record in state.installs():
        if not record.enabled:
            continue
        found, problem = check(state, record)
        if found is None:
            problems[record.name] = problem or "unusable"
            continue
        active.append(Active(record, found, site_of(record)))
    return active, problems


def register_worksets(
    manager: pluggy.PluginManager, settings: Settings, *, hook: str, only: str | None = None
) -> dict[str, str]:
    """Register a stand-in for each active workset that declares ``hook``.

    Returns {workset: problem} for enabled worksets that could not be loaded.
    """
    if settings.no_worksets or not settings.catalog_path.exists():
        return {}
    with Catalog(settings.catalog_path) as catalog:
        active, problems = active_worksets(catalog)
    return {**problems, **load_worksets(manager, active, settings, hook=hook, only=only)}


def load_worksets(
    manager: pluggy.PluginManager,
    active: list[Active],
    settings: Settings,
    *,
    hook: str,
    only: str | None = None,
) -> dict[str, str]:
    """Register a stand-in for each of ``active`` (already checked) declaring ``hook``.

    No workset code is imported here: each stand-in answers through the workset's own
    child process (:mod:`modellab.worksets._hooks`), started when the hook is first
    called. Returns {workset: problem} for the ones that cannot be registered.
    """
    from modellab.worksets._child import target_of
    from modellab.worksets._hooks import proxy_plugin

    problems: dict[str, str] = {}
    for workset in active:
        name = workset.record.name
        manifest = workset.found.manifest
        if (only is not None and name != only) or manifest is None:
            continue
        if hook not in manifest.hooks.implements:
            continue
        plugin = proxy_plugin(target_of(workset), settings, [hook])
        try:
            manager.register(plugin, name=f"workset:{name}")
        except ValueError as exc:  # already registered under that name
            problems[name] = str(exc)
    return problems


def refresh_command_index(settings: Settings, catalog: Catalog, reserved: set[str]) -> None:
    """Rewrite the ``--help`` command index from the active worksets' manifests."""
    from modellab.worksets._commands import write_command_index

    active, _problems = active_worksets(catalog)
    commands: dict[str, tuple[str, str]] = {}
    for workset in active:
        manifest = workset.found.manifest
        for command in manifest.commands if manifest else ():
            if command.name not in reserved and command.name not in commands:
                commands[command.name] = (workset.record.name, command.summary)
    write_command_index(str(settings.worksets_dir), commands)
