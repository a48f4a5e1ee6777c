"""Typed placeholders that stay stable within one export.

The same value always gets the same placeholder (``<SECRET:github-token:1>``, ``<EMAIL:2>``),
so redacted data keeps its structure: a model still sees that two tool calls used the same
key, without seeing the key. Home folders become ``~``.
"""

from __future__ import annotations

from modellab.redact._engine import Finding

__all__ = ["Placeholders", "apply_findings", "splice"]


class Placeholders:
    """Numbers values per kind (per rule for secrets), in the order they are first seen."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], dict[str, int]] = {}

    def for_finding(self, finding: Finding) -> str:
        """The placeholder text that replaces ``finding``."""
        return self.text_for(finding.placeholder, finding.rule_id, finding.value_sha256)

    def text_for(self, kind: str, rule_id: str, value_sha256: str) -> str:
        """The placeholder for a value of this kind (and rule, for secrets)."""
        if kind == "HOME":
            return "~"
        scope = (kind, rule_id if kind == "SECRET" else "")
        numbers = self._numbers.setdefault(scope, {})
        number = numbers.setdefault(value_sha256, len(numbers) + 1)
        if kind == "SECRET":
            return f"<SECRET:{rule_id}:{number}>"
        return f"<{kind}:{number}>"


def apply_findings(text: str, findings: list[Finding], placeholders: Placeholders) -> str:
    """Replace each finding's span (ordered, non-overlapping) with its placeholder."""
    return splice(text, findings, [placeholders.for_finding(f) for f in findings])


def splice(text: str, findings: list[Finding], replacements: list[str]) -> str:
    """Replace each finding's span (ordered, non-overlapping) with its replacement."""
    if not findings:
        return text
    pieces: list[str] = []
    cursor = 0
    for finding, replacement in zip(findings, replacements, strict=True):
        pieces.append(text[cursor : finding.start])
        pieces.append(replacement)
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)
