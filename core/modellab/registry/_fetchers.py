"""How the TUF client reaches a registry: a folder on disk, or HTTP(S).

This module imports python-tuf at the top, so only import it from inside functions (the
client does): ``import modellab.registry`` must stay free of TUF.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from tuf.api.exceptions import DownloadError, DownloadHTTPError
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

__all__ = ["DirectoryFetcher", "RecordingFetcher", "http_fetcher"]

_CHUNK = 1 << 16


def _read_chunks(path: Path) -> Iterator[bytes]:
    # Chunked so that TUF's length limit stops an oversized file before it is all read.
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


class DirectoryFetcher(FetcherInterface):
    """Serves ``file://`` URLs from one folder (a local or air-gapped registry mirror).

    ngclient's own fetcher speaks only HTTP(S). A missing file must look like an HTTP 404:
    that is how the client learns the newest ``N.root.json`` has been reached.
    """

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _fetch(self, url: str) -> Iterator[bytes]:
        parts = urlsplit(url)
        if parts.scheme != "file":
            raise DownloadError(f"a local registry cannot fetch {url}")
        path = Path(url2pathname(parts.path)).resolve()
        # Target names come from signed metadata, but never read outside the registry anyway.
        if not path.is_relative_to(self._root):
            raise DownloadError(f"{url} is outside the registry folder {self._root}")
        if not path.is_file():
            raise DownloadHTTPError(f"{path} not found", 404)
        return _read_chunks(path)


def http_fetcher() -> FetcherInterface:
    """ngclient's default HTTP(S) fetcher, naming Model Lab in its user agent."""
    return Urllib3Fetcher(app_user_agent="modellab")


class RecordingFetcher(FetcherInterface):
    """Passes downloads through, remembering the last URL and (for metadata) what came back.

    TUF raises the same ``BadVersionNumberError`` for a rollback and for a mix-and-match;
    the file being fetched, and the version inside what the mirror served, tell them apart.
    """

    def __init__(self, inner: FetcherInterface, metadata_base_url: str) -> None:
        self._inner = inner
        self._metadata_base_url = metadata_base_url
        #: The last URL asked for, or ``None`` before any download.
        self.last_url: str | None = None
        self._body = bytearray()

    @property
    def last_metadata(self) -> bytes:
        """The bytes the mirror served for the last metadata URL (empty for targets)."""
        return bytes(self._body)

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.last_url = url
        self._body = bytearray()
        chunks = self._inner.fetch(url)
        if not url.startswith(self._metadata_base_url):
            return chunks  # targets can be large; nothing to learn from their bytes
        return self._record(chunks)

    def _record(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._body += chunk
            yield chunk
