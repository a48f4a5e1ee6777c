"""The maintainer side: keys, init, publishing targets, re-signing, rotation, verify()."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from modellab.errors import RegistryError
from modellab.registry import Index, RegistryRepository, create_keys
from registry.tuf_helpers import (
    already_expired,
    load,
    make_registry,
    release,
    resign_timestamp,
    sha,
)


def test_create_keys_writes_private_pems_and_ids(tmp_path):
    key_ids = create_keys(tmp_path / "keys")
    assert sorted(key_ids) == ["root", "snapshot", "targets", "timestamp"]
    assert len(set(key_ids.values())) == 4  # one key per role
    assert json.loads((tmp_path / "keys" / "keys.json").read_text()) == key_ids
    for role in key_ids:
        pem = tmp_path / "keys" / f"{role}.pem"
        assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_create_keys_never_overwrites(tmp_path):
    first = create_keys(tmp_path / "keys")
    with pytest.raises(RegistryError, match=r"already holds registry keys"):
        create_keys(tmp_path / "keys")
    assert json.loads((tmp_path / "keys" / "keys.json").read_text()) == first


def test_init_writes_version_one_of_every_role(registry):
    names = sorted(p.name for p in registry.metadata.iterdir())
    assert names == ["1.root.json", "1.snapshot.json", "1.targets.json", "timestamp.json"]
    root = load(registry.metadata / "1.root.json").signed
    assert root.consistent_snapshot is True
    assert {role: r.threshold for role, r in root.roles.items()} == {
        "root": 1,
        "snapshot": 1,
        "targets": 1,
        "timestamp": 1,
    }
    assert load(registry.metadata / "1.targets.json").signed.targets == {}


def test_init_refuses_an_initialised_registry(registry):
    with pytest.raises(RegistryError, match=r"already holds registry metadata"):
        registry.repo.init()


def test_init_needs_keys(tmp_path):
    with pytest.raises(RegistryError, match=r"keys.json is missing") as caught:
        RegistryRepository(tmp_path / "r", tmp_path / "no-keys").init()
    assert caught.value.hint == "create them first: modellab registry keys DIR"


def test_add_targets_writes_hash_named_files_and_bumps_versions(registry):
    index = registry.publish_index(release())
    data = index.to_toml()
    assert (registry.path / "targets" / f"{sha(data)}.index.toml").read_bytes() == data
    assert registry.repo.target_bytes("index.toml") == data
    assert registry.repo.target_names() == ["index.toml", release().artifact]
    assert load(registry.metadata / "2.targets.json").signed.targets["index.toml"].length == len(
        data
    )
    assert load(registry.metadata / "2.snapshot.json").signed.meta["targets.json"].version == 2
    timestamp = load(registry.metadata / "timestamp.json").signed
    assert (timestamp.version, timestamp.snapshot_meta.version) == (2, 2)


def test_replacing_a_target_keeps_the_old_file_for_clients_mid_update(registry):
    first = registry.publish_index(release()).to_toml()
    second = registry.publish_index(release(), release(version="0.2.0")).to_toml()
    assert registry.repo.target_bytes("index.toml") == second
    assert (registry.path / "targets" / f"{sha(first)}.index.toml").exists()


@pytest.mark.parametrize("name", ["../escape", "sub/dir.toml", ".hidden", "", "index.toml\n"])
def test_add_targets_refuses_unsafe_names(registry, name):
    with pytest.raises(RegistryError, match=r"add_targets: .* is not a plain file name"):
        registry.repo.add_targets({name: b"x"})


def test_target_bytes_catches_a_changed_file(registry):
    data = registry.publish_index(release()).to_toml()
    (registry.path / "targets" / f"{sha(data)}.index.toml").write_bytes(data.upper())
    with pytest.raises(RegistryError, match=r"does not match its signed hash"):
        registry.repo.target_bytes("index.toml")
    with pytest.raises(RegistryError, match=r"has no target named 'nope.whl'"):
        registry.repo.target_bytes("nope.whl")


def test_resign_bumps_and_renews(registry):
    registry.repo.resign(expires_days={"timestamp": 2})
    timestamp = load(registry.metadata / "timestamp.json").signed
    assert timestamp.version == 2
    assert (registry.metadata / "2.targets.json").exists()


@pytest.mark.parametrize(
    ("days", "expected"),
    [({"timestamp": 0}, "whole number of days >= 1"), ({"mirror": 3}, "unknown role 'mirror'")],
)
def test_expiry_overrides_are_checked(registry, days, expected):
    with pytest.raises(RegistryError, match=expected):
        registry.repo.resign(expires_days=days)


def test_keys_of_another_registry_are_refused(registry, tmp_path):
    create_keys(tmp_path / "other-keys")
    stranger = RegistryRepository(registry.path, tmp_path / "other-keys")
    with pytest.raises(RegistryError, match=r"is not one the registry's root .* authorises"):
        stranger.resign()


def test_a_swapped_private_key_is_caught(registry):
    (registry.keys_dir / "targets.pem").write_bytes((registry.keys_dir / "root.pem").read_bytes())
    with pytest.raises(RegistryError, match=r"is not the targets key"):
        registry.repo.resign()


def test_verify_reports_every_role_and_target(registry):
    registry.publish_index(release())
    lines = registry.repo.verify()
    assert lines[0].startswith("root: v1, chain from 1.root.json, signatures ok, expires ")
    assert lines[1].startswith("timestamp: v2, signatures ok")
    assert "targets listed: 2" in lines
    assert any(line.startswith("target index.toml: ") for line in lines)
    assert lines[-1].endswith("length and sha256 ok")


def test_verify_catches_a_tampered_target(registry):
    data = registry.publish_index(release()).to_toml()
    (registry.path / "targets" / f"{sha(data)}.index.toml").write_bytes(data[:-1] + b"#")
    with pytest.raises(RegistryError, match=r"tampered file refused: index.toml"):
        registry.repo.verify()


def test_verify_catches_an_expired_timestamp(registry):
    resign_timestamp(registry, expires=already_expired())
    with pytest.raises(RegistryError, match=r"freeze attack or stale registry refused"):
        registry.repo.verify()


def test_verify_needs_a_registry(tmp_path):
    create_keys(tmp_path / "keys")
    with pytest.raises(RegistryError, match=r"is not an initialised registry"):
        RegistryRepository(tmp_path / "nothing", tmp_path / "keys").verify()


def test_rotation_retires_old_keys_and_verifies(tmp_path):
    registry = make_registry(tmp_path)
    before = json.loads((registry.keys_dir / "keys.json").read_text())
    rotated = registry.repo.rotate_keys(["root", "targets"])
    after = json.loads((registry.keys_dir / "keys.json").read_text())
    assert after["root"] == rotated["root"] != before["root"]
    assert after["timestamp"] == before["timestamp"]
    assert (registry.keys_dir / "retired" / f"root-{before['root']}.pem").exists()
    assert not (registry.keys_dir / "pending").exists()
    new_root = load(registry.metadata / "2.root.json")
    assert len(new_root.signatures) == 2  # the old root key and the new one
    assert registry.repo.verify()[0].startswith("root: v2, chain from 1.root.json")


def test_rotation_with_no_roles_renews_root(registry):
    assert registry.repo.rotate_keys() == {}
    assert load(registry.metadata / "2.root.json").signed.version == 2
    with pytest.raises(RegistryError, match=r"unknown role"):
        registry.repo.rotate_keys(["mirror"])


def test_importing_the_package_does_not_import_tuf():
    code = (
        "import sys, modellab.registry as r\n"
        "r.Index.from_toml(b'format_version = 1', 'x')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tuf', 'securesystemslib')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_index_round_trips_through_the_registry(registry):
    index = registry.publish_index(release(), release("finetune", version="1.0"))
    assert Index.from_toml(registry.repo.target_bytes("index.toml"), "index.toml") == index


def test_package_exports_only_real_public_names():
    import modellab.registry as package

    assert len(package.__all__) == len(set(package.__all__))
    for name in package.__all__:
        assert getattr(package, name) is not None and not name.startswith("_")
