"""SWE-agent demonstrations that carry only ``history`` (issue 11).

``tests/data/swe-agent-demo/function_calling_simple.traj`` is SWE-agent's own demonstration
(MIT; see its README). Expected values are read from the raw file here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.errors import CorruptSourceError
from modellab.sources import read_head
from modellab.sources.swe_agent import SweAgentImporter
from modellab.traces import Session, Step, from_atif, to_atif

DEMO = (
    Path(__file__).resolve().parents[1] / "data" / "swe-agent-demo" / "function_calling_simple.traj"
)


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    doc = json.loads(DEMO.read_text("utf-8"))
    assert "trajectory" not in doc
    messages: list[dict[str, Any]] = doc["history"]
    return messages


def _read() -> Session:
    report = SweAgentImporter().read(DEMO)
    assert report.lines_total == len(json.loads(DEMO.read_text("utf-8"))["history"])
    assert report.lines_mapped == report.lines_total
    assert not report.skipped
    (session,) = report.sessions
    return session


def _agent_steps(session: Session) -> list[Step]:
    return [s for turn in session.turns for s in turn.steps if s.source == "agent"]


def test_history_only_demonstration_is_recognised() -> None:
    assert SweAgentImporter().sniff(DEMO, read_head(DEMO))


def test_system_prompt_and_task_prompt_come_from_history(history: list[dict[str, Any]]) -> None:
    session = _read()
    assert session.system_prompt == history[0]["content"]
    prompts = [s.text for turn in session.turns for s in turn.steps if s.source == "user"]
    assert prompts == [history[1]["content"]]
    assert session.id == "function_calling_simple"


def test_each_assistant_action_is_a_tool_call_answered_by_its_observation(
    history: list[dict[str, Any]],
) -> None:
    session = _read()
    steps = _agent_steps(session)
    actions = [m for m in history if m["role"] == "assistant"]
    observations = [m for m in history if m["role"] == "tool"]
    assert len(steps) == len(actions) == len(observations) == 5
    for step, action, observation in zip(steps, actions, observations, strict=True):
        (call,) = step.tool_calls
        (wanted,) = action["tool_calls"]
        assert step.text == action["thought"]
        assert call.id == wanted["id"]
        assert call.name == wanted["function"]["name"]
        assert call.arguments == json.loads(wanted["function"]["arguments"])
        assert step.extra["action"] == action["action"]
        (result,) = step.tool_results
        assert observation["tool_call_ids"] == [call.id]
        assert result.call_id == call.id
        assert result.content == observation["content"]
    assert [s.tool_calls[0].canonical_name for s in steps] == [
        None,
        "read_file",
        "edit_file",
        "exec_shell",
        None,
    ]


def test_the_final_step_is_the_submission(history: list[dict[str, Any]]) -> None:
    session = _read()
    last = _agent_steps(session)[-1]
    assert last.tool_calls[0].name == "submit"
    assert "diff --git a/tests/missing_colon.py" in last.tool_results[0].content
    assert last.text == history[-2]["thought"]


def test_round_trip_through_atif() -> None:
    session = _read()
    assert from_atif(to_atif(session)) == session


def test_a_file_with_neither_list_is_still_refused(tmp_path: Path) -> None:
    # Synthetic: an object with neither "trajectory" nor "history".
    path = tmp_path / "x.traj"
    path.write_text(json.dumps({"info": {}}), "utf-8")
    with pytest.raises(CorruptSourceError, match="neither a 'trajectory' list nor a 'history'"):
        SweAgentImporter().read(path)
