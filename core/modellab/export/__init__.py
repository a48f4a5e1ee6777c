"""Exports: ATIF trajectories plus a manifest of counts, hashes and the redaction report."""

from modellab.export._report import FINDINGS
from modellab.export._writer import (
    EXPORT_FORMAT_VERSION,
    MANIFEST,
    REDACTION_RAW,
    TRAJECTORIES,
    ExportResult,
    write_export,
)

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "FINDINGS",
    "MANIFEST",
    "REDACTION_RAW",
    "TRAJECTORIES",
    "ExportResult",
    "write_export",
]
