"""observability's own tests: the testing kit's fixtures, and the workset from its source.

The workset is not installed in the development environment (``[tool.uv] package = false``
in its pyproject.toml: it installs through a registry, like any other), so its ``src/`` goes
on ``sys.path`` here and the tests import ``modellab_observability`` from the source tree.
The kit (``modellab.testing``) gives each test a private ``MODELLAB_HOME`` and ``HOME``
(``modellab_home``, used for every test below) and the registry, install, export and run
fixtures. Run them with ``.venv/bin/pytest -q worksets/observability/tests``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modellab.testing import codewhale
from modellab.workset import Settings

PROJECT = Path(__file__).resolve().parents[1]
REPO_ROOT = PROJECT.parents[1]
#: ``../shared`` beside the repository: the real CodeWhale fixtures.
SHARED = REPO_ROOT.parent / "shared"

if str(PROJECT / "src") not in sys.path:
    sys.path.insert(0, str(PROJECT / "src"))


#: The testing kit's pytest plugin: ``modellab_home``, ``workset_registry``,
#: ``install_workset``, ``approved_export`` and ``run_workset``.
KIT_PLUGIN = "modellab.testing.plugin"


def pytest_configure(config: pytest.Config) -> None:
    """Load the kit. Not through ``pytest_plugins``: pytest accepts that only in a conftest
    it reads before collection, and ``pytest worksets`` reaches this one during it."""
    if not config.pluginmanager.has_plugin(KIT_PLUGIN):
        config.pluginmanager.import_plugin(KIT_PLUGIN)


@pytest.fixture(autouse=True)
def private_home(modellab_home: Settings) -> Settings:
    """Every test runs in the kit's private home: nothing of the user's is read or written."""
    return modellab_home


@pytest.fixture
def shared() -> Path:
    """The ``../shared`` folder; tests that need it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def _matplotlib_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matplotlib")


@pytest.fixture(autouse=True)
def matplotlib_config(_matplotlib_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One matplotlib config folder for the run: its font cache is built once, and never in
    the real home (every test's HOME is a fresh temporary folder)."""
    monkeypatch.setenv("MPLCONFIGDIR", str(_matplotlib_home))
    yield


EDIT = {"path": "app.py", "edits": [{"oldText": "a - b", "newText": "a + b"}]}


@pytest.fixture
def observed_session() -> dict[str, Any]:
    """Two turns: a failing test run, a denied call, a read, an interruption; then a fix
    whose tests pass. Journal timestamps give wall times; the session records a cost."""
    messages = [
        codewhale.user("Run the tests and clean up."),
        codewhale.assistant("Running.", ("c1", "bash", {"command": "pytest -q"})),
        codewhale.result("c1", "1 failed, 3 passed\nCommand exited with code 1", error=True),
        codewhale.assistant("", ("c2", "bash", {"command": "rm -rf build"})),
        codewhale.result(
            "c2", "Error: Tool 'bash' denied by user — the call was not approved.", error=True
        ),
        codewhale.assistant("", ("c3", "read_file", {"path": "app.py"})),
        codewhale.result("c3", "def add(a, b): return a - b"),
        {"role": "assistant_interrupted", "content": [{"type": "text", "text": "I will now"}]},
        codewhale.user("Go on, fix it."),
        codewhale.assistant("", ("c4", "edit", EDIT)),
        codewhale.result("c4", "Successfully replaced 1 block(s) in app.py."),
        codewhale.assistant("", ("c5", "bash", {"command": "pytest -q"})),
        codewhale.result("c5", "4 passed in 0.2s\nCommand exited with code 0"),
        codewhale.assistant("Fixed."),
    ]
    seconds = [0, 4, 10, 12, 20, 21, 22, 30, 300, 303, 304, 306, 316, 320]
    entries = [
        {
            "id": f"e{n}",
            "parent_id": f"e{n - 1}" if n else None,
            "created_at": f"2026-11-20T09:{s // 60:02d}:{s % 60:02d}Z",
            "kind": "message",
            "message": message,
        }
        for n, (message, s) in enumerate(zip(messages, seconds, strict=True))
    ]
    doc = codewhale.saved_session(
        messages,
        session_id="obs-1",
        title="Observed session",
        journal={"entries": entries},
        leaf_id=f"e{len(entries) - 1}",
    )
    doc["metadata"]["cost"] = {"session_cost_usd": 0.0125}
    return doc
