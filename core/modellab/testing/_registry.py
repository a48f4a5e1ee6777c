"""A signed local workset registry, driven through the real ``modellab registry`` commands.

Signing is offline: ``registry keys --signing`` makes a pinned signing key, so no test
reaches Sigstore or any other service. The TUF metadata is signed with keys made here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.testing._builders import make_workset
from modellab.testing._cli import cli

if TYPE_CHECKING:
    from modellab.registry import Release


@dataclass
class WorksetRegistry:
    """A registry folder plus the keys that publish into it.

    ``root`` holds everything: ``registry/`` (what a server would publish), ``keys/`` (the
    TUF keys), ``signing/`` (the pinned wheel-signing key), ``dist/`` (built wheels) and
    ``sources/`` (folders written by :meth:`workset`).
    """

    root: Path
    registry: Path
    keys: Path
    signing: Path
    #: The name the temporary home trusts this registry under.
    name: str = "local"

    @classmethod
    def create(cls, root: Path, *, name: str = "local") -> WorksetRegistry:
        """Make keys and an empty registry under ``root``, and trust it as ``name`` in the
        current ``MODELLAB_HOME``."""
        made = cls(root, root / "registry", root / "keys", root / "signing", name)
        cli("registry", "keys", str(made.keys))
        cli("registry", "keys", "--signing", str(made.signing))
        cli("registry", "init", str(made.registry), "--keys", str(made.keys))
        made.trust()
        return made

    def build_and_add(self, source: Path) -> Path:
        """Build the workset at ``source``, sign its wheel, add it to the index; the wheel."""
        # A fresh folder per build: the one wheel in it is this build's, whatever was
        # published before (two folders may share a name).
        builds = self.root / "dist"
        done = len(list(builds.iterdir())) if builds.is_dir() else 0
        dist = builds / f"{done:03d}-{source.name}"
        cli("registry", "build", str(source), "--out", str(dist))
        (wheel,) = dist.glob("*.whl")
        cli("registry", "sign", str(wheel), "--key", str(self.signing))
        cli(
            "registry",
            "add",
            *(str(self.registry), str(wheel)),
            *("--keys", str(self.keys), "--signing-key", str(self.signing)),
        )
        return wheel

    def publish(self, source: Path) -> Release:
        """Build, sign and add the workset at ``source``; its entry in the signed index
        (name, version, ``manifest_sha256`` for consent, the signer...)."""
        wheel = self.build_and_add(source)
        (release,) = [r for r in self.releases() if r.artifact == wheel.name]
        return release

    def releases(self) -> list[Release]:
        """Every release the signed index lists."""
        from modellab.registry import Index, RegistryRepository

        repository = RegistryRepository(self.registry, self.keys)
        index = Index.from_toml(repository.target_bytes("index.toml"), "index.toml")
        return list(index.releases)

    def trust(self, sigstore_root: Path | None = None) -> None:
        """Trust the registry (again) under :attr:`name`, optionally with a Sigstore root."""
        root = self.registry / "metadata" / "1.root.json"
        extra = ["--sigstore-root", str(sigstore_root)] if sigstore_root else []
        cli("worksets", "add-registry", self.name, str(self.registry), "--root", str(root), *extra)

    def workset(self, name: str = "hello", version: str = "0.1.0", **kwargs: object) -> Path:
        """Write a synthetic workset source folder (see :func:`make_workset`), publish it,
        and return the folder."""
        folder = self.root / "sources" / f"{name}-{version}"
        source = make_workset(folder, name, version, **kwargs)  # type: ignore[arg-type]
        self.publish(source)
        return source
