"""Identity policies for keyless bundles, built from ``sigstore.verify.policy``.

A keyless signature proves only that *someone* with an OIDC token signed; the policy is
what turns it into "acme/ws-hf's release workflow signed". Exact SANs include the git ref
(``...release.yml@refs/tags/v1.2.0``), which changes every release, so a pin on
repository + workflow file matches the certificate's v2 claims for any ref instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.verify.policy import VerificationPolicy

    from modellab.trust._model import KeylessSigner

__all__ = [
    "GITHUB_ISSUER",
    "IdentityMismatch",
    "describe_leaf",
    "keyless_policy",
    "workflow_policy",
]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"  # raw bytes
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # DER UTF8String, like all the v2 ones below
_SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"
_BUILD_CONFIG_URI = "1.3.6.1.4.1.57264.1.18"
_SOURCE_REPOSITORY_REF = "1.3.6.1.4.1.57264.1.14"


class IdentityMismatch(Exception):
    """The leaf certificate chains to the root but names another signer than the pinned one.

    Raised from inside sigstore's ``Verifier`` (policies run after the chain and SCT checks),
    so the caller can tell "wrong signer" apart from "broken signature" without parsing text.
    """


def _der_utf8(raw: bytes) -> str | None:
    """Decode a DER UTF8String (tag 0x0C); ``None`` for anything else."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or len(raw) < 2 + size:
            return None
        length, offset = int.from_bytes(raw[2 : 2 + size], "big"), 2 + size
    if offset + length != len(raw):
        return None
    try:
        return raw[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _extension(cert: Certificate, dotted: str, *, der: bool) -> str | None:
    """The string value of a Fulcio extension, or ``None`` when absent or malformed."""
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier, UnrecognizedExtension

    try:
        value = cert.extensions.get_extension_for_oid(ObjectIdentifier(dotted)).value
    except ExtensionNotFound:
        return None
    if not isinstance(value, UnrecognizedExtension):
        return None
    if der:
        return _der_utf8(value.value)
    try:
        return value.value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sans(cert: Certificate) -> list[str]:
    """The certificate's URI and email SANs (what Fulcio writes identities as)."""
    from cryptography.x509 import (
        ExtensionNotFound,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    except ExtensionNotFound:
        return []
    return [
        *san.get_values_for_type(UniformResourceIdentifier),
        *san.get_values_for_type(RFC822Name),
    ]


def describe_leaf(cert: Certificate) -> str:
    """What the leaf certificate actually claims, for error messages."""
    issuer = _extension(cert, _ISSUER_V2, der=True) or _extension(cert, _ISSUER_V1, der=False)
    parts = [
        f"SAN {', '.join(_sans(cert)) or '(none)'}",
        f"issuer {issuer or '(none)'}",
        f"repository {_extension(cert, _SOURCE_REPOSITORY_URI, der=True) or '(none)'}",
        f"build config {_extension(cert, _BUILD_CONFIG_URI, der=True) or '(none)'}",
        f"ref {_extension(cert, _SOURCE_REPOSITORY_REF, der=True) or '(none)'}",
    ]
    return "; ".join(parts)


class _WorkflowURI:
    """The build config URI (1.3.6.1.4.1.57264.1.18) or a URI SAN is ``workflow@<any ref>``.

    The build config names the top-level workflow, the SAN the job's (a reusable workflow
    when one is called); both are Fulcio-attested, and the repository claim is pinned
    separately, so either one naming the pinned file is enough.
    """

    def __init__(self, workflow: str) -> None:
        self._workflow = workflow

    def _matches(self, value: str) -> bool:
        return value == self._workflow or value.startswith(self._workflow + "@")

    def verify(self, cert: Certificate) -> None:
        """Raise sigstore's ``VerificationError`` unless the workflow matches."""
        from sigstore.errors import VerificationError

        build_config = _extension(cert, _BUILD_CONFIG_URI, der=True)
        found = [*([build_config] if build_config is not None else []), *_sans(cert)]
        candidates = list(dict.fromkeys(found))  # GitHub's SAN usually repeats the build config
        if not any(self._matches(value) for value in candidates):
            raise VerificationError(
                f"Certificate's workflow does not match (got {', '.join(candidates) or 'none'}, "
                f"expected {self._workflow}@<ref>)"
            )


class _RefPattern:
    """The source repository ref (1.3.6.1.4.1.57264.1.14) matches a pinned pattern.

    A certificate without the claim fails: a pinned ref can only be proven by Fulcio.
    """

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern

    def verify(self, cert: Certificate) -> None:
        """Raise sigstore's ``VerificationError`` unless the ref matches."""
        from fnmatch import fnmatchcase

        from sigstore.errors import VerificationError

        ref = _extension(cert, _SOURCE_REPOSITORY_REF, der=True)
        if ref is None or not fnmatchcase(ref, self._pattern):
            raise VerificationError(
                f"Certificate's source repository ref does not match (got {ref or 'none'}, "
                f"expected {self._pattern})"
            )


def workflow_policy(workflow: str) -> VerificationPolicy:
    """A policy accepting certificates whose workflow URI is ``workflow`` at any git ref."""
    return _WorkflowURI(workflow)


class _Pinned:
    """Runs ``inner`` and turns its failure into :class:`IdentityMismatch`."""

    def __init__(self, inner: VerificationPolicy, pinned: str) -> None:
        self._inner = inner
        self._pinned = pinned

    def verify(self, cert: Certificate) -> None:
        """Check ``cert`` against the pinned signer."""
        try:
            self._inner.verify(cert)
        except Exception as exc:
            # Policies read extensions directly: a certificate without a SAN raises
            # cryptography's ExtensionNotFound, not VerificationError. Either way: no match.
            raise IdentityMismatch(
                f"signer is not the pinned one ({self._pinned}): {exc}; "
                f"the certificate has {describe_leaf(cert)}"
            ) from exc


def keyless_policy(signer: KeylessSigner) -> VerificationPolicy:
    """The policy enforcing every field of ``signer``; failures raise IdentityMismatch."""
    from sigstore.verify import policy

    children: list[VerificationPolicy] = []
    if signer.identity is not None:
        # Exact SAN plus the issuer (extension 1.1, the one every Fulcio leaf has).
        children.append(policy.Identity(identity=signer.identity, issuer=signer.issuer))
    else:
        children.append(policy.OIDCIssuerV2(signer.issuer))
    if signer.repository:
        children.append(policy.OIDCSourceRepositoryURI(signer.repository))
    if signer.workflow is not None:
        children.append(workflow_policy(signer.workflow))
    if signer.ref is not None:
        children.append(_RefPattern(signer.ref))
    return _Pinned(policy.AllOf(children), signer.describe())
