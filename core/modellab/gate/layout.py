"""The export layout, named once: the files an export holds and the lab's own markers.

Everything that writes or reads an export (``export``, ``review``, ``gate``, ``datasets``,
``evals``) takes these names from here, so the layout cannot drift between them.
"""

from __future__ import annotations

from typing import Final

from modellab._internal.files import OUTPUT_MARKER

__all__ = [
    "APPROVAL_MARKER",
    "BOOKKEEPING",
    "FINDINGS",
    "MANIFEST",
    "OUTPUT_MARKER",
    "REDACTED",
    "REDACTION_RAW",
    "TRAJECTORIES",
]

#: ATIF trajectories, one JSON object a line.
TRAJECTORIES: Final = "trajectories.jsonl"
#: Counts, hashes, the redaction status and the redaction report's summary.
MANIFEST: Final = "manifest.json"
#: One line per redaction finding (redacted exports only).
FINDINGS: Final = "redaction-findings.jsonl"
#: The export's record of which catalogs approved it: ids and times, no paths. Never part
#: of an approval's files (it changes when another catalog approves) and never trusted.
APPROVAL_MARKER: Final = ".modellab-approvals.json"
#: ``manifest.json``'s ``redaction_status`` of an export that may be approved and sent ...
REDACTED: Final = "redacted"
#: ... and of one written with ``--raw``, which never may.
REDACTION_RAW: Final = "raw"
#: The lab's own bookkeeping at the top of an export: the only files an approval's
#: fingerprint leaves out. Any other file, anywhere in the folder, is part of what was
#: approved, so adding or changing one makes the approval stale.
BOOKKEEPING: Final = frozenset({OUTPUT_MARKER, APPROVAL_MARKER})
