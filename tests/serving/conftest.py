"""One lab for the serving tests, built once per session: the unsloth and serving worksets
installed through the real flow (from the local wheelhouses), SmolLM2 installed twice (its
GGUF as ``smollm2``, the 2-layer safetensors cut as ``smollm2-2l``), a dataset built from
the bundled sample sessions, and llama.cpp's converters (the pinned sdist) named in
``MODELLAB_CONVERTERS``.

Each test points ``MODELLAB_HOME`` and ``HOME`` at the lab again, and every server a test
leaves running is stopped when the session ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from labs import Lab, build_lab


@dataclass(frozen=True)
class ServingLab:
    """The session's lab, and what the serving tests add to it."""

    lab: Lab
    gguf_model: str
    converters: Path

    @property
    def home(self) -> Path:
        return self.lab.user_home / ".modellab"


@pytest.fixture(scope="session")
def serving_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingLab]:
    from evals import llama_server

    from modellab.testing import cli, run_modellab

    if not llama_server.installed():
        pytest.skip("the model server is not built: python3 tests/evals/llama_server.py")
    converters = llama_server.SDIST_DIR / llama_server.SDIST
    if not converters.is_file():
        pytest.skip("llama.cpp's converters are missing: python3 tests/evals/llama_server.py")
    root = tmp_path_factory.mktemp("serving-lab")
    lab = build_lab(root, serving=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(lab.user_home))
        patch.setenv("MODELLAB_HOME", str(lab.user_home / ".modellab"))
        cli(
            "models",
            "install",
            str(llama_server.gguf_path()),
            "--name",
            "smollm2",
            "--accept-license",
            "apache-2.0",
        )
    yield ServingLab(lab, "smollm2", converters)
    env = {
        **os.environ,
        "HOME": str(lab.user_home),
        "MODELLAB_HOME": str(lab.user_home / ".modellab"),
    }
    run_modellab(["serve", "stop", "--all"], env=env)


@pytest.fixture
def in_serving_lab(
    serving_lab: ServingLab, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServingLab]:
    """The test runs against the session's lab (its home, its catalog, its converters)."""
    monkeypatch.setenv("HOME", str(serving_lab.lab.user_home))
    monkeypatch.setenv("MODELLAB_HOME", str(serving_lab.home))
    monkeypatch.setenv("MODELLAB_CONVERTERS", str(serving_lab.converters))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    yield serving_lab
