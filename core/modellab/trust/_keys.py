"""Pinned-key signatures for private registries: model-signing's ECDSA key mode.

These bundles are Sigstore v0.3 bundles with a DSSE envelope and a public-key *hint*
(sha256 hex of the PEM public key) instead of a certificate and a log entry, which
sigstore-python cannot read, so model-signing verifies them. There is no transparency log:
a stolen private key signs silently, which is why keys are pinned per publisher in the
signed registry index, where they can be rotated and revoked.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from modellab.errors import SignatureError
from modellab.trust._files import read_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from modellab.trust._model import PinnedKeySigner, TrustConfig

__all__ = ["create_signing_key", "key_id_of", "sign_with_key", "verify_pinned_key"]

_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
# The curves model-signing's key mode accepts (it refuses Ed25519 and RSA).
_CURVES = ("secp256r1", "secp384r1", "secp521r1")
PRIVATE_KEY_NAME = "private.pem"
PUBLIC_KEY_NAME = "public.pem"


def _canonical_pem(key: EllipticCurvePublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo model-signing hashes into its key hint."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: EllipticCurvePublicKey) -> str:
    import hashlib

    return hashlib.sha256(_canonical_pem(key)).hexdigest()


def key_id_of(public_key_pem: bytes) -> str:
    """The key id of a PEM public key: sha256 hex of its canonical PEM (model-signing's hint).

    The key is re-encoded first, so line endings or extra text around the PEM block do not
    change the id.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise SignatureError("pinned keys must be ECDSA P-256, P-384 or P-521 public keys")
    return _key_id(key)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; fail if it exists (O_EXCL: no race, no overwrite)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def create_signing_key(directory: Path) -> str:
    """Write a new ECDSA P-256 key pair into ``directory`` and return its key id.

    ``private.pem`` (PKCS#8, unencrypted, mode 0600) and ``public.pem``. Existing keys are
    never overwritten: losing a pinned private key means re-pinning every release.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private_path = directory / PRIVATE_KEY_NAME
    public_path = directory / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise SignatureError(
                f"refusing to overwrite signing key {path}",
                hint="choose an empty directory, or move the old key pair away first",
            )
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        _write_new(private_path, private_pem, 0o600)
        try:
            _write_new(public_path, _canonical_pem(key.public_key()), 0o644)
        except BaseException:
            private_path.unlink(missing_ok=True)  # never leave half a pair behind
            raise
    except FileExistsError as exc:
        raise SignatureError(f"refusing to overwrite signing key {exc.filename}") from exc
    except OSError as exc:
        raise SignatureError(f"cannot write signing key in {directory}: {exc}") from exc
    return _key_id(key.public_key())


def sign_with_key(artifact: Path, private_key: Path, bundle_out: Path) -> str:
    """Sign ``artifact`` into a model-signing v0.3 bundle at ``bundle_out``; return the key id.

    ``private_key`` is an unencrypted PEM ECDSA key (as :func:`create_signing_key` writes).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not artifact.is_file():
        raise SignatureError(f"artifact {artifact} is not a regular file")
    try:
        key = serialization.load_pem_private_key(read_bytes(private_key, "private key"), None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is password-protected
        raise SignatureError(f"private key {private_key} cannot be loaded: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise SignatureError(f"private key {private_key} is not an ECDSA P-256/384/521 key")

    import model_signing.signing

    try:
        # model-signing's Config.__init__ has no annotations (the rest of its API does).
        signing = model_signing.signing.Config()  # type: ignore[no-untyped-call]
        config = signing.use_elliptic_key_signer(private_key=private_key)
        config.sign(artifact, bundle_out)
    except Exception as exc:
        raise SignatureError(f"signing {artifact} failed: {type(exc).__name__}: {exc}") from exc
    return _key_id(key.public_key())


def _signed_file_digest(bundle: dict[str, Any], bundle_path: Path) -> str:
    """The digest model-signing's manifest records for a single file (resource ``"."``)."""
    try:
        envelope = bundle["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        resources = statement["predicate"]["resources"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SignatureError(f"bundle {bundle_path} has no model-signing manifest: {exc}") from exc
    if (
        not isinstance(resources, list)
        or len(resources) != 1
        or not isinstance(resources[0], dict)
        or resources[0].get("name") != "."
        or resources[0].get("algorithm") != "sha256"
    ):
        raise SignatureError(f"bundle {bundle_path} does not sign exactly one file")
    digest = resources[0].get("digest")
    if not isinstance(digest, str):
        raise SignatureError(f"bundle {bundle_path} has no sha256 for the signed file")
    return digest


def _hint(bundle: dict[str, Any], bundle_path: Path) -> str:
    """The bundle's public-key hint; a certificate or a missing hint is refused."""
    if bundle.get("mediaType") != _BUNDLE_MEDIA_TYPE:
        raise SignatureError(
            f"bundle {bundle_path} has media type {bundle.get('mediaType')!r}, "
            f"expected {_BUNDLE_MEDIA_TYPE}"
        )
    material = bundle.get("verificationMaterial")
    public_key = material.get("publicKey") if isinstance(material, dict) else None
    hint = public_key.get("hint") if isinstance(public_key, dict) else None
    if not isinstance(hint, str) or not hint:
        raise SignatureError(
            f"bundle {bundle_path} is not a pinned-key bundle (no public key hint): "
            "it may be a keyless bundle, which needs a keyless signer"
        )
    return hint


def verify_pinned_key(
    artifact: Path,
    artifact_sha256: str,
    bundle_path: Path,
    raw_bundle: bytes,
    bundle: dict[str, Any],
    signer: PinnedKeySigner,
    trust: TrustConfig,
) -> None:
    """Verify a model-signing key-mode bundle against the pinned key ``signer.key_id``.

    ``raw_bundle`` is the bundle file's content and ``bundle`` its parsed JSON.
    """
    hint = _hint(bundle, bundle_path)
    if hint != signer.key_id:
        raise SignatureError(
            f"{artifact}: key mismatch: bundle {bundle_path} was signed by key {hint}, "
            f"not the pinned key {signer.key_id}"
        )
    key_path = trust.public_keys.get(signer.key_id)
    if key_path is None:
        raise SignatureError(
            f"{artifact}: unknown key id {signer.key_id}: no public key is configured for it",
            hint="add the publisher's public key to the trust configuration",
        )
    key_pem = read_bytes(key_path, "public key")
    actual = key_id_of(key_pem)
    if actual != signer.key_id:
        raise SignatureError(
            f"key mismatch: public key {key_path} has key id {actual}, "
            f"but is configured as {signer.key_id}"
        )

    import model_signing.verifying

    # model-signing reads paths; hand it private copies of exactly the bundle and key
    # bytes checked above, so neither can change between our checks and its own.
    with tempfile.TemporaryDirectory(prefix="modellab-verify-") as scratch:
        bundle_copy = Path(scratch) / "bundle.sigstore.json"
        key_copy = Path(scratch) / "public.pem"
        bundle_copy.write_bytes(raw_bundle)
        key_copy.write_bytes(key_pem)
        try:
            verifying = model_signing.verifying.Config()  # type: ignore[no-untyped-call]
            config = verifying.use_elliptic_key_verifier(public_key=key_copy)
            config.verify(artifact, bundle_copy)
        except Exception as exc:
            _raise_verify_failure(artifact, bundle_path, exc)

    # model-signing compared its own read of the file with the signed manifest; make sure
    # the bytes we hashed (and report) are those same signed bytes.
    signed = _signed_file_digest(bundle, bundle_path)
    if signed != artifact_sha256:
        raise SignatureError(
            f"{artifact}: artifact digest mismatch: sha256 {artifact_sha256}, "
            f"bundle {bundle_path} signs {signed}"
        )


def _raise_verify_failure(artifact: Path, bundle_path: Path, exc: Exception) -> NoReturn:
    """Turn whatever model-signing raised into a SignatureError naming what failed.

    model-signing raises ValueError for mismatches, cryptography's InvalidSignature for a
    bad signature and KeyError for odd payloads: any of them means "not verified".
    """
    text = str(exc) or type(exc).__name__
    if "Hash mismatch" in text or "Signature mismatch" in text:
        reason = "artifact digest mismatch: these are not the bytes that were signed"
    elif "Key mismatch" in text:
        reason = "key mismatch"
    else:
        reason = "signature does not verify with the pinned key"
    raise SignatureError(f"{artifact}: bundle {bundle_path}: {reason} ({text})") from exc
