"""An export's redaction report, grouped for review: one entry per distinct value.

A value that occurs a hundred times is one decision, not a hundred. Each group keeps a
few sample occurrences, with the span both in the original text (to reveal the value on
request) and in the exported, redacted text (to show context where every other finding
is already a placeholder).

Review comes before approval, so it cannot read through :class:`modellab.gate.ApprovedExport`:
it reads the export's own files (named in :mod:`modellab.gate.layout`) and checks the
findings file against the sha256 in the manifest. Nothing it reads leaves the machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab.errors import RawExportError, RedactionError, UsageError
from modellab.gate.layout import FINDINGS, MANIFEST, REDACTED, TRAJECTORIES
from modellab.store import ObjectStore

__all__ = ["ExportReview", "Occurrence", "ValueGroup", "field_at"]

_SAMPLES = 3
_CATEGORY_ORDER = {"secret": 0, "pii": 1, "identity": 2}


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where one finding of a value is: session, field path, and its spans."""

    session_id: str
    line: int  # the session's line in trajectories.jsonl, from 0
    path: str
    raw_span: tuple[int, int]
    shown_span: tuple[int, int]


@dataclass(slots=True)
class ValueGroup:
    """All findings of one value under one rule, and whether the user decided on it."""

    rule: str
    category: str
    sha256: str
    replacement: str
    count: int
    samples: list[Occurrence] = field(default_factory=list)
    kept: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """(rule, value hash): what a decision is recorded against."""
        return (self.rule, self.sha256)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready entry (hash and placeholder, never the value)."""
        return {
            "rule": self.rule,
            "category": self.category,
            "sha256": self.sha256,
            "replacement": self.replacement,
            "count": self.count,
            "decision": "keep" if self.kept else None,
            "examples": [
                {"session": o.session_id, "path": o.path, "span": list(o.raw_span)}
                for o in self.samples
            ],
        }


def _read_manifest(export_dir: Path) -> tuple[dict[str, Any], str]:
    path = export_dir / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{export_dir}: not an export folder (no {MANIFEST})") from None
    try:
        manifest = jsonio.loads(data)
    except ValueError as exc:
        raise RedactionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise RedactionError(f"{path}: not a Model Lab export manifest")
    if manifest.get("redaction_status") != REDACTED or not isinstance(
        manifest.get("redaction"), dict
    ):
        raise RawExportError(
            export_dir,
            f"redaction status is {manifest.get('redaction_status')!r}: there is nothing "
            "to review in an export that was not redacted",
            hint="export again without --raw",
        )
    return manifest, hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class ExportReview:
    """A redacted export's findings, grouped by value, with review decisions attached."""

    export_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    groups: list[ValueGroup]
    _lines: list[int] | None = None  # byte offset of each line of trajectories.jsonl

    @classmethod
    def load(cls, export_dir: Path) -> ExportReview:
        """Read ``export_dir``'s manifest and findings (no decisions attached yet).

        :raises RawExportError: the export was not redacted.
        :raises RedactionError: the findings file is missing or does not match the manifest.
        """
        export_dir = export_dir.resolve()
        manifest, manifest_sha256 = _read_manifest(export_dir)
        groups = {
            (v["rule"], v["sha256"]): ValueGroup(
                v["rule"], v["category"], v["sha256"], v["replacement"], int(v["count"])
            )
            for v in manifest["redaction"].get("values", [])
        }
        lines = {s["id"]: n for n, s in enumerate(manifest.get("sessions", []))}
        digest = hashlib.sha256()
        field, shift = ("", ""), 0
        for entry in _findings(export_dir / FINDINGS, digest):
            # Where the placeholder sits in the exported text: the findings of one field
            # are listed together, in order, and each earlier placeholder moved it.
            start, end = entry["span"]
            if (entry["session"], entry["path"]) != field:
                field, shift = (entry["session"], entry["path"]), 0
            shown = start + shift
            shift += len(entry["replacement"]) - (end - start)
            group = groups.get((entry["rule"], entry["sha256"]))
            if group is not None and len(group.samples) < _SAMPLES:
                group.samples.append(
                    Occurrence(
                        entry["session"],
                        lines.get(entry["session"], -1),
                        entry["path"],
                        (start, end),
                        (shown, shown + len(entry["replacement"])),
                    )
                )
        expected = manifest.get("files", {}).get(FINDINGS, {}).get("sha256")
        if digest.hexdigest() != expected:
            raise RedactionError(
                f"{export_dir / FINDINGS}: does not match the sha256 in {MANIFEST}",
                hint="the export was changed after it was written; export it again",
            )
        ordered = sorted(
            groups.values(),
            key=lambda g: (_CATEGORY_ORDER.get(g.category, 9), g.rule, -g.count, g.sha256),
        )
        return cls(export_dir, manifest, manifest_sha256, ordered)

    def undecided(self) -> list[ValueGroup]:
        """Groups the user has not decided on yet."""
        return [group for group in self.groups if not group.kept]

    def session_ids(self) -> list[str]:
        """The exported sessions, in file order."""
        return [str(s["id"]) for s in self.manifest.get("sessions", [])]

    def context(self, occurrence: Occurrence, width: int = 70) -> str:
        """The redacted text around ``occurrence``, its placeholder marked ``⟦…⟧``."""
        text = field_at(self._trajectory(occurrence.line), occurrence.path)
        if not isinstance(text, str):
            return "(field removed from the export)"
        start, end = occurrence.shown_span
        before = text[max(start - width, 0) : start]
        after = text[end : end + width]
        shown = f"{before}⟦{text[start:end]}⟧{after}"
        return " ".join(shown.split())  # one line: newlines and runs of spaces folded

    def original_value(self, occurrence: Occurrence, objects: ObjectStore) -> str | None:
        """The value itself, read from the stored original (None if that is gone).

        Only ever shown in this terminal, on request; never written anywhere.
        """
        sessions = self.manifest.get("sessions", [])
        if not 0 <= occurrence.line < len(sessions):
            return None
        digest = sessions[occurrence.line].get("trajectory_sha256")
        if not isinstance(digest, str) or not objects.exists(digest):
            return None
        text = field_at(jsonio.loads(objects.get(digest)), occurrence.path)
        if not isinstance(text, str):
            return None
        start, end = occurrence.raw_span
        return text[start:end]

    def _trajectory(self, line: int) -> Any:
        if self._lines is None:
            self._lines = list(_line_offsets(self.export_dir / TRAJECTORIES))
        if not 0 <= line < len(self._lines):
            return None
        with (self.export_dir / TRAJECTORIES).open("rb") as handle:
            handle.seek(self._lines[line])
            return jsonio.loads(handle.readline())


def _findings(path: Path, digest: Any) -> Iterator[dict[str, Any]]:
    """Entries of the findings file, hashing its bytes into ``digest`` as they are read."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise RedactionError(f"{path}: missing; the export is incomplete") from None
    with handle:
        for number, line in enumerate(handle, 1):
            digest.update(line)
            try:
                entry = jsonio.loads(line)
            except ValueError:
                raise RedactionError(f"{path}:{number}: not valid JSON") from None
            yield entry


def _line_offsets(path: Path) -> Iterator[int]:
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            yield offset
            offset += len(line)


def field_at(document: Any, path: str) -> Any:
    """The value at a findings path (``/steps/3/message``) in a JSON document, or None."""
    return jsonio.value_at(document, path)
