"""Verification of workset signatures: Sigstore bundles, pinned keys and PyPI provenance.

Every release file of a workset (its wheel, optionally its manifest) comes with one
Sigstore bundle, and the registry entry pins who must have made it. This package answers
one question, offline: *do these exact bytes carry a valid signature by the pinned signer?*
It returns a :class:`Verified` record (sha256 of the bytes, the signer, the mode) for the
consent record and ``worksets info``, or raises :class:`~modellab.errors.SignatureError`
whose message names what failed (file, digest, issuer/repository/workflow/SAN, chain, log
entry, key). It fails closed: anything it cannot check is a failure.

What is verified
----------------
* **Keyless** (:class:`KeylessSigner`, ``mode="keyless"``): a Sigstore bundle made in the
  publisher's CI. sigstore-python's ``Verifier`` checks the Fulcio certificate chain at the
  log's signing time, the embedded SCT, the Rekor entry (inclusion proof, signed checkpoint,
  inclusion promise), and the signature over the artifact's digest. The pinned identity is
  then a ``sigstore.verify.policy`` built from the signer: issuer plus source repository
  (plus workflow file, at any git ref), or an exact SAN for identities without the v2
  claims. The trust anchor is always an explicit ``trusted_root.json``: the one in
  :class:`TrustConfig`, or the production root vendored here (:func:`production_trusted_root`),
  whose sha256 is pinned and checked on every load. ``Verifier.production()`` and
  sigstore-python's cache are never used: that cache is read without any check, so a root
  planted there would otherwise be trusted.
* **Pinned key** (:class:`PinnedKeySigner`, ``mode="pinned-key"``): model-signing's key-mode
  bundle (ECDSA P-256/384/521, DSSE envelope, key hint, no log), verified against the PEM
  file configured for the key id by Model Lab's own reader (``_keys.py``, ``cryptography``
  only; model-signing verifies what it writes and vice versa, checked by the tests). The
  signed statement must cover exactly one file, this one, by sha256; any other shape is
  refused. For private registries; :func:`create_signing_key` and :func:`sign_with_key` are
  the publisher side.
* **PEP 740** (:func:`verify_pep740`, ``mode="pep740"``): PyPI's provenance object for a
  distribution. Each attestation is converted to a DSSE bundle and verified as above against
  the GitHub Trusted Publisher (repository + workflow file); the in-toto subject must be
  this file's name and sha256.

What is not
-----------
* Keyless *signing* never runs here: it needs Fulcio, Rekor and an OIDC token, so bundles
  come from the publisher's CI. Only verification is offline.
* Revocation: a certificate is valid at its signing time forever. Yanking and revoking come
  from the TUF-protected registry index, as does the choice of pinned signer.
* Freshness of the vendored production root: a root rotation is picked up only by a Model
  Lab release (or an explicit ``trusted_root`` refreshed through Sigstore's TUF repository).
* Rekor v2 / TSA-only bundles verify if sigstore-python accepts them, but the tests only
  produce Rekor v1-style entries.
* Provenance is not intent: a compromised CI or stolen key still signs validly.

Testing approach
----------------
No mocks. ``tests/trust/minisigstore.py`` is a miniature Sigstore built with
``cryptography`` (a CA root and intermediate, a CT log key issuing embedded SCTs, a Rekor key
signing inclusion promises and checkpoints, and its ``trusted_root.json``). The unmodified
sigstore-python ``Verifier`` accepts its bundles (a canary test checks that on every run),
so the attack matrix runs against real signatures; real production bundles and PyPI
provenance (``shared/corpus/sigstore-golden``) verify against the vendored root.

sigstore and pypi-attestations each take about a second to import, so they are imported
inside the functions that need them; importing this package is cheap, and the pinned-key
path never imports either (nor model-signing).
"""

from modellab.trust._keys import create_signing_key, key_id_of, sign_with_key
from modellab.trust._model import KeylessSigner, PinnedKeySigner, Signer, TrustConfig, Verified
from modellab.trust._roots import production_trusted_root
from modellab.trust._verify import verify_artifact, verify_pep740

__all__ = [
    "KeylessSigner",
    "PinnedKeySigner",
    "Signer",
    "TrustConfig",
    "Verified",
    "create_signing_key",
    "key_id_of",
    "production_trusted_root",
    "sign_with_key",
    "verify_artifact",
    "verify_pep740",
]
