"""The pytest plugin: fixtures for testing a workset through Model Lab's real flows.

Load it with ``-p modellab.testing.plugin`` or, in a ``conftest.py``,
``pytest_plugins = ["modellab.testing.plugin"]``. Every fixture works in a private temporary
home; nothing reaches the network (the registry is signed with keys made on the spot).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from modellab.testing._cli import run_modellab
from modellab.testing._env import isolate_home
from modellab.testing._flows import approved_export as _approved_export
from modellab.testing._flows import install
from modellab.testing._registry import WorksetRegistry

if TYPE_CHECKING:
    from modellab.gate import ApprovedExport
    from modellab.settings import Settings
    from modellab.worksets._state import InstallRecord


@pytest.fixture
def modellab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private, empty Model Lab home for one test; returns its ``Settings``.

    ``HOME`` and ``MODELLAB_HOME`` point into the test's temporary folder (so agent homes
    such as ``~/.codewhale`` are empty too), and Model Lab's, the agents' and proxy
    variables and API tokens are removed from the environment for the test's duration.
    Child processes started by the test inherit exactly this environment.
    """
    from modellab.settings import Settings

    isolate_home(monkeypatch, tmp_path / "modellab-user")
    return Settings.from_env()


@pytest.fixture
def workset_registry(modellab_home: Settings, tmp_path: Path) -> WorksetRegistry:
    """An empty signed local registry, trusted by the temporary home under ``local``.

    ``.publish(source_dir)`` builds the workset at ``source_dir`` (a folder with its
    ``pyproject.toml``), signs the wheel with the registry's pinned key, adds it to the
    TUF-signed index and returns its ``Release`` (``name``, ``version``,
    ``manifest_sha256``...). ``.workset(name)`` writes and publishes a minimal one.
    """
    return WorksetRegistry.create(tmp_path / "workset-registry")


@pytest.fixture
def install_workset(
    modellab_home: Settings, workset_registry: WorksetRegistry
) -> Callable[..., InstallRecord]:
    """``install_workset(name_or_release, version=None)``: install a published workset
    through ``modellab worksets install``, consenting by the manifest's sha256 as the
    signed index lists it; returns the catalog's install record (name, version, state,
    isolation, ``manifest_sha256``...). Any failure fails the test with the command's output.
    """
    from modellab.registry import Release

    def _install(workset: str | Release, version: str | None = None) -> InstallRecord:
        if isinstance(workset, Release):
            release = workset
        else:
            matching = [r for r in workset_registry.releases() if r.name == workset]
            if version is not None:
                matching = [r for r in matching if r.version == version]
            if not matching:
                raise AssertionError(f"{workset!r} was not published to the test registry")
            release = matching[-1]
        return install(
            modellab_home,
            release.name,
            release.manifest_sha256,
            version=release.version,
            registry=workset_registry.name,
        )

    return _install


@pytest.fixture
def approved_export(modellab_home: Settings, tmp_path: Path) -> Callable[..., ApprovedExport]:
    """``approved_export(files=None)``: import session files (or, with none, the bundled
    sample CodeWhale session) into the temporary home, export them redacted, accept the
    review and approve; returns the ``ApprovedExport`` the gate opens. Each call makes a
    new export in its own folder.
    """
    made = 0

    def _make(files: Sequence[Path] | None = None) -> ApprovedExport:
        nonlocal made
        made += 1
        return _approved_export(modellab_home, tmp_path / f"approved-export-{made}", files)

    return _make


@pytest.fixture
def run_workset(modellab_home: Settings) -> Callable[..., tuple[int, str, str]]:
    """``run_workset(name, *args)``: run ``modellab NAME ARGS...`` in a child process
    against the temporary home; returns ``(exit code, stdout, stderr)``."""

    def _run(name: str, *args: str) -> tuple[int, str, str]:
        return run_modellab([name, *args])

    return _run
