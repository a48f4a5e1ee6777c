"""Builders for SYNTHETIC CodeWhale session files, following the spec field by field.

A workset's tests write sessions with these and import them (``modellab sessions import``,
or the ``approved_export`` fixture). Spec: ``shared/research/codewhale-format.md`` §2
(SavedSession) and §4.1 (turn shape). Every file they make is synthetic, never a user's.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

__all__ = ["TURN_META", "assistant", "result", "saved_session", "user", "write_session"]

#: The ``<turn_meta>`` block CodeWhale appends to each user message.
TURN_META = (
    "<turn_meta>\nCurrent local date: 2026-11-20\nCurrent workspace: /home/dev/proj\n"
    "Current permission posture: Ask\nCurrent sandbox posture: workspace-write\n"
    "Git workspace: main | 1 modified\n</turn_meta>"
)


def user(text: str, *, meta: bool = True) -> dict[str, Any]:
    """A user message; with ``meta``, followed by the ``<turn_meta>`` block CodeWhale adds."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if meta:
        blocks.append({"type": "text", "text": TURN_META})
    return {"role": "user", "content": blocks}


def assistant(text: str = "", *calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """An assistant message: ``text`` (if any), then one ``tool_use`` block per
    ``(call_id, tool_name, arguments)``."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "text", "text": text})
    for call_id, name, arguments in calls:
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    return {"role": "assistant", "content": blocks}


def result(call_id: str, content: str, *, error: bool = False) -> dict[str, Any]:
    """The ``tool_result`` answering ``call_id``; ``error`` marks a failed call."""
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if error:
        block["is_error"] = True
    return {"role": "user", "content": [block]}


def saved_session(
    messages: list[dict[str, Any]] | None = None,
    *,
    session_id: str | None = None,
    title: str = "Fix the failing test",
    updated_at: str = "2026-11-20T10:00:00Z",
    created_at: str = "2026-11-20T09:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """A SavedSession document (schema_version 1)."""
    if messages is None:
        messages = [
            user("Run the tests and fix the failure."),
            assistant("Running tests.", ("call_1", "bash", {"command": "pytest -q"})),
            result("call_1", "1 failed, 3 passed in 0.2s\nCommand exited with code 1", error=True),
            assistant(
                "",
                (
                    "call_2",
                    "edit",
                    {
                        "path": "app.py",
                        "edits": [{"oldText": "return a - b", "newText": "return a + b"}],
                    },
                ),
            ),
            result("call_2", "Successfully replaced 1 block(s) in app.py."),
            assistant("", ("call_3", "bash", {"command": "pytest -q"})),
            result("call_3", "4 passed in 0.2s"),
            assistant("Fixed: add() subtracted instead of adding."),
        ]
    doc: dict[str, Any] = {
        "schema_version": 1,
        "metadata": {
            "id": session_id or str(uuid.uuid4()),
            "title": title,
            "created_at": created_at,
            "updated_at": updated_at,
            "message_count": len(messages),
            "total_tokens": 1234,
            "model": "deepseek-v4-pro",
            "model_provider": "deepseek",
            "workspace": "/home/dev/proj",
            "mode": "agent",
        },
        "messages": messages,
        "system_prompt": "You are CodeWhale.",
    }
    doc.update(extra)
    return doc


def write_session(folder: Path, doc: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write a synthetic SavedSession as ``<folder>/<id>.json`` (pretty, like CodeWhale)."""
    doc = doc or saved_session(**kwargs)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc['metadata']['id']}.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path
