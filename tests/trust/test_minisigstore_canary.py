"""Canary: the *unmodified* sigstore-python Verifier accepts mini-Sigstore's bundles.

If an upstream change to the bundle, SCT or checkpoint formats breaks the test authority,
this fails first and loudly, instead of every attack test "passing" for the wrong reason.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sigstore.errors import CertValidationError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy
from trust.minisigstore import (
    GITHUB_ISSUER,
    MiniSigstore,
    email_claims,
    github_claims,
    in_toto_statement,
)


@pytest.fixture(scope="module")
def authority():
    return MiniSigstore()


def _verifier(authority, tmp_path):
    root = authority.write_trusted_root(tmp_path / "trusted_root.json")
    return Verifier(trusted_root=TrustedRoot.from_file(str(root)))


def test_verifier_accepts_a_github_style_bundle(authority, tmp_path):
    claims = github_claims()
    bundle = Bundle.from_json(json.dumps(authority.sign_artifact(b"wheel bytes", claims)))
    github = policy.AllOf(
        [
            policy.OIDCIssuerV2(GITHUB_ISSUER),
            policy.OIDCSourceRepositoryURI("https://github.com/acme/ws-hf"),
            policy.OIDCBuildConfigURI(claims.san),
        ]
    )
    _verifier(authority, tmp_path).verify_artifact(b"wheel bytes", bundle, github)
    _verifier(authority, tmp_path).verify_artifact(
        b"wheel bytes", bundle, policy.Identity(identity=claims.san, issuer=GITHUB_ISSUER)
    )


def test_verifier_accepts_an_email_identity_bundle(authority, tmp_path):
    claims = email_claims()
    bundle = Bundle.from_json(json.dumps(authority.sign_artifact(b"x", claims)))
    identity = policy.Identity(identity=claims.san, issuer=claims.issuer)
    _verifier(authority, tmp_path).verify_artifact(b"x", bundle, identity)


def test_verifier_accepts_a_dsse_attestation(authority, tmp_path):
    from pypi_attestations import Attestation

    statement = in_toto_statement("ws_hf-1.0.tar.gz", hashlib.sha256(b"sdist").hexdigest())
    attestation = Attestation.model_validate_json(
        json.dumps(authority.attest(statement, github_claims()))
    )
    identity = policy.Identity(identity=github_claims().san, issuer=GITHUB_ISSUER)
    kind, payload = _verifier(authority, tmp_path).verify_dsse(attestation.to_bundle(), identity)
    assert (kind, payload) == ("application/vnd.in-toto+json", statement)


def test_verifier_rejects_it_under_another_instance(authority, tmp_path):
    other = MiniSigstore("other-sigstore.test")
    bundle = Bundle.from_json(json.dumps(authority.sign_artifact(b"x", github_claims())))
    with pytest.raises(CertValidationError):
        _verifier(other, tmp_path).verify_artifact(b"x", bundle, policy.OIDCIssuerV2(GITHUB_ISSUER))
