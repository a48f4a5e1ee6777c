"""Exports: ATIF trajectories plus a manifest of counts, hashes and the redaction report."""

from modellab.export._writer import EXPORT_FORMAT_VERSION, ExportResult, write_export

# The layout is defined once, in the gate; named here too for existing callers.
from modellab.gate.layout import FINDINGS, MANIFEST, REDACTION_RAW, TRAJECTORIES

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "FINDINGS",
    "MANIFEST",
    "REDACTION_RAW",
    "TRAJECTORIES",
    "ExportResult",
    "write_export",
]
