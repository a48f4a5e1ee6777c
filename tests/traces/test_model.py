"""The neutral model: its published schema, its ATIF round trip, and outcome rules."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from conftest import REPO_ROOT
from modellab.traces import (
    ATIF_SCHEMA_VERSION,
    Agent,
    Branch,
    Diff,
    GitFacts,
    Label,
    Provenance,
    Session,
    Step,
    SubagentRef,
    TestRun,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    derive_outcome,
    from_atif,
    to_atif,
)
from modellab.traces.schema_file import SCHEMA_PATH, render_schema


def _provenance() -> Provenance:
    return Provenance(
        source_path="/x/s.json",
        source_format="test.synthetic",
        parser_version="t1",
        sha256="0" * 64,
        size_bytes=10,
    )


def rich_session() -> Session:
    """A synthetic session that uses every field of the model."""
    call = ToolCall(
        id="c1",
        name="bash",
        canonical_name="exec_shell",
        arguments={"command": "pytest -q"},
        status="error",
    )
    result = ToolResult(
        call_id="c1",
        content="1 failed\nCommand exited with code 1",
        is_error=True,
        error_kind="exit_code",
        exit_code=1,
        duration_ms=5,
        truncated=True,
        rehydrated_from="artifacts/a.txt",
        subagent_trajectory_ref=(
            SubagentRef(session_id="sub", trajectory_path="sub.json", extra={"source_file": "f"}),
            SubagentRef(session_id="sub2"),
        ),
        extra={"k": [1]},
    )
    agent = Step(
        source="agent",
        timestamp="2026-01-01T00:00:01Z",
        model_name="m",
        text="running",
        reasoning="think",
        tool_calls=(call,),
        tool_results=(result,),
        usage=Usage(
            input_tokens=3, output_tokens=4, cached_tokens=1, reasoning_tokens=2, cost_usd=0.5
        ),
        interrupted=True,
        kind="k",
        extra={"x": 1},
    )
    turn = Turn(
        index=0,
        started_at="2026-01-01T00:00:00Z",
        cwd="/w",
        git=GitFacts(branch="main", status="clean"),
        posture={"sandbox": "ro"},
        steps=(Step(source="user", text="fix it"), agent),
    )
    sub = Session(id="sub", source="s", agent=Agent(name="a"), provenance=_provenance())
    labels = (Label(kind="tests_failed", source="exec_shell", tool_call_id="c1", turn_index=0),)
    return Session(
        id="s1",
        source="test",
        agent=Agent(name="agent", version="1.0"),
        title="t",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-02T00:00:00Z",
        model="m",
        model_provider="p",
        cwd="/w",
        system_prompt="be careful",
        turns=(turn,),
        artifacts=(
            Diff(tool_call_id="c1", path="a.py", patch="+x\n", origin="edit"),
            TestRun(
                tool_call_id="c1",
                command="pytest -q",
                exit_code=1,
                failed=1,
                success=False,
                origin="exec_shell",
            ),
        ),
        labels=labels,
        outcome=derive_outcome(labels),
        usage=Usage(cost_usd=1.5),
        branches=(
            Branch(
                reason="compacted",
                leaf_id="e9",
                fork_id=None,
                steps=(Step(source="user", text="old"),),
            ),
        ),
        subagents=(sub,),
        provenance=_provenance(),
        extra={"mode": "agent"},
    )


def test_published_schema_matches_the_models():
    published = (REPO_ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert published == render_schema(), "run 'python3 dev.py schema' to regenerate"


def test_schema_describes_sessions_and_forbids_unknown_fields():
    schema = json.loads(render_schema())
    # Session is recursive (sub-agents), so the root is a reference into $defs.
    assert schema["$ref"] == "#/$defs/Session"
    assert schema["$defs"]["Session"]["additionalProperties"] is False
    assert {"Turn", "Step", "ToolCall", "Provenance"} <= set(schema["$defs"])


def test_atif_round_trip_keeps_every_field():
    session = rich_session()
    trajectory = json.loads(json.dumps(to_atif(session)))
    assert from_atif(trajectory) == session


def test_atif_output_uses_only_standard_fields_outside_extra():
    trajectory = to_atif(rich_session())
    assert trajectory["schema_version"] == ATIF_SCHEMA_VERSION
    assert set(trajectory) <= {
        "schema_version",
        "session_id",
        "agent",
        "steps",
        "final_metrics",
        "extra",
        "notes",
    }
    ids = [s["step_id"] for s in trajectory["steps"]]
    assert ids == list(range(1, len(ids) + 1))
    allowed = {
        "step_id",
        "timestamp",
        "source",
        "model_name",
        "message",
        "reasoning_content",
        "tool_calls",
        "observation",
        "metrics",
        "extra",
    }
    for step in trajectory["steps"]:
        assert set(step) <= allowed
    agent_step = trajectory["steps"][-1]
    assert agent_step["tool_calls"][0] == {
        "tool_call_id": "c1",
        "function_name": "bash",
        "arguments": {"command": "pytest -q"},
    }
    assert agent_step["observation"]["results"][0]["source_call_id"] == "c1"
    assert trajectory["steps"][0]["source"] == "system"


def test_subagent_refs_use_atifs_observation_result_field():
    trajectory = to_atif(rich_session())
    (result,) = trajectory["steps"][-1]["observation"]["results"]
    # ATIF's ObservationResult: source_call_id, content, subagent_trajectory_ref, extra.
    assert set(result) <= {"source_call_id", "content", "subagent_trajectory_ref", "extra"}
    assert result["subagent_trajectory_ref"] == [
        {"session_id": "sub", "trajectory_path": "sub.json", "extra": {"source_file": "f"}},
        {"session_id": "sub2"},
    ]
    # Not duplicated under Model Lab's extra.
    (detail,) = trajectory["steps"][-1]["extra"]["modellab"]["results"]
    assert "subagent_trajectory_ref" not in detail
    # A result with no refs writes no key at all.
    plain = Step(source="agent", tool_results=(ToolResult(call_id="c", content="x"),))
    session = rich_session().model_copy(
        update={"turns": (Turn(index=0, steps=(plain,)),), "system_prompt": None}
    )
    (only,) = to_atif(session)["steps"]
    assert only["observation"]["results"] == [{"source_call_id": "c", "content": "x"}]
    assert from_atif(json.loads(json.dumps(to_atif(session)))) == session


def test_models_are_frozen_and_reject_unknown_fields():
    with pytest.raises(ValidationError):
        Step(source="agent", surprise=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Step(source="robot")  # type: ignore[arg-type]
    step = Step(source="user", text="x")
    with pytest.raises(ValidationError):
        step.text = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([], "unknown"),
        (["tests_failed", "tests_passed"], "success"),
        (["tests_passed", "tests_failed"], "failure"),
        (["tests_passed", "goal_blocked"], "failure"),
        (["goal_complete", "tests_failed"], "success"),
        (["interrupted"], "interrupted"),
        (["denied"], "unknown"),
        (["provider_error"], "failure"),
    ],
)
def test_outcome_prefers_goal_then_tests_then_ending(kinds, expected):
    labels = [Label(kind=k, source="t") for k in kinds]
    assert derive_outcome(labels) == expected


def test_redaction_scans_subagent_refs_but_keeps_their_session_ids():
    from modellab.redact import Placeholders, Scanner, load_rules, redact_trajectory

    ref = SubagentRef(
        session_id="sub-7f3a",
        trajectory_path="/home/nadiaq/runs/sub.json",
        extra={"source_file": "/home/nadiaq/.claude/projects/x/agent-1.jsonl"},
    )
    step = Step(
        source="agent",
        tool_calls=(ToolCall(id="c1", name="Task", canonical_name="agent"),),
        tool_results=(ToolResult(call_id="c1", content="done", subagent_trajectory_ref=(ref,)),),
    )
    session = rich_session().model_copy(update={"turns": (Turn(index=0, steps=(step,)),)})
    trajectory = json.loads(json.dumps(to_atif(session)))
    redact_trajectory(trajectory, Scanner(load_rules()), Placeholders())
    (redacted,) = trajectory["steps"][-1]["observation"]["results"][0]["subagent_trajectory_ref"]
    assert redacted["session_id"] == "sub-7f3a"  # structural: a link, not content
    assert "nadiaq" not in json.dumps(redacted)  # paths are content, and were scanned
    back = from_atif(trajectory).turns[0].steps[0].tool_results[0].subagent_trajectory_ref
    assert back[0].session_id == "sub-7f3a"
