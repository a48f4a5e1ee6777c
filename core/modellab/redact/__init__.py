"""Redaction: a span-based scanner over owned rules, and typed, stable placeholders.

Approving a redacted export, and reading one, is :mod:`modellab.gate`'s job, not this one's.
"""

from modellab.redact._config import RedactionConfig, local_host_names
from modellab.redact._engine import Finding, Scanner, shannon_entropy, value_hash
from modellab.redact._files import FileFinding, ScanReport, scan_paths
from modellab.redact._key import load_or_create_key
from modellab.redact._placeholders import Placeholders, apply_findings
from modellab.redact._rules import PLACEHOLDER_KINDS, Category, Rule, load_rules
from modellab.redact._trajectory import FieldFinding, redact_trajectory

__all__ = [
    "PLACEHOLDER_KINDS",
    "Category",
    "FieldFinding",
    "FileFinding",
    "Finding",
    "Placeholders",
    "RedactionConfig",
    "Rule",
    "ScanReport",
    "Scanner",
    "apply_findings",
    "load_or_create_key",
    "load_rules",
    "local_host_names",
    "redact_trajectory",
    "scan_paths",
    "shannon_entropy",
    "value_hash",
]
