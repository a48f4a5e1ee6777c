"""The unsloth workset's own tests: the testing kit's fixtures, the workset from its source.

The workset is not installed in the development environment (``[tool.uv] package = false``),
so its ``src/`` goes on ``sys.path`` here. Training runs in a fresh interpreter
(``run_trainer.py``): pytest puts the repository's ``tests/`` on ``sys.path``, where
``tests/dataset_build`` shadows Hugging Face ``datasets``, which TRL imports.

Run them with ``.venv/bin/pytest -q -p no:cacheprovider worksets/unsloth/tests``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modellab.workset import Settings

PROJECT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
REPO_ROOT = PROJECT.parents[1]

for folder in (PROJECT / "src", HERE, REPO_ROOT / "tests"):
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


@pytest.fixture(scope="session")
def smollm2_2l() -> Path:
    """SmolLM2-135M cut to 2 layers (cached); skips when the GGUF is not installed."""
    import tiny_models

    try:
        return tiny_models.smollm2_folder(layers=2)
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer, hidden-64 Llama with a tiny BPE tokenizer."""
    import tiny_models

    return tiny_models.synthetic_folder(tmp_path_factory.mktemp("synthetic") / "model")
