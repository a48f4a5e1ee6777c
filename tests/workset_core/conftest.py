"""Fixtures for workset installs: a real registry with real keys, and a clean import state."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modellab.cli import main
from workset_core.builders import make_workset


@dataclass
class Publisher:
    """A registry plus the keys to publish into it, driven through the real CLI."""

    root: Path
    registry: Path
    keys: Path
    signing: Path

    def publish(self, source: Path) -> Path:
        """Build, sign and add the workset at ``source``; returns the wheel."""
        dist = self.root / "dist" / source.parent.name
        assert main(["registry", "build", str(source), "--out", str(dist)]) == 0
        (wheel,) = dist.glob("*.whl")
        assert main(["registry", "sign", str(wheel), "--key", str(self.signing)]) == 0
        assert (
            main(
                [
                    "registry",
                    "add",
                    str(self.registry),
                    str(wheel),
                    "--keys",
                    str(self.keys),
                    "--signing-key",
                    str(self.signing),
                ]
            )
            == 0
        )
        return wheel

    def trust(self, sigstore_root: Path | None = None) -> None:
        """Trust the registry as ``local`` (again), optionally with a Sigstore root."""
        root = self.registry / "metadata" / "1.root.json"
        extra = ["--sigstore-root", str(sigstore_root)] if sigstore_root else []
        argv = ["worksets", "add-registry", "local", str(self.registry), "--root", str(root)]
        assert main([*argv, *extra]) == 0

    def workset(self, name: str = "hello", version: str = "0.1.0", **kwargs: object) -> Path:
        """Write a workset source folder and publish it."""
        folder = self.root / "sources" / f"{name}-{version}"
        source = make_workset(folder, name, version, **kwargs)  # type: ignore[arg-type]
        self.publish(source)
        return source


@pytest.fixture
def publisher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Publisher:
    """An empty registry, trusted under the name ``local``."""
    root = tmp_path / "publishing"
    pub = Publisher(root, root / "registry", root / "keys", root / "signing")
    assert main(["registry", "keys", str(pub.keys)]) == 0
    assert main(["registry", "keys", "--signing", str(pub.signing)]) == 0
    assert main(["registry", "init", str(pub.registry), "--keys", str(pub.keys)]) == 0
    pub.trust()
    capsys.readouterr()
    return pub


@pytest.fixture(autouse=True)
def forget_imported_worksets() -> Iterator[None]:
    """Workset code imported in-process by one test must not leak into the next."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.startswith("modellab_"):
            del sys.modules[name]
