"""``modellab worksets dev PATH [-- COMMAND ARGS]``: run a workset from its source folder.

The local development loop: no registry, no signature, no consent. What it keeps from the
real flow is the boundary: the source must pass ``worksets check``, it is built into a
wheel with the same builder as ``registry build``, and it runs in the same confined child
(``run_workset_child``) with the policy its manifest asks for, like an installed workset.

What it never does: record an install or a consent in the catalog, write the command
index, or leave files behind. The wheel is unpacked into a temporary folder removed
afterwards, and the run's data folder (``$MODELLAB_HOME/worksets/NAME/data``, which the
sandbox creates) is removed again when this run created it; so the next plain command does
not know the workset. Each run is written to the audit log as ``workset-dev`` and warned
about on stderr as unsigned and unsafe.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal.term import shown
from modellab.errors import ManifestError, UsageError

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.worksets._child import ChildTarget
    from modellab.worksets._manifest import WorksetManifest

__all__ = ["DevResult", "dev_warning", "run_dev"]

#: What a run that lists the workset's backends (no COMMAND) returns.
DevResult = dict[str, Any]


def dev_warning(name: str, version: str, source: Path) -> str:
    """The stderr warning every ``worksets dev`` run prints first (escaped)."""
    return shown(
        f"modellab: WARNING: UNSIGNED AND UNSAFE: running workset {name} {version} from "
        f"{source}, not verified, not consented to and not installed; it runs confined by "
        "its manifest's policy, and nothing of it is kept"
    )


def _refuse_unchecked(source: Path, settings: Settings) -> None:
    from modellab.worksets._check import check_source

    problems = check_source(source, settings)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ManifestError(
            f"{source} fails 'worksets check': {problems[0].line()}{more}; it was not run",
            hint=f"run 'modellab worksets check {source}' and fix every line",
        )


@contextlib.contextmanager
def _built(source: Path) -> Iterator[tuple[Path, Path, WorksetManifest]]:
    """Build ``source`` and unpack it into a temporary folder: (root, site, manifest)."""
    from modellab.worksets._build import build_wheel
    from modellab.worksets._discovery import MANIFEST_NAME
    from modellab.worksets._manifest import load_manifest

    root = Path(tempfile.mkdtemp(prefix="modellab-dev-"))
    try:
        wheel = build_wheel(source, root / "dist")
        site = root / "site"
        # Our own builder wrote this wheel and check_wheel_bytes passed it (no absolute or
        # escaping member names): it is unpacked as it is.
        with zipfile.ZipFile(wheel.path) as archive:
            archive.extractall(site)
        (shipped,) = site.glob(f"*/{MANIFEST_NAME}")
        manifest, _digest = load_manifest(shipped.read_bytes(), str(shipped))
        yield root, site, manifest
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _leave_no_data(settings: Settings, name: str) -> Iterator[None]:
    """Remove afterwards the folders the sandbox makes for ``name``'s data, if it made them."""
    from modellab.worksets._sandbox import data_dir

    data = data_dir(settings, name)
    chain = [data, data.parent, data.parent.parent]  # data, worksets/NAME, worksets/
    missing = [folder for folder in chain if not folder.exists()]
    try:
        yield
    finally:
        if data in missing:
            shutil.rmtree(data, ignore_errors=True)
        for folder in missing[1:] if data in missing else missing:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: something else may have been put there


def _audit(settings: Settings, manifest: WorksetManifest, source: Path, call: str) -> None:
    from modellab.store import Catalog

    with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
        catalog.audit(
            db,
            "workset-dev",
            {
                "name": manifest.name,
                "version": manifest.version,
                "source": str(source),
                "call": call,
                "signed": False,
                "consented": False,
            },
        )


def _target(root: Path, site: Path, manifest: WorksetManifest) -> ChildTarget:
    from modellab.worksets._child import ChildTarget

    # A venv workset runs under the core's interpreter here: dev builds no venv, so its
    # dependencies must be importable by Model Lab's own python (the docs say so).
    return ChildTarget(
        name=manifest.name,
        isolation=manifest.requirements.isolation,
        python=Path(sys.executable),
        site=site,
        implements=tuple(manifest.hooks.implements),
        egress=tuple(e.host for e in manifest.privacy.network_egress),
        location=root,
        manifest=manifest,
    )


def _list_backends(target: ChildTarget, settings: Settings) -> DevResult:
    from modellab.worksets._child import run_workset_child

    args = ["--declares", ",".join(target.implements), "--hooks", target.name]
    with run_workset_child(target, args, settings, call="backends", pipes=True) as process:
        if process.stdout is None or process.stdin is None:  # pipes=True gives both
            raise RuntimeError("the workset's child has no pipes")
        first = process.stdout.readline()
        process.stdin.close()
        errors = process.stderr.read() if process.stderr is not None else b""
    try:
        answer = json.loads(first) if first else {}
    except ValueError:
        answer = {}
    if "backends" not in answer:
        problem = answer.get("error") or errors.decode(errors="replace").strip() or "no answer"
        raise ManifestError(f"workset {target.name} could not be loaded: {problem}")
    return {"backends": answer["backends"]}


def run_dev(
    source: Path,
    settings: Settings,
    command: str | None,
    argv: Sequence[str],
    *,
    announce: Callable[[str], None],
    capture: bool = False,
) -> tuple[int, DevResult]:
    """Check, build and run ``source``'s ``command`` (or load it and list what it offers).

    :param announce: called with the unsigned-and-unsafe warning (:func:`dev_warning`)
        once the folder passed ``check`` and was built, before anything of it runs.
    :param capture: pipe the child's output and hand it back (no real terminal to share).
    :returns: the exit code, and: for a run without ``command`` the workset's name,
        version, manifest commands and registered backends; with ``capture`` the child's
        ``stdout`` and ``stderr`` (bytes).
    :raises ManifestError: the source fails ``worksets check`` or does not load.
    :raises UsageError: ``command`` is not one the manifest declares.
    """
    from modellab.worksets._child import run_workset_child

    source = source.expanduser().resolve()
    _refuse_unchecked(source, settings)
    with _built(source) as (root, site, manifest):
        declared = [c.name for c in manifest.commands]
        if command is not None and command not in declared:
            raise UsageError(
                f"COMMAND {command!r}: workset {manifest.name} declares "
                f"{', '.join(declared) or 'no command'}"
            )
        announce(dev_warning(manifest.name, manifest.version, source))
        target = _target(root, site, manifest)
        _audit(settings, manifest, source, command or "backends")
        with _leave_no_data(settings, manifest.name):
            if command is None:
                result = _list_backends(target, settings)
                result["commands"] = declared
                result["name"], result["version"] = manifest.name, manifest.version
                return 0, result
            host = ["--declares", ",".join(target.implements), manifest.name, command]
            with run_workset_child(
                target,
                [*host, *argv],
                settings,
                call=command,
                needs_home=True,
                command=command,
                command_argv=list(argv),
                capture=capture,
            ) as process:
                captured: DevResult = {}
                if capture:
                    captured["stdout"], captured["stderr"] = process.communicate()
                return process.wait(), captured
