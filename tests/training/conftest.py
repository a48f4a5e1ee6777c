"""One lab for the training tests: the unsloth workset installed through the real flow
(its dependencies from the local wheelhouse), SmolLM2 installed as a base model, and a
dataset built from the bundled sample sessions through import, export, review, approve.

Built once per module (installing the workset's stack takes about a minute); each test
points ``MODELLAB_HOME`` and ``HOME`` at it again, since every test otherwise gets a fresh
home (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from labs import Lab, build_lab

__all__ = ["Lab", "in_lab", "lab"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return build_lab(tmp_path_factory.mktemp("lab"))


@pytest.fixture
def in_lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """The test runs against the module's lab (its home, its catalog)."""
    monkeypatch.setenv("HOME", str(lab.user_home))
    monkeypatch.setenv("MODELLAB_HOME", str(lab.user_home / ".modellab"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    yield lab
