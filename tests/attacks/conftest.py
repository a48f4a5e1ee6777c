"""Fixtures and helpers the attack tests share: a real, keyed, trusted local registry (from
tests/workset_core), forgetting workset modules imported in-process between tests, and
publishing a signed wheel the way a publisher with their own tools could, around
``registry add``'s checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from workset_core.conftest import Publisher, forget_imported_worksets, publisher

from modellab.errors import RegistryError
from modellab.registry import Index, PinnedKeySpec, RegistryRepository, Release
from modellab.trust import key_id_of

__all__ = ["forget_imported_worksets", "publish_unchecked", "publisher"]


def publish_unchecked(publisher: Publisher, name: str, wheel: Path, manifest: bytes) -> None:
    """Put a signed wheel and its manifest into the signed index, skipping ``registry add``.

    The index and the signature are real, so only the install's own checks stand between
    such a wheel and the user.
    """
    bundle = wheel.with_name(wheel.name + ".sigstore.json")
    public = (publisher.signing / "public.pem").read_bytes()
    key_id = key_id_of(public)
    release = Release(
        name=name,
        version="0.1.0",
        artifact=wheel.name,
        sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        size=wheel.stat().st_size,
        bundle=bundle.name,
        bundle_sha256=hashlib.sha256(bundle.read_bytes()).hexdigest(),
        manifest=f"{name}-0.1.0.workset.toml",
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        isolation="shared",
        signer=PinnedKeySpec(key_id=key_id),
    )
    repository = RegistryRepository(publisher.registry, publisher.keys)
    try:
        index = Index.from_toml(repository.target_bytes("index.toml"), "index.toml")
    except RegistryError:  # a registry nothing was published to yet
        index = Index(releases=())
    repository.add_targets(
        {
            "index.toml": index.add(release).to_toml(),
            wheel.name: wheel.read_bytes(),
            bundle.name: bundle.read_bytes(),
            release.manifest: manifest,
            f"{key_id}.pub.pem": public,
        }
    )
