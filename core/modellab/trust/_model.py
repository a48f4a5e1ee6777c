"""The values trust decisions are made of: pinned signers, trust configuration, results."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeAlias

from modellab.errors import SignatureError

__all__ = ["KeylessSigner", "PinnedKeySigner", "Signer", "TrustConfig", "Verified", "VerifyMode"]

_KEY_ID = re.compile(r"[0-9a-f]{64}")

VerifyMode: TypeAlias = Literal["keyless", "pinned-key", "pep740"]


def _check_key_id(key_id: str) -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise SignatureError(
            f"invalid key id {key_id!r}: expected 64 lowercase hex digits "
            "(sha256 of the PEM public key)"
        )


@dataclass(frozen=True)
class KeylessSigner:
    """A pinned identity for Sigstore keyless bundles (a Fulcio certificate from CI).

    Every field that is set is enforced against the bundle's leaf certificate:

    * ``issuer``: the OIDC issuer, e.g. ``https://token.actions.githubusercontent.com``.
    * ``repository``: the source repository URI (Fulcio extension 1.3.6.1.4.1.57264.1.12),
      e.g. ``https://github.com/acme/ws-hf``. It may be empty only when ``identity`` is set,
      for identities (such as email) whose certificates carry no repository claim.
    * ``workflow``: the workflow file URI without its ``@ref`` suffix, e.g.
      ``https://github.com/acme/ws-hf/.github/workflows/release.yml``. It matches the
      build config URI (1.3.6.1.4.1.57264.1.18) or a URI SAN, for any git ref, so a pin
      survives new release tags.
    * ``identity``: an exact SAN (email or URI, including any ``@ref``) for certificates
      without the v2 extensions.
    * ``ref``: a pattern (``fnmatch``, e.g. ``refs/tags/v*``) the git ref that ran the
      workflow must match (Fulcio extension 1.3.6.1.4.1.57264.1.14). Without it, a
      workflow run from any branch signs validly.
    """

    issuer: str
    repository: str
    workflow: str | None = None
    identity: str | None = None
    ref: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer:
            raise SignatureError("invalid keyless signer: the OIDC issuer is empty")
        if not self.repository and self.identity is None:
            raise SignatureError(
                "invalid keyless signer: pin a repository, or an exact identity when the "
                "certificate has no repository claim"
            )
        if self.workflow is not None and (not self.workflow or "@" in self.workflow):
            raise SignatureError(
                f"invalid keyless signer: workflow {self.workflow!r} must be the workflow "
                "file URI without an '@ref' suffix"
            )
        if self.identity is not None and not self.identity:
            raise SignatureError("invalid keyless signer: the identity is empty")
        if self.ref is not None and not self.ref.startswith("refs/"):
            raise SignatureError(
                f"invalid keyless signer: ref pattern {self.ref!r} must start with 'refs/'"
            )

    def describe(self) -> str:
        """One line for humans, e.g. for ``worksets info`` and consent prompts."""
        parts = []
        if self.repository:
            parts.append(self.repository)
        if self.workflow is not None:
            prefix = self.repository.rstrip("/") + "/" if self.repository else ""
            shown = self.workflow.removeprefix(prefix) if prefix else self.workflow
            parts.append(f"workflow {shown}")
        if self.identity is not None:
            parts.append(f"identity {self.identity}")
        if self.ref is not None:
            parts.append(f"ref {self.ref}")
        return f"Sigstore keyless: {', '.join(parts)} (issuer {self.issuer})"


@dataclass(frozen=True)
class PinnedKeySigner:
    """A pinned ECDSA public key, named by its key id (sha256 hex of the PEM public key).

    The key id is model-signing's key "hint", written into every bundle it signs.
    """

    key_id: str

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)

    def describe(self) -> str:
        """One line for humans, e.g. for ``worksets info`` and consent prompts."""
        return f"pinned key {self.key_id} (no transparency log)"


Signer: TypeAlias = KeylessSigner | PinnedKeySigner


@dataclass(frozen=True)
class TrustConfig:
    """What verification trusts, independent of any per-user cache.

    ``trusted_root`` is an explicit Sigstore ``trusted_root.json`` (a private Sigstore, or a
    refreshed production root saved by Model Lab); ``None`` means the production root
    vendored in Model Lab, whose hash is pinned. ``public_keys`` maps key ids to PEM public
    key files for :class:`PinnedKeySigner`; a copy is kept, so later changes to the mapping
    passed in have no effect.
    """

    trusted_root: Path | None
    public_keys: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key_id in self.public_keys:
            _check_key_id(key_id)
        object.__setattr__(self, "public_keys", MappingProxyType(dict(self.public_keys)))


@dataclass(frozen=True)
class Verified:
    """What was verified: recorded with consent and shown by ``worksets info``.

    ``artifact_sha256`` is the digest of the exact bytes that verified; install by that hash.
    ``mode`` is ``"keyless"``, ``"pinned-key"`` or ``"pep740"``.
    """

    artifact_sha256: str
    signer: Signer
    mode: VerifyMode
