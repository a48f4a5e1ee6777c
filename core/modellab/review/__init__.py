"""The redaction review: step through an export's findings, decide, re-redact, approve."""

from modellab.review._decide import Decisions, apply_decisions, open_review
from modellab.review._export import ExportReview, Occurrence, ValueGroup, field_at

__all__ = [
    "Decisions",
    "ExportReview",
    "Occurrence",
    "ValueGroup",
    "apply_decisions",
    "field_at",
    "open_review",
]
