"""Builders for SYNTHETIC CodeWhale session files, following the spec field by field.

Spec: ``shared/research/codewhale-format.md`` §2 (SavedSession) and §4.1 (turn shape). These
are written by tests, never taken from a real user; every file they make is synthetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modellab.cli import main

# The builders live in the testing kit, so that a workset's own tests can use them too.
from modellab.testing.codewhale import (
    TURN_META,
    assistant,
    result,
    saved_session,
    user,
    write_session,
)

__all__ = [
    "TURN_META",
    "assistant",
    "exported",
    "result",
    "saved_session",
    "user",
    "write_session",
]


def exported(tmp_path: Path, docs: list[dict[str, Any]], *, approve: bool = True) -> Path:
    """Import ``docs``, export them (redacted), review and approve: the real flow."""
    for doc in docs:
        write_session(tmp_path / "sessions", doc)
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    export = tmp_path / "export"
    assert main(["export", "--all", "--out", str(export)]) == 0
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    if approve:
        assert main(["redact", "approve", str(export)]) == 0
    return export
