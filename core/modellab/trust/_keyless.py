"""Keyless Sigstore bundles: sigstore-python's ``Verifier`` under an explicit trusted root."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.errors import SignatureError
from modellab.trust._policy import IdentityMismatch, keyless_policy
from modellab.trust._roots import load_trusted_root

if TYPE_CHECKING:
    from sigstore.models import Bundle
    from sigstore.verify import Verifier

    from modellab.trust._model import KeylessSigner, TrustConfig

__all__ = ["explain_failure", "load_bundle", "make_verifier", "verify_keyless"]

# sigstore's messages, by the step that failed (see Verifier._verify_common_signing_cert);
# the summary says what failed in Model Lab's words, the original text follows it.
_STEPS = (
    (
        "Bundle message digest mismatch",
        "artifact digest mismatch: these are not the bytes that were signed",
    ),
    ("Signature is invalid for input", "signature does not match the artifact"),
    ("DSSE: invalid signature", "signature does not match the signed statement"),
    (
        "failed to verify SCT",
        "the certificate's embedded SCT is not from a CT log in the trusted root",
    ),
    ("invalid log entry", "invalid transparency log entry"),
    ("inconsistent with other materials", "the transparency log entry does not match the bundle"),
    (
        "log entry payload hash does not match",
        "the transparency log entry does not match the bundle",
    ),
    ("log entry signatures do not match", "the transparency log entry does not match the bundle"),
    ("expired at time of signing", "the certificate was not valid when the entry was logged"),
    ("not enough sources of verified time", "no verified signing time (log promise or timestamp)"),
    ("Key usage", "the certificate is not a code-signing certificate"),
    ("Extended usage", "the certificate is not a code-signing certificate"),
)


def explain_failure(exc: Exception, root: Path) -> str:
    """A one-line reason for a sigstore verification failure, naming what failed."""
    from sigstore.errors import CertValidationError

    if isinstance(exc, CertValidationError):
        # Both a foreign CA and a certificate outside its validity at the logged time
        # end here: the chain is checked at signing time, not now.
        return (
            f"untrusted certificate chain: no valid path to a CA in trusted root {root} "
            f"at the signing time ({exc})"
        )
    text = str(exc)
    for marker, summary in _STEPS:
        if marker in text:
            return f"{summary} ({text})"
    return f"verification failed ({text})"


def load_bundle(raw: bytes, path: Path) -> Bundle:
    """Parse a Sigstore bundle that must carry a certificate and one log entry."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(raw)
    except (SigstoreError, ValueError) as exc:
        raise SignatureError(
            f"bundle {path} is not a usable keyless Sigstore bundle: {exc}"
        ) from exc


def make_verifier(trust: TrustConfig) -> tuple[Path, Verifier]:
    """A ``Verifier`` bound to exactly the trusted root ``trust`` names; never a cache."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    root_path, root = load_trusted_root(trust)
    try:
        return root_path, Verifier(trusted_root=root)
    except (SigstoreError, ValueError) as exc:
        raise SignatureError(
            f"trusted root {root_path} cannot be used for verification: {exc}"
        ) from exc


def verify_keyless(
    artifact: Path,
    data: bytes,
    bundle_path: Path,
    raw_bundle: bytes,
    signer: KeylessSigner,
    trust: TrustConfig,
) -> None:
    """Verify ``data`` (read from ``artifact``) against the keyless bundle and pinned signer."""
    from sigstore.errors import Error as SigstoreError

    bundle = load_bundle(raw_bundle, bundle_path)
    root_path, verifier = make_verifier(trust)
    try:
        verifier.verify_artifact(data, bundle, keyless_policy(signer))
    except IdentityMismatch as exc:
        raise SignatureError(f"{artifact}: bundle {bundle_path}: {exc}") from exc
    except (SigstoreError, ValueError) as exc:
        reason = explain_failure(exc, root_path)
        if reason.startswith("artifact digest mismatch"):
            reason += f"; the artifact's sha256 is {hashlib.sha256(data).hexdigest()}"
        raise SignatureError(f"{artifact}: bundle {bundle_path}: {reason}") from exc
    except Exception as exc:
        # sigstore reaches into the certificate directly (a missing KeyUsage raises
        # cryptography's ExtensionNotFound); whatever the cause, it did not verify.
        raise SignatureError(
            f"{artifact}: bundle {bundle_path}: verification failed ({type(exc).__name__}: {exc})"
        ) from exc
