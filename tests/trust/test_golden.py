"""Real signatures from the public Sigstore instance, verified offline with the vendored root.

The bundles and provenance in ``shared/corpus/sigstore-golden`` were made by other people's
CI (see its README). They keep the production code path honest, and catch upstream format
changes that a self-made test authority could miss.
"""

from __future__ import annotations

import shutil

import pytest

from modellab.errors import SignatureError
from modellab.trust import KeylessSigner, TrustConfig, Verified, verify_artifact, verify_pep740

GITHUB = "https://token.actions.githubusercontent.com"
RFC8785_REPO = "https://github.com/trailofbits/rfc8785.py"
RFC8785_SAN = f"{RFC8785_REPO}/.github/workflows/release.yml@refs/tags/v0.1.2"
WHEEL_SHA256 = "c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201"
SDIST_SHA256 = "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"
PRODUCTION = TrustConfig(trusted_root=None)


@pytest.fixture
def golden(shared):
    return shared / "corpus" / "sigstore-golden"


@pytest.fixture
def wheel(golden):
    return (
        golden / "production" / "bundle_v3_github.whl",
        golden / "production" / "bundle_v3_github.whl.sigstore",
    )


@pytest.mark.parametrize(
    "signer",
    [
        KeylessSigner(GITHUB, RFC8785_REPO, f"{RFC8785_REPO}/.github/workflows/release.yml"),
        KeylessSigner(GITHUB, RFC8785_REPO, identity=RFC8785_SAN),
    ],
    ids=["repository-and-workflow", "exact-identity"],
)
def test_production_bundle_verifies_with_the_vendored_root(wheel, signer):
    artifact, bundle = wheel
    assert verify_artifact(artifact, bundle, signer, PRODUCTION) == Verified(
        WHEEL_SHA256, signer, "keyless"
    )


def test_production_bundle_with_the_wrong_workflow(wheel):
    artifact, bundle = wheel
    signer = KeylessSigner(GITHUB, RFC8785_REPO, f"{RFC8785_REPO}/.github/workflows/ci.yml")
    with pytest.raises(SignatureError, match="workflow does not match"):
        verify_artifact(artifact, bundle, signer, PRODUCTION)


def test_production_bundle_with_one_byte_added(wheel, tmp_path):
    artifact, bundle = wheel
    copy = tmp_path / artifact.name
    copy.write_bytes(artifact.read_bytes() + b"\0")
    signer = KeylessSigner(GITHUB, RFC8785_REPO, identity=RFC8785_SAN)
    with pytest.raises(SignatureError, match="artifact digest mismatch"):
        verify_artifact(copy, bundle, signer, PRODUCTION)


def test_production_bundle_under_the_staging_root(wheel, golden):
    artifact, bundle = wheel
    staging = TrustConfig(trusted_root=golden / "trusted_root" / "staging.trusted_root.json")
    signer = KeylessSigner(GITHUB, RFC8785_REPO, identity=RFC8785_SAN)
    with pytest.raises(SignatureError, match="untrusted certificate chain"):
        verify_artifact(artifact, bundle, signer, staging)


def test_staging_email_identity_verifies_under_its_own_root(golden):
    staging = TrustConfig(trusted_root=golden / "trusted_root" / "staging.trusted_root.json")
    signer = KeylessSigner(
        "https://github.com/login/oauth", repository="", identity="william@yossarian.net"
    )
    staged = golden / "staging"
    verified = verify_artifact(
        staged / "bundle_v3.txt", staged / "bundle_v3.txt.sigstore", signer, staging
    )
    assert verified.mode == "keyless"


def test_staging_rekor_v2_bundle_with_a_signed_timestamp(golden):
    # Rekor v2: no inclusion promise; the signing time comes from an RFC 3161 timestamp.
    staging = TrustConfig(trusted_root=golden / "trusted_root" / "staging.trusted_root.json")
    signer = KeylessSigner("https://github.com/login/oauth", repository="", identity="jku@goto.fi")
    v2 = golden / "rekor-v2"
    verified = verify_artifact(
        v2 / "staging-rekor-v2.txt", v2 / "staging-rekor-v2.txt.sigstore.json", signer, staging
    )
    assert verified.artifact_sha256.startswith("15f67246")


# --- PEP 740 ------------------------------------------------------------------------------


@pytest.fixture
def sdist(golden, tmp_path):
    """The pypi-attestations 0.0.19 sdist and its PyPI provenance, copied to a scratch dir."""
    for name in ("pypi_attestations-0.0.19.tar.gz", "pypi_attestations-0.0.19.tar.gz.provenance"):
        shutil.copy(golden / "pep740" / name, tmp_path / name)
    return (
        tmp_path / "pypi_attestations-0.0.19.tar.gz",
        tmp_path / "pypi_attestations-0.0.19.tar.gz.provenance",
    )


def test_pypi_provenance_verifies_with_the_vendored_root(sdist):
    dist, provenance = sdist
    verified = verify_pep740(
        dist, provenance, "trailofbits/pypi-attestations", "release.yml", PRODUCTION
    )
    repo = "https://github.com/trailofbits/pypi-attestations"
    assert verified == Verified(
        SDIST_SHA256,
        KeylessSigner(GITHUB, repo, f"{repo}/.github/workflows/release.yml"),
        "pep740",
    )


def test_pypi_provenance_accepts_the_repository_as_a_url(sdist):
    dist, provenance = sdist
    repo = "https://github.com/trailofbits/pypi-attestations"
    assert verify_pep740(dist, provenance, repo, "release.yml", PRODUCTION).mode == "pep740"


@pytest.mark.parametrize(
    ("repository", "workflow", "needle"),
    [
        ("trailofbits/pypi-attestations-fork", "release.yml", "pypi-attestations-fork"),
        ("trailofbits/pypi-attestations", "publish.yml", "publish.yml"),
    ],
    ids=["wrong-repository", "wrong-workflow"],
)
def test_pypi_provenance_for_another_publisher(sdist, repository, workflow, needle):
    dist, provenance = sdist
    with pytest.raises(SignatureError, match="publisher") as caught:
        verify_pep740(dist, provenance, repository, workflow, PRODUCTION)
    assert needle in caught.value.message


def test_pypi_provenance_with_a_tampered_distribution(sdist):
    dist, provenance = sdist
    dist.write_bytes(dist.read_bytes() + b"\0")
    with pytest.raises(SignatureError, match="distribution digest mismatch"):
        verify_pep740(dist, provenance, "trailofbits/pypi-attestations", "release.yml", PRODUCTION)


def test_pypi_provenance_for_a_renamed_distribution(sdist):
    dist, provenance = sdist
    renamed = dist.with_name("pypi_attestations-0.0.20.tar.gz")
    dist.rename(renamed)
    with pytest.raises(SignatureError, match="subject name mismatch"):
        verify_pep740(
            renamed, provenance, "trailofbits/pypi-attestations", "release.yml", PRODUCTION
        )


def test_pypi_provenance_under_the_staging_root(sdist, golden):
    dist, provenance = sdist
    staging = TrustConfig(trusted_root=golden / "trusted_root" / "staging.trusted_root.json")
    with pytest.raises(SignatureError, match="untrusted certificate chain"):
        verify_pep740(dist, provenance, "trailofbits/pypi-attestations", "release.yml", staging)
