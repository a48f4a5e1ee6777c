"""The user's flows the fixtures run: installing with consent, and making an approved export."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.testing._cli import cli

if TYPE_CHECKING:
    from modellab.gate import ApprovedExport
    from modellab.settings import Settings
    from modellab.worksets._state import InstallRecord


def sample_sessions() -> list[Path]:
    """The bundled sample: one CodeWhale saved session (a failing test run, an edit, a
    passing run), shipped inside this package."""
    folder = resources.files("modellab.testing") / "samples"
    return [Path(str(folder / "codewhale-session.json"))]


def install(
    settings: Settings,
    name: str,
    manifest_sha256: str,
    *,
    version: str | None = None,
    registry: str | None = None,
) -> InstallRecord:
    """Install ``name`` through ``modellab worksets install``, consenting to the manifest
    whose sha256 is given (as a user does after reading it); the catalog's install record."""
    from modellab.store import Catalog
    from modellab.worksets._state import WorksetState

    spec = f"{name}=={version}" if version else name
    extra = ["--registry", registry] if registry else []
    cli("worksets", "install", spec, "--accept-manifest", manifest_sha256, *extra)
    with Catalog(settings.catalog_path) as catalog:
        record = WorksetState(catalog).install(name)
    if record is None:  # install said 0 but recorded nothing: the flow itself is broken
        raise AssertionError(f"'worksets install {spec}' left no install record")
    return record


def approved_export(
    settings: Settings, work: Path, files: Sequence[Path] | None = None
) -> ApprovedExport:
    """Import ``files`` (default: :func:`sample_sessions`), export everything redacted
    into ``work/export``, accept every finding, approve, and open it through the gate."""
    from modellab.gate import open_approved
    from modellab.store import Catalog

    sessions = work / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    for source in files if files is not None else sample_sessions():
        path = Path(source)
        target = sessions / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(path, target)
    export = work / "export"
    cli("sessions", "import", str(sessions))
    cli("export", "--all", "--out", str(export))
    cli("redact", "review", str(export), "--accept-all")
    cli("redact", "approve", str(export))
    with Catalog(settings.catalog_path) as catalog:
        return open_approved(export, catalog=catalog)
