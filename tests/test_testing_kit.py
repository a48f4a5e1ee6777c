"""``modellab.testing``: its fixtures work for a project that is not this one.

Each test writes a small third-party project in a temporary folder and runs pytest on it in
a child process, so the kit is loaded the way a workset author loads it (a ``conftest.py``
naming the plugin, or ``-p``), with none of this repository's own conftest files around.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import modellab.testing as kit

FIXTURES = (
    "modellab_home",
    "workset_registry",
    "install_workset",
    "approved_export",
    "run_workset",
)

#: A third party's test: a workset published, installed with consent, run, and an export.
THIRD_PARTY_TEST = """
import json
import os
from pathlib import Path

from modellab.testing import codewhale, make_workset
from modellab.workset import ApprovedExport, Settings


def test_the_whole_loop(modellab_home, workset_registry, install_workset, run_workset,
                        approved_export, tmp_path):
    assert isinstance(modellab_home, Settings)
    assert os.environ["MODELLAB_HOME"] == str(modellab_home.home)
    assert Path(os.environ["HOME"]) in modellab_home.home.parents

    release = workset_registry.publish(make_workset(tmp_path / "src", "greeter"))
    assert (release.name, release.version) == ("greeter", "0.1.0")
    record = install_workset("greeter")
    assert (record.name, record.enabled) == ("greeter", True)
    assert record.manifest_sha256 == release.manifest_sha256

    code, out, err = run_workset("greeter", "a", "b")
    assert (code, out.strip()) == (0, "hello from greeter 0.1.0 a b"), err

    # A second workset from the same parent folder publishes beside the first.
    workset_registry.publish(make_workset(tmp_path / "src", "other"))
    assert {r.name for r in workset_registry.releases()} == {"greeter", "other"}

    sample = approved_export()
    assert isinstance(sample, ApprovedExport)
    assert sample.path.is_relative_to(tmp_path) and sample.files
    assert b"modellab-testing-sample" in b"".join(sample.read_bytes(n) for n in sample.files)

    mine = codewhale.write_session(tmp_path / "mine", codewhale.saved_session(session_id="mine-1"))
    export = approved_export([mine])
    assert export.path != sample.path
    assert b"mine-1" in b"".join(export.read_bytes(n) for n in export.files)


def test_nothing_is_installed_in_a_fresh_home(modellab_home, run_workset):
    code, _, err = run_workset("greeter")
    assert code != 0 and "greeter" in err
"""


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a child process, rooted at ``project`` (so no configuration of ours
    applies), with warnings as errors as this repository runs its own tests."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--rootdir",
            str(project),
            *args,
            str(project),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_fresh_project_publishes_installs_runs_and_exports(tmp_path: Path) -> None:
    project = tmp_path / "third-party"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "conftest.py").write_text(
        'pytest_plugins = ["modellab.testing.plugin"]\n', encoding="utf-8"
    )
    (project / "tests" / "test_kit.py").write_text(THIRD_PARTY_TEST, encoding="utf-8")
    done = _pytest(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_plugin_loads_with_dash_p_and_documents_every_fixture(tmp_path: Path) -> None:
    project = tmp_path / "bare"
    project.mkdir()
    (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    done = _pytest(project, "-p", "modellab.testing.plugin", "--fixtures")
    assert done.returncode == 0, done.stdout + done.stderr
    listing = done.stdout.split("fixtures defined from modellab.testing.plugin", 1)[1]
    for name in FIXTURES:
        assert name in listing
        # pytest prints each fixture's docstring under its name; none is undocumented.
        after = listing.split(name, 1)[1].splitlines()
        assert after[1].strip() and "no docstring" not in after[1]


def test_all_is_exactly_the_kit() -> None:
    assert kit.__all__ == [
        "WorksetRegistry",
        "cli",
        "codewhale",
        "make_workset",
        "run_modellab",
        "sample_sessions",
    ]
    for name in kit.__all__:
        assert getattr(kit, name).__doc__
    for name in FIXTURES:
        assert f"``{name}``" in (kit.__doc__ or "")
