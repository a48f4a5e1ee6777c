"""PyPI PEP 740 provenance: Trusted-Publisher attestations as release signatures.

pypi-attestations' own ``Attestation.verify`` only knows sigstore-python's production and
staging roots (read from the unverified cache), so it is used here only to parse and
convert; verification is ``Verifier.verify_dsse`` under Model Lab's trusted root, followed
by the subject check that ``verify_dsse`` leaves to its caller (research note §3.1).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from modellab.errors import SignatureError
from modellab.trust._files import read_bytes
from modellab.trust._keyless import explain_failure, make_verifier
from modellab.trust._model import KeylessSigner
from modellab.trust._policy import GITHUB_ISSUER, IdentityMismatch, keyless_policy

if TYPE_CHECKING:
    from pypi_attestations import Attestation
    from sigstore.verify import Verifier
    from sigstore.verify.policy import VerificationPolicy

    from modellab.trust._model import TrustConfig

__all__ = ["github_signer", "verify_provenance"]

_IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# The predicate types PyPI accepts (pypi_attestations.AttestationType).
_PREDICATE_TYPES = frozenset(
    {"https://docs.pypi.org/attestations/publish/v1", "https://slsa.dev/provenance/v1"}
)
_SLUG = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_WORKFLOW_FILE = re.compile(r"[A-Za-z0-9_.-]+\.ya?ml")


def github_signer(repository: str, workflow: str) -> KeylessSigner:
    """The keyless signer of a GitHub Trusted Publisher: ``owner/name`` plus a workflow file.

    ``repository`` may also be given as ``https://github.com/owner/name``.
    """
    slug = repository.removeprefix("https://github.com/").strip("/")
    if not _SLUG.fullmatch(slug):
        raise SignatureError(f"invalid GitHub repository {repository!r}: expected owner/name")
    if not _WORKFLOW_FILE.fullmatch(workflow):
        raise SignatureError(
            f"invalid workflow {workflow!r}: expected a workflow file name such as release.yml"
        )
    url = f"https://github.com/{slug}"
    return KeylessSigner(
        issuer=GITHUB_ISSUER, repository=url, workflow=f"{url}/.github/workflows/{workflow}"
    )


def _check_publisher(publisher: object, slug: str, workflow: str, provenance: Path) -> None:
    """PyPI's (unsigned) publisher record must agree with the pin; the certificate decides."""
    from pypi_attestations import GitHubPublisher

    if not isinstance(publisher, GitHubPublisher):
        kind = getattr(publisher, "kind", type(publisher).__name__)
        raise SignatureError(
            f"provenance {provenance}: publisher kind {kind!r} is not GitHub "
            "(only GitHub Trusted Publishers are supported)"
        )
    if (publisher.repository, publisher.workflow) != (slug, workflow):
        raise SignatureError(
            f"provenance {provenance}: publisher is {publisher.repository} "
            f"({publisher.workflow}), not the pinned {slug} ({workflow})"
        )


def _check_statement(payload_type: str, payload: bytes, name: str, sha256: str, where: str) -> None:
    """The verified statement must attest exactly this file: its name and its sha256."""
    if payload_type != _IN_TOTO_PAYLOAD_TYPE:
        raise SignatureError(f"{where}: payload type {payload_type!r} is not an in-toto statement")
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        kind, predicate_type = statement["_type"], statement["predicateType"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"{where}: the signed statement is malformed: {exc}") from exc
    if kind != _STATEMENT_TYPE:
        raise SignatureError(f"{where}: statement type {kind!r} is not {_STATEMENT_TYPE}")
    if predicate_type not in _PREDICATE_TYPES:
        raise SignatureError(f"{where}: unknown attestation type {predicate_type!r}")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise SignatureError(f"{where}: the statement must have exactly one subject")
    subject = subjects[0]
    if subject.get("name") != name:
        raise SignatureError(
            f"{where}: subject name mismatch: attests {subject.get('name')!r}, not {name!r}"
        )
    digest = subject.get("digest")
    signed = digest.get("sha256") if isinstance(digest, dict) else None
    if signed != sha256:
        raise SignatureError(
            f"{where}: distribution digest mismatch: sha256 {sha256}, attested {signed}"
        )


def _verify_attestation(
    attestation: Attestation,
    verifier: Verifier,
    policy: VerificationPolicy,
    root: Path,
    where: str,
) -> tuple[str, bytes]:
    """Verify one attestation's DSSE bundle; return its payload type and payload."""
    from sigstore.errors import Error as SigstoreError

    try:
        bundle = attestation.to_bundle()
    except Exception as exc:  # ConversionError, or pydantic/sigstore errors on odd data
        raise SignatureError(f"{where}: not a usable Sigstore attestation: {exc}") from exc
    try:
        payload_type, payload = verifier.verify_dsse(bundle, policy)
    except IdentityMismatch as exc:
        raise SignatureError(f"{where}: {exc}") from exc
    except (SigstoreError, ValueError) as exc:
        raise SignatureError(f"{where}: {explain_failure(exc, root)}") from exc
    except Exception as exc:
        raise SignatureError(f"{where}: verification failed ({type(exc).__name__}: {exc})") from exc
    return str(payload_type), bytes(payload)


def verify_provenance(
    distribution: Path, provenance: Path, repository: str, workflow: str, trust: TrustConfig
) -> tuple[str, KeylessSigner]:
    """Verify every attestation in ``provenance`` for ``distribution``; return its sha256."""
    from pypi_attestations import Provenance

    signer = github_signer(repository, workflow)
    slug = signer.repository.removeprefix("https://github.com/")
    data = read_bytes(distribution, "distribution")
    sha256 = hashlib.sha256(data).hexdigest()
    raw = read_bytes(provenance, "provenance")
    try:
        parsed = Provenance.model_validate_json(raw)
    except ValueError as exc:  # pydantic's ValidationError, also for invalid JSON
        raise SignatureError(
            f"provenance {provenance} is not a PEP 740 provenance object: {exc}"
        ) from exc

    root, verifier = make_verifier(trust)
    policy = keyless_policy(signer)
    checked = 0
    # Fail closed: every attestation PyPI serves must verify against the pinned publisher.
    for bundle in parsed.attestation_bundles:
        _check_publisher(bundle.publisher, slug, workflow, provenance)
        for attestation in bundle.attestations:
            checked += 1
            where = f"{distribution}: provenance {provenance} attestation {checked}"
            payload_type, payload = _verify_attestation(attestation, verifier, policy, root, where)
            _check_statement(payload_type, payload, distribution.name, sha256, where)
    if checked == 0:
        raise SignatureError(f"provenance {provenance} holds no attestations")
    return sha256, signer
