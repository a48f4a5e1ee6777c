"""Pinned-key bundles: interoperability with model-signing, and a strict reading of the format.

Model Lab reads and writes model-signing's key-mode bundles with its own code (importing
model-signing would cost most of an install). model-signing itself is the oracle here: it
must verify what ``sign_with_key`` writes, and what it writes must verify here.

The attacks below re-sign their payload with the pinned key itself (a publisher's CI gone
wrong, or a stolen key used carelessly), so the signature check cannot be what stops them:
only the reading of the signed statement can.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
IN_TOTO = "application/vnd.in-toto+json"
CURVES = {
    "P-256": (ec.SECP256R1(), hashes.SHA256()),
    "P-384": (ec.SECP384R1(), hashes.SHA384()),
    "P-521": (ec.SECP521R1(), hashes.SHA512()),
}


class Release:
    """A wheel, its pinned-key bundle, the key pair and the trust config pinning it."""

    def __init__(self, root: Path, curve: str = "P-256") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.private_pem = root / "private.pem"
        self.public_pem = root / "public.pem"
        key = ec.generate_private_key(CURVES[curve][0])
        self.key = key
        self.hash = CURVES[curve][1]
        self.private_pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.public_pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.key_id = key_id_of(self.public_pem.read_bytes())
        self.wheel = root / "ws_private-1.0.0-py3-none-any.whl"
        self.wheel.write_bytes(WHEEL)
        self.bundle = root / "wheel.sigstore.json"
        self.trust = TrustConfig(None, {self.key_id: self.public_pem})
        self.signer = PinnedKeySigner(self.key_id)

    def verify(self) -> Verified:
        return verify_artifact(self.wheel, self.bundle, self.signer, self.trust)

    def refused(self) -> str:
        with pytest.raises(SignatureError) as caught:
            self.verify()
        return caught.value.message

    def model_signing_verifies(self) -> None:
        import model_signing.verifying

        model_signing.verifying.Config().use_elliptic_key_verifier(
            public_key=self.public_pem
        ).verify(self.wheel, self.bundle)

    def model_signing_signs(self) -> None:
        import model_signing.signing

        model_signing.signing.Config().use_elliptic_key_signer(private_key=self.private_pem).sign(
            self.wheel, self.bundle
        )

    # --- tampering, with or without the pinned key ---

    def data(self) -> dict[str, Any]:
        return json.loads(self.bundle.read_text())

    def write(self, data: dict[str, Any]) -> None:
        self.bundle.write_text(json.dumps(data))

    def statement(self) -> dict[str, Any]:
        return json.loads(base64.b64decode(self.data()["dsseEnvelope"]["payload"]))

    def resign(self, payload: bytes, payload_type: str = IN_TOTO) -> None:
        """Replace the envelope's payload and sign it, correctly, with the pinned key."""
        data = self.data()
        signature = self.key.sign(pae(payload_type, payload), ec.ECDSA(self.hash))
        data["dsseEnvelope"].update(
            payload=base64.b64encode(payload).decode(),
            payloadType=payload_type,
            signatures=[{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        )
        self.write(data)

    def resign_statement(self, change: Callable[[dict[str, Any]], object]) -> None:
        statement = self.statement()
        change(statement)
        self.resign(json.dumps(statement).encode())


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 PAE, written from the spec (the test's own, not the code under test)."""
    kind = payload_type.encode()
    return f"DSSEv1 {len(kind)} ".encode() + kind + f" {len(payload)} ".encode() + payload


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def release(tmp_path: Path) -> Release:
    """A release signed by ``sign_with_key`` (the publisher's side of Model Lab)."""
    made = Release(tmp_path / "publisher")
    assert sign_with_key(made.wheel, made.private_pem, made.bundle) == made.key_id
    return made


# --- interoperability ---------------------------------------------------------------


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_model_signing_verifies_our_bundles(tmp_path, curve):
    made = Release(tmp_path, curve)
    assert sign_with_key(made.wheel, made.private_pem, made.bundle) == made.key_id
    made.model_signing_verifies()
    assert made.verify() == Verified(sha(WHEEL), made.signer, "pinned-key")


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_we_verify_model_signing_bundles(tmp_path, curve):
    made = Release(tmp_path, curve)
    made.model_signing_signs()
    assert made.verify() == Verified(sha(WHEEL), made.signer, "pinned-key")


def test_model_signing_also_refuses_our_bundle_for_other_bytes(release):
    release.wheel.write_bytes(WHEEL + b"!")
    with pytest.raises(ValueError, match="Hash mismatch"):
        release.model_signing_verifies()
    assert "artifact digest mismatch" in release.refused()


def test_our_pae_is_model_signings(release):
    from model_signing._signing.sign_sigstore_pb import pae as model_signing_pae

    payload = base64.b64decode(release.data()["dsseEnvelope"]["payload"])
    assert pae(IN_TOTO, payload) == model_signing_pae(payload)


def test_bundle_shape_is_the_one_model_signing_writes(release, tmp_path):
    theirs = Release(tmp_path / "theirs")
    theirs.model_signing_signs()
    ours, reference = release.data(), theirs.data()

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items()}
        if isinstance(value, list):
            return [shape(item) for item in value]
        return type(value).__name__

    assert shape(ours) == shape(reference)
    assert release.statement()["subject"][0]["name"] == release.wheel.name
    serialization_ = dict(theirs.statement()["predicate"]["serialization"])
    serialization_.pop("ignore_paths")  # a set in model-signing: its order changes per run
    assert release.statement()["predicate"]["serialization"] == serialization_


def test_signing_replaces_an_old_bundle_whole(release):
    release.bundle.write_text("x" * 100_000)
    sign_with_key(release.wheel, release.private_pem, release.bundle)
    release.verify()
    assert [p.name for p in release.bundle.parent.iterdir() if p.name.startswith(".")] == []


def test_signing_with_a_created_key(tmp_path):
    key_id = create_signing_key(tmp_path / "keys")
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    wheel.write_bytes(WHEEL)
    bundle = tmp_path / "w.sigstore.json"
    assert sign_with_key(wheel, tmp_path / "keys" / "private.pem", bundle) == key_id
    trust = TrustConfig(None, {key_id: tmp_path / "keys" / "public.pem"})
    assert verify_artifact(wheel, bundle, PinnedKeySigner(key_id), trust).artifact_sha256 == sha(
        WHEEL
    )


# --- what the pinned key signed, but is not a release file's statement ---------------


def _two_resources(statement):
    resources = statement["predicate"]["resources"]
    resources.append({"name": "extra.bin", "algorithm": "sha256", "digest": sha(b"extra")})
    digests = b"".join(bytes.fromhex(r["digest"]) for r in resources)
    statement["subject"][0]["digest"]["sha256"] = sha(digests)  # consistent, as model-signing


def _set(path: str, value: object):
    def change(statement):
        *parents, last = path.split(".")
        node = statement
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


SIGNED_BUT_WRONG = {
    "two resources": (_two_resources, "not exactly one file"),
    "no resources": (_set("predicate.resources", []), "not exactly one file"),
    "wrong predicate type": (
        _set("predicateType", "https://slsa.dev/provenance/v1"),
        "statement.predicateType",
    ),
    "model-signing 0.2 predicate": (
        _set("predicateType", "https://model_signing/Digests/v0.1"),
        "statement.predicateType",
    ),
    "old statement type": (_set("_type", "https://in-toto.io/Statement/v0.1"), "statement._type"),
    "two subjects": (
        lambda s: s["subject"].append(dict(s["subject"][0])),
        "statement.subject: expected exactly one",
    ),
    "inconsistent subject digest": (
        _set("subject.0.digest.sha256", sha(b"something else")),
        "not the digest of the resources",
    ),
    "a second subject digest": (_set("subject.0.digest.sha512", "00"), "unexpected 'sha512'"),
    "sharded serialization": (_set("predicate.serialization.method", "shards"), "method"),
    "another hash": (_set("predicate.serialization.hash_type", "blake2"), "hash_type"),
    "another resource algorithm": (
        _set("predicate.resources.0.algorithm", "blake2b"),
        "resources[0].algorithm",
    ),
    "a file inside a directory": (
        _set("predicate.resources.0.name", "ws_private-1.0.0-py3-none-any.whl"),
        "resources[0].name",
    ),
    "uppercase digest": (
        lambda s: s["predicate"]["resources"][0].update(
            digest=s["predicate"]["resources"][0]["digest"].upper()
        ),
        "64 lowercase hex",
    ),
    "symlinks as a string": (
        _set("predicate.serialization.allow_symlinks", "false"),
        "allow_symlinks",
    ),
    "an extra predicate field": (_set("predicate.comment", "hi"), "unexpected 'comment'"),
    "an extra statement field": (_set("extra", 1), "unexpected 'extra'"),
}


@pytest.mark.parametrize("case", sorted(SIGNED_BUT_WRONG))
def test_signed_statement_that_is_not_a_single_file_signature(release, case):
    change, expected = SIGNED_BUT_WRONG[case]
    release.resign_statement(change)
    message = release.refused()
    assert "signed by the pinned key, but its statement" in message and expected in message


def test_statement_still_verifies_after_a_plain_resign(release):
    # The control for the cases above: re-signing alone is not what they are refused for.
    release.resign_statement(lambda statement: None)
    assert release.verify().artifact_sha256 == sha(WHEEL)


def test_ignore_paths_are_accepted_as_model_signing_writes_them(release):
    release.resign_statement(_set("predicate.serialization.ignore_paths", [".git", ".github"]))
    release.verify()
    release.resign_statement(_set("predicate.serialization.ignore_paths", [1]))
    assert "ignore_paths" in release.refused()


def test_statement_with_a_duplicate_key(release):
    # Python's json keeps the last "digest", other readers the first: one signature, two
    # meanings. The first digest here is the wheel's, the second another file's.
    payload = json.dumps(release.statement())
    good = sha(WHEEL)
    assert payload.count(f'"digest": "{good}"') == 1
    payload = payload.replace(
        f'"digest": "{good}"', f'"digest": "{good}", "digest": "{sha(b"other")}"'
    )
    release.resign(payload.encode())
    assert "duplicate JSON key 'digest'" in release.refused()


def test_statement_that_is_not_utf8_json(release):
    release.resign(b"\xff\xfe not json")
    assert "not UTF-8" in release.refused()
    release.resign(b'{"_type": NaN}')
    assert "NaN" in release.refused()


@pytest.mark.parametrize("payload_type", ["application/json", "text/plain", IN_TOTO + " "])
def test_payload_type_other_than_in_toto(release, payload_type):
    # Signed correctly, PAE and all, by the pinned key: still not a model-signing statement.
    release.resign(json.dumps(release.statement()).encode(), payload_type=payload_type)
    message = release.refused()
    assert f"payload type {payload_type!r}" in message


# --- envelope changes without the key -------------------------------------------------


def test_signature_over_a_different_payload(release, tmp_path):
    # Another genuine bundle by the same key, for other bytes: its signature, our payload.
    other = tmp_path / "other.whl"
    other.write_bytes(b"another wheel")
    other_bundle = tmp_path / "other.sigstore.json"
    sign_with_key(other, release.private_pem, other_bundle)
    theirs = json.loads(other_bundle.read_text())["dsseEnvelope"]["signatures"]
    data = release.data()
    data["dsseEnvelope"]["signatures"] = theirs
    release.write(data)
    assert "signature does not verify with the pinned key" in release.refused()


def test_payload_swapped_under_a_valid_signature(release, tmp_path):
    # Their payload (for other bytes), our signature: the payload is what gets checked.
    other = tmp_path / "other.whl"
    other.write_bytes(b"another wheel")
    other_bundle = tmp_path / "other.sigstore.json"
    sign_with_key(other, release.private_pem, other_bundle)
    data = release.data()
    data["dsseEnvelope"]["payload"] = json.loads(other_bundle.read_text())["dsseEnvelope"][
        "payload"
    ]
    release.write(data)
    assert "signature does not verify with the pinned key" in release.refused()


def test_payload_edited_to_match_a_tampered_wheel(release):
    tampered = WHEEL + b" with a backdoor"
    release.wheel.write_bytes(tampered)
    statement = release.statement()
    _set("predicate.resources.0.digest", sha(tampered))(statement)
    _set("subject.0.digest.sha256", sha(bytes.fromhex(sha(tampered))))(statement)
    data = release.data()
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    release.write(data)
    assert "signature does not verify with the pinned key" in release.refused()


def test_payload_type_changed_without_resigning(release):
    data = release.data()
    data["dsseEnvelope"]["payloadType"] = "application/json"
    release.write(data)
    assert "payload type 'application/json'" in release.refused()


ENVELOPE_REFUSED = {
    "two signatures": (
        lambda d: d["dsseEnvelope"]["signatures"].append(d["dsseEnvelope"]["signatures"][0]),
        "dsseEnvelope.signatures: expected exactly one entry, found 2",
    ),
    "no signature": (
        lambda d: d["dsseEnvelope"].update(signatures=[]),
        "dsseEnvelope.signatures: expected exactly one entry, found 0",
    ),
    "a log entry": (
        lambda d: d["verificationMaterial"].update(tlogEntries=[{"logIndex": "1"}]),
        "tlogEntries",
    ),
    "a certificate beside the hint": (
        lambda d: d["verificationMaterial"].update(certificate={"rawBytes": "AAAA"}),
        "unexpected 'certificate'",
    ),
    "raw key bytes beside the hint": (
        lambda d: d["verificationMaterial"]["publicKey"].update(rawBytes="AAAA"),
        "unexpected 'rawBytes'",
    ),
    "a message signature beside the envelope": (
        lambda d: d.update(messageSignature={"signature": "AAAA"}),
        "unexpected 'messageSignature'",
    ),
    "another key named in keyid": (
        lambda d: d["dsseEnvelope"]["signatures"][0].update(keyid="f" * 64),
        "keyid",
    ),
    "signature not base64": (
        lambda d: d["dsseEnvelope"]["signatures"][0].update(sig="not base64!"),
        "not base64",
    ),
    "payload as an object": (
        lambda d: d["dsseEnvelope"].update(payload={"_type": "x"}),
        "dsseEnvelope.payload: expected a string",
    ),
    "no payload type": (lambda d: d["dsseEnvelope"].pop("payloadType"), "missing payloadType"),
}


@pytest.mark.parametrize("case", sorted(ENVELOPE_REFUSED))
def test_envelope_that_is_not_a_key_mode_bundle(release, case):
    change, expected = ENVELOPE_REFUSED[case]
    data = release.data()
    change(data)
    release.write(data)
    message = release.refused()
    assert str(release.bundle) in message and expected in message


def test_envelope_variants_model_signing_writes_are_accepted(release):
    data = release.data()
    del data["verificationMaterial"]["tlogEntries"]  # older model-signing left it out
    data["dsseEnvelope"]["signatures"][0]["keyid"] = release.key_id  # the hint, repeated
    release.write(data)
    release.verify()
    del data["dsseEnvelope"]["signatures"][0]["keyid"]
    release.write(data)
    release.verify()


def test_bundle_with_a_duplicate_key(release):
    raw = release.bundle.read_text()
    assert raw.startswith('{"mediaType"')
    release.bundle.write_text('{"mediaType": "x", ' + raw[1:])
    assert "duplicate JSON key 'mediaType'" in release.refused()


def test_configured_public_key_that_is_not_a_key(release):
    release.public_pem.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    message = release.refused()
    assert f"public key {release.public_pem}" in message and "not a PEM public key" in message


def test_bundle_in_another_unicode_encoding(release):
    # json.loads would guess UTF-16 from the bytes; model-signing reads UTF-8 only.
    release.bundle.write_bytes(release.bundle.read_text().encode("utf-16"))
    assert "not UTF-8" in release.refused()
