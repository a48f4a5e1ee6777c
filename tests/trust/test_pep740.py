"""PEP 740 provenance under a test root: the certificate decides, not PyPI's publisher record."""

from __future__ import annotations

import hashlib
import json

import pytest
from trust.minisigstore import (
    MiniSigstore,
    github_claims,
    in_toto_statement,
    provenance,
    write_json,
)

from modellab.errors import SignatureError
from modellab.trust import TrustConfig, verify_pep740

SDIST = b"pretend sdist of ws-hf 1.0.0"
NAME = "ws_hf-1.0.0.tar.gz"


@pytest.fixture(scope="module")
def authority():
    return MiniSigstore()


@pytest.fixture
def trust(authority, tmp_path):
    return TrustConfig(trusted_root=authority.write_trusted_root(tmp_path / "root.json"))


@pytest.fixture
def dist(tmp_path):
    path = tmp_path / NAME
    path.write_bytes(SDIST)
    return path


def _attest(authority, *, name=NAME, data=SDIST, claims=None):
    statement = in_toto_statement(name, hashlib.sha256(data).hexdigest())
    return authority.attest(statement, claims or github_claims())


def _refused(dist, prov, trust, repository="acme/ws-hf", workflow="release.yml") -> str:
    with pytest.raises(SignatureError) as caught:
        verify_pep740(dist, prov, repository, workflow, trust)
    return caught.value.message


def test_genuine_provenance_verifies(authority, dist, trust, tmp_path):
    prov = write_json(tmp_path / "p.json", provenance([_attest(authority), _attest(authority)]))
    verified = verify_pep740(dist, prov, "acme/ws-hf", "release.yml", trust)
    assert verified.artifact_sha256 == hashlib.sha256(SDIST).hexdigest()
    assert verified.signer.repository == "https://github.com/acme/ws-hf"
    assert verified.mode == "pep740"


def test_lying_publisher_record_does_not_help_a_fork(authority, dist, trust, tmp_path):
    # PyPI's record says acme/ws-hf, but the certificate was issued to mallory's fork.
    forked = _attest(authority, claims=github_claims(repo="mallory/ws-hf"))
    prov = write_json(tmp_path / "p.json", provenance([forked]))
    message = _refused(dist, prov, trust)
    assert "OIDCSourceRepositoryURI" in message and "mallory/ws-hf" in message


def test_lying_publisher_record_does_not_help_another_workflow(authority, dist, trust, tmp_path):
    other = _attest(authority, claims=github_claims(workflow="anything.yml"))
    prov = write_json(tmp_path / "p.json", provenance([other]))
    assert "workflow does not match" in _refused(dist, prov, trust)


def test_every_attestation_must_verify(authority, dist, trust, tmp_path):
    good = _attest(authority)
    foreign = _attest(MiniSigstore("attacker.test"))
    prov = write_json(tmp_path / "p.json", provenance([good, foreign]))
    message = _refused(dist, prov, trust)
    assert "attestation 2" in message and "untrusted certificate chain" in message


def test_attestation_for_another_file(authority, dist, trust, tmp_path):
    prov = write_json(
        tmp_path / "p.json", provenance([_attest(authority, name="ws_hf-0.9.0.tar.gz")])
    )
    assert "subject name mismatch" in _refused(dist, prov, trust)


def test_attestation_for_other_bytes(authority, dist, trust, tmp_path):
    prov = write_json(tmp_path / "p.json", provenance([_attest(authority, data=b"old bytes")]))
    assert "distribution digest mismatch" in _refused(dist, prov, trust)


def test_tampered_statement(authority, dist, trust, tmp_path):
    attestation = _attest(authority, data=b"old bytes")
    # Swap in a statement for the right bytes, keeping the old signature.
    attestation["envelope"]["statement"] = _attest(authority)["envelope"]["statement"]
    prov = write_json(tmp_path / "p.json", provenance([attestation]))
    message = _refused(dist, prov, trust)
    assert f"provenance {prov} attestation 1" in message
    assert "signature does not match the signed statement" in message


def test_empty_provenance(dist, trust, tmp_path):
    prov = write_json(tmp_path / "p.json", provenance([]))
    assert "holds no attestations" in _refused(dist, prov, trust)


@pytest.mark.parametrize("content", ["{", "[]", '{"version": 2, "attestation_bundles": []}'])
def test_unreadable_provenance_names_the_file(dist, trust, tmp_path, content):
    prov = tmp_path / "p.json"
    prov.write_text(content)
    assert f"provenance {prov}" in _refused(dist, prov, trust)


def test_non_github_publisher_is_refused(authority, dist, trust, tmp_path):
    data = provenance([_attest(authority)])
    data["attestation_bundles"][0]["publisher"] = {
        "kind": "GitLab",
        "repository": "acme/ws-hf",
        "workflow_filepath": ".gitlab-ci.yml",
        "environment": None,
    }
    prov = write_json(tmp_path / "p.json", data)
    assert "is not GitHub" in _refused(dist, prov, trust)


@pytest.mark.parametrize(
    ("repository", "workflow"),
    [("acme", "release.yml"), ("acme/ws-hf", ".github/workflows/release.yml"), ("acme/ws-hf", "")],
)
def test_malformed_publisher_pin(dist, trust, tmp_path, repository, workflow):
    prov = write_json(tmp_path / "p.json", {"version": 1, "attestation_bundles": []})
    assert "invalid" in _refused(dist, prov, trust, repository, workflow)


def test_provenance_json_is_what_pypi_serves(authority):
    # The helper's output parses with pypi-attestations' own model (shape canary).
    from pypi_attestations import Provenance

    parsed = Provenance.model_validate_json(json.dumps(provenance([_attest(authority)])))
    assert parsed.attestation_bundles[0].publisher.kind == "GitHub"
