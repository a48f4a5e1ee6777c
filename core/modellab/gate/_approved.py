"""The gate: ``open_approved`` and the :class:`ApprovedExport` it returns.

An :class:`ApprovedExport` is the only way anything downstream reads an export. It exists
only once the export passed the gate (redacted, approved in this catalog, every file the
one that was approved), and every read through it is checked again against the approved
sha256s as the bytes go by, so a file changed after the gate let it through is refused,
not half used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from modellab.errors import (
    CorruptSourceError,
    NotApprovedError,
    RawExportError,
    StaleApprovalError,
    UsageError,
)
from modellab.gate._fingerprint import export_files, files_sha256
from modellab.gate._marks import describe_others, elsewhere
from modellab.gate.layout import MANIFEST, REDACTED, TRAJECTORIES
from modellab.store import Catalog

__all__ = ["ApprovedExport", "open_approved", "refuse_unredacted"]


@dataclass(frozen=True, slots=True)
class ApprovedExport:
    """An export that passed the gate, and the approved content, read only through here."""

    #: The export folder (resolved).
    path: Path
    #: sha256 of every approved file, by its path relative to the export. Read-only.
    files: Mapping[str, str]
    approved_at: str
    approved_by: str
    #: The catalog whose approval this is: approvals are per catalog.
    catalog_id: str

    def __post_init__(self) -> None:
        # A read-only copy: nothing holding this object can widen what was approved.
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @property
    def fingerprint(self) -> str:
        """The approval's id: one sha256 over its files and their sha256s."""
        return files_sha256(self.files)

    def record(self) -> dict[str, Any]:
        """What a suite or dataset stores to say which approval it was built from; checked
        at the moment of use by :func:`~modellab.gate.verify_built_from`."""
        return {
            "export_dir": str(self.path),
            "approved_at": self.approved_at,
            "catalog_id": self.catalog_id,
            "files_sha256": self.fingerprint,
            "files": dict(sorted(self.files.items())),
        }

    def _approved_sha256(self, name: str) -> str:
        digest = self.files.get(name)
        if digest is None:
            raise CorruptSourceError(self.path / name, "missing from the approved export")
        return digest

    def _stale(self, name: str) -> StaleApprovalError:
        return StaleApprovalError(
            self.path,
            f"{name} changed since it was approved (found while reading it)",
            hint=f"review it again, then run 'modellab redact approve {self.path}'",
        )

    def read_bytes(self, name: str) -> bytes:
        """The bytes of approved file ``name``, checked against its approved sha256.

        :raises CorruptSourceError: ``name`` is not an approved file, or cannot be read.
        :raises StaleApprovalError: its bytes are not the approved ones.
        """
        expected = self._approved_sha256(name)
        try:
            data = (self.path / name).read_bytes()
        except OSError as exc:
            raise CorruptSourceError(self.path / name, f"cannot read: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != expected:
            raise self._stale(name)
        return data

    def manifest(self) -> dict[str, Any]:
        """The export's ``manifest.json``, parsed (a fresh copy at each call)."""
        try:
            parsed = json.loads(self.read_bytes(MANIFEST))
        except ValueError as exc:
            raise CorruptSourceError(self.path / MANIFEST, f"not valid JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise CorruptSourceError(self.path / MANIFEST, "not a Model Lab export manifest")
        return parsed

    def iter_lines(self, name: str) -> Iterator[tuple[int, bytes]]:
        """(1-based line number, bytes) of approved file ``name``, streamed.

        The sha256 is checked once the last line was read: a caller must treat what it
        got as unusable until the iterator is exhausted without raising.

        :raises StaleApprovalError: the bytes read are not the approved ones.
        """
        expected = self._approved_sha256(name)
        digest = hashlib.sha256()
        try:
            with (self.path / name).open("rb") as handle:
                for number, line in enumerate(handle, start=1):
                    digest.update(line)
                    yield number, line
        except OSError as exc:
            raise CorruptSourceError(self.path / name, f"cannot read: {exc}") from exc
        if digest.hexdigest() != expected:
            raise self._stale(name)

    def iter_trajectories(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, ATIF trajectory) of every non-blank line of ``trajectories.jsonl``.

        :raises CorruptSourceError: a line is not a JSON object.
        :raises StaleApprovalError: the file is not the approved one (after the last line).
        """
        for number, line in self.iter_lines(TRAJECTORIES):
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except ValueError as exc:
                raise CorruptSourceError(
                    self.path / TRAJECTORIES, f"line {number}: not valid JSON ({exc})"
                ) from None
            if not isinstance(parsed, dict):
                raise CorruptSourceError(
                    self.path / TRAJECTORIES, f"line {number}: not a JSON object"
                )
            yield number, parsed

    def still_standing(self, catalog: Catalog) -> None:
        """Raise unless this very approval is still the one ``catalog`` holds for the export
        (not replaced or withdrawn since it was opened). The files are not hashed again:
        every read through this object was already checked against the approved sha256s.

        :raises GateError: it no longer stands.
        """
        latest = catalog.latest_approval(self.path)
        if (
            catalog.catalog_id != self.catalog_id
            or latest is None
            or files_sha256(latest[0]) != self.fingerprint
        ):
            raise StaleApprovalError(
                self.path,
                "its approval was replaced or withdrawn while it was being read",
                hint="run the command again",
            )


def _redaction_status(export_dir: Path) -> str:
    try:
        status = json.loads((export_dir / MANIFEST).read_text(encoding="utf-8")).get(
            "redaction_status"
        )
    except (OSError, ValueError, AttributeError):
        raise RawExportError(
            export_dir,
            f"no readable {MANIFEST}, so nothing says this export was redacted",
        ) from None
    return str(status)


def refuse_unredacted(export_dir: Path) -> None:
    """Raise unless ``export_dir`` is an export whose manifest says it was redacted.

    :raises UsageError: not a folder.
    :raises RawExportError: no readable manifest, or not redacted.
    """
    if not export_dir.is_dir():
        raise UsageError(f"{export_dir}: not an export folder")
    status = _redaction_status(export_dir)
    if status != REDACTED:
        raise RawExportError(
            export_dir,
            f"redaction status is {status!r}: only redacted exports can be approved or sent",
            hint="export again without --raw, then review and approve it",
        )


def open_approved(path: Path, *, catalog: Catalog) -> ApprovedExport:
    """The gate. Return the export at ``path`` as approved in ``catalog``, or raise.

    Every command or hook that reads an export to use or send its content must come
    through here, and read only through the returned object.

    :raises UsageError: ``path`` is not a folder.
    :raises RawExportError: the export was not redacted.
    :raises NotApprovedError: no approval was recorded for it in this catalog.
    :raises StaleApprovalError: its files are not the ones that were approved.
    """
    export_dir = path.resolve()
    refuse_unredacted(export_dir)
    row = catalog.latest_approval(export_dir)
    if row is None:
        raise _not_approved(export_dir, path, catalog)
    approved, approved_at, approved_by = row
    current = export_files(export_dir)
    if current != approved:
        changed = sorted(
            name
            for name in approved.keys() | current.keys()
            if approved.get(name) != current.get(name)
        )
        raise StaleApprovalError(
            export_dir,
            f"changed since it was approved: {', '.join(changed)}",
            hint=f"review it again, then run 'modellab redact approve {path}'",
        )
    return ApprovedExport(export_dir, approved, approved_at, approved_by, catalog.catalog_id)


def _not_approved(export_dir: Path, path: Path, catalog: Catalog) -> NotApprovedError:
    """The refusal for an export this catalog has no approval of, saying what the marker knows.

    Approvals named by the marker never count here: they only change the message.
    """
    again = f"review it, then run 'modellab redact approve {path}'"
    others, here = elsewhere(export_dir, catalog)
    if others:
        return NotApprovedError(
            export_dir,
            "approved under another Model Lab home "
            f"({describe_others(others, export_dir)}), not in this one "
            f"(catalog {catalog.catalog_id[:12]}); an approval is per catalog",
            hint=f"approve it again here ({again}), or use that MODELLAB_HOME",
        )
    if here:
        return NotApprovedError(
            export_dir,
            "its marker says this catalog approved it, but this catalog holds no approval "
            "of this folder: it was moved or copied since (an approval is bound to its "
            "folder), or its approval was withdrawn",
            hint=f"approve it again here: {again}",
        )
    return NotApprovedError(export_dir, "this export was never approved", hint=again)
