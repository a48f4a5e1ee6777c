"""The gate: the one owner of export approval, and the only way to read an export.

* :func:`approve_export` records an approval (every redacted value reviewed first), bound
  to the sha256 of every file in the export but the lab's bookkeeping.
* :func:`open_approved` checks an export against this catalog's approval and returns an
  :class:`ApprovedExport`: the approved content, read only through it, every byte checked.
* :func:`verify_built_from` checks, at the moment of use, that the approval a suite or a
  dataset was built from still stands.

The export's file and marker names are in :mod:`modellab.gate.layout`.
"""

from modellab.gate._approve import approve_export, approved_elsewhere_note
from modellab.gate._approved import ApprovedExport, open_approved
from modellab.gate._built_from import verify_built_from
from modellab.gate._marks import MarkedApproval, approval_marks

__all__ = [
    "ApprovedExport",
    "MarkedApproval",
    "approval_marks",
    "approve_export",
    "approved_elsewhere_note",
    "open_approved",
    "verify_built_from",
]
