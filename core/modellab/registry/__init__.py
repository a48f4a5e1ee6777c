"""The workset registry: a signed index of releases, protected by TUF (The Update Framework).

A registry is a plain folder, published as static files (any HTTP host, or a folder copied
to an air-gapped machine)::

    <registry>/metadata/1.root.json, 2.root.json, ...    every root version, kept forever
    <registry>/metadata/<N>.targets.json                  consistent-snapshot names
    <registry>/metadata/<N>.snapshot.json
    <registry>/metadata/timestamp.json                    the one file without a version
    <registry>/targets/<sha256>.index.toml                every release (see Index)
    <registry>/targets/<sha256>.<wheel | bundle | manifest>

The signing keys live elsewhere (see :func:`create_keys`): one Ed25519 key per role.

What each TUF role protects against:

* **root** names the keys (and thresholds) of every role. A new root must be signed by the
  previous root's keys, so keys can be rotated and clients follow safely; a client trusts
  only the root it was given (``trusted_root``), never one it downloads on its own.
* **targets** signs the length and sha256 of every file (``index.toml``, wheels, bundles,
  manifests): a file changed on a mirror is refused (tampering).
* **snapshot** signs the current version of the targets metadata, so a mirror cannot serve
  an old targets file next to a new snapshot (mix-and-match).
* **timestamp** is re-signed often with a short expiry and names the current snapshot: a
  mirror that stops updating is noticed once it expires (freeze), and the client remembers
  the versions it has seen in its cache, so older metadata is refused (rollback).

Maintainers use :class:`RegistryRepository`; users' machines use :class:`RegistryClient`,
which returns only files that passed those checks. python-tuf is imported only when one of
them does real work, never by ``import modellab.registry``.
"""

from modellab.registry._index import (
    Index,
    KeylessSpec,
    Pep740Spec,
    PinnedKeySpec,
    Release,
    SignerSpec,
)
from modellab.registry._keys import create_keys
from modellab.registry._tuf_client import RegistryClient, RegistryState
from modellab.registry._tuf_repo import RegistryRepository

__all__ = [
    "Index",
    "KeylessSpec",
    "Pep740Spec",
    "PinnedKeySpec",
    "RegistryClient",
    "RegistryRepository",
    "RegistryState",
    "Release",
    "SignerSpec",
    "create_keys",
]
