"""Find and read the SWE-bench evaluation report that says whether a trajectory resolved.

The harness writes ``report.json`` per instance: SWE-bench keys it by instance id
(``{id: {"resolved": ...}}``), SWE-smith writes the entry bare (``{"resolved": ...}``). A run
summary (``run_evaluation/report.json``) lists ids instead (``ids_resolved`` in SWE-smith,
``resolved_ids`` in SWE-bench). A report is optional: a missing or unreadable one only costs
the label, never the trajectory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab.traces import Label, SidecarFile

__all__ = ["Verdict", "find_verdict"]

#: How many folders above the trajectory to look for a ``run_evaluation`` folder.
_ANCESTORS = 3
_TEST_GROUPS = ("FAIL_TO_PASS", "PASS_TO_PASS")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a report said about one instance, and the file it was read from."""

    resolved: bool
    label: Label
    sidecar: SidecarFile


def _candidates(trajectory: Path, instance_id: str) -> Iterator[Path]:
    # Beside the trajectory first (a report copied next to it), then the harness layout.
    yield trajectory.parent / "report.json"
    for ancestor in list(trajectory.parents)[:_ANCESTORS]:
        yield ancestor / "run_evaluation" / instance_id / "report.json"
    for ancestor in list(trajectory.parents)[:_ANCESTORS]:
        yield ancestor / "run_evaluation" / "report.json"


def _load(path: Path, warnings: list[str]) -> tuple[Any, bytes] | None:
    try:
        data = path.read_bytes()
        return jsonio.loads(data), data
    except (OSError, jsonio.JSONError) as exc:
        warnings.append(f"evaluation report {path} could not be read ({exc}): no resolved label")
        return None


def _test_counts(entry: dict[str, Any]) -> str:
    status = entry.get("tests_status")
    if not isinstance(status, dict):
        return ""
    parts = []
    for group in _TEST_GROUPS:
        outcome = status.get(group)
        if isinstance(outcome, dict):
            ok, bad = outcome.get("success"), outcome.get("failure")
            if isinstance(ok, list) and isinstance(bad, list):
                parts.append(f"{group} {len(ok)}/{len(ok) + len(bad)}")
    return f" ({', '.join(parts)})" if parts else ""


def _entry_verdict(doc: Any, instance_id: str) -> tuple[bool, str] | None:
    if not isinstance(doc, dict):
        return None
    entry = doc.get(instance_id, doc)
    if isinstance(entry, dict) and isinstance(entry.get("resolved"), bool):
        return entry["resolved"], _test_counts(entry)
    # A run summary: lists of ids, under SWE-smith's or SWE-bench's names.
    for resolved_key, unresolved_key in (
        ("ids_resolved", "ids_unresolved"),
        ("resolved_ids", "unresolved_ids"),
    ):
        for key, resolved in ((resolved_key, True), (unresolved_key, False)):
            ids = doc.get(key)
            if isinstance(ids, list) and instance_id in ids:
                return resolved, " (from the run summary)"
    return None


def find_verdict(trajectory: Path, instance_id: str, warnings: list[str]) -> Verdict | None:
    """The first report near ``trajectory`` that names ``instance_id``, as a label."""
    seen: set[Path] = set()
    for candidate in _candidates(trajectory, instance_id):
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        loaded = _load(candidate, warnings)
        if loaded is None:
            continue
        doc, data = loaded
        found = _entry_verdict(doc, instance_id)
        if found is None:
            continue
        resolved, counts = found
        label = Label(
            # SWE-bench's verdict is a test verdict: FAIL_TO_PASS and PASS_TO_PASS all pass.
            kind="tests_passed" if resolved else "tests_failed",
            source="swebench_report",
            detail=("resolved" if resolved else "unresolved") + counts,
        )
        sidecar = SidecarFile(
            path=str(candidate),
            sha256=hashlib.sha256(data).hexdigest(),
            role="evaluation_report",
        )
        return Verdict(resolved=resolved, label=label, sidecar=sidecar)
    return None
