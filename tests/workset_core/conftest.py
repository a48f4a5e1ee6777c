"""Fixtures for workset installs: a real registry with real keys, and a clean import state.

The registry is the testing kit's (:class:`modellab.testing.WorksetRegistry`); these tests
use it in the home ``tests/conftest.py`` isolates, and keep ``publish`` returning the wheel.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modellab.testing import WorksetRegistry


class Publisher(WorksetRegistry):
    """The kit's registry, whose ``publish`` returns the built wheel (these tests tamper
    with it) rather than the index entry."""

    def publish(self, source: Path) -> Path:  # type: ignore[override]
        """Build, sign and add the workset at ``source``; returns the wheel."""
        return self.build_and_add(source)


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    """An empty registry, trusted under the name ``local``."""
    made = WorksetRegistry.create(tmp_path / "publishing")
    return Publisher(made.root, made.registry, made.keys, made.signing, made.name)


@pytest.fixture(autouse=True)
def forget_imported_worksets() -> Iterator[None]:
    """Workset code imported in-process by one test must not leak into the next."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.startswith("modellab_"):
            del sys.modules[name]
