"""A trusted root planted in sigstore-python's cache has no effect on Model Lab.

sigstore-python's offline mode reads ``~/.cache/sigstore-python/tuf/<repo>/trusted_root.json``
without checking it (research note §1.3, caveat 1). The first test shows the plant really
fools ``Verifier.production(offline=True)``, so the second one tests something real.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from trust.minisigstore import GITHUB_ISSUER, MiniSigstore, github_claims

from modellab.errors import SignatureError
from modellab.trust import KeylessSigner, TrustConfig, verify_artifact

REPO = "https://github.com/acme/ws-hf"
WHEEL = b"wheel bytes"


@pytest.fixture
def planted(isolated_env, monkeypatch):
    """An attacker's root in the sigstore cache of the (temporary) HOME; their bundle."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    attacker = MiniSigstore("attacker-sigstore.test")
    cache = (
        isolated_env
        / ".cache"
        / "sigstore-python"
        / "tuf"
        / quote("https://tuf-repo-cdn.sigstore.dev", safe="")
    )
    attacker.write_trusted_root(cache / "trusted_root.json")
    return attacker.sign_artifact(WHEEL, github_claims())


def test_the_plant_fools_sigstores_own_offline_production_verifier(planted):
    from sigstore.models import Bundle
    from sigstore.verify import Verifier, policy

    verifier = Verifier.production(offline=True)  # what Model Lab never calls
    verifier.verify_artifact(
        WHEEL, Bundle.from_json(json.dumps(planted)), policy.OIDCIssuerV2(GITHUB_ISSUER)
    )


def test_model_lab_ignores_the_plant(planted, tmp_path):
    wheel = tmp_path / "ws_hf-1.0.0-py3-none-any.whl"
    wheel.write_bytes(WHEEL)
    bundle = tmp_path / "wheel.sigstore.json"
    bundle.write_text(json.dumps(planted))
    signer = KeylessSigner(GITHUB_ISSUER, REPO, f"{REPO}/.github/workflows/release.yml")
    with pytest.raises(SignatureError, match="untrusted certificate chain") as caught:
        verify_artifact(wheel, bundle, signer, TrustConfig(trusted_root=None))
    assert "production.trusted_root.json" in caught.value.message
