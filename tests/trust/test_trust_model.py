"""Pinned signers, trust configuration and key ids: validation and descriptions."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import modellab.trust as trust
from modellab.errors import SignatureError
from modellab.trust import (
    KeylessSigner,
    PinnedKeySigner,
    TrustConfig,
    create_signing_key,
    key_id_of,
)

GITHUB = "https://token.actions.githubusercontent.com"
REPO = "https://github.com/acme/ws-hf"


def test_public_api_is_exactly_the_documented_names():
    assert sorted(trust.__all__) == sorted(
        [
            "KeylessSigner",
            "PinnedKeySigner",
            "Signer",
            "TrustConfig",
            "Verified",
            "create_signing_key",
            "key_id_of",
            "production_trusted_root",
            "sign_with_key",
            "verify_artifact",
            "verify_pep740",
        ]
    )
    for name in trust.__all__:
        assert getattr(trust, name) is not None


def test_keyless_description_is_one_line():
    signer = KeylessSigner(GITHUB, REPO, workflow=f"{REPO}/.github/workflows/release.yml")
    text = signer.describe()
    assert "\n" not in text
    assert REPO in text and "workflow .github/workflows/release.yml" in text and GITHUB in text
    email = KeylessSigner("https://accounts.example.org", "", identity="dev@example.org")
    assert "identity dev@example.org" in email.describe()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"issuer": "", "repository": REPO}, "issuer"),
        ({"issuer": GITHUB, "repository": ""}, "repository"),
        ({"issuer": GITHUB, "repository": REPO, "workflow": f"{REPO}/w.yml@refs/tags/v1"}, "@ref"),
        ({"issuer": GITHUB, "repository": REPO, "workflow": ""}, "workflow"),
        ({"issuer": GITHUB, "repository": REPO, "identity": ""}, "identity"),
    ],
)
def test_keyless_signer_refuses_a_pin_that_pins_nothing(kwargs, needle):
    with pytest.raises(SignatureError, match=needle):
        KeylessSigner(**kwargs)


@pytest.mark.parametrize("key_id", ["", "abc", "A" * 64, "g" * 64, "0" * 63])
def test_pinned_key_ids_are_64_lowercase_hex(key_id):
    with pytest.raises(SignatureError, match="invalid key id"):
        PinnedKeySigner(key_id)
    with pytest.raises(SignatureError, match="invalid key id"):
        TrustConfig(None, {key_id: "key.pem"})


def test_trust_config_keeps_its_own_copy_of_the_keys(tmp_path):
    keys = {"0" * 64: tmp_path / "a.pem"}
    config = TrustConfig(None, keys)
    keys["1" * 64] = tmp_path / "b.pem"
    assert list(config.public_keys) == ["0" * 64]
    with pytest.raises(TypeError):
        config.public_keys["1" * 64] = tmp_path / "b.pem"  # type: ignore[index]


def test_create_signing_key_writes_a_private_pair_and_never_overwrites(tmp_path):
    directory = tmp_path / "keys"
    key_id = create_signing_key(directory)
    private, public = directory / "private.pem", directory / "public.pem"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert key_id == key_id_of(public.read_bytes())
    assert PinnedKeySigner(key_id).key_id == key_id
    loaded = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp256r1"

    before = (private.read_bytes(), public.read_bytes())
    with pytest.raises(SignatureError, match="refusing to overwrite"):
        create_signing_key(directory)
    assert (private.read_bytes(), public.read_bytes()) == before
    public.unlink()  # half a pair left: still refused, the private key survives
    with pytest.raises(SignatureError, match="refusing to overwrite"):
        create_signing_key(directory)
    assert private.read_bytes() == before[0]


def test_key_id_ignores_pem_formatting(tmp_path):
    create_signing_key(tmp_path)
    pem = (tmp_path / "public.pem").read_bytes()
    crlf = b"a comment line\r\n" + pem.replace(b"\n", b"\r\n")
    assert key_id_of(crlf) == key_id_of(pem)


def test_key_id_matches_model_signing_hint(tmp_path):
    import json

    from modellab.trust import sign_with_key

    key_id = create_signing_key(tmp_path / "k")
    artifact = tmp_path / "ws-1.0-py3-none-any.whl"
    artifact.write_bytes(b"wheel")
    assert sign_with_key(artifact, tmp_path / "k" / "private.pem", tmp_path / "b.json") == key_id
    bundle = json.loads((tmp_path / "b.json").read_text())
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == key_id


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(65537, 2048).public_key(),
        lambda: ed25519.Ed25519PrivateKey.generate().public_key(),
        lambda: ec.generate_private_key(ec.SECP256K1()).public_key(),
    ],
    ids=["rsa", "ed25519", "secp256k1"],
)
def test_key_id_refuses_keys_model_signing_cannot_verify(make):
    pem = make().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(SignatureError, match="P-256"):
        key_id_of(pem)


def test_key_id_refuses_garbage():
    with pytest.raises(SignatureError, match="not a PEM public key"):
        key_id_of(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
