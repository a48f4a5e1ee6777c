"""The user side over a folder and over loopback HTTP: refresh, index, fetch, cache."""

from __future__ import annotations

import pytest

from modellab.errors import RegistryError
from modellab.registry import RegistryClient
from registry.tuf_helpers import release, serve


def test_index_and_fetch_return_verified_files(registry, make_client, tmp_path):
    published = registry.publish_index(release(), release("finetune", version="2.0"))
    client = make_client()
    assert client.index() == published
    entry = client.index().find("observability")
    path = client.fetch(entry.artifact, tmp_path / "downloads")
    assert path == tmp_path / "downloads" / entry.artifact
    assert path.read_bytes() == entry.artifact.encode()


def test_state_reports_what_was_verified(registry, make_client):
    registry.publish_index(release())
    client = make_client()
    client.refresh()
    state = client.state()
    assert state.versions == {"root": 1, "timestamp": 2, "snapshot": 2, "targets": 2}
    assert sorted(state.targets) == ["index.toml", release().artifact]
    assert state.expires["timestamp"] < state.expires["root"]


def test_a_returning_client_sees_new_releases(registry, make_client):
    registry.publish_index(release())
    assert make_client().index().names() == ["observability"]
    registry.publish_index(release(), release("finetune"))
    again = make_client()  # same cache: the machine that ran before
    assert again.index().names() == ["finetune", "observability"]
    assert again.state().versions["timestamp"] == 3


def test_refresh_can_be_called_again_on_one_client(registry, make_client):
    registry.publish_index(release())
    client = make_client()
    client.refresh()
    registry.publish_index(release(), release(version="0.2.0"))
    client.refresh()
    assert client.index().find("observability").version == "0.2.0"


def test_cached_target_is_reused_and_rechecked(registry, make_client, tmp_path):
    registry.publish_index(release())
    make_client().index()
    cached = tmp_path / "cache" / "targets" / "index.toml"
    assert cached.exists()
    cached.write_bytes(b"format_version = 1\n")  # another process scribbles on the cache
    # The stale copy fails its hash, so the client downloads the signed one again.
    assert make_client().index().names() == ["observability"]


def test_unknown_target_lists_what_exists(registry, make_client, tmp_path):
    registry.publish_index(release())
    with pytest.raises(RegistryError, match=r"no file named 'nope.whl'; it has: index.toml"):
        make_client().fetch("nope.whl", tmp_path)
    with pytest.raises(RegistryError, match=r"cannot fetch '../x' is not a plain file name"):
        make_client().fetch("../x", tmp_path)


def test_empty_registry_has_no_index(registry, make_client):
    with pytest.raises(RegistryError, match=r"no file named 'index.toml'"):
        make_client().index()


def test_missing_metadata_on_the_mirror_is_a_download_failure(registry, make_client):
    (registry.metadata / "timestamp.json").unlink()
    with pytest.raises(RegistryError, match=r"could not download timestamp.json .*HTTP 404"):
        make_client().refresh()


def test_an_unreachable_server_is_a_download_failure(registry, tmp_path):
    with serve(registry.path) as url:
        pass  # closed again: nothing listens on that port now
    client = RegistryClient(url, registry.trusted_root, tmp_path / "cache")
    with pytest.raises(RegistryError, match=f"could not download 2.root.json from {url}"):
        client.refresh()


def test_trusted_root_must_be_root_metadata(registry, tmp_path):
    not_root = (registry.metadata / "timestamp.json").read_bytes()
    for bad in (b"{}", b"not json", not_root):
        with pytest.raises(RegistryError, match=r"the trusted root is not valid TUF root metadata"):
            RegistryClient(str(registry.path), bad, tmp_path / "cache").refresh()


@pytest.mark.parametrize(
    ("location", "expected"),
    [("ftp://mirror/registry", "unsupported registry location"), ("/no/such", "no registry")],
)
def test_bad_locations(location, expected, tmp_path):
    with pytest.raises(RegistryError, match=expected):
        RegistryClient(location, b"{}", tmp_path / "cache")
