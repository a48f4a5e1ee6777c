"""Builders for test registries, a bounded loopback HTTP mirror, and attacker tools.

The attacker tools use python-tuf's Metadata API directly, as a real attacker (or a broken
publisher) would: they re-sign with keys they hold and rewrite files on the mirror.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from modellab.registry import Index, PinnedKeySpec, RegistryRepository, Release, create_keys
from modellab.registry._keys import load_signers

KEY_ID = "ab" * 32


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def release(name: str = "observability", version: str = "0.1.0", **changes: Any) -> Release:
    """A valid release whose file names follow the workset's name and version."""
    stem = f"modellab_{name.replace('-', '_')}-{version}-py3-none-any.whl"
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "artifact": stem,
        "sha256": sha(stem.encode()),
        "size": len(stem),
        "bundle": f"{stem}.sigstore.json",
        "bundle_sha256": sha(b"bundle"),
        "manifest": f"{name}-{version}.workset.toml",
        "manifest_sha256": sha(b"manifest"),
        "isolation": "shared",
        "signer": PinnedKeySpec(key_id=KEY_ID),
    }
    fields.update(changes)
    return Release(**fields)


@dataclass
class Registry:
    """A registry folder, its keys and the root a user would pin."""

    path: Path
    keys_dir: Path
    repo: RegistryRepository

    @property
    def metadata(self) -> Path:
        return self.path / "metadata"

    @property
    def trusted_root(self) -> bytes:
        return (self.metadata / "1.root.json").read_bytes()

    def publish_index(self, *releases: Release) -> Index:
        """Publish an index with these releases (plus dummy wheel bytes for each)."""
        index = Index(releases=releases)
        files = {"index.toml": index.to_toml()}
        for entry in releases:
            files[entry.artifact] = entry.artifact.encode()
        self.repo.add_targets(files)
        return index


def make_registry(base: Path) -> Registry:
    keys_dir = base / "keys"
    create_keys(keys_dir)
    repo = RegistryRepository(base / "registry", keys_dir)
    repo.init()
    return Registry(base / "registry", keys_dir, repo)


# ---- attacker and stale-publisher tools ---------------------------------------------------


def load(path: Path) -> Metadata[Any]:
    return Metadata.from_bytes(path.read_bytes())


def write(md: Metadata[Any], path: Path) -> None:
    path.write_bytes(md.to_bytes(JSONSerializer(compact=False)))


def role_signer(registry: Registry, role: str) -> CryptoSigner:
    """The maintainer's real key for ``role`` (what an attacker has after stealing it)."""
    return load_signers(registry.keys_dir)[role]


def resign_timestamp(
    registry: Registry, *, expires: datetime, snapshot_version: int | None = None
) -> None:
    """Publish timestamp v+1 signed with the real timestamp key, with the given expiry."""
    path = registry.metadata / "timestamp.json"
    md = load(path)
    md.signed.version += 1
    md.signed.expires = expires
    if snapshot_version is not None:
        md.signed.snapshot_meta.version = snapshot_version
    md.sign(role_signer(registry, "timestamp"))
    write(md, path)


def already_expired() -> datetime:
    """An expiry in the past: a timestamp a frozen mirror keeps serving after it ran out."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


# ---- a loopback HTTP mirror ---------------------------------------------------------------

MAX_REQUESTS = 500


class _QuietHandler(SimpleHTTPRequestHandler):
    timeout = 5  # seconds per connection: a stuck client cannot hold the server
    served: list[int]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.served.append(1)
        if len(self.served) > MAX_REQUESTS:
            self.send_error(503, "test server request budget spent")
            return
        super().do_GET()


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 on a free port; yield its base URL."""
    handler_class = type("Handler", (_QuietHandler,), {"served": []})
    handler = functools.partial(handler_class, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
