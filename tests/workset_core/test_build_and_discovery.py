"""Building a workset wheel reproducibly, and finding it after a real uv install."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from uv import find_uv_bin

from modellab.errors import ManifestError, UsageError
from modellab.worksets import find_in
from modellab.worksets._build import build_wheel
from workset_core.builders import make_workset


def _uv_target(wheel, site):
    subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--offline",
            "--no-index",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )


def test_builds_are_reproducible_and_complete(tmp_path):
    source = make_workset(tmp_path / "src")
    first = build_wheel(source, tmp_path / "a")
    second = build_wheel(source, tmp_path / "b")
    assert first.sha256 == second.sha256  # same source, same bytes, same signature target
    assert first.path.name == "modellab_hello-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(first.path) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("modellab_hello-0.1.0.dist-info/entry_points.txt").decode()
        metadata = archive.read("modellab_hello-0.1.0.dist-info/METADATA").decode()
    assert {"modellab_hello/workset.toml", "modellab_hello/plugin.py"} <= names
    assert "hello = modellab_hello.plugin:plugin" in entry_points
    assert "Requires-Dist: modellab>=0.1" in metadata


def test_a_manifest_that_disagrees_with_the_package_is_refused(tmp_path):
    source = make_workset(tmp_path, version="0.2.0")
    (source / "pyproject.toml").write_text(
        (source / "pyproject.toml").read_text().replace('version = "0.2.0"', 'version = "0.3.0"')
    )
    with pytest.raises(ManifestError, match=r"builds workset hello 0\.3\.0"):
        build_wheel(source, tmp_path / "out")
    with pytest.raises(UsageError, match="needs \\[project\\]"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "pyproject.toml").write_text("[tool.x]\n")
        build_wheel(tmp_path / "empty", tmp_path / "out")


def test_discovery_reads_metadata_and_never_imports(tmp_path):
    # Importing this workset would crash; discovery must not notice.
    source = make_workset(tmp_path / "src", preamble="raise RuntimeError('boom at import')")
    built = build_wheel(source, tmp_path / "dist")
    site = tmp_path / "site"
    _uv_target(built.path, site)
    found = find_in(site)["hello"]
    assert found.problem is None and found.manifest is not None
    assert found.manifest.commands[0].name == "hello"
    assert "modellab_hello" not in sys.modules
    with pytest.raises(RuntimeError, match="boom at import"):
        sys.path.insert(0, str(site))
        try:
            found.entry_point.load()
        finally:
            sys.path.remove(str(site))
            sys.modules.pop("modellab_hello", None)
            sys.modules.pop("modellab_hello.plugin", None)


def test_requires_dist_is_read_from_the_header_block_only():
    from modellab.worksets._install import _requires_dist

    metadata = (
        b"Metadata-Version: 2.1\nName: x\nRequires-Dist: a>=1\nRequires-Dist: b;\n"
        b'  python_version < "3.12"\nSummary: y\n\nRequires-Dist: in-the-description\n'
    )
    assert _requires_dist(metadata) == ["a>=1", 'b; python_version < "3.12"']


def test_publishing_commands_name_missing_files(tmp_path, capsys):
    from modellab.cli import main

    missing = tmp_path / "nowhere.whl"
    code = main(["registry", "add", str(tmp_path / "reg"), str(missing), "--keys", str(tmp_path)])
    assert code == 2
    assert f"{missing}: no such wheel" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["registry", "keys", str(blocker / "keys")]) == 2  # cannot create it
    err = capsys.readouterr().err
    assert "modellab: error:" in err and "Traceback" not in err
    assert main(["registry", "init", str(tmp_path / "reg"), "--keys", str(tmp_path)]) == 10
    assert "modellab registry keys DIR" in capsys.readouterr().err
