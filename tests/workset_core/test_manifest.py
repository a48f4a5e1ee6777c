"""``workset.toml`` validation: every bad field is named."""

from __future__ import annotations

import hashlib

import pytest

from modellab.errors import ManifestError
from modellab.worksets import load_manifest
from workset_core.builders import MANIFEST


def _manifest(**replace: str) -> bytes:
    text = MANIFEST.format(name="hello", version="0.1.0", isolation="shared", command="hello")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode()


def test_a_valid_manifest_parses_and_is_hashed():
    data = _manifest()
    manifest, digest = load_manifest(data, "workset.toml")
    assert (manifest.name, manifest.version) == ("hello", "0.1.0")
    assert manifest.privacy.telemetry == "off" and manifest.requirements.isolation == "shared"
    assert [c.name for c in manifest.commands] == ["hello"]
    assert digest == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('name = "hello"\n', "", "workset.name: Field required"),
        ('name = "hello"', 'name = "Hello World"', "workset.name: String should match"),
        ('version = "0.1.0"', 'version = "latest"', "workset.version"),
        ('telemetry = "off"', 'telemetry = "always"', "privacy.telemetry"),
        ('isolation = "shared"', 'isolation = "docker"', "requirements.isolation"),
        ('gpu = "none"', 'gpu = "lots"', "requirements.gpu"),
        ('implements = ["modellab_run_command"]', 'implements = ["steal"]', "unknown hook"),
        ('license = "Apache-2.0"', 'license = "Apache-2.0"\nhomepage = "x"', "workset.homepage"),
        (
            "network_egress = []",
            'network_egress = [{host = "api.example.com"}]',
            "privacy.network_egress[0].commands",
        ),
    ],
)
def test_bad_fields_are_named(old, new, field):
    with pytest.raises(ManifestError, match=r"workset\.toml: ") as caught:
        load_manifest(_manifest(**{old: new}), "workset.toml")
    assert field in caught.value.message


def test_not_toml_is_refused():
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(b"[workset\n", "x/workset.toml")
