"""Pinned-key bundles (model-signing key mode) for private registries, and their attacks."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modellab.errors import SignatureError
from modellab.trust import (
    PinnedKeySigner,
    TrustConfig,
    Verified,
    create_signing_key,
    key_id_of,
    sign_with_key,
    verify_artifact,
)

WHEEL = b"PK\x03\x04 private workset wheel"


@pytest.fixture
def publisher(tmp_path):
    """A publisher key pair, a signed wheel, and a trust config that pins the key."""
    key_id = create_signing_key(tmp_path / "publisher")
    wheel = tmp_path / "ws_private-1.0.0-py3-none-any.whl"
    wheel.write_bytes(WHEEL)
    bundle = tmp_path / "wheel.sigstore.json"
    assert sign_with_key(wheel, tmp_path / "publisher" / "private.pem", bundle) == key_id
    trust = TrustConfig(None, {key_id: tmp_path / "publisher" / "public.pem"})
    return key_id, wheel, bundle, trust


@pytest.fixture
def stranger(tmp_path):
    """Another key pair nobody pinned."""
    return create_signing_key(tmp_path / "stranger"), tmp_path / "stranger"


def _refused(wheel, bundle, signer, trust) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_artifact(wheel, bundle, signer, trust)
    return caught.value.message


def test_signed_wheel_verifies(publisher):
    key_id, wheel, bundle, trust = publisher
    verified = verify_artifact(wheel, bundle, PinnedKeySigner(key_id), trust)
    assert verified == Verified(
        hashlib.sha256(WHEEL).hexdigest(), PinnedKeySigner(key_id), "pinned-key"
    )


def test_tampered_artifact(publisher):
    key_id, wheel, bundle, trust = publisher
    wheel.write_bytes(WHEEL[:-1] + b"!")
    message = _refused(wheel, bundle, PinnedKeySigner(key_id), trust)
    assert "artifact digest mismatch" in message and "Hash mismatch" in message


def test_bundle_signed_by_another_key(publisher, stranger, tmp_path):
    key_id, wheel, bundle, trust = publisher
    stranger_id, stranger_dir = stranger
    sign_with_key(wheel, stranger_dir / "private.pem", bundle)
    message = _refused(wheel, bundle, PinnedKeySigner(key_id), trust)
    assert "key mismatch" in message and stranger_id in message and key_id in message


def test_unknown_key_id(publisher, stranger):
    _, wheel, bundle, trust = publisher
    stranger_id, stranger_dir = stranger
    sign_with_key(wheel, stranger_dir / "private.pem", bundle)
    message = _refused(wheel, bundle, PinnedKeySigner(stranger_id), trust)
    assert f"unknown key id {stranger_id}" in message


def test_swapped_public_key_file(publisher, stranger):
    # The configured file for key_id now holds the stranger's key (and he signed).
    key_id, wheel, bundle, _ = publisher
    stranger_id, stranger_dir = stranger
    sign_with_key(wheel, stranger_dir / "private.pem", bundle)
    _edit_hint(bundle, key_id)  # and he claims to be key_id
    swapped = TrustConfig(None, {key_id: stranger_dir / "public.pem"})
    message = _refused(wheel, bundle, PinnedKeySigner(key_id), swapped)
    assert "key mismatch" in message and stranger_id in message


def test_hint_lies_about_the_key(publisher, stranger):
    # The stranger signs and writes the pinned key's id as the hint: the signature fails.
    key_id, wheel, bundle, trust = publisher
    _, stranger_dir = stranger
    sign_with_key(wheel, stranger_dir / "private.pem", bundle)
    _edit_hint(bundle, key_id)
    message = _refused(wheel, bundle, PinnedKeySigner(key_id), trust)
    assert "signature does not verify with the pinned key" in message


def test_tampered_signature(publisher):
    key_id, wheel, bundle, trust = publisher
    data = json.loads(bundle.read_text())
    signature = bytearray(base64.b64decode(data["dsseEnvelope"]["signatures"][0]["sig"]))
    signature[-1] ^= 0x01
    data["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    bundle.write_text(json.dumps(data))
    assert "signature does not verify" in _refused(wheel, bundle, PinnedKeySigner(key_id), trust)


def test_bundle_without_a_key_hint(publisher):
    key_id, wheel, bundle, trust = publisher
    _edit_hint(bundle, "")
    assert "no public key hint" in _refused(wheel, bundle, PinnedKeySigner(key_id), trust)


@pytest.mark.parametrize("content", [b"{oops", b"null", b'{"mediaType": "x"}'])
def test_unusable_bundle_names_the_file(publisher, content):
    key_id, wheel, bundle, trust = publisher
    bundle.write_bytes(content)
    assert f"bundle {bundle}" in _refused(wheel, bundle, PinnedKeySigner(key_id), trust)


def test_key_mode_bundle_for_a_directory_is_not_a_file_signature(publisher, tmp_path):
    # model-signing can sign a whole directory; a release file's bundle must sign one file.
    key_id, wheel, bundle, trust = publisher
    release = tmp_path / "release"
    release.mkdir()
    (release / "a.txt").write_bytes(b"a")
    (release / "b.txt").write_bytes(b"b")
    import model_signing.signing

    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=tmp_path / "publisher" / "private.pem"
    ).sign(release, bundle)
    message = _refused(wheel, bundle, PinnedKeySigner(key_id), trust)
    assert f"bundle {bundle}" in message


def test_sign_with_key_refuses_unusable_keys(tmp_path):
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(WHEEL)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(SignatureError, match="cannot be loaded"):
        sign_with_key(wheel, encrypted, tmp_path / "b.json")
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SignatureError, match="ECDSA"):
        sign_with_key(wheel, rsa_key, tmp_path / "b.json")
    with pytest.raises(SignatureError, match="not a regular file"):
        sign_with_key(tmp_path / "missing.whl", rsa_key, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


def test_key_id_of_a_configured_key(publisher, tmp_path):
    key_id, *_ = publisher
    assert key_id_of((tmp_path / "publisher" / "public.pem").read_bytes()) == key_id


def _edit_hint(bundle, hint):
    data = json.loads(bundle.read_text())
    data["verificationMaterial"]["publicKey"]["hint"] = hint
    bundle.write_text(json.dumps(data))
