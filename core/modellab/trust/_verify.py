"""The two verification entry points: a release file with its bundle, and PyPI provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modellab.errors import SignatureError
from modellab.trust._files import read_bytes, read_json_object
from modellab.trust._model import KeylessSigner, PinnedKeySigner, Signer, TrustConfig, Verified

__all__ = ["verify_artifact", "verify_pep740"]


def verify_artifact(artifact: Path, bundle: Path, signer: Signer, trust: TrustConfig) -> Verified:
    """Verify that ``bundle`` signs exactly ``artifact`` and was made by the pinned ``signer``.

    A :class:`KeylessSigner` needs a Sigstore keyless bundle (certificate, transparency log
    entry) that verifies under ``trust.trusted_root`` (or the vendored production root) and
    whose certificate matches every pinned field. A :class:`PinnedKeySigner` needs a
    model-signing key-mode bundle for this one file, made with the key
    ``trust.public_keys[signer.key_id]``.
    Anything else raises :class:`~modellab.errors.SignatureError` naming what failed.
    """
    if not artifact.is_file():
        raise SignatureError(f"artifact {artifact} is not a regular file")
    # Read once: the bytes hashed for the record are the bytes whose signature is checked.
    data = read_bytes(artifact, "artifact")
    sha256 = hashlib.sha256(data).hexdigest()
    # Parsed here so that unreadable or non-object JSON fails the same way for every mode.
    raw, _ = read_json_object(bundle, "bundle")
    if isinstance(signer, KeylessSigner):
        from modellab.trust._keyless import verify_keyless

        verify_keyless(artifact, data, bundle, raw, signer, trust)
        return Verified(artifact_sha256=sha256, signer=signer, mode="keyless")
    if isinstance(signer, PinnedKeySigner):
        from modellab.trust._keys import verify_pinned_key

        verify_pinned_key(artifact, sha256, bundle, raw, signer, trust)
        return Verified(artifact_sha256=sha256, signer=signer, mode="pinned-key")
    raise SignatureError(f"unknown signer type {type(signer).__name__}")


def verify_pep740(
    distribution: Path, provenance: Path, repository: str, workflow: str, trust: TrustConfig
) -> Verified:
    """Verify a PyPI PEP 740 provenance object for ``distribution``.

    ``repository`` is the GitHub Trusted Publisher's ``owner/name`` and ``workflow`` its
    workflow file name (``release.yml``). Every attestation must verify under the trusted
    root, come from that repository and workflow, and attest this file's name and sha256.
    """
    from modellab.trust._pep740 import verify_provenance

    if not distribution.is_file():
        raise SignatureError(f"distribution {distribution} is not a regular file")
    sha256, signer = verify_provenance(distribution, provenance, repository, workflow, trust)
    return Verified(artifact_sha256=sha256, signer=signer, mode="pep740")
