"""The serving workset's own tests: the testing kit's fixtures, the workset from its source.

The workset is not installed in the development environment (its pyproject pins
llama-cpp-python, which builds from source), so its ``src/`` goes on ``sys.path`` here, and
the repository's ``tests/`` too (``evals.llama_server``, ``tiny_models``).

Run them with ``.venv/bin/pytest -q -p no:cacheprovider worksets/serving/tests``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modellab.workset import Settings

PROJECT = Path(__file__).resolve().parents[1]
REPO_ROOT = PROJECT.parents[1]

for folder in (PROJECT / "src", REPO_ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

KIT_PLUGIN = "modellab.testing.plugin"


def pytest_configure(config: pytest.Config) -> None:
    """Load the kit (see observability's conftest for why not ``pytest_plugins``)."""
    if not config.pluginmanager.has_plugin(KIT_PLUGIN):
        config.pluginmanager.import_plugin(KIT_PLUGIN)


@pytest.fixture(autouse=True)
def private_home(modellab_home: Settings) -> Settings:
    """Every test runs in the kit's private home: nothing of the user's is read or written."""
    return modellab_home
