"""The repository's layout: the core carries no vendor SDK; every workset is its own project
whose tests and dependencies the README's test command picks up."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from conftest import REPO_ROOT

WORKSETS = sorted(p for p in (REPO_ROOT / "worksets").iterdir() if (p / "pyproject.toml").is_file())


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_core_depends_on_no_vendor_sdk():
    core = _toml(REPO_ROOT / "core" / "pyproject.toml")
    names = {Requirement(r).name.lower() for r in core["project"]["dependencies"]}
    assert not names & {"huggingface-hub", "huggingface_hub", "datasets", "transformers"}


def test_every_workset_is_a_workspace_member_installed_for_its_dependencies_only():
    root = _toml(REPO_ROOT / "pyproject.toml")
    members = root["tool"]["uv"]["workspace"]["members"]
    assert "worksets/*" in members
    # Only serving is left out: it pins llama-cpp-python, which compiles from its sdist for
    # minutes, and the development environment never imports it (its tests install it).
    assert root["tool"]["uv"]["workspace"].get("exclude", []) == ["worksets/serving"]
    assert WORKSETS, "no worksets found"
    dev = {Requirement(r).name.lower() for r in root["dependency-groups"]["dev"]}
    for workset in WORKSETS:
        own = _toml(workset / "pyproject.toml")
        assert own.get("tool", {}).get("uv", {}).get("package") is False, workset.name
        needs = {Requirement(r).name.lower() for r in own["project"]["dependencies"]}
        if workset.name != "serving":
            # (serving, not a member, gets what its converter tests run on from the dev
            # group: sentencepiece; the rest comes with the unsloth workset's stack.)
            assert not (needs - {"modellab"}) & dev, f"{workset.name}: its dependencies are its own"
        # A `tests` package per workset would clash by name (see pytest's import mode).
        assert not (workset / "tests" / "__init__.py").exists(), workset.name


def test_pytest_collects_each_worksets_tests_folder():
    options = _toml(REPO_ROOT / "pyproject.toml")["tool"]["pytest"]["ini_options"]
    assert "worksets/*/tests" in options["testpaths"]
    assert "--import-mode=importlib" in options["addopts"]


def test_same_named_test_files_and_conftests_in_two_worksets_do_not_clash(tmp_path):
    """The repository's own pytest settings, on a copy of its layout with two worksets whose
    tests/ folders hold the same file names as each other and as tests/."""
    options = _toml(REPO_ROOT / "pyproject.toml")["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    for key in ("testpaths", "pythonpath", "addopts"):
        items = ", ".join(f'"{item}"' for item in options[key])
        lines.append(f"{key} = [{items}]")
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("WHO = 'core'\n", encoding="utf-8")
    (tmp_path / "tests" / "test_same.py").write_text(
        "def test_core():\n    from conftest import WHO\n    assert WHO == 'core'\n",
        encoding="utf-8",
    )
    for name in ("alpha", "beta"):
        folder = tmp_path / "worksets" / name / "tests"
        folder.mkdir(parents=True)
        (folder / "conftest.py").write_text(
            f"import pytest\n\n@pytest.fixture\ndef who():\n    return {name!r}\n",
            encoding="utf-8",
        )
        (folder / "test_same.py").write_text(
            f"def test_{name}(who):\n"
            f"    assert who == {name!r}\n"
            f"    assert __name__ == 'worksets.{name}.tests.test_same'\n",
            encoding="utf-8",
        )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "3 passed" in completed.stdout
