"""A miniature, offline Sigstore for tests: real keys, real certificates, real log proofs.

Public Sigstore signing needs Fulcio, Rekor and an OIDC provider on the network, so tests
cannot call it. They do not need to: what Model Lab verifies is a *bundle*, and a bundle is
only certificates, signatures and log proofs. This module plays every server part locally
with ``cryptography`` (research note §1.5):

* **Fulcio**: a root CA and an intermediate (P-256) that issue short-lived leaf certificates
  with a SAN, the OIDC issuer (``1.3.6.1.4.1.57264.1.1`` raw and ``.1.8`` as a DER
  UTF8String) and the v2 claims a GitHub Actions token yields (source repository ``.1.12``,
  build config ``.1.18``).
* **CT log**: a key that signs an RFC 6962 precertificate SCT, embedded in the leaf.
* **Rekor v1**: a key that signs the inclusion promise (SET) and the checkpoint of a
  one-leaf Merkle tree holding the entry.
* **trusted_root.json** naming all of the above, the file the code under test is given.

Nothing here patches sigstore-python: the unmodified ``Verifier`` accepts these bundles (the
canary test proves it on every run), and rejects them under any other trusted root.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
PYPI_PUBLISH_PREDICATE = "https://docs.pypi.org/attestations/publish/v1"

_FULCIO = "1.3.6.1.4.1.57264.1."
OID_ISSUER_V1 = x509.ObjectIdentifier(_FULCIO + "1")
OID_ISSUER_V2 = x509.ObjectIdentifier(_FULCIO + "8")
OID_SOURCE_REPOSITORY_URI = x509.ObjectIdentifier(_FULCIO + "12")
OID_BUILD_CONFIG_URI = x509.ObjectIdentifier(_FULCIO + "18")
OID_SOURCE_REPOSITORY_REF = x509.ObjectIdentifier(_FULCIO + "14")
OID_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


# --- small encoders -----------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    """One DER TLV; lengths above 127 use the long form (RFC X.690 §8.1.3)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def der_utf8(text: str) -> bytes:
    """A DER UTF8String, the encoding Fulcio uses for its v2 extensions."""
    return _der(0x0C, text.encode())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """RFC 6962 log id: SHA-256 of the DER SubjectPublicKeyInfo (used for CT and Rekor)."""
    return hashlib.sha256(_spki_der(key)).digest()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what a DSSE signature actually covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def in_toto_statement(
    name: str, sha256_hex: str, predicate_type: str = PYPI_PUBLISH_PREDICATE
) -> bytes:
    """An in-toto v1 Statement with one subject, as PyPI's publish attestations carry."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": sha256_hex}}],
        "predicateType": predicate_type,
        "predicate": None,
    }
    return json.dumps(statement, separators=(",", ":")).encode()


# --- identities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """What the OIDC token said, as Fulcio would copy it into the leaf certificate."""

    san: str
    issuer: str = GITHUB_ISSUER
    repository: str | None = None  # 1.3.6.1.4.1.57264.1.12
    build_config: str | None = None  # 1.3.6.1.4.1.57264.1.18
    ref: str | None = None  # 1.3.6.1.4.1.57264.1.14, the source repository ref
    with_v2_issuer: bool = True  # 1.3.6.1.4.1.57264.1.8


def github_claims(
    repo: str = "acme/ws-hf", workflow: str = "release.yml", ref: str = "refs/tags/v1.0.0"
) -> Claims:
    """The claims of a GitHub Actions run of ``workflow`` in ``repo`` at ``ref``."""
    workflow_uri = f"https://github.com/{repo}/.github/workflows/{workflow}@{ref}"
    return Claims(
        san=workflow_uri,
        repository=f"https://github.com/{repo}",
        build_config=workflow_uri,
        ref=ref,
    )


def email_claims(
    email: str = "dev@example.org", issuer: str = "https://accounts.example.org"
) -> Claims:
    """An interactive (email) identity: no repository or build config claims at all."""
    return Claims(san=email, issuer=issuer)


# --- the authority ------------------------------------------------------------------------


class MiniSigstore:
    """One self-contained Sigstore instance; two instances never trust each other."""

    def __init__(self, name: str = "mini-sigstore.test") -> None:
        self.name = name
        now = dt.datetime.now(dt.UTC)
        self.created = now - dt.timedelta(days=1)
        self._root_key = ec.generate_private_key(ec.SECP256R1())
        self._intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.root_cert = self._ca_cert(
            self._root_key, self._root_key, f"{name} root", None, path_length=1
        )
        self.intermediate_cert = self._ca_cert(
            self._intermediate_key,
            self._root_key,
            f"{name} intermediate",
            self.root_cert,
            path_length=0,
        )
        self._log_index = 1000

    # -- CA ----------------------------------------------------------------------------

    def _ca_cert(
        self,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        common_name: str,
        issuer: x509.Certificate | None,
        *,
        path_length: int,
    ) -> x509.Certificate:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.name),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        issuer_name = issuer.subject if issuer is not None else subject
        issuer_public = signer.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.created)
            .not_valid_after(self.created + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
            )
        )
        return builder.sign(signer, hashes.SHA256())

    def _leaf_builder(
        self,
        public_key: ec.EllipticCurvePublicKey,
        claims: Claims,
        not_before: dt.datetime,
        not_after: dt.datetime,
        serial: int,
    ) -> x509.CertificateBuilder:
        san: x509.GeneralName
        if "://" in claims.san:
            san = x509.UniformResourceIdentifier(claims.san)
        else:
            san = x509.RFC822Name(claims.san)
        builder = (
            x509.CertificateBuilder()
            # Fulcio leaves have an empty subject; the SAN carries the identity (so it is critical).
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate_cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._intermediate_key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(OID_ISSUER_V1, claims.issuer.encode()), critical=False
            )
        )
        v2 = []
        if claims.with_v2_issuer:
            v2.append((OID_ISSUER_V2, claims.issuer))
        if claims.repository is not None:
            v2.append((OID_SOURCE_REPOSITORY_URI, claims.repository))
        if claims.build_config is not None:
            v2.append((OID_BUILD_CONFIG_URI, claims.build_config))
        if claims.ref is not None:
            v2.append((OID_SOURCE_REPOSITORY_REF, claims.ref))
        for oid, value in v2:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, der_utf8(value)), critical=False
            )
        return builder

    def issue_leaf(
        self,
        claims: Claims,
        *,
        not_before: dt.datetime | None = None,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A fresh signing key and its leaf certificate, with an embedded SCT from our CT log."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        start = start.replace(microsecond=0)
        serial = x509.random_serial_number()

        # Pass 1: the precertificate's TBS (everything except the SCT list) is what the CT
        # log signs. Pass 2 appends the SCT list as the last extension and signs for real.
        precert = self._leaf_builder(
            key.public_key(), claims, start, start + lifetime, serial
        ).sign(self._intermediate_key, hashes.SHA256())
        tbs = precert.tbs_certificate_bytes
        sct = self._sct(tbs, timestamp_ms=int(start.timestamp() * 1000) + 1000)
        sct_list = struct.pack("!H", len(sct)) + sct
        sct_ext = _der(0x04, struct.pack("!H", len(sct_list)) + sct_list)
        leaf = (
            self._leaf_builder(key.public_key(), claims, start, start + lifetime, serial)
            .add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, sct_ext), critical=False)
            .sign(self._intermediate_key, hashes.SHA256())
        )
        # If the two TBS differ, the embedded SCT can never verify: fail here, loudly.
        assert leaf.tbs_precertificate_bytes == tbs, "SCT extension must be last and alone"
        return key, leaf

    def _sct(self, tbs: bytes, *, timestamp_ms: int) -> bytes:
        """A v1 precert SCT (RFC 6962 §3.2) over ``tbs``, TLS-encoded."""
        issuer_key_hash = _key_id(self._intermediate_key.public_key())
        extensions = b""
        signed = (
            struct.pack(
                "!BBQH", 0, 0, timestamp_ms, 1
            )  # v1, certificate_timestamp, time, precert_entry
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", len(extensions))
            + extensions
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + _key_id(self.ct_key.public_key())
            + struct.pack("!Q", timestamp_ms)
            + struct.pack("!H", len(extensions))
            + extensions
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )

    # -- Rekor -------------------------------------------------------------------------

    def set_for(
        self, body: bytes, *, integrated_time: int, log_index: int, log_id: bytes | None = None
    ) -> str:
        """The inclusion promise (SET): the log key's signature over the entry's canonical JSON."""
        log_id = log_id if log_id is not None else _key_id(self.rekor_key.public_key())
        payload = {
            "body": _b64(body),
            "integratedTime": integrated_time,
            "logID": log_id.hex(),
            "logIndex": log_index,
        }
        return _b64(self.rekor_key.sign(rfc8785.dumps(payload), ec.ECDSA(hashes.SHA256())))

    def _log_entry(self, body: bytes, kind: str, integrated_time: int | None) -> dict[str, Any]:
        """Put ``body`` in a fresh one-leaf log and return the bundle's tlog entry for it."""
        self._log_index += 1
        log_id = _key_id(self.rekor_key.public_key())
        when = integrated_time if integrated_time is not None else int(time.time())
        # A one-leaf tree: the root is the leaf hash and the audit path is empty.
        root_hash = hashlib.sha256(b"\x00" + body).digest()
        origin = f"{self.name} - 1"
        note = f"{origin}\n1\n{_b64(root_hash)}\n"
        note_signature = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 {self.name} {_b64(log_id[:4] + note_signature)}\n"
        return {
            "logIndex": str(self._log_index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": str(when),
            "inclusionPromise": {
                "signedEntryTimestamp": self.set_for(
                    body, integrated_time=when, log_index=self._log_index
                )
            },
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": _b64(root_hash),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }

    # -- signing -----------------------------------------------------------------------

    def sign_artifact(
        self,
        data: bytes,
        claims: Claims,
        *,
        not_before: dt.datetime | None = None,
        integrated_time: int | None = None,
    ) -> dict[str, Any]:
        """A v0.3 bundle (message signature, hashedrekord entry) for ``data``, as JSON data."""
        key, leaf = self.issue_leaf(claims, not_before=not_before)
        digest = hashlib.sha256(data).digest()
        signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                    "signature": {
                        "content": _b64(signature),
                        "publicKey": {"content": _b64(leaf_pem)},
                    },
                },
            }
        )
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(leaf.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [self._log_entry(body, "hashedrekord", integrated_time)],
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                "signature": _b64(signature),
            },
        }

    def attest(self, statement: bytes, claims: Claims) -> dict[str, Any]:
        """A PEP 740 attestation object: a DSSE-signed in-toto statement with a dsse log entry."""
        key, leaf = self.issue_leaf(claims)
        signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, statement), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": _b64(statement),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(signature)}],
        }
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    # Verifiers cannot recompute this (the envelope JSON is not canonical).
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(rfc8785.dumps(envelope)).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(statement).hexdigest(),
                    },
                    "signatures": [
                        {
                            "signature": _b64(signature),
                            "verifier": _b64(leaf.public_bytes(serialization.Encoding.PEM)),
                        }
                    ],
                },
            }
        )
        return {
            "version": 1,
            "verification_material": {
                "certificate": _b64(leaf.public_bytes(serialization.Encoding.DER)),
                "transparency_entries": [self._log_entry(body, "dsse", None)],
            },
            "envelope": {"statement": _b64(statement), "signature": _b64(signature)},
        }

    # -- trust root --------------------------------------------------------------------

    def trusted_root(self) -> dict[str, Any]:
        """This instance's ``trusted_root.json`` content."""

        def log(url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki_der(key.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": _rfc3339(self.created)},
                },
                "logId": {"keyId": _b64(_key_id(key.public_key()))},
            }

        chain = [self.intermediate_cert, self.root_cert]  # leaf-most first
        return {
            "mediaType": ROOT_MEDIA_TYPE,
            "tlogs": [log(f"https://rekor.{self.name}", self.rekor_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": f"{self.name} root"},
                    "uri": f"https://fulcio.{self.name}",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))}
                            for c in chain
                        ]
                    },
                    "validFor": {"start": _rfc3339(self.created)},
                }
            ],
            "ctlogs": [log(f"https://ctfe.{self.name}", self.ct_key)],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        """Write ``trusted_root.json`` to ``path`` and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.trusted_root(), indent=2), encoding="utf-8")
        return path


def provenance(
    attestations: list[dict[str, Any]],
    repository: str = "acme/ws-hf",
    workflow: str = "release.yml",
) -> dict[str, Any]:
    """A PyPI Integrity-API provenance object around ``attestations`` (GitHub publisher)."""
    publisher = {
        "kind": "GitHub",
        "repository": repository,
        "workflow": workflow,
        "environment": None,
    }
    return {
        "version": 1,
        "attestation_bundles": [{"publisher": publisher, "attestations": attestations}],
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON to ``path`` and return it."""
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
