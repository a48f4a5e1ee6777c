"""The redaction report of an export: counts, distinct values, and one line per finding.

Findings go to ``redaction-findings.jsonl`` as sessions are done (an export can hold millions,
so they are never all in memory); the manifest carries the counts, every distinct value's
hash with its placeholder and count, and the findings file's sha256. Values themselves are
never written anywhere.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import IO, Any

from modellab.export._redaction import RenderedSession
from modellab.gate.layout import FINDINGS
from modellab.redact import RedactionConfig

__all__ = ["RedactionReport"]


class RedactionReport:
    """Accumulates an export's findings and writes them to ``handle`` line by line."""

    def __init__(self, handle: IO[bytes], config: RedactionConfig) -> None:
        self._handle = handle
        self._config = config
        self._digest = hashlib.sha256()
        self._bytes = 0
        self.findings = 0
        self._values: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, session: RenderedSession) -> int:
        """Record one session's findings; returns how many there were."""
        count = 0
        for rule, category, digest, replacement, n in session.values:
            self._values[(rule, category, digest, replacement)] += n
            count += n
        if session.findings:
            self._handle.write(session.findings)
            self._digest.update(session.findings)
            self._bytes += len(session.findings)
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
