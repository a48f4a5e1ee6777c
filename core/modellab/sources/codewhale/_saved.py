"""Read a CodeWhale ``SavedSession`` file and its sidecars into a neutral session.

Spec §2 (document), §2.4 (journal), §2.5 (approval receipts), §2.6 (spilled artifacts),
§2.7 (goal files). Sidecars live next to the file: ``<id>/approval_receipts.jsonl``,
``<id>/artifacts/...`` and ``.goals/<id>.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.jsonio import describe_json_error
from modellab.errors import CorruptSourceError, UnsupportedFormatError
from modellab.sources._base import FileImport
from modellab.sources.codewhale._journal import read_journal
from modellab.sources.codewhale._transcript import Message, Spilled, build_transcript
from modellab.traces import (
    Agent,
    Branch,
    Label,
    LabelKind,
    Provenance,
    Session,
    SidecarFile,
    Usage,
    derive_outcome,
)

__all__ = ["PARSER_VERSION", "read_saved_session"]

PARSER_VERSION = "codewhale-2"
SUPPORTED_SCHEMA = 1

_OLD_COMPACTION_MARKER = "Conversation Summary (Auto-Generated)"
_DECISIONS: dict[str, LabelKind] = {
    "approved_once": "approved",
    "approved": "approved",
    "denied": "denied",
    "cancelled": "approval_cancelled",
    "unavailable": "approval_cancelled",
    "retry_with_policy": "approved",
}
_GOAL_FILE_LABELS: dict[str, LabelKind] = {
    "complete": "goal_complete",
    "blocked": "goal_blocked",
    "active": "goal_active",
    "paused": "goal_paused",
}


def _require(condition: bool, path: Path, reason: str) -> None:
    if not condition:
        raise CorruptSourceError(path, reason)


def _messages(raw: Any, path: Path) -> list[Message]:
    _require(isinstance(raw, list), path, "'messages' must be an array")
    out: list[Message] = []
    for number, item in enumerate(raw):
        _require(isinstance(item, dict), path, f"messages[{number}] must be an object")
        content = item.get("content")
        if isinstance(content, str):  # tolerate a bare string; CodeWhale writes arrays
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise CorruptSourceError(path, f"messages[{number}].content must be an array")
        for block in content:
            if type(block) is not dict:
                raise CorruptSourceError(
                    path,
                    f"messages[{number}].content holds a {type(block).__name__}, "
                    "not a block object",
                )
        out.append(Message(role=str(item.get("role", "")), blocks=content))
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Sidecars:
    """Reads the files beside a session, recording each one's hash for provenance."""

    def __init__(self, session_path: Path, session_id: str, report: FileImport) -> None:
        self.folder = session_path.parent / session_id
        self.goal_path = session_path.parent / ".goals" / f"{session_id}.json"
        self.report = report
        self.files: list[SidecarFile] = []

    def _read(self, path: Path, role: str) -> bytes | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.report.warnings.append(f"{path}: cannot read {role} ({exc.strerror})")
            return None
        self.files.append(SidecarFile(path=str(path), sha256=_sha256(data), role=role))
        return data

    def spilled(self, records: Any) -> dict[str, Spilled]:
        out: dict[str, Spilled] = {}
        for record in records if isinstance(records, list) else ():
            if not isinstance(record, dict):
                continue
            call_id, storage = record.get("tool_call_id"), record.get("storage_path")
            if not isinstance(call_id, str) or not isinstance(storage, str):
                continue
            target = (self.folder / storage).resolve()
            if not target.is_relative_to(self.folder.resolve()):
                self.report.warnings.append(f"artifact path escapes the session: {storage!r}")
                continue
            data = self._read(target, "artifact")
            if data is None:
                self.report.warnings.append(f"spilled artifact missing: {target}")
                continue
            out[call_id] = Spilled(data.decode("utf-8", errors="replace"), storage)
        return out

    def approvals(self, embedded: Any) -> dict[str, list[Label]]:
        events: list[tuple[dict[str, Any], str]] = [
            (e, "approval_receipts")
            for e in (embedded if isinstance(embedded, list) else ())
            if isinstance(e, dict)
        ]
        data = self._read(self.folder / "approval_receipts.jsonl", "approval_receipts")
        if data is not None:
            for number, line in enumerate(data.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    value = jsonio.loads(line)
                except jsonio.JSONError:
                    self.report.warnings.append(
                        f"approval_receipts.jsonl line {number}: invalid JSON, ignored"
                    )
                    continue
                if isinstance(value, dict):
                    events.append((value, "approval_receipts.jsonl"))
        return _approval_labels(events)

    def goal_label(self) -> tuple[Label | None, dict[str, Any] | None]:
        data = self._read(self.goal_path, "goal")
        if data is None:
            return None, None
        try:
            goal = jsonio.loads(data)
        except jsonio.JSONError:
            self.report.warnings.append(f"{self.goal_path}: invalid JSON, ignored")
            return None, None
        if not isinstance(goal, dict):
            return None, None
        kind = _GOAL_FILE_LABELS.get(str(goal.get("status")))
        if kind is None:
            return None, goal
        detail = goal.get("pause_reason") if isinstance(goal.get("pause_reason"), str) else None
        return Label(kind=kind, source="goal_file", detail=detail), goal


def _approval_labels(events: list[tuple[dict[str, Any], str]]) -> dict[str, list[Label]]:
    """One label per approval: its decision, or ``approval_pending`` if never decided."""
    asked: dict[str, tuple[str, str]] = {}
    decided: dict[str, Label] = {}
    for event, origin in events:
        approval_id = str(event.get("approval_id") or event.get("tool_call_id") or "")
        call_id = str(event.get("tool_call_id") or approval_id)
        if not approval_id:
            continue
        if event.get("phase") == "asked":
            asked.setdefault(approval_id, (call_id, origin))
        elif event.get("phase") == "decided" and approval_id not in decided:
            outcome = event.get("outcome")
            tag = outcome.get("outcome") if isinstance(outcome, dict) else outcome
            kind = _DECISIONS.get(str(tag))
            if kind is None:
                continue
            detail = str(tag)
            if isinstance(outcome, dict) and isinstance(outcome.get("policy"), dict):
                detail = f"{tag}: {outcome['policy'].get('type')}"
            decided[approval_id] = Label(
                kind=kind, source=origin, tool_call_id=call_id, detail=detail
            )
            asked.setdefault(approval_id, (call_id, origin))
    by_call: dict[str, list[Label]] = {}
    for approval_id, (call_id, origin) in asked.items():
        label = decided.get(approval_id) or Label(
            kind="approval_pending", source=origin, tool_call_id=call_id
        )
        by_call.setdefault(call_id, []).append(label)
    return by_call


def _usage(metadata: dict[str, Any]) -> Usage | None:
    # The file keeps only a token total with no input/output split (§4.8), which stays in
    # ``extra``; the cost is the one usage figure with a neutral home.
    # A turn CodeWhale could not price (``unpriced_turns``, v0.9.x) is left out of
    # ``session_cost_usd``: the sum is then not the session's cost (0.0 with every turn
    # unpriced means "no price known", not "free"), so the cost is unknown. The snapshot
    # itself stays in ``extra["cost"]``.
    cost = metadata.get("cost")
    if not isinstance(cost, dict):
        return None
    usd = cost.get("session_cost_usd")
    if not isinstance(usd, int | float) or isinstance(usd, bool):
        return None
    unpriced = cost.get("unpriced_turns")
    if isinstance(unpriced, int) and not isinstance(unpriced, bool) and unpriced > 0:
        return None
    return Usage(cost_usd=float(usd))


def read_saved_session(path: Path, data: bytes, report: FileImport) -> Session:
    """Parse one SavedSession document (already read as ``data``) with its sidecars."""
    try:
        doc = jsonio.loads(data)
    except jsonio.JSONError as exc:
        raise CorruptSourceError(path, describe_json_error(data, exc)) from exc
    _require(isinstance(doc, dict), path, "top level must be a JSON object")
    version = doc.get("schema_version", 1)
    _require(isinstance(version, int), path, "'schema_version' must be an integer")
    if version > SUPPORTED_SCHEMA:
        raise UnsupportedFormatError(
            path,
            f"schema_version {version} is newer than supported ({SUPPORTED_SCHEMA})",
            hint="upgrade Model Lab to import sessions from this CodeWhale version",
        )
    metadata = doc.get("metadata")
    _require(isinstance(metadata, dict), path, "'metadata' must be an object")
    session_id = metadata.get("id")
    _require(
        isinstance(session_id, str) and bool(session_id),
        path,
        "'metadata.id' must be a non-empty string",
    )
    for key in ("title", "created_at", "updated_at", "model", "workspace"):
        value = metadata.get(key)
        _require(
            value is None or isinstance(value, str), path, f"'metadata.{key}' must be a string"
        )

    sidecars = _Sidecars(path, session_id, report)
    spilled = sidecars.spilled(doc.get("artifacts"))
    approvals = sidecars.approvals(doc.get("approval_receipts"))

    messages = _messages(doc.get("messages", []), path)
    branches: list[Branch] = []
    journal = doc.get("journal")
    view = read_journal(journal, doc.get("leaf_id")) if isinstance(journal, dict) else None
    if view is not None:
        messages = view.active
        for reason, leaf, fork, branch_messages in view.branches:
            steps = [
                step
                for turn in build_transcript(branch_messages, spilled=spilled).turns
                for step in turn.steps
            ]
            branches.append(Branch(reason=reason, leaf_id=leaf, fork_id=fork, steps=tuple(steps)))
    transcript = build_transcript(messages, spilled=spilled, approvals=approvals)
    report.warnings.extend(transcript.warnings)

    labels = list(transcript.labels)
    goal_label, goal = sidecars.goal_label()
    if goal_label is not None:
        labels.append(goal_label)

    extra: dict[str, Any] = {}
    for key in ("work_state", "context_references", "last_auto_route", "window_title"):
        if doc.get(key):
            extra[key] = doc[key]
    for key in (
        "mode",
        "cost",
        "model_provider_id",
        "parent_session_id",
        "archived",
        "spawn_depth",
        "cumulative_turn_secs",
        "total_tokens",
        "message_count",
    ):
        if metadata.get(key) is not None:
            extra[key] = metadata[key]
    if goal is not None:
        extra["goal"] = goal
    if transcript.dangling:
        extra["dangling_tool_calls"] = transcript.dangling
    prompt = doc.get("system_prompt")
    if isinstance(prompt, str) and _OLD_COMPACTION_MARKER in prompt:
        # Older builds fold compacted history into the system prompt (§4.6): the messages
        # are not the whole conversation, and no journal exists to recover it.
        extra["history_compacted"] = "system_prompt_summary"

    first_cwd = next((t.cwd for t in transcript.turns if t.cwd), None)
    return Session(
        id=session_id,
        source="codewhale",
        agent=Agent(name="codewhale"),
        title=metadata.get("title"),
        created_at=metadata.get("created_at"),
        updated_at=metadata.get("updated_at"),
        model=metadata.get("model"),
        model_provider=metadata.get("model_provider")
        if isinstance(metadata.get("model_provider"), str)
        else None,
        cwd=metadata.get("workspace") or first_cwd,
        system_prompt=doc.get("system_prompt")
        if isinstance(doc.get("system_prompt"), str)
        else None,
        turns=tuple(transcript.turns),
        artifacts=tuple(transcript.artifacts),
        labels=tuple(labels),
        outcome=derive_outcome(labels),
        usage=_usage(metadata),
        branches=tuple(branches),
        provenance=Provenance.of_bytes(
            path,
            data,
            source_format="codewhale.saved_session",
            source_format_version=str(version),
            parser_version=PARSER_VERSION,
            sidecars=tuple(sidecars.files),
        ),
        extra=extra,
    )
