"""CodeWhale session cost (issue 11): a cost with unpriced turns is unknown, not zero.

``tests/data/codewhale`` is synthetic, written from ``shared/research/codewhale-format.md``
§2.2 (``SessionCostSnapshot``; see its README). Variants are written to ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.sources.codewhale import CodeWhaleImporter
from modellab.traces import Session, from_atif, to_atif

SESSIONS = Path(__file__).resolve().parents[1] / "data" / "codewhale" / "sessions"
UNPRICED = SESSIONS / "b4140c92-be2f-4749-9776-119d8c6600e8.json"
PRICED = SESSIONS / "5f2467ca-39d4-49de-a0a9-aa2f20b69583.json"


def _read(path: Path) -> Session:
    report = CodeWhaleImporter().read(path)
    (session,) = report.sessions
    assert from_atif(json.loads(json.dumps(to_atif(session)))) == session
    return session


def _cost(path: Path) -> dict[str, Any]:
    cost: dict[str, Any] = json.loads(path.read_text("utf-8"))["metadata"]["cost"]
    return cost


def test_zero_cost_with_unpriced_turns_is_unknown() -> None:
    cost = _cost(UNPRICED)
    assert cost["session_cost_usd"] == 0.0 and cost["unpriced_turns"] > 0
    session = _read(UNPRICED)
    assert session.usage is None or session.usage.cost_usd is None
    # The snapshot itself is kept, so the reason stays visible.
    assert session.extra["cost"]["unpriced_reasons"] == cost["unpriced_reasons"]


def test_fully_priced_cost_is_kept() -> None:
    cost = _cost(PRICED)
    assert cost["unpriced_turns"] == 0
    session = _read(PRICED)
    assert session.usage is not None
    assert session.usage.cost_usd == cost["session_cost_usd"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"session_cost_usd": 0.0, "priced_turns": 0, "unpriced_turns": 2}, None),
        # Some turns priced, some not: the sum leaves turns out, so it is not the cost.
        ({"session_cost_usd": 0.25, "priced_turns": 1, "unpriced_turns": 1}, None),
        ({"session_cost_usd": 0.0, "priced_turns": 3, "unpriced_turns": 0}, 0.0),
        # A v0.8.40 snapshot has only the money fields: taken as it is.
        ({"session_cost_usd": 0.5, "priced_turns": None, "unpriced_turns": None}, 0.5),
    ],
)
def test_cost_coverage_decides_whether_the_cost_is_known(
    tmp_path: Path, changes: dict[str, Any], expected: float | None
) -> None:
    # Synthetic: the priced fixture with its cost snapshot's coverage changed.
    doc = json.loads(PRICED.read_text("utf-8"))
    cost = doc["metadata"]["cost"]
    for key, value in changes.items():
        if value is None:
            cost.pop(key, None)
        else:
            cost[key] = value
    path = tmp_path / PRICED.name
    path.write_text(json.dumps(doc), "utf-8")
    session = _read(path)
    got = session.usage.cost_usd if session.usage is not None else None
    assert got == expected
