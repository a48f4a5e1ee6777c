"""The observability workset as a package: its manifest, versions, entry point, and what
importing it costs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import modellab_observability
from modellab_observability.plugin import COMMAND, plugin

from modellab.testing import cli

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def manifest_bytes() -> bytes:
    # Read the way the core will: a data file inside the package, not through its code.
    return (resources.files("modellab_observability") / "workset.toml").read_bytes()


def test_manifest_ships_inside_the_package_and_agrees_with_pyproject():
    manifest = tomllib.loads(manifest_bytes().decode("utf-8"))
    project = pyproject()["project"]
    assert manifest["workset"]["name"] == "observability"
    assert manifest["workset"]["version"] == project["version"] == "0.1.0"
    assert not hasattr(modellab_observability, "__version__")  # pyproject is the one place
    assert manifest["workset"]["license"] == project["license"] == "Apache-2.0"
    # requirements.python is the wheel's Requires-Dist, exactly (the install refuses otherwise).
    assert manifest["requirements"]["python"] == project["dependencies"]
    assert "matplotlib>=3.9" in manifest["requirements"]["python"]
    assert manifest["privacy"] == {
        "telemetry": "off",
        "data_leaves_machine": [],
        "network_egress": [],
        "reads_catalog": True,  # it reads sessions: it only ever runs with no network
    }
    assert manifest["hooks"]["implements"] == ["modellab_run_command"]
    assert [c["name"] for c in manifest["commands"]] == [COMMAND]


def test_the_project_passes_the_cores_check():
    # `modellab worksets check` validates the manifest as install will, without our code.
    out = cli("worksets", "check", str(PACKAGE_ROOT))
    assert out.strip() == f"{PACKAGE_ROOT}: no problems."


def test_entry_point_names_the_plugin_object():
    entry_points = pyproject()["project"]["entry-points"]["modellab.worksets"]
    assert entry_points == {"observability": "modellab_observability.plugin:plugin"}
    module_name, attribute = entry_points["observability"].split(":")
    module = sys.modules[module_name]
    assert getattr(module, attribute) is plugin
    wheel = pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["src/modellab_observability"]


def test_importing_the_plugin_loads_neither_the_command_nor_matplotlib():
    source = str(PACKAGE_ROOT / "src")
    probe = (
        f"import sys; sys.path.insert(0, {source!r})\n"
        "import modellab_observability.plugin\n"
        "assert 'modellab_observability.cli' not in sys.modules\n"
        "import modellab_observability.cli\n"
        "assert 'matplotlib' not in sys.modules, 'only --chart may import matplotlib'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
