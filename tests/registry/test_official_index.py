"""The official index (``registry/index.toml`` and its shipped copy) against ``worksets/``.

The wheels are rebuilt from the sources: the index must pin exactly their bytes, and a
change to a workset's source without ``tools/official_index.py --write`` fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from modellab.errors import RegistryError
from modellab.registry._official import OFFICIAL_SIGNER, OfficialIndex, official_offers
from modellab.worksets._build import build_wheel

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "official_index.py"
INDEX = REPO / "registry" / "index.toml"
SHIPPED = REPO / "core" / "modellab" / "registry" / "official"


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *argv], capture_output=True, text=True, timeout=120
    )


def test_the_index_matches_what_the_sources_build() -> None:
    result = _tool("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches worksets/" in result.stdout


def test_every_workset_folder_is_listed_once_with_the_official_signer() -> None:
    # Every folder, not only those with a pyproject.toml: one the tool cannot build fails.
    folders = sorted(
        p.name for p in (REPO / "worksets").iterdir() if p.is_dir() and p.name[0] not in "._"
    )
    assert folders, "no workset under worksets/"
    index = OfficialIndex.from_toml(INDEX.read_bytes(), str(INDEX))
    assert sorted(r.name for r in index.releases) == folders
    for release in index.releases:
        assert release.signer == OFFICIAL_SIGNER
        assert release.artifact.endswith("-py3-none-any.whl") and release.size > 0


def test_the_shipped_copy_is_the_repository_index() -> None:
    shipped = sorted(p.name for p in SHIPPED.glob("*.toml"))
    assert shipped == sorted(p.name for p in INDEX.parent.glob("*.toml"))
    for name in shipped:
        assert (SHIPPED / name).read_bytes() == (INDEX.parent / name).read_bytes(), name
    # And the installed core reads it: one offer per listed workset, manifests checked.
    listed = tomllib.loads(INDEX.read_text("utf-8"))["release"]
    assert [o.release.name for o in official_offers()] == sorted(r["name"] for r in listed)


def _copy_checkout(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".*", "*.pyc")
    shutil.copytree(REPO / "worksets", target / "worksets", ignore=ignore)
    shutil.copytree(INDEX.parent, target / "registry")
    shutil.copytree(SHIPPED, target / "core" / "modellab" / "registry" / "official")
    return target


def test_a_changed_source_fails_the_check_until_rewritten(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path / "checkout")
    plugin = next((root / "worksets").glob("*/src/*/plugin.py"))
    plugin.write_text(plugin.read_text("utf-8") + "\n# changed\n", "utf-8")
    stale = _tool("--check", "--root", str(root))
    assert stale.returncode == 1
    assert "registry/index.toml: differs from what worksets/ builds" in stale.stdout
    assert "core/modellab/registry/official/index.toml: differs" in stale.stdout
    assert _tool("--write", "--root", str(root)).returncode == 0
    assert _tool("--check", "--root", str(root)).returncode == 0
    # The repository's own index was not touched by either run.
    assert _tool("--check").returncode == 0


def test_a_removed_workset_is_reported_as_not_listed_any_more(tmp_path: Path) -> None:
    root = _copy_checkout(tmp_path / "checkout")
    (root / "registry" / "stale-9.9.9.workset.toml").write_text("x", "utf-8")
    result = _tool("--check", "--root", str(root))
    assert result.returncode == 1
    assert "registry/stale-9.9.9.workset.toml: not in the official index any more" in (
        result.stdout
    )


def test_builds_are_byte_identical_whatever_the_mtimes_and_modes(tmp_path: Path) -> None:
    index = OfficialIndex.from_toml(INDEX.read_bytes(), str(INDEX))
    pinned = {r.name: r.sha256 for r in index.releases}
    for source in sorted((REPO / "worksets").glob("*/pyproject.toml")):
        first = build_wheel(source.parent, tmp_path / "a" / source.parent.name)
        # A second checkout of the same files, made at another time with other modes.
        copy = tmp_path / "copy" / source.parent.name
        shutil.copytree(source.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for path in copy.rglob("*"):
            if path.is_file():
                path.chmod(0o600)
                os.utime(path, (1_900_000_000, 1_900_000_000))
        second = build_wheel(copy, tmp_path / "b" / source.parent.name)
        assert first.path.read_bytes() == second.path.read_bytes()
        assert first.sha256 == second.sha256 == pinned[first.workset]


def test_an_index_naming_another_signer_is_refused() -> None:
    data = INDEX.read_text("utf-8").replace(
        'repository = "https://github.com/modellab/modellab"',
        'repository = "https://github.com/someone/else"',
    )
    with pytest.raises(RegistryError, match=r"release\[0\]\.signer: is not the project's"):
        OfficialIndex.from_toml(data.encode(), "index.toml")
