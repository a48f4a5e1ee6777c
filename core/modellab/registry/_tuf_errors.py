"""Turn python-tuf's exceptions into :class:`RegistryError` messages that name the attack.

python-tuf says *what* check failed (``BadVersionNumberError``...); a user needs to know what
that means (a rollback, a freeze, a mix-and-match, tampering) and what to do. This module
imports python-tuf at the top: import it only from inside functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from tuf.api import exceptions as tuf_errors

from modellab.errors import RegistryError
from modellab.registry._fetchers import RecordingFetcher

__all__ = ["translated"]

_VERSIONED = re.compile(r"^(?P<version>\d+)\.(?P<role>[a-z]+)\.json$")
#: Which signed metadata names the version of each role's file.
_PARENT = {"snapshot": "timestamp", "targets": "snapshot"}
_STALE_HINT = (
    "the mirror serves old metadata: try again later or use another mirror; keep the local "
    "cache, it is what caught this"
)


def _file_name(url: str | None) -> str:
    if not url:
        return "(nothing downloaded yet)"
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _served_version(body: bytes) -> int | None:
    """The ``signed.version`` inside metadata the mirror served, when it can be read."""
    try:
        version = json.loads(body)["signed"]["version"]
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) else None


def _cause(exc: BaseException) -> str:
    """The most specific reason in an exception chain (urllib3 wraps it in MaxRetryError)."""
    cause = exc.__cause__ or exc
    reason = getattr(cause, "reason", None)
    return str(reason or cause) or type(cause).__name__


def _bad_version(exc: Exception, record: RecordingFetcher) -> RegistryError:
    name = _file_name(record.last_url)
    match = _VERSIONED.match(name)
    if match and match["role"] == "root":
        return RegistryError(
            f"root metadata chain broken at {name}: {exc}",
            hint="the mirror's root history is damaged; tell the registry maintainers",
        )
    served = _served_version(record.last_metadata)
    if match and served is not None and served != int(match["version"]):
        role = match["role"]
        parent = _PARENT.get(role, "parent")
        return RegistryError(
            f"mix-and-match attack refused: the signed {parent} metadata names {role} "
            f"v{match['version']}, but the mirror served {role} v{served} as {name} ({exc})",
            hint="the mirror mixes files from different registry states; use another mirror",
        )
    return RegistryError(
        f"rollback attack refused: {name} is older than metadata this client already "
        f"trusts ({exc})",
        hint=_STALE_HINT,
    )


def _translate(
    exc: Exception, record: RecordingFetcher, target: str | None, location: str
) -> RegistryError:
    name = target or _file_name(record.last_url)
    # Order matters: the specific RepositoryError and DownloadError subclasses come first.
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return _bad_version(exc, record)
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return RegistryError(
            f"freeze attack or stale registry refused: {exc} (signed metadata is past its "
            "expiry date)",
            hint="the registry was not re-signed in time, or this machine's clock is wrong; "
            "try again later or tell the registry maintainers",
        )
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return RegistryError(
            f"unauthorised signature refused: {name} is not signed by the keys the registry's "
            f"root authorises ({exc})",
            hint="someone without the registry's keys changed this file; do not use this mirror",
        )
    if isinstance(
        exc, tuf_errors.LengthOrHashMismatchError | tuf_errors.DownloadLengthMismatchError
    ):
        return RegistryError(
            f"tampered file refused: {name} does not match the length and sha256 signed in "
            f"the registry metadata ({exc})",
            hint="the mirror's copy was altered or damaged; do not use this mirror",
        )
    if isinstance(exc, tuf_errors.RepositoryError):
        return RegistryError(f"invalid registry metadata in {name}: {exc}")
    if isinstance(exc, tuf_errors.DownloadHTTPError):
        return RegistryError(
            f"could not download {name} from {location}: HTTP {exc.status_code}",
            hint="check the registry location, or that the mirror is complete",
        )
    if isinstance(exc, tuf_errors.DownloadError):
        # SlowRetrievalError included: urllib3 counts "connection refused" as a connect
        # timeout, so ngclient reports a dead server as slow, with an empty message.
        return RegistryError(
            f"could not download {name} from {location}: {_cause(exc)}",
            hint="check the registry location and the network",
        )
    # What is left is an OSError: reading a local mirror, or writing the cache.
    return RegistryError(f"file error while reading {name} or writing the cache: {exc}")


@contextmanager
def translated(
    record: RecordingFetcher, location: str, *, target: str | None = None
) -> Iterator[None]:
    """Run a TUF step; re-raise any TUF (or cache ``OSError``) failure as ``RegistryError``."""
    try:
        yield
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
        raise _translate(exc, record, target, location) from exc
