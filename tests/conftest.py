"""Shared fixtures: an isolated environment for every test, and paths to shared data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modellab.testing._env import isolate_home

REPO_ROOT = Path(__file__).resolve().parents[1]
#: ``../shared`` beside the repository: real third-party data and CodeWhale fixtures.
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every home at a fresh temporary folder and strip our variables and tokens."""
    yield isolate_home(monkeypatch, tmp_path / "home")


@pytest.fixture
def shared() -> Path:
    """The ``../shared`` folder; tests that need it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture
def corpus(shared: Path) -> Path:
    """Real third-party agent data (``../shared/corpus``)."""
    return shared / "corpus"
