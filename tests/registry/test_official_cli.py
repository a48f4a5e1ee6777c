"""A fresh install knows the official registry: list, info and install, in a fresh home.

Every command runs as a real ``python -m modellab`` process in the empty ``MODELLAB_HOME``
that ``tests/conftest.py`` makes for each test.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from modellab.testing import WorksetRegistry

REPO = Path(__file__).resolve().parents[2]
WORKSETS = sorted(
    p.name for p in (REPO / "worksets").iterdir() if p.is_dir() and p.name[0] not in "._"
)
TRUST = 10  # trust refused (core/modellab/cli/_exit.py)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modellab", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )


def _hint_lines(stderr: str) -> list[str]:
    """The lines of the ``hint:`` block (the first line and the indented ones after it)."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("hint: "))
    return [lines[start].removeprefix("hint: ")] + [
        line.strip() for line in lines[start + 1 :] if line.startswith("  ")
    ]


def test_list_available_shows_every_official_workset() -> None:
    result = _cli("worksets", "list", "--available", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["worksets"]}
    assert sorted(rows) == WORKSETS
    for row in rows.values():
        assert row["status"] == "official, not installed"
        assert row["registry"] == "official"
        assert row["isolation"] in {"shared", "venv"} and row["summary"]
        assert "modellab/modellab" in row["trust"] and "release.yml" in row["trust"]
    table = _cli("worksets", "list", "--available")
    assert table.returncode == 0
    assert "summary" in table.stdout.splitlines()[0]
    for name in WORKSETS:
        (line,) = [x for x in table.stdout.splitlines() if x.startswith(f"{name} ")]
        assert "official, not installed" in line and rows[name]["isolation"] in line


def test_plain_list_points_at_the_available_listing_not_at_itself() -> None:
    result = _cli("worksets", "list")
    assert result.returncode == 0
    assert "No worksets installed" in result.stdout
    assert "'modellab worksets list --available'" in result.stdout


def test_info_shows_the_full_manifest_before_any_install() -> None:
    result = _cli("worksets", "info", "observability")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("observability ") and "official, not installed" in out
    for label in ("license", "telemetry", "network", "data leaving", "raw sessions"):
        assert f"  {label} " in out, label
    assert "Apache-2.0" in out and "telemetry       off" in out
    as_json = json.loads(_cli("worksets", "info", "observability", "--json").stdout)
    assert as_json["manifest"]["privacy"]["telemetry"] == "off"
    assert as_json["manifest"]["privacy"]["network_egress"] == []
    assert as_json["registry"].startswith("official")
    assert not (Path(os.environ["MODELLAB_HOME"]) / "worksets").exists()


def test_info_of_an_unknown_name_names_the_official_ones() -> None:
    result = _cli("worksets", "info", "no-such-workset")
    assert result.returncode == 2
    assert "official worksets: " + ", ".join(WORKSETS) in result.stderr
    assert "worksets info" not in "\n".join(_hint_lines(result.stderr))


def test_install_from_the_official_index_says_no_signed_release_is_reachable() -> None:
    result = _cli("worksets", "install", "observability")
    assert result.returncode == TRUST
    first = result.stderr.splitlines()[0]
    assert first.startswith("modellab: error: observability ")
    assert "no signed release of the official registry" in first and "nothing was" in first
    hint = _hint_lines(result.stderr)
    # Hints never send the user back to the command that printed them.
    assert not any(h.removeprefix("modellab ") == "worksets install observability" for h in hint)
    assert any(h.startswith("modellab worksets add-registry local ") for h in hint)
    listed = json.loads(_cli("worksets", "list", "--json").stdout)["worksets"]
    assert listed == []  # nothing was installed or recorded


def test_the_install_hint_commands_work(tmp_path: Path) -> None:
    """Run the hint's commands (but the final, consenting install) as a user would."""
    hint = _hint_lines(_cli("worksets", "install", "observability").stderr)
    places = {
        "KEYS": tmp_path / "keys",
        "SIGNKEY": tmp_path / "signing",
        "REG": tmp_path / "reg",
        "DIST": tmp_path / "dist",
    }
    commands = [h for h in hint[1:] if h.startswith("modellab ")]
    assert commands[-1].startswith("modellab worksets install observability")
    script = " && ".join(commands[:-1])
    for word, path in places.items():
        script = script.replace(f"{word}/", f"{path}/").replace(f" {word}", f" {path}")
    modellab = shlex.quote(sys.executable) + " -m modellab"
    script = script.replace("modellab registry", f"{modellab} registry").replace(
        "modellab worksets", f"{modellab} worksets"
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(_cli("worksets", "info", "observability", "--json").stdout)
    assert (info["registry"], info["status"]) == ("local", "available")


@pytest.mark.slow
def test_a_trusted_registry_takes_precedence(tmp_path: Path) -> None:
    made = WorksetRegistry.create(tmp_path / "publishing")
    made.publish(REPO / "worksets" / "observability")
    rows = json.loads(_cli("worksets", "list", "--available", "--json").stdout)["worksets"]
    mine = [r for r in rows if r["name"] == "observability"]
    assert [(r["registry"], r["status"]) for r in mine] == [("local", "available")]
    info = json.loads(_cli("worksets", "info", "observability", "--json").stdout)
    assert info["registry"] == "local" and info["trust"].startswith("pinned key")
    # Naming the official registry still says what it lacks; the local one is untouched.
    refused = _cli("worksets", "install", "observability", "--registry", "official")
    assert refused.returncode == TRUST and "no signed release" in refused.stderr
