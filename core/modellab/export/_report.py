"""The redaction report of an export: counts, distinct values, and one line per finding.

Findings go to ``redaction-findings.jsonl`` as they are made (an export can hold millions,
so they are never all in memory); the manifest carries the counts, every distinct value's
hash with its placeholder and count, and the findings file's sha256. Values themselves are
never written anywhere.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import IO, Any

from modellab._internal import jsonio
from modellab.redact import FieldFinding, RedactionConfig

__all__ = ["FINDINGS", "RedactionReport"]

FINDINGS = "redaction-findings.jsonl"


class RedactionReport:
    """Accumulates an export's findings and writes them to ``handle`` line by line."""

    def __init__(self, handle: IO[bytes], config: RedactionConfig) -> None:
        self._handle = handle
        self._config = config
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.findings = 0
        self._values: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, session_id: str, findings: Iterable[FieldFinding]) -> int:
        """Record one session's findings; returns how many there were."""
        count = 0
        lines: list[bytes] = []
        path, shift = "", 0
        for finding in findings:
            if finding.path != path:
                path, shift = finding.path, 0
            # Where the placeholder sits in the exported text: earlier placeholders in the
            # same field moved it.
            shown = finding.start + shift
            shift += len(finding.replacement) - (finding.end - finding.start)
            entry = {
                "session": session_id,
                **finding.as_dict(),
                "shown": [shown, shown + len(finding.replacement)],
            }
            lines.append(jsonio.dumps(entry))
            key = (finding.rule_id, finding.category, finding.value_sha256, finding.replacement)
            self._values[key] += 1
            count += 1
        if lines:
            block = b"\n".join(lines) + b"\n"
            self._handle.write(block)
            self._digest.update(block)
            self._bytes += len(block)
        self.findings += count
        return count

    def file_entry(self) -> dict[str, Any]:
        """The findings file's entry in the manifest's ``files``."""
        return {"sha256": self._digest.hexdigest(), "bytes": self._bytes, "lines": self.findings}

    def manifest_section(self) -> dict[str, Any]:
        """The manifest's ``redaction`` section."""
        by_rule: Counter[str] = Counter()
        by_category: Counter[str] = Counter()
        for (rule, category, _digest, _replacement), count in self._values.items():
            by_rule[rule] += count
            by_category[category] += count
        return {
            **self._config.describe(),
            "findings": self.findings,
            "findings_file": FINDINGS,
            "counts_by_rule": dict(sorted(by_rule.items())),
            "counts_by_category": dict(sorted(by_category.items())),
            "values": [
                {
                    "rule": rule,
                    "category": category,
                    "sha256": digest,
                    "replacement": replacement,
                    "count": count,
                }
                for (rule, category, digest, replacement), count in sorted(self._values.items())
            ],
        }
