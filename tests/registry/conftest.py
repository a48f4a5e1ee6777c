"""Fixtures: a fresh signed registry per test, reachable as a folder or over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modellab.registry import RegistryClient
from registry.tuf_helpers import Registry, make_registry, serve


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """An initialised registry (v1 of every role, no targets) and its keys."""
    return make_registry(tmp_path)


@pytest.fixture(params=["dir", "http"])
def location(request: pytest.FixtureRequest, registry: Registry) -> Iterator[str]:
    """Where a client finds ``registry``: its folder, or a 127.0.0.1 server over it."""
    if request.param == "dir":
        yield str(registry.path)
    else:
        with serve(registry.path) as url:
            yield url


@pytest.fixture
def make_client(registry: Registry, location: str, tmp_path: Path) -> Callable[..., RegistryClient]:
    """Build clients that pin ``1.root.json``; one cache name is one user's machine."""

    def build(cache: str = "cache") -> RegistryClient:
        return RegistryClient(location, registry.trusted_root, tmp_path / cache)

    return build
