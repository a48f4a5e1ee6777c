"""observability is its own project: its pyproject.toml alone brings its dependencies."""

from __future__ import annotations

import importlib.metadata as metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = Path(__file__).resolve().parents[1]
REPO_ROOT = PROJECT.parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def test_its_dependencies_come_from_its_own_pyproject():
    own = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = _names(own["project"]["dependencies"]) - {"modellab"}
    assert "matplotlib" in dependencies
    # Installed for these tests because the workset is a uv workspace member ...
    for name in dependencies:
        assert metadata.version(name)
    # ... and not because the core's dev group lists them.
    assert not dependencies & _names(root["dependency-groups"]["dev"])


def test_the_workset_itself_is_not_installed_in_the_core_environment():
    own = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    assert own["tool"]["uv"]["package"] is False
    names = {dist.metadata["Name"] for dist in metadata.distributions()}
    assert own["project"]["name"] not in names


def test_this_folder_is_collected_under_a_rootdir_relative_name():
    # --import-mode=importlib: no clash with tests/ or another workset's tests/.
    assert __name__ == "worksets.observability.tests.test_project"
