"""OpenHands V1 (software-agent-sdk) evaluation output.

``tests/data/openhands-v1/output.jsonl`` is written from the SDK's published event models
and the benchmarks' ``EvalOutput`` (no public V1 ``output.jsonl`` was found; its README
says so). ``sdk_goal_events.jsonl`` is a real event stream recorded by the SDK and
published as a test fixture in OpenHands/software-agent-sdk (MIT). Expected facts are read
from the raw JSON in each test, not restated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.cli import main
from modellab.sources import read_head
from modellab.sources.openhands import OpenHandsImporter
from modellab.traces import Step, from_atif, to_atif

DATA = Path(__file__).resolve().parents[1] / "data" / "openhands-v1"
OUTPUT = DATA / "output.jsonl"
EVENTS = DATA / "sdk_goal_events.jsonl"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in OUTPUT.read_text("utf-8").splitlines() if line]


def _steps(session: Any) -> list[Step]:
    return [step for turn in session.turns for step in turn.steps]


def _events(row: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [event for event in row["history"] if event["kind"] == kind]


def test_every_row_is_a_session_and_every_event_is_accounted_for():
    rows = _rows()
    report = OpenHandsImporter().read(OUTPUT)
    assert [s.id for s in report.sessions] == [r["instance_id"] for r in rows]
    assert report.lines_total == sum(len(r["history"]) for r in rows)
    assert report.accounted and report.lines_mapped > 0
    state_updates = sum(len(_events(r, "ConversationStateUpdateEvent")) for r in rows)
    assert report.skipped == {"conversation state update": state_updates}
    for session in report.sessions:
        assert session.provenance.source_format_version == "v1"
        assert from_atif(json.loads(json.dumps(to_atif(session)))) == session


def test_instruction_is_the_first_user_step_and_the_system_prompt_is_kept():
    row = _rows()[0]
    session = OpenHandsImporter().read(OUTPUT).sessions[0]
    first = _steps(session)[0]
    assert first.source == "user" and first.text == row["instruction"]
    (system,) = _events(row, "SystemPromptEvent")
    assert session.system_prompt == system["system_prompt"]["text"]
    assert session.model == row["metadata"]["llm"]["model"]
    assert session.extra["openhands_sdk_version"] == row["metadata"]["openhands_sdk_version"]


def test_tool_calls_carry_their_arguments_and_results_link_by_id():
    row = _rows()[0]
    steps = _steps(OpenHandsImporter().read(OUTPUT).sessions[0])
    calls = {call.id: (step, call) for step in steps for call in step.tool_calls}
    actions = _events(row, "ActionEvent")
    assert list(calls) == [a["tool_call_id"] for a in actions]
    for action in actions:
        step, call = calls[action["tool_call_id"]]
        assert call.name == action["tool_name"]
        assert call.arguments == json.loads(action["tool_call"]["arguments"])
    observations = _events(row, "ObservationEvent")
    for observation in observations:
        step, _ = calls[observation["tool_call_id"]]
        (result,) = [r for r in step.tool_results if r.call_id == observation["tool_call_id"]]
        expected = "\n".join(part["text"] for part in observation["observation"]["content"])
        assert result.content == expected
        assert result.extra["observation"] == observation["observation"]["kind"]
    # The first action: its thought is the step's text, its reasoning is kept readable.
    step, call = calls[actions[0]["tool_call_id"]]
    assert step.text == actions[0]["thought"][0]["text"]
    assert step.reasoning == actions[0]["reasoning_content"]
    assert call.canonical_name == "exec_shell" and step.tool_results[0].exit_code == 0
    # Two calls from one model response share one step.
    same = [a for a in actions if a["llm_response_id"] == actions[1]["llm_response_id"]]
    assert len(same) == 2
    assert calls[same[0]["tool_call_id"]][0] is calls[same[1]["tool_call_id"]][0]


def test_agent_messages_errors_and_the_final_answer():
    row = _rows()[0]
    session = OpenHandsImporter().read(OUTPUT).sessions[0]
    steps = _steps(session)
    (message,) = [e for e in _events(row, "MessageEvent") if e["source"] == "agent"]
    said = [s for s in steps if s.source == "agent" and not s.tool_calls]
    assert [s.text for s in said] == [message["llm_message"]["content"][0]["text"]]
    (error,) = _events(row, "AgentErrorEvent")
    (error_step,) = [s for s in steps if s.kind == "error"]
    assert error_step.text == error["error"]
    (finish,) = [a for a in _events(row, "ActionEvent") if a["action"]["kind"] == "FinishAction"]
    assert session.extra["finish"] == {"message": finish["action"]["message"]}
    last = steps[-1]
    assert last.tool_calls[0].name == "finish"
    assert last.tool_results[0].content == finish["action"]["message"]
    assert session.outcome == "success"  # test_result.report.resolved
    assert session.artifacts[0].patch == row["test_result"]["git_patch"]
    usage = row["metrics"]["accumulated_token_usage"]
    assert session.usage is not None
    assert session.usage.input_tokens == usage["prompt_tokens"]
    assert session.usage.cost_usd == row["metrics"]["accumulated_cost"]


def test_older_sdk_names_failures_rejections_and_condensation():
    row = _rows()[1]
    session = OpenHandsImporter().read(OUTPUT).sessions[1]
    steps = _steps(session)
    calls = {call.id: (step, call) for step in steps for call in step.tool_calls}
    bash, rejected = _events(row, "ActionEvent")
    step, call = calls[bash["tool_call_id"]]
    assert call.name == "execute_bash" and call.canonical_name == "exec_shell"
    assert call.status == "error"
    result = step.tool_results[0]
    assert result.is_error and result.exit_code == 1 and result.error_kind == "exit_code"
    step, call = calls[rejected["tool_call_id"]]
    (rejection,) = _events(row, "UserRejectObservation")
    assert call.status == "denied"
    assert step.tool_results[0].content == rejection["rejection_reason"]
    (summary,) = _events(row, "CondensationSummaryEvent")
    assert [s.text for s in steps if s.kind == "compaction_summary"] == [summary["summary"]]
    kinds = {label.kind for label in session.labels}
    assert {"denied", "turn_failed", "tool_error"} <= kinds
    assert session.outcome == "failure"


def test_a_real_sdk_event_stream_maps_calls_and_results(tmp_path):
    """The SDK's recorded events, wrapped in an evaluation row (the wrapper is synthetic)."""
    events = [json.loads(line) for line in EVENTS.read_text("utf-8").splitlines() if line]
    target = tmp_path / "output.jsonl"
    row = {"instance_id": "goal-review", "test_result": {}, "instruction": "Review PR #3745."}
    target.write_text(json.dumps({**row, "history": events}) + "\n")
    report = OpenHandsImporter().read(target)
    (session,) = report.sessions
    assert report.accounted
    actions = [e for e in events if e["kind"] == "ActionEvent"]
    calls = [c for s in _steps(session) for c in s.tool_calls]
    assert [c.id for c in calls] == [a["tool_call_id"] for a in actions]
    assert calls[0].arguments["command"] == actions[0]["action"]["command"]
    results = {r.call_id: r for s in _steps(session) for r in s.tool_results}
    first = next(
        e
        for e in events
        if e["kind"] == "ObservationEvent" and e["tool_call_id"] == actions[0]["tool_call_id"]
    )
    assert results[actions[0]["tool_call_id"]].is_error is first["observation"]["is_error"]
    # The recording was trimmed: one observation answers an action it does not hold.
    answered = {a["tool_call_id"] for a in actions}
    orphans = [
        e for e in events if e["kind"] == "ObservationEvent" and e["tool_call_id"] not in answered
    ]
    assert len(orphans) == 1 and len(report.warnings) == 1
    # No user message in the stream: the row's instruction is the prompt.
    assert _steps(session)[0].source == "user"
    assert _steps(session)[0].text == "Review PR #3745."


def test_instruction_is_not_doubled_when_the_history_holds_it():
    session = OpenHandsImporter().read(OUTPUT).sessions[0]
    users = [s for s in _steps(session) if s.source == "user"]
    assert len(users) == 1 and "instruction_from_row" not in session.extra


def test_sniff_takes_a_v1_row_whose_history_lies_past_the_window(tmp_path):
    row = _rows()[0]
    row["test_result"]["git_patch"] = "+" * 70_000  # a large patch, before the history
    target = tmp_path / "output.jsonl"
    target.write_text(json.dumps(row) + "\n")
    assert OpenHandsImporter().sniff(target, read_head(target))
    assert OpenHandsImporter().sniff(OUTPUT, read_head(OUTPUT))


@pytest.mark.parametrize("as_json", [True, False])
def test_cli_imports_v1_output(capsys, as_json):
    args = ["sessions", "import", str(OUTPUT)] + (["--json"] if as_json else [])
    assert main(args) == 0
    out = capsys.readouterr().out
    if as_json:
        assert json.loads(out)["counts"]["sessions_new"] == 2
    else:
        assert "sessions 2 new" in out and "FAILED" not in out
    assert main(["sessions", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    actions = _events(_rows()[0], "ActionEvent")
    assert rows["astropy__astropy-12907"]["tool_calls"] == len(actions)
    assert rows["astropy__astropy-12907"]["outcome"] == "success"
