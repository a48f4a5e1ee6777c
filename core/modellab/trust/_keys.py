"""Pinned-key signatures for private registries: model-signing's ECDSA key mode.

These bundles are Sigstore v0.3 bundles with a DSSE envelope and a public-key *hint*
(sha256 hex of the PEM public key) instead of a certificate and a log entry, which
sigstore-python cannot read. There is no transparency log: a stolen private key signs
silently, which is why keys are pinned per publisher in the signed registry index, where
they can be rotated and revoked.

The format is model-signing 1.x's (``model_signing.signing.Config().use_elliptic_key_signer``
on a single file), and the tests check both directions against model-signing itself. The
code here is our own and uses only ``cryptography``: importing model-signing (sigstore,
protobuf, pydantic models) took 0.2-0.4 s, a third of a whole ``worksets install``, and it
accepts more than a release file's signature needs to (directories, shards, other hash
algorithms, pre-1.0 payloads). What a bundle must look like, exactly::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": KEY_ID}, "tlogEntries": []},
     "dsseEnvelope": {"payloadType": "application/vnd.in-toto+json",
                      "payload": base64(STATEMENT),
                      "signatures": [{"sig": base64(DER ECDSA over PAE), "keyid": ""}]}}

    STATEMENT = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": FILE NAME, "digest": {"sha256": sha256(DIGEST bytes)}}],
                 "predicateType": "https://model_signing/signature/v1.0",
                 "predicate": {
                     "serialization": {"method": "files", "hash_type": "sha256",
                                       "allow_symlinks": BOOL, "ignore_paths": [STR...]?},
                     "resources": [{"name": ".", "algorithm": "sha256", "digest": DIGEST}]}}

``DIGEST`` is the file's sha256 (hex), the key's curve picks the hash the signature uses
(P-256: SHA-256, P-384: SHA-384, P-521: SHA-512), and PAE is DSSE v1's pre-authentication
encoding of the payload type and payload. Anything else (another field, a second signature
or resource, duplicate JSON keys) is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from modellab.errors import SignatureError
from modellab.trust._files import file_sha256, read_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )
    from cryptography.hazmat.primitives.hashes import HashAlgorithm

    from modellab.trust._model import PinnedKeySigner, TrustConfig

__all__ = ["create_signing_key", "key_id_of", "sign_with_key", "verify_pinned_key"]

_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
# model-signing names the single file it hashes "." (the path relative to itself).
_FILE_RESOURCE = "."
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The curves model-signing's key mode accepts (it refuses Ed25519 and RSA), with the hash
# it signs with on each; a bundle made on another curve could not be checked by it.
_CURVE_HASHES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}
PRIVATE_KEY_NAME = "private.pem"
PUBLIC_KEY_NAME = "public.pem"


def _canonical_pem(key: EllipticCurvePublicKey) -> bytes:
    """The PEM SubjectPublicKeyInfo model-signing hashes into its key hint."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: EllipticCurvePublicKey) -> str:
    return hashlib.sha256(_canonical_pem(key)).hexdigest()


def _load_public_key(public_key_pem: bytes) -> EllipticCurvePublicKey:
    """Load a PEM public key, refusing anything model-signing's key mode could not verify."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVE_HASHES:
        raise SignatureError("pinned keys must be ECDSA P-256, P-384 or P-521 public keys")
    return key


def key_id_of(public_key_pem: bytes) -> str:
    """The key id of a PEM public key: sha256 hex of its canonical PEM (model-signing's hint).

    The key is re-encoded first, so line endings or extra text around the PEM block do not
    change the id.
    """
    return _key_id(_load_public_key(public_key_pem))


def _signature_hash(key: EllipticCurvePublicKey) -> HashAlgorithm:
    """The hash ECDSA uses with this key's curve (the pairing model-signing signs with)."""
    from cryptography.hazmat.primitives import hashes

    algorithm: type[HashAlgorithm] = getattr(hashes, _CURVE_HASHES[key.curve.name])
    return algorithm()


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature actually covers.

    ``"DSSEv1" SP len(type) SP type SP len(payload) SP payload``, lengths in bytes, as ASCII
    decimals (https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md). Signing
    this, not the bare payload, binds the payload type too.
    """
    encoded_type = payload_type.encode("utf-8")
    header = b"DSSEv1 %d %s %d " % (len(encoded_type), encoded_type, len(payload))
    return header + payload


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


def _load_private_key(private_key: Path) -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(read_bytes(private_key, "private key"), None)
    except (ValueError, TypeError) as exc:  # TypeError: the key is password-protected
        raise SignatureError(f"private key {private_key} cannot be loaded: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVE_HASHES:
        raise SignatureError(f"private key {private_key} is not an ECDSA P-256/384/521 key")
    return key


def _statement(name: str, sha256: str) -> dict[str, Any]:
    """The in-toto statement model-signing writes for one file (see the module docstring)."""
    return {
        "_type": _STATEMENT_TYPE,
        # model-signing's subject is the model's name and a digest over all resource
        # digests (their raw bytes, in order); for one file, the sha256 of its sha256.
        "subject": [
            {"name": name, "digest": {"sha256": hashlib.sha256(bytes.fromhex(sha256)).hexdigest()}}
        ],
        "predicateType": _PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": [{"name": _FILE_RESOURCE, "algorithm": "sha256", "digest": sha256}],
        },
    }


def sign_with_key(artifact: Path, private_key: Path, bundle_out: Path) -> str:
    """Sign ``artifact`` into a model-signing v0.3 bundle at ``bundle_out``; return the key id.

    ``private_key`` is an unencrypted PEM ECDSA key (as :func:`create_signing_key` writes).
    The bundle is the one model-signing's key mode writes for a single file, and
    model-signing verifies it; it replaces ``bundle_out`` atomically, and only once signing
    has succeeded.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    from modellab._internal.files import atomic_write_bytes

    sha256 = file_sha256(artifact, "artifact")
    key = _load_private_key(private_key)
    payload = json.dumps(_statement(artifact.name, sha256), indent=2).encode("utf-8")
    signature = key.sign(_pae(_PAYLOAD_TYPE, payload), ec.ECDSA(_signature_hash(key.public_key())))
    key_id = _key_id(key.public_key())
    bundle = {
        "mediaType": _BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_id}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": _PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    try:
        atomic_write_bytes(bundle_out, json.dumps(bundle, separators=(",", ":")).encode("utf-8"))
    except OSError as exc:
        raise SignatureError(f"cannot write bundle {bundle_out}: {exc}") from exc
    return key_id


# --- verification ---------------------------------------------------------------------


class _Malformed(Exception):
    """A bundle or statement is not in the one shape accepted; the message names the field."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key means two parsers may read two different documents from the same bytes
    # (Python keeps the last one, others the first): refuse instead of choosing.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Malformed(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> NoReturn:
    raise _Malformed(f"non-standard JSON value {name}")


def _strict_json(data: bytes) -> Any:
    """Parse UTF-8 JSON, refusing duplicate keys and NaN/Infinity (neither is valid JSON).

    ``json.loads`` would also guess UTF-16 or UTF-32 from raw bytes; model-signing reads
    UTF-8 only, so anything else is refused here too.
    """
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except UnicodeDecodeError as exc:
        raise _Malformed(f"not UTF-8: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise _Malformed(f"not valid JSON: {exc}") from exc


def _object(
    value: Any, where: str, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, Any]:
    """``value`` as a JSON object holding every ``required`` key and nothing unlisted."""
    if not isinstance(value, dict):
        raise _Malformed(f"{where}: expected an object")
    missing = [key for key in required if key not in value]
    if missing:
        raise _Malformed(f"{where}: missing {', '.join(missing)}")
    unexpected = sorted(set(value) - set(required) - set(optional))
    if unexpected:
        raise _Malformed(f"{where}: unexpected {', '.join(map(repr, unexpected))}")
    return value


def _one_item(value: Any, where: str) -> Any:
    if not isinstance(value, list):
        raise _Malformed(f"{where}: expected a list")
    if len(value) != 1:
        raise _Malformed(f"{where}: expected exactly one entry, found {len(value)}")
    return value[0]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{where}: expected a string")
    return value


def _equal(value: Any, expected: object, where: str) -> None:
    if value != expected or type(value) is not type(expected):
        raise _Malformed(f"{where}: expected {expected!r}, found {value!r}")


def _sha256_hex(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise _Malformed(f"{where}: expected a sha256 as 64 lowercase hex digits")
    return value


def _base64(value: Any, where: str) -> bytes:
    """Standard, padded base64 only (what model-signing writes): one encoding per value."""
    try:
        return base64.b64decode(_text(value, where), validate=True)
    except binascii.Error as exc:
        raise _Malformed(f"{where}: not base64: {exc}") from exc


def _hint(bundle: Mapping[str, Any], bundle_path: Path) -> str:
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


def _envelope(bundle: Mapping[str, Any], hint: str) -> tuple[str, bytes, bytes]:
    """The DSSE envelope's payload type, payload and only signature, after a shape check.

    The hint was read already; this refuses everything a key-mode bundle must not carry
    (log entries, timestamps, a certificate next to the hint, more than one signature).
    """
    _object(bundle, "bundle", ("mediaType", "verificationMaterial", "dsseEnvelope"))
    material = _object(
        bundle["verificationMaterial"],
        "verificationMaterial",
        ("publicKey",),
        # model-signing 1.1 writes an empty log list; protobuf-era writers omitted it.
        ("tlogEntries",),
    )
    _object(material["publicKey"], "verificationMaterial.publicKey", ("hint",))
    if material.get("tlogEntries", []) != []:
        raise _Malformed("verificationMaterial.tlogEntries: a pinned-key bundle has no log")
    envelope = _object(
        bundle["dsseEnvelope"], "dsseEnvelope", ("payload", "payloadType", "signatures")
    )
    entry = _object(
        _one_item(envelope["signatures"], "dsseEnvelope.signatures"),
        "dsseEnvelope.signatures[0]",
        ("sig",),
        ("keyid",),
    )
    # DSSE's keyid is an unauthenticated hint: model-signing leaves it empty. Anything else
    # naming another key would be a second, contradicting claim about the signer.
    if entry.get("keyid", "") not in ("", hint):
        raise _Malformed(f"dsseEnvelope.signatures[0].keyid: {entry['keyid']!r} is not {hint}")
    payload_type = _text(envelope["payloadType"], "dsseEnvelope.payloadType")
    payload = _base64(envelope["payload"], "dsseEnvelope.payload")
    signature = _base64(entry["sig"], "dsseEnvelope.signatures[0].sig")
    return payload_type, payload, signature


def _signed_sha256(payload: bytes) -> str:
    """The one file's sha256 that a verified statement signs, after a full shape check.

    Mirrors what model-signing's verifier requires (statement and predicate type, one
    subject whose digest matches the resources) and narrows it to a release file: the
    ``files`` serialization hashed with sha256, and exactly one resource, the file itself.
    """
    try:
        parsed = _strict_json(payload)
    except _Malformed as exc:
        raise _Malformed(f"payload: {exc}") from exc
    statement = _object(parsed, "statement", ("_type", "subject", "predicateType", "predicate"))
    _equal(statement["_type"], _STATEMENT_TYPE, "statement._type")
    # model-signing 0.2's "https://model_signing/Digests/v0.1" is refused with the rest:
    # its payload carries no serialization and no consistency digest.
    _equal(statement["predicateType"], _PREDICATE_TYPE, "statement.predicateType")
    subject = _object(
        _one_item(statement["subject"], "statement.subject"),
        "statement.subject[0]",
        ("name", "digest"),
    )
    # The name is informative only (model-signing records the file name at signing time and
    # never compares it); the registry's signed index is what names the file.
    _text(subject["name"], "statement.subject[0].name")
    digest = _object(subject["digest"], "statement.subject[0].digest", ("sha256",))
    subject_sha256 = _sha256_hex(digest["sha256"], "statement.subject[0].digest.sha256")
    predicate = _object(
        statement["predicate"], "statement.predicate", ("serialization", "resources")
    )
    serialization = _object(
        predicate["serialization"],
        "statement.predicate.serialization",
        ("method", "hash_type", "allow_symlinks"),
        ("ignore_paths",),
    )
    _equal(serialization["method"], "files", "statement.predicate.serialization.method")
    _equal(serialization["hash_type"], "sha256", "statement.predicate.serialization.hash_type")
    if not isinstance(serialization["allow_symlinks"], bool):
        raise _Malformed("statement.predicate.serialization.allow_symlinks: expected a boolean")
    ignored = serialization.get("ignore_paths", [])
    if not isinstance(ignored, list) or not all(isinstance(path, str) for path in ignored):
        raise _Malformed("statement.predicate.serialization.ignore_paths: expected strings")
    resources = predicate["resources"]
    if isinstance(resources, list) and len(resources) != 1:
        raise _Malformed(
            f"statement.predicate.resources: it signs {len(resources)} files, not exactly one file"
        )
    resource = _object(
        _one_item(resources, "statement.predicate.resources"),
        "statement.predicate.resources[0]",
        ("name", "algorithm", "digest"),
    )
    _equal(resource["name"], _FILE_RESOURCE, "statement.predicate.resources[0].name")
    _equal(resource["algorithm"], "sha256", "statement.predicate.resources[0].algorithm")
    signed = _sha256_hex(resource["digest"], "statement.predicate.resources[0].digest")
    # model-signing refuses a statement whose subject digest is not the digest of its
    # resources ("Manifest is inconsistent"); so do we, so that we accept nothing it refuses.
    expected_subject = hashlib.sha256(bytes.fromhex(signed)).hexdigest()
    if subject_sha256 != expected_subject:
        raise _Malformed(
            f"statement.subject[0].digest.sha256: {subject_sha256} is not the digest of the "
            f"resources ({expected_subject})"
        )
    return signed


def _pinned_public_key(
    artifact: Path, signer: PinnedKeySigner, trust: TrustConfig
) -> EllipticCurvePublicKey:
    """The public key configured for ``signer.key_id``, checked to really be that key."""
    key_path = trust.public_keys.get(signer.key_id)
    if key_path is None:
        raise SignatureError(
            f"{artifact}: unknown key id {signer.key_id}: no public key is configured for it",
            hint="add the publisher's public key to the trust configuration",
        )
    try:
        key = _load_public_key(read_bytes(key_path, "public key"))
    except SignatureError as exc:
        raise SignatureError(f"public key {key_path}: {exc.message}") from exc
    actual = _key_id(key)
    if actual != signer.key_id:
        raise SignatureError(
            f"key mismatch: public key {key_path} has key id {actual}, "
            f"but is configured as {signer.key_id}"
        )
    return key


def verify_pinned_key(
    artifact: Path,
    artifact_sha256: str,
    bundle_path: Path,
    raw_bundle: bytes,
    signer: PinnedKeySigner,
    trust: TrustConfig,
) -> None:
    """Verify a model-signing key-mode bundle against the pinned key ``signer.key_id``.

    ``raw_bundle`` is the bundle file's content and ``artifact_sha256`` the sha256 of the
    artifact bytes the caller read (and will record): the bundle must sign exactly that.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    # Parsed here again, strictly: the caller's parse keeps the last of two duplicate keys.
    try:
        bundle = _strict_json(raw_bundle)
    except _Malformed as exc:
        raise SignatureError(f"bundle {bundle_path} is not usable: {exc}") from exc
    if not isinstance(bundle, dict):
        raise SignatureError(f"bundle {bundle_path} is not a JSON object")
    hint = _hint(bundle, bundle_path)
    if hint != signer.key_id:
        raise SignatureError(
            f"{artifact}: key mismatch: bundle {bundle_path} was signed by key {hint}, "
            f"not the pinned key {signer.key_id}"
        )
    key = _pinned_public_key(artifact, signer, trust)
    try:
        payload_type, payload, signature = _envelope(bundle, hint)
    except _Malformed as exc:
        raise SignatureError(
            f"bundle {bundle_path} is not a model-signing key-mode bundle: {exc}"
        ) from exc
    # Checked before the signature only for a clearer message: the PAE binds the type too.
    if payload_type != _PAYLOAD_TYPE:
        raise SignatureError(
            f"bundle {bundle_path} has payload type {payload_type!r}, expected {_PAYLOAD_TYPE}"
        )
    try:
        key.verify(signature, _pae(payload_type, payload), ec.ECDSA(_signature_hash(key)))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            f"{artifact}: bundle {bundle_path}: signature does not verify with the pinned key "
            f"{signer.key_id}"
        ) from exc
    # Only now is the payload the publisher's: everything below reads signed data.
    try:
        signed = _signed_sha256(payload)
    except _Malformed as exc:
        raise SignatureError(
            f"{artifact}: bundle {bundle_path} is signed by the pinned key, but its statement "
            f"is not a single-file model-signing statement: {exc}"
        ) from exc
    if signed != artifact_sha256:
        raise SignatureError(
            f"{artifact}: artifact digest mismatch: these are not the bytes that were signed "
            f"(Hash mismatch: bundle {bundle_path} signs sha256 {signed}, "
            f"the artifact has sha256 {artifact_sha256})"
        )
