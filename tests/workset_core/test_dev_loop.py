"""The local development loop: ``worksets new``, ``worksets check`` and ``worksets dev``.

Real folders, real subprocesses (the scaffold's own pytest, the CLI, the confined child)
and the real catalog; nothing mocked.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.settings import Settings


def _new(tmp_path: Path, name: str = "demo", *extra: str) -> Path:
    assert main(["worksets", "new", name, "--dir", str(tmp_path), *extra]) == 0
    return tmp_path / name


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m modellab ARGV`` in a child of its own (a real terminal-less process)."""
    return subprocess.run(
        [sys.executable, "-m", "modellab", *argv],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
        timeout=120,
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def _workset_rows() -> dict[str, int]:
    """Rows in every workset table of the catalog (none when there is no catalog)."""
    catalog = Settings.from_env().catalog_path
    if not catalog.is_file():
        return {}
    with sqlite3.connect(catalog) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'workset%'"
            )
        ]
        assert tables, "the catalog has workset tables"
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _audit_actions() -> list[str]:
    catalog = Settings.from_env().catalog_path
    with sqlite3.connect(catalog) as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")]


# -- new ------------------------------------------------------------------------------


def test_new_then_check_then_its_own_tests_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path, "my-tool")
    assert (source / "src" / "modellab_my_tool" / "workset.toml").is_file()
    assert (source / "tests" / "test_my_tool.py").is_file()
    assert 'my-tool = "modellab_my_tool.plugin:plugin"' in (source / "pyproject.toml").read_text()
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 0
    assert "no problems" in capsys.readouterr().out
    # Its own tests, from its own folder, as its README says.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_new_venv_isolation_passes_check(tmp_path: Path) -> None:
    source = _new(tmp_path, "gpu-thing", "--isolation", "venv")
    assert 'isolation = "venv"' in next(source.glob("src/*/workset.toml")).read_text()
    assert main(["worksets", "check", str(source)]) == 0


def test_new_never_writes_into_an_existing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("keep")
    assert main(["worksets", "new", "demo", "--dir", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize(
    ("name", "said"), [("Bad_Name", "lower-case"), ("export", "Model Lab's own command")]
)
def test_new_refuses_a_name_check_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, said: str
) -> None:
    parent = tmp_path / "projects"
    parent.mkdir()
    assert main(["worksets", "new", name, "--dir", str(parent)]) == 2
    assert said in capsys.readouterr().err
    assert not any(parent.iterdir())


# -- check ----------------------------------------------------------------------------


def test_check_reports_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path)
    manifest = source / "src" / "modellab_demo" / "workset.toml"
    _edit(manifest, 'version = "0.1.0"', 'version = "0.2.0"')
    _edit(manifest, 'name = "demo"\nsummary = "say', 'name = "export"\nsummary = "say')
    _edit(manifest, 'implements = ["modellab_run_command"]', "implements = []")
    _edit(manifest, 'python = ["modellab>=0.1"]', 'python = ["modellab>=0.1", "rich"]')
    (source / "src" / "modellab_demo" / "train.py").write_text("import torch\n")
    (source / "src" / "modellab_demo" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 1
    out = capsys.readouterr().out.splitlines()
    where = f"{manifest}:"
    expected = [
        (where + "workset.version: ", "pyproject.toml says '0.1.0'"),
        (where + "requirements.python: ", "'rich'"),
        (where + "hooks.implements: ", "implements modellab_run_command"),
        (where + "commands: ", "not the modellab_run_command hook"),
        (where + "commands[0].name: ", "Model Lab's own commands"),
        (where + "requirements.isolation: ", "imports torch"),
        (f"{source}/src/modellab_demo/__init__.py:line 1: ", "__version__"),
    ]
    for prefix, text in expected:
        assert any(line.startswith(prefix) and text in line for line in out), (prefix, out)
    assert len(out) == len(expected), out


def test_check_lists_every_invalid_manifest_field_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path)
    manifest = next(source.glob("src/*/workset.toml"))
    _edit(manifest, 'publisher = "Your name"', 'publisher = "evil\\u001b[2J"')
    _edit(manifest, 'gpu = "none"', 'gpu = "lots"')
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{manifest}:workset.publisher: contains a control character")
    assert out[1].startswith(f"{manifest}:requirements.gpu: ")
    assert len(out) == 2
    # The manifest's ESC never reaches the terminal raw.
    assert "\x1b" not in "\n".join(out)


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _new(tmp_path)
    _edit(source / "pyproject.toml", 'version = "0.1.0"', 'version = "0.1.1"')
    capsys.readouterr()
    assert main(["worksets", "check", str(source), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(p["field"], p["path"]) for p in report["problems"]] == [
        ("workset.version", str(next(source.glob("src/*/workset.toml"))))
    ]


def test_check_shared_workset_may_not_add_or_need_heavy_dependencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path)
    deps = '["modellab>=0.1", "torch>=2", "no-such-package-here>=1"]'
    _edit(source / "pyproject.toml", 'dependencies = ["modellab>=0.1"]', f"dependencies = {deps}")
    _edit(next(source.glob("src/*/workset.toml")), 'python = ["modellab>=0.1"]', f"python = {deps}")
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 1
    out = capsys.readouterr().out
    assert "project.dependencies[1]: 'torch>=2' is a heavy dependency" in out
    assert "project.dependencies[2]: " in out and "may not add packages" in out
    # The same workset as venv: its dependencies are its own business.
    _edit(next(source.glob("src/*/workset.toml")), 'isolation = "shared"', 'isolation = "venv"')
    assert main(["worksets", "check", str(source)]) == 0


def test_check_finds_a_clash_with_an_installed_workset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], publisher: object
) -> None:
    publisher.workset("hello")  # type: ignore[attr-defined]
    assert main(["worksets", "install", "hello"]) == 10
    sha = re.search(r"manifest sha256 ([0-9a-f]{64})", capsys.readouterr().out)
    assert sha is not None
    assert main(["worksets", "install", "hello", "--accept-manifest", sha.group(1)]) == 0
    source = _new(tmp_path, "other")
    manifest = next(source.glob("src/*/workset.toml"))
    _edit(manifest, 'name = "other"\nsummary = "say', 'name = "hello"\nsummary = "say')
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 1
    assert (
        f"{manifest}:commands[0].name: 'hello' is a command of the installed workset hello"
        in capsys.readouterr().out
    )


def test_check_names_a_missing_entry_point_object_and_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path)
    plugin = source / "src" / "modellab_demo" / "plugin.py"
    _edit(plugin, "plugin = Plugin()", "instance = Plugin()")
    capsys.readouterr()
    assert main(["worksets", "check", str(source)]) == 1
    assert f"{plugin}:plugin: the entry point names modellab_demo.plugin:plugin" in (
        capsys.readouterr().out
    )
    (source / "pyproject.toml").unlink()
    assert main(["worksets", "check", str(source)]) == 1
    assert f"{source}/pyproject.toml:(file): missing" in capsys.readouterr().out


def test_check_refuses_a_path_that_is_not_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worksets", "check", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


# -- dev ------------------------------------------------------------------------------


def test_dev_runs_the_command_unsigned_and_keeps_nothing(tmp_path: Path) -> None:
    # A parent folder whose name holds an ESC: the warning must show it escaped.
    parent = tmp_path / "src\x1b[31mred"
    parent.mkdir()
    source = _new(parent)
    result = _cli("worksets", "dev", str(source), "--", "demo", "Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello, Ada, from demo\n"
    assert "UNSIGNED AND UNSAFE" in result.stderr
    assert "\\x1b[31m" in result.stderr and "\x1b" not in result.stderr
    # Never recorded as installed or consented; nothing left in the worksets folder.
    assert set(_workset_rows().values()) == {0}
    worksets = Settings.from_env().worksets_dir
    assert not worksets.exists() or not any(worksets.iterdir())
    actions = _audit_actions()
    assert "workset-dev" in actions and "workset-confined" in actions
    # Gone on the next plain command: not a command, not listed.
    assert _cli("demo").returncode == 2
    listed = _cli("worksets", "list", "--json")
    assert json.loads(listed.stdout) == {"worksets": []}


def test_dev_without_command_loads_and_lists(tmp_path: Path) -> None:
    source = _new(tmp_path)
    result = _cli("worksets", "dev", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "backends": {},
        "commands": ["demo"],
        "name": "demo",
        "version": "0.1.0",
    }
    assert "UNSIGNED AND UNSAFE" in result.stderr


def test_dev_in_process_relays_the_childs_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path, "venv-one", "--isolation", "venv")
    capsys.readouterr()
    assert main(["worksets", "dev", str(source), "--", "venv-one", "--json", "Bo"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"greeting": "hello, Bo, from venv-one"}
    assert captured.err.startswith("modellab: WARNING: UNSIGNED AND UNSAFE: running workset")
    assert set(_workset_rows().values()) == {0}


def test_dev_refuses_a_folder_that_fails_check(tmp_path: Path) -> None:
    source = _new(tmp_path)
    _edit(next(source.glob("src/*/workset.toml")), 'license = "Apache-2.0"', "license = ''")
    result = _cli("worksets", "dev", str(source), "--", "demo")
    assert result.returncode == 10
    assert "fails 'worksets check'" in result.stderr and "workset.license" in result.stderr
    assert "UNSIGNED" not in result.stderr and result.stdout == ""
    assert "workset-dev" not in (
        _audit_actions() if Settings.from_env().catalog_path.is_file() else []
    )


def test_dev_refuses_a_command_the_manifest_does_not_declare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _new(tmp_path)
    capsys.readouterr()
    assert main(["worksets", "dev", str(source), "--", "nope"]) == 2
    assert "COMMAND 'nope': workset demo declares demo" in capsys.readouterr().err


def test_dev_runs_what_check_cannot_see_through_the_cores_own_hook_check(
    tmp_path: Path,
) -> None:
    # A hook implemented without the @hookimpl spelling check reads: the confined child
    # (the same boundary as installed worksets) refuses the difference.
    source = _new(tmp_path)
    plugin = source / "src" / "modellab_demo" / "plugin.py"
    text = plugin.read_text() + (
        "\n\nfrom modellab.plugins.hookspecs import hookimpl as _mark\n"
        "Plugin.modellab_register_graders = _mark(lambda self, register: None)\n"
    )
    plugin.write_text(text)
    result = _cli("worksets", "dev", str(source), "--", "demo")
    assert result.returncode == 1
    assert "modellab_register_graders" in result.stderr and "does not declare" in result.stderr
