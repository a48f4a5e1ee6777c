"""Keyless bundles from a test Sigstore: the accepted shapes and the attack matrix.

Every bundle here is real: a mini-Sigstore CA, CT log and Rekor key signed it, and the
unmodified sigstore-python Verifier checks it. Each attack must fail closed with a
SignatureError whose message names what failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from trust.minisigstore import GITHUB_ISSUER, Claims, MiniSigstore, email_claims, github_claims

from modellab.errors import SignatureError
from modellab.trust import KeylessSigner, TrustConfig, Verified, verify_artifact

REPO = "https://github.com/acme/ws-hf"
WORKFLOW = f"{REPO}/.github/workflows/release.yml"
PINNED = KeylessSigner(issuer=GITHUB_ISSUER, repository=REPO, workflow=WORKFLOW)
WHEEL = b"PK\x03\x04 pretend this is ws_hf-1.0.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def authority():
    return MiniSigstore("mini-sigstore.test")


@pytest.fixture(scope="module")
def attacker():
    return MiniSigstore("attacker-sigstore.test")


@pytest.fixture
def trust(authority, tmp_path):
    return TrustConfig(trusted_root=authority.write_trusted_root(tmp_path / "root.json"))


@pytest.fixture
def release(authority, tmp_path):
    """A wheel and its genuine bundle from acme/ws-hf's release workflow."""
    wheel = tmp_path / "ws_hf-1.0.0-py3-none-any.whl"
    wheel.write_bytes(WHEEL)
    bundle = _write(
        tmp_path / "wheel.sigstore.json", authority.sign_artifact(WHEEL, github_claims())
    )
    return wheel, bundle


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _edit(bundle: Path, change) -> Path:
    data = json.loads(bundle.read_text())
    change(data)
    return _write(bundle, data)


def _refused(artifact, bundle, signer, trust) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_artifact(artifact, bundle, signer, trust)
    return caught.value.message


# --- accepted -----------------------------------------------------------------------------


def test_genuine_release_verifies_and_says_what_was_verified(release, trust):
    wheel, bundle = release
    verified = verify_artifact(wheel, bundle, PINNED, trust)
    assert verified == Verified(hashlib.sha256(WHEEL).hexdigest(), PINNED, "keyless")


def test_repository_pin_without_workflow_accepts_any_workflow(authority, release, trust):
    wheel, bundle = release
    _write(bundle, authority.sign_artifact(WHEEL, github_claims(workflow="nightly.yml")))
    signer = KeylessSigner(issuer=GITHUB_ISSUER, repository=REPO)
    assert verify_artifact(wheel, bundle, signer, trust).mode == "keyless"


def test_workflow_pin_survives_a_new_release_tag(authority, release, trust):
    wheel, bundle = release
    _write(bundle, authority.sign_artifact(WHEEL, github_claims(ref="refs/tags/v2.7.1")))
    assert verify_artifact(wheel, bundle, PINNED, trust).signer == PINNED


def test_workflow_pin_matches_the_san_of_a_reusable_workflow(authority, release, trust):
    # The run's top-level workflow (build config) is ci.yml; the job ran release.yml.
    wheel, bundle = release
    claims = Claims(
        san=f"{WORKFLOW}@refs/heads/main",
        repository=REPO,
        build_config=f"{REPO}/.github/workflows/ci.yml@refs/heads/main",
    )
    _write(bundle, authority.sign_artifact(WHEEL, claims))
    assert verify_artifact(wheel, bundle, PINNED, trust).mode == "keyless"


def test_exact_identity_for_a_certificate_without_v2_claims(authority, release, trust):
    wheel, bundle = release
    claims = email_claims("maintainer@acme.example", "https://accounts.example.org")
    _write(bundle, authority.sign_artifact(WHEEL, claims))
    signer = KeylessSigner(claims.issuer, repository="", identity="maintainer@acme.example")
    assert verify_artifact(wheel, bundle, signer, trust).signer == signer


# --- the attack matrix --------------------------------------------------------------------


def test_tampered_artifact_one_byte(release, trust):
    wheel, bundle = release
    data = bytearray(WHEEL)
    data[7] ^= 0x01
    wheel.write_bytes(bytes(data))
    message = _refused(wheel, bundle, PINNED, trust)
    assert "digest mismatch" in message and str(wheel) in message


def test_tampered_signature_bytes(release, trust):
    wheel, bundle = release

    def flip(data):
        signature = bytearray(base64.b64decode(data["messageSignature"]["signature"]))
        signature[-1] ^= 0x01
        data["messageSignature"]["signature"] = base64.b64encode(bytes(signature)).decode()

    _edit(bundle, flip)
    message = _refused(wheel, bundle, PINNED, trust)
    assert "signature does not match the artifact" in message and str(bundle) in message


def test_tampered_log_entry_body(release, trust):
    wheel, bundle = release

    def rewrite(data):
        entry = data["verificationMaterial"]["tlogEntries"][0]
        body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
        body["spec"]["data"]["hash"]["value"] = "0" * 64
        entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()

    _edit(bundle, rewrite)
    assert "invalid transparency log entry" in _refused(wheel, bundle, PINNED, trust)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe", b"[]", b"{}", b'{"mediaType": "application/x-nope"}'],
    ids=["invalid-json", "not-utf8", "not-an-object", "empty-object", "unknown-media-type"],
)
def test_unusable_bundle_names_the_bundle_file(release, trust, content):
    wheel, bundle = release
    bundle.write_bytes(content)
    message = _refused(wheel, bundle, PINNED, trust)
    assert f"bundle {bundle}" in message


def test_missing_files_are_named(release, trust, tmp_path):
    wheel, bundle = release
    assert f"artifact {tmp_path / 'gone.whl'}" in _refused(
        tmp_path / "gone.whl", bundle, PINNED, trust
    )
    assert f"bundle {tmp_path / 'gone.json'}" in _refused(
        wheel, tmp_path / "gone.json", PINNED, trust
    )
    missing_root = TrustConfig(trusted_root=tmp_path / "no-root.json")
    assert f"trusted root {tmp_path / 'no-root.json'}" in _refused(
        wheel, bundle, PINNED, missing_root
    )


def test_unusable_trusted_root_is_named(release, tmp_path):
    wheel, bundle = release
    root = tmp_path / "garbage-root.json"
    root.write_text('{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}')
    message = _refused(wheel, bundle, PINNED, TrustConfig(trusted_root=root))
    assert f"trusted root {root}" in message


@pytest.mark.parametrize(
    ("signer", "needles"),
    [
        (
            KeylessSigner("https://accounts.google.com", REPO, WORKFLOW),
            ["OIDCIssuerV2", "https://accounts.google.com"],
        ),
        (
            KeylessSigner(GITHUB_ISSUER, "https://github.com/acme/ws-hf-fork", WORKFLOW),
            ["OIDCSourceRepositoryURI", "ws-hf-fork"],
        ),
        (
            KeylessSigner(GITHUB_ISSUER, REPO, f"{REPO}/.github/workflows/nightly.yml"),
            ["workflow does not match", "nightly.yml"],
        ),
        (
            # A prefix of the real workflow file name is not that workflow.
            KeylessSigner(GITHUB_ISSUER, REPO, f"{REPO}/.github/workflows/release.y"),
            ["workflow does not match"],
        ),
        (
            KeylessSigner(GITHUB_ISSUER, REPO, identity=f"{WORKFLOW}@refs/tags/v0.9.0"),
            ["SANs do not match", "v0.9.0"],
        ),
        (
            KeylessSigner("https://gitlab.com", REPO, identity=f"{WORKFLOW}@refs/tags/v1.0.0"),
            ["OIDCIssuer", "gitlab.com"],
        ),
    ],
    ids=[
        "wrong-issuer",
        "wrong-repository",
        "wrong-workflow",
        "workflow-prefix",
        "wrong-san",
        "identity-wrong-issuer",
    ],
)
def test_wrong_signer_is_refused_and_the_message_says_what_the_certificate_has(
    release, trust, signer, needles
):
    wheel, bundle = release
    message = _refused(wheel, bundle, signer, trust)
    assert "signer is not the pinned one" in message
    for needle in needles:
        assert needle in message
    # What the leaf certificate actually claims, so the pin can be corrected (or not).
    assert f"repository {REPO}" in message and "SAN https://github.com/acme/ws-hf/" in message


def test_a_fork_with_the_same_workflow_name_is_refused(authority, release, trust):
    wheel, bundle = release
    _write(bundle, authority.sign_artifact(WHEEL, github_claims(repo="mallory/ws-hf")))
    message = _refused(wheel, bundle, PINNED, trust)
    assert "OIDCSourceRepositoryURI" in message and "mallory/ws-hf" in message


def test_repository_pin_needs_the_repository_claim(authority, release, trust):
    wheel, bundle = release
    _write(bundle, authority.sign_artifact(WHEEL, email_claims(issuer=GITHUB_ISSUER)))
    message = _refused(wheel, bundle, PINNED, trust)
    assert "does not contain OIDCSourceRepositoryURI" in message


def test_bundle_from_a_foreign_sigstore(attacker, release, trust):
    wheel, bundle = release
    # Same identity, same artifact, valid signatures, but the attacker's CA and logs.
    _write(bundle, attacker.sign_artifact(WHEEL, github_claims()))
    message = _refused(wheel, bundle, PINNED, trust)
    assert "untrusted certificate chain" in message and "root.json" in message


def test_forged_inclusion_promise(authority, attacker, release, trust):
    wheel, bundle = release

    def forge(data):
        # Claim another log time and sign the promise with a key the root does not know.
        entry = data["verificationMaterial"]["tlogEntries"][0]
        entry["integratedTime"] = str(int(entry["integratedTime"]) - 30)
        log_id = base64.b64decode(entry["logId"]["keyId"])
        entry["inclusionPromise"]["signedEntryTimestamp"] = attacker.set_for(
            base64.b64decode(entry["canonicalizedBody"]),
            integrated_time=int(entry["integratedTime"]),
            log_index=int(entry["logIndex"]),
            log_id=log_id,
        )

    _edit(bundle, forge)
    message = _refused(wheel, bundle, PINNED, trust)
    assert "invalid transparency log entry" in message and "inclusion promise" in message


def test_certificate_expired_at_signing_time(authority, release, trust):
    import datetime as dt
    import time

    wheel, bundle = release
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    # The log entry (and its promise) is genuine, but logged after the 10-minute leaf expired.
    stale = authority.sign_artifact(
        WHEEL, github_claims(), not_before=an_hour_ago, integrated_time=int(time.time())
    )
    _write(bundle, stale)
    message = _refused(wheel, bundle, PINNED, trust)
    assert "untrusted certificate chain" in message and "signing time" in message


def test_pinned_key_bundle_is_not_a_keyless_bundle(release, trust, tmp_path):
    from modellab.trust import create_signing_key, sign_with_key

    wheel, bundle = release
    create_signing_key(tmp_path / "keys")
    sign_with_key(wheel, tmp_path / "keys" / "private.pem", bundle)
    message = _refused(wheel, bundle, PINNED, trust)
    assert f"bundle {bundle} is not a usable keyless Sigstore bundle" in message


def test_bundle_without_its_log_entry(release, trust):
    wheel, bundle = release
    _edit(bundle, lambda data: data["verificationMaterial"].update(tlogEntries=[]))
    assert "log entry" in _refused(wheel, bundle, PINNED, trust)


def test_a_pinned_ref_pattern_is_enforced(tmp_path):
    from trust.minisigstore import MiniSigstore, github_claims

    from modellab.errors import SignatureError
    from modellab.trust import KeylessSigner, TrustConfig, verify_artifact

    authority = MiniSigstore("ref-sigstore.test")
    root = authority.write_trusted_root(tmp_path / "root.json")
    artifact = tmp_path / "w.whl"
    artifact.write_bytes(b"wheel bytes")
    workflow = "https://github.com/acme/ws/.github/workflows/release.yml"
    pinned = KeylessSigner(
        issuer="https://token.actions.githubusercontent.com",
        repository="https://github.com/acme/ws",
        workflow=workflow,
        ref="refs/tags/v*",
    )

    def bundle_for(ref: str):
        path = tmp_path / f"{ref.replace('/', '_')}.json"
        claims = github_claims("acme/ws", "release.yml", ref)
        path.write_text(json.dumps(authority.sign_artifact(artifact.read_bytes(), claims)))
        return path

    trust = TrustConfig(trusted_root=root)
    assert (
        verify_artifact(artifact, bundle_for("refs/tags/v1.2.0"), pinned, trust).mode == "keyless"
    )
    # The same workflow run from a branch: valid Sigstore, but not the pinned ref.
    with pytest.raises(SignatureError, match=r"ref does not match .*refs/heads/evil"):
        verify_artifact(artifact, bundle_for("refs/heads/evil"), pinned, trust)
    with pytest.raises(SignatureError, match="must start with 'refs/'"):
        KeylessSigner(issuer=pinned.issuer, repository=pinned.repository, ref="v*")
