"""Worksets are tested from their source trees, not from an installed wheel.

Each workset lives in ``worksets/<name>/src``; putting those folders on ``sys.path`` lets
these tests import ``modellab_observability`` without installing it (it is not a member
of the uv workspace on purpose: worksets install apart from the core). The core's
``tests/conftest.py`` still isolates HOME and MODELLAB_HOME for every test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The source folder of every workset in the repository.
WORKSET_SOURCES = sorted((REPO_ROOT / "worksets").glob("*/src"))

for _source in WORKSET_SOURCES:
    if str(_source) not in sys.path:
        sys.path.insert(0, str(_source))


@pytest.fixture(scope="session")
def _matplotlib_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matplotlib")


@pytest.fixture(autouse=True)
def matplotlib_config(_matplotlib_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One matplotlib config folder for the run: its font cache is built once, and never in
    the real home (every test's HOME is a fresh temporary folder)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(_matplotlib_home))
    yield
