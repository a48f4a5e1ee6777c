"""The attack matrix: a real python-tuf client against a mirror that misbehaves.

Each attack rewrites files in the registry folder, which is what both transports serve, and
must fail closed with a RegistryError that names it. Every test runs over a folder and over
a 127.0.0.1 HTTP server.
"""

from __future__ import annotations

import pytest
from securesystemslib.signer import CryptoSigner

from modellab.errors import RegistryError
from registry.tuf_helpers import (
    already_expired,
    load,
    release,
    resign_timestamp,
    role_signer,
    sha,
    write,
)


def publish_two_versions(registry):
    """Two index releases: timestamp, snapshot and targets all reach v3."""
    registry.publish_index(release())
    registry.publish_index(release(), release(version="0.2.0"))


# ---- rollback ------------------------------------------------------------------------------


def test_rollback_of_timestamp_is_refused(registry, make_client):
    registry.publish_index(release())
    old_timestamp = (registry.metadata / "timestamp.json").read_bytes()  # v2, validly signed
    make_client().refresh()
    registry.publish_index(release(), release(version="0.2.0"))
    make_client().refresh()  # this machine has now seen timestamp v3

    (registry.metadata / "timestamp.json").write_bytes(old_timestamp)  # the mirror replays v2
    with pytest.raises(RegistryError) as caught:
        make_client().refresh()
    message = str(caught.value)
    assert message.startswith("rollback attack refused: timestamp.json is older than metadata")
    assert "New timestamp version 2 must be >= 3" in message
    assert "keep the local cache" in (caught.value.hint or "")


def test_replay_to_a_brand_new_client_is_bounded_only_by_expiry(registry, make_client):
    # TUF's documented limit: a client with no history cannot know v2 is old. The short
    # timestamp expiry is what bounds this window, which is why it defaults to one day.
    registry.publish_index(release())
    old_timestamp = (registry.metadata / "timestamp.json").read_bytes()
    registry.publish_index(release(), release(version="0.2.0"))
    (registry.metadata / "timestamp.json").write_bytes(old_timestamp)
    assert make_client("new-machine").index().find("observability").version == "0.1.0"


def test_snapshot_rollback_with_a_stolen_timestamp_key_is_refused(registry, make_client):
    publish_two_versions(registry)
    make_client().refresh()  # saw snapshot v3
    # The attacker holds the online timestamp key and points a fresh timestamp at snapshot v2.
    resign_timestamp(
        registry,
        expires=load(registry.metadata / "timestamp.json").signed.expires,
        snapshot_version=2,
    )
    with pytest.raises(RegistryError) as caught:
        make_client().refresh()
    assert str(caught.value).startswith("rollback attack refused: timestamp.json")
    assert "New snapshot version must be >= 3, got version 2" in str(caught.value)


# ---- freeze --------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", ["seen-before", "new-machine"])
def test_freeze_with_an_expired_timestamp_is_refused(registry, make_client, cache):
    registry.publish_index(release())
    if cache == "seen-before":
        make_client(cache).refresh()
    # What a frozen mirror serves once the last timestamp it got has run out; signing one
    # that is already expired stands in for waiting (no sleeping in tests).
    resign_timestamp(registry, expires=already_expired())
    with pytest.raises(RegistryError) as caught:
        make_client(cache).index()
    assert str(caught.value).startswith(
        "freeze attack or stale registry refused: timestamp.json is expired"
    )
    assert "clock" in (caught.value.hint or "")


def test_expired_snapshot_is_refused(registry, make_client):
    registry.repo.resign()
    snapshot_path = registry.metadata / "2.snapshot.json"
    snapshot = load(snapshot_path)
    snapshot.signed.expires = already_expired()
    snapshot.sign(role_signer(registry, "snapshot"))
    write(snapshot, snapshot_path)
    with pytest.raises(RegistryError, match=r"freeze attack .*snapshot.json is expired"):
        make_client().refresh()


# ---- mix-and-match -------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "parent"), [("targets", "snapshot"), ("snapshot", "timestamp")])
def test_mix_and_match_is_refused(registry, make_client, role, parent):
    publish_two_versions(registry)
    # Old (validly signed) metadata served under the name the newer metadata asks for.
    old = (registry.metadata / f"2.{role}.json").read_bytes()
    (registry.metadata / f"3.{role}.json").write_bytes(old)
    with pytest.raises(RegistryError) as caught:
        make_client().refresh()
    assert str(caught.value).startswith(
        f"mix-and-match attack refused: the signed {parent} metadata names {role} v3, "
        f"but the mirror served {role} v2 as 3.{role}.json"
    )


# ---- tampering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d.replace(b'"shared"', b'"sharex"'), id="same-length"),
        pytest.param(lambda d: d.replace(b'"shared"', b'"venv"'), id="shorter"),
        pytest.param(lambda d: d + b'yanked = "no"\n', id="longer"),
    ],
)
def test_tampered_index_on_the_mirror_is_refused(registry, make_client, edit):
    data = registry.publish_index(release()).to_toml()
    (registry.path / "targets" / f"{sha(data)}.index.toml").write_bytes(edit(data))
    with pytest.raises(RegistryError) as caught:
        make_client().index()
    assert str(caught.value).startswith(
        "tampered file refused: index.toml does not match the length and sha256 signed"
    )


def test_tampered_wheel_on_the_mirror_is_refused(registry, make_client, tmp_path):
    entry = release()
    registry.publish_index(entry)
    wheel = registry.path / "targets" / f"{sha(entry.artifact.encode())}.{entry.artifact}"
    wheel.write_bytes(b"X" + wheel.read_bytes()[1:])
    with pytest.raises(RegistryError, match=f"tampered file refused: {entry.artifact}"):
        make_client().fetch(entry.artifact, tmp_path / "downloads")
    assert not (tmp_path / "downloads" / entry.artifact).exists()


# ---- unauthorised keys ---------------------------------------------------------------------


def test_targets_resigned_with_an_unauthorised_key_are_refused(registry, make_client):
    data = registry.publish_index(release()).to_toml()
    path = registry.metadata / "2.targets.json"
    targets = load(path)
    # The attacker points index.toml at their own bytes and signs with their own key.
    evil = data.replace(b'"shared"', b'"sharex"')
    targets.signed.targets["index.toml"].hashes = {"sha256": sha(evil)}
    targets.sign(CryptoSigner.generate_ed25519())
    write(targets, path)
    (registry.path / "targets" / f"{sha(evil)}.index.toml").write_bytes(evil)
    with pytest.raises(RegistryError) as caught:
        make_client().index()
    message = str(caught.value)
    assert message.startswith("unauthorised signature refused: 2.targets.json is not signed")
    assert "targets was signed by 0/1 keys" in message


def test_a_root_not_signed_by_the_old_root_is_refused(registry, make_client):
    root = load(registry.metadata / "1.root.json")
    attacker = CryptoSigner.generate_ed25519()
    old_key = root.signed.roles["root"].keyids[0]
    root.signed.revoke_key(old_key, "root")
    root.signed.add_key(attacker.public_key, "root")
    root.signed.version = 2
    root.sign(attacker)  # signed by the new key only
    write(root, registry.metadata / "2.root.json")
    with pytest.raises(RegistryError, match=r"unauthorised signature refused: 2.root.json"):
        make_client().refresh()


# ---- key rotation --------------------------------------------------------------------------


@pytest.mark.parametrize("cache", ["seen-before", "new-machine"])
def test_client_follows_a_root_key_rotation(registry, make_client, cache):
    registry.publish_index(release())
    if cache == "seen-before":
        assert make_client(cache).state().versions["root"] == 1
    registry.repo.rotate_keys(["root", "timestamp", "snapshot", "targets"])
    registry.publish_index(release(), release(version="0.2.0"))  # signed by the new keys only
    client = make_client(cache)  # still pins 1.root.json
    assert client.index().find("observability").version == "0.2.0"
    assert client.state().versions["root"] == 2


def test_metadata_signed_by_a_rotated_out_key_is_refused(registry, make_client):
    registry.publish_index(release())
    stale = (registry.metadata / "timestamp.json").read_bytes()  # signed by the old key
    registry.repo.rotate_keys(["timestamp"])
    make_client().refresh()
    (registry.metadata / "timestamp.json").write_bytes(stale)
    with pytest.raises(RegistryError, match=r"unauthorised signature refused: timestamp.json"):
        make_client("new-machine").refresh()
