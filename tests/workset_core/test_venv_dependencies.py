"""A ``venv`` workset's own dependencies: installed into its environment by uv, from the
index the user's uv settings name (here a local folder, ``UV_NO_INDEX=1``), held to the
core's versions of anything the core also has; ``modellab`` itself never copied in."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from modellab.testing import WorksetRegistry, make_workset, run_modellab
from modellab.worksets._venv_deps import core_constraints, dependency_lines


def _wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A one-module wheel ``name`` whose module says its version."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def test_the_requirements_uv_gets_leave_out_the_core_and_extras() -> None:
    lines = dependency_lines(
        [
            "modellab>=0.1",
            "torch>=2.6",
            "Modellab",
            "unsloth ; extra == 'gpu'",
            "numpy; python_version>='3'",
        ]
    )
    assert lines == ["torch>=2.6", "numpy; python_version>='3'"]
    pins = core_constraints()
    assert "pydantic==" + __import__("pydantic").VERSION in pins
    assert not [p for p in pins if p.startswith("modellab==")]


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder uv installs from, and no index at all."""
    index = tmp_path / "index"
    _wheel(index, "tinydep", "1.2.0")
    _wheel(index, "needsoldpydantic", "1.0", ("pydantic<2",))
    _wheel(index, "pydantic", "1.10.0")  # an old pydantic, offered: it must not be taken
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(index))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    return index


def _publish(
    tmp_path: Path, name: str, dependencies: tuple[str, ...]
) -> tuple[WorksetRegistry, str]:
    registry = WorksetRegistry.create(tmp_path / f"registry-{name}")
    source = make_workset(
        tmp_path / "src",
        name,
        isolation="venv",
        dependencies=("modellab>=0.1", *dependencies),
        preamble="import tinydep\n" if "tinydep" in dependencies else "",
    )
    release = registry.publish(source)
    return registry, release.manifest_sha256


def test_a_venv_workset_gets_its_dependencies(local_index: Path, tmp_path: Path) -> None:
    registry, sha256 = _publish(tmp_path, "withdep", ("tinydep",))
    code, _, err = run_modellab(
        ["worksets", "install", "withdep", "--registry", registry.name, "--accept-manifest", sha256]
    )
    assert code == 0, err
    code, out, err = run_modellab(["withdep", "hi"])
    assert code == 0, err
    assert "hello from withdep" in out
    from modellab.settings import Settings

    venvs = list(Settings.from_env().worksets_dir.glob("withdep/*/venv"))
    assert len(venvs) == 1
    site = next(venvs[0].glob("lib/python*/site-packages"))
    assert (site / "tinydep.py").is_file()
    assert not list(site.glob("modellab-*.dist-info"))  # the core is never copied in


def test_a_dependency_that_needs_another_core_version_is_refused(
    local_index: Path, tmp_path: Path
) -> None:
    registry, sha256 = _publish(tmp_path, "olddep", ("needsoldpydantic",))
    code, _, err = run_modellab(
        ["worksets", "install", "olddep", "--registry", registry.name, "--accept-manifest", sha256]
    )
    assert code == 10, err
    assert "uv refused the install" in err and "pydantic" in err
    from modellab.settings import Settings

    assert not list(Settings.from_env().worksets_dir.glob("olddep/*"))
    code, out, _ = run_modellab(["worksets", "list", "--json"])
    assert "olddep" not in out
