"""Redact an export's trajectories, in worker processes when the export is large.

Placeholders must be numbered across the whole export (``<EMAIL:2>`` is the same address
in every session), but sessions are redacted in parallel. So each worker writes a
*template*: the redacted trajectory with each placeholder left as a marker that names a
(kind, rule, value hash) key local to that session. The exporting process then numbers the
keys in export order and swaps the markers for placeholders, a byte-level substitution.
The result is exactly what redacting every session in turn would give; a test checks it.

A marker is NUL, a random per-export nonce, a number and NUL, so it cannot collide with
text in the session; a session that happens to contain the nonce is refused.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.pool import ordered_map, worker_context
from modellab.errors import ExportError, StoreError
from modellab.redact import FieldFinding, Placeholders, RedactionConfig, redact_trajectory
from modellab.store import ObjectStore

__all__ = ["RedactedTemplate", "RenderedSession", "TemplateRenderer", "ValueCount", "redact_stored"]

#: (placeholder kind, rule id for secrets or "", value hash)
_Key = tuple[str, str, str]


#: (rule, category, value hash, placeholder, findings): one distinct value in a session.
ValueCount = tuple[str, str, str, str, int]


@dataclass(frozen=True, slots=True)
class RedactedTemplate:
    """One session redacted, with its placeholders still unnumbered.

    The worker also writes the session's lines of the findings file, so the exporting
    process handles bytes per session, not objects per finding: with many workers it
    would otherwise become the bottleneck.
    """

    template: bytes
    keys: tuple[_Key, ...]
    findings: bytes  # lines of redaction-findings.jsonl, placeholders still markers
    values: tuple[ValueCount, ...]


@dataclass(frozen=True, slots=True)
class RenderedSession:
    """One session as exported: its line, its findings lines, its distinct values."""

    line: bytes
    findings: bytes
    values: tuple[ValueCount, ...]


class _Markers(Placeholders):
    """Stands in for :class:`Placeholders` in a worker: hands out markers, records keys."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self._nonce = nonce
        self._index: dict[_Key, int] = {}
        self.keys: list[_Key] = []

    def text_for(self, kind: str, rule_id: str, value_sha256: str) -> str:
        if kind == "HOME":
            return "~"
        key = (kind, rule_id if kind == "SECRET" else "", value_sha256)
        number = self._index.get(key)
        if number is None:
            number = self._index[key] = len(self.keys)
            self.keys.append(key)
        return f"\x00{self._nonce}:{number}\x00"


class _Redactor:
    """Reads stored trajectories and redacts them into templates (one per process)."""

    def __init__(self, config: RedactionConfig, objects_root: Path, nonce: str) -> None:
        self._scanner = config.scanner()
        self._objects = ObjectStore(objects_root)
        self._nonce = nonce

    def __call__(self, session_id: str, digest: str) -> RedactedTemplate:
        try:
            raw = self._objects.get(digest)  # checked against its sha256
        except StoreError as exc:
            raise ExportError(
                f"session {session_id}: {exc.message}; nothing was exported", hint=exc.hint
            ) from None
        if self._nonce.encode() in raw:
            raise ExportError(f"session {session_id} contains this export's marker; export again")
        trajectory: dict[str, Any] = jsonio.loads(raw)
        markers = _Markers(self._nonce)
        findings = redact_trajectory(trajectory, self._scanner, markers)
        return RedactedTemplate(
            jsonio.dumps(trajectory),
            tuple(markers.keys),
            _findings_lines(session_id, findings),
            _value_counts(findings),
        )


def _findings_lines(session_id: str, findings: list[FieldFinding]) -> bytes:
    if not findings:
        return b""
    lines = [jsonio.dumps({"session": session_id, **f.as_dict()}) for f in findings]
    return b"\n".join(lines) + b"\n"


def _value_counts(findings: list[FieldFinding]) -> tuple[ValueCount, ...]:
    counts = Counter((f.rule_id, f.category, f.value_sha256, f.replacement) for f in findings)
    return tuple((*key, count) for key, count in counts.items())


class TemplateRenderer:
    """Numbers placeholders across an export and fills them into templates, in order."""

    def __init__(self, nonce: str) -> None:
        self._placeholders = Placeholders()
        # The marker as JSON writes it (NUL escaped), and as it is in a report entry.
        self._in_json = re.compile(rb"\\u0000" + nonce.encode() + rb":(\d+)\\u0000")
        self._in_text = re.compile("\x00" + nonce + r":(\d+)\x00")

    def render(self, redacted: RedactedTemplate) -> RenderedSession:
        """Number this session's placeholders (continuing the export's count); fill them in."""
        if not redacted.keys:
            return RenderedSession(redacted.template, redacted.findings, redacted.values)
        texts = [self._placeholders.text_for(*key) for key in redacted.keys]
        encoded = [text.encode() for text in texts]  # placeholders need no JSON escaping

        def fill(match: re.Match[bytes]) -> bytes:
            return encoded[int(match[1])]

        values = tuple(
            (rule, category, digest, self._in_text.sub(lambda m: texts[int(m[1])], text), count)
            for rule, category, digest, text, count in redacted.values
        )
        return RenderedSession(
            self._in_json.sub(fill, redacted.template),
            self._in_json.sub(fill, redacted.findings),
            values,
        )


# Per-process redactor of an export worker, set once by ``_worker_start``.
_worker: dict[str, _Redactor] = {}


def _worker_start(config: RedactionConfig, objects_root: Path, nonce: str) -> None:
    _worker["redactor"] = _Redactor(config, objects_root, nonce)


def _worker_redact(session_id: str, digest: str) -> RedactedTemplate:
    return _worker["redactor"](session_id, digest)


def redact_stored(
    config: RedactionConfig, objects_root: Path, stored: list[tuple[str, str]], *, jobs: int
) -> tuple[TemplateRenderer, Iterator[RedactedTemplate]]:
    """A renderer, and an iterator of templates for ``stored`` (session id, sha256) in order.

    With ``jobs > 1`` the templates are made in that many worker processes, at most two
    sessions per worker in flight; otherwise in this process, one at a time.
    """
    nonce = secrets.token_hex(8)
    renderer = TemplateRenderer(nonce)
    if jobs <= 1:
        redactor = _Redactor(config, objects_root, nonce)
        return renderer, (redactor(*item) for item in stored)

    def in_workers() -> Iterator[RedactedTemplate]:
        context = worker_context(__name__)
        with ProcessPoolExecutor(
            jobs, context, _worker_start, (config, objects_root, nonce)
        ) as pool:
            yield from ordered_map(pool, _worker_redact, stored, in_flight=2 * jobs)

    return renderer, in_workers()
