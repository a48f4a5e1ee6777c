"""A root held by several keys: every root version needs a threshold of them (2 of 3 here).

One stolen root key must not be enough to publish a new root, and one lost key must not
lock the registry: the client accepts a new root only with the threshold of signatures from
the old root's keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from modellab.cli import main
from modellab.errors import RegistryError
from modellab.registry import RegistryClient, RegistryRepository, create_keys
from modellab.registry._keys import load_root_extras, load_signers
from registry.tuf_helpers import Registry, load, release, serve, write


@pytest.fixture
def two_of_three(tmp_path: Path) -> Registry:
    keys = tmp_path / "keys"
    create_keys(keys, root_keys=3, root_threshold=2)
    repo = RegistryRepository(tmp_path / "registry", keys)
    repo.init()
    return Registry(tmp_path / "registry", keys, repo)


def _root_keys(registry: Registry) -> list[CryptoSigner]:
    return [load_signers(registry.keys_dir)["root"], *load_root_extras(registry.keys_dir)[0]]


def _client(registry: Registry, tmp_path: Path, location: str | None = None) -> RegistryClient:
    return RegistryClient(location or str(registry.path), registry.trusted_root, tmp_path / "cache")


def test_the_root_names_three_keys_and_needs_two(two_of_three: Registry, tmp_path: Path):
    root = load(two_of_three.metadata / "1.root.json")
    role = root.signed.roles["root"]
    assert role.threshold == 2 and len(role.keyids) == 3
    assert set(root.signatures) == set(role.keyids)  # v1 is signed by all three
    two_of_three.publish_index(release())
    with serve(two_of_three.path) as url:
        assert _client(two_of_three, tmp_path, url).index().find("observability")


def _root_v2(registry: Registry, signers: list[CryptoSigner]) -> None:
    root = load(registry.metadata / "1.root.json")
    root.signed.version = 2
    root.signatures.clear()
    for signer in signers:
        root.sign(signer, append=True)
    write(root, registry.metadata / "2.root.json")


def test_one_stolen_root_key_cannot_publish_a_root(two_of_three: Registry, tmp_path: Path):
    _root_v2(two_of_three, _root_keys(two_of_three)[:1])
    with pytest.raises(RegistryError, match=r"2\.root\.json"):
        _client(two_of_three, tmp_path).refresh()


def test_two_root_keys_can(two_of_three: Registry, tmp_path: Path):
    first, _, third = _root_keys(two_of_three)
    _root_v2(two_of_three, [first, third])
    client = _client(two_of_three, tmp_path)
    client.refresh()
    assert client.state().versions["root"] == 2


def test_rotation_keeps_the_threshold(two_of_three: Registry, tmp_path: Path):
    two_of_three.publish_index(release())
    two_of_three.repo.rotate_keys(["root", "targets"])
    root = load(two_of_three.metadata / "2.root.json")
    assert root.signed.roles["root"].threshold == 2 and len(root.signed.roles["root"].keyids) == 3
    two_of_three.publish_index(release(), release(version="0.2.0"))
    client = _client(two_of_three, tmp_path)
    assert client.index().find("observability").version == "0.2.0"
    # The extra root keys survived the rotation's rewrite of keys.json.
    assert len(json.loads((two_of_three.keys_dir / "keys.json").read_text())["root_extra"]) == 2


def test_the_cli_makes_and_refuses_thresholds(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    keys = tmp_path / "k"
    assert main(["registry", "keys", str(keys), "--root-keys", "3", "--root-threshold", "4"]) == 10
    assert "between 1 and the number of root keys (3)" in capsys.readouterr().err
    assert not keys.exists()
    assert main(["registry", "keys", str(keys), "--root-keys", "3", "--root-threshold", "2"]) == 0
    assert "needs 2 of them" in capsys.readouterr().out
    assert sorted(p.name for p in keys.glob("root*.pem")) == [
        "root-2.pem",
        "root-3.pem",
        "root.pem",
    ]
    registry = tmp_path / "registry"
    assert main(["registry", "init", str(registry), "--keys", str(keys)]) == 0
    assert load(registry / "metadata" / "1.root.json").signed.roles["root"].threshold == 2
    (keys / "root-3.pem").unlink()
    assert main(["registry", "keys", str(keys)]) == 10  # never overwrites
    other = tmp_path / "r2"
    assert main(["registry", "init", str(other), "--keys", str(keys)]) == 10
    assert "root-3.pem: private key missing" in capsys.readouterr().err
