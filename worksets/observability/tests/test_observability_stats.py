"""The observability figures, computed from neutral-model sessions built here (no catalog)."""

from __future__ import annotations

from typing import get_args

import pytest
from modellab_observability.stats import (
    TOOL_STATUSES,
    Figures,
    ToolCounts,
    combine,
    session_stats,
    totals,
)

from modellab.workset import Label, Session, Step, Turn, Usage

# The facade names the session model; its parts are the types of its fields.
Agent = Session.model_fields["agent"].annotation
Provenance = Session.model_fields["provenance"].annotation
(Branch,) = get_args(Session.model_fields["branches"].annotation)[:1]
(ToolCall,) = get_args(Step.model_fields["tool_calls"].annotation)[:1]
(ToolResult,) = get_args(Step.model_fields["tool_results"].annotation)[:1]

PROVENANCE = Provenance(
    source_path="/synthetic",
    source_format="test",
    parser_version="0",
    sha256="0" * 64,
    size_bytes=0,
)


def make_session(*turns: Turn, session_id: str = "s1", **fields) -> Session:
    return Session(
        id=session_id,
        source="test",
        agent=Agent(name="test-agent"),
        turns=turns,
        provenance=PROVENANCE,
        **fields,
    )


def agent(*calls: ToolCall, results: tuple[ToolResult, ...] = (), **fields) -> Step:
    return Step(source="agent", tool_calls=calls, tool_results=results, **fields)


def call(call_id: str, name: str, status="ok", canonical: str | None = None) -> ToolCall:
    return ToolCall(id=call_id, name=name, canonical_name=canonical, status=status)


def test_tool_calls_are_counted_by_canonical_name_and_status():
    step = agent(
        call("c1", "bash", "error", "exec_shell"),
        call("c2", "Bash", "ok", "exec_shell"),
        call("c3", "read_file"),
        call("c4", "bash", "denied", "exec_shell"),
        call("c5", "bash", "cancelled", "exec_shell"),
        call("c6", "write_file", "dangling"),
        call("c7", "File", "not_executed", "write_file"),
    )
    figures = session_stats(make_session(Turn(index=0, steps=(step,)))).figures
    assert figures.tool_calls == 7
    # Only a call that ran and failed is a failure; denials and the rest are counted apart.
    assert figures.tool_failures == 1
    assert figures.by_status == {
        "ok": 2,
        "error": 1,
        "denied": 1,
        "cancelled": 1,
        "not_executed": 1,
        "dangling": 1,
    }
    assert figures.by_tool == {
        "exec_shell": ToolCounts(calls=4, failed=1),
        "read_file": ToolCounts(calls=1, failed=0),
        "write_file": ToolCounts(calls=2, failed=0),
    }


def test_a_denial_recorded_several_ways_counts_once_and_lands_in_its_turn():
    turns = (
        Turn(index=0, steps=(agent(call("c1", "bash", "denied")),)),
        Turn(index=1, steps=(agent(call("c2", "bash", "ok")),)),
    )
    labels = (
        # c1: its status, the result text and an approval receipt all say "denied".
        Label(kind="denied", source="tool_result_text", tool_call_id="c1", turn_index=0),
        Label(kind="denied", source="approval_receipts", tool_call_id="c1"),
        # c2 ran, yet a receipt says it was denied: a denial in c2's turn (found by its call).
        Label(kind="denied", source="approval_receipts", tool_call_id="c2"),
        # No call and no turn (a sandbox denial): the session's, in no turn.
        Label(kind="denied", source="sandbox_denied"),
        Label(kind="approved", source="approval_receipts", tool_call_id="c2"),
    )
    stats = session_stats(make_session(*turns, labels=labels))
    assert stats.figures.denials == 3
    assert [t.figures.denials for t in stats.turns] == [1, 1]


def test_interruptions_count_turns_and_unplaced_labels_are_not_counted_twice():
    interrupted = Turn(
        index=0,
        steps=(Step(source="user", text="go"), agent(interrupted=True)),
    )
    calm = Turn(index=1, steps=(Step(source="user", text="again"), agent()))
    labels = (
        Label(kind="interrupted", source="assistant_interrupted", turn_index=0),
        # CodeWhale's turn_status label says the same thing without naming the turn.
        Label(kind="interrupted", source="turn_status"),
    )
    stats = session_stats(make_session(interrupted, calm, labels=labels, outcome="interrupted"))
    assert stats.figures.interruptions == 1
    assert [t.interrupted for t in stats.turns] == [True, False]
    assert stats.outcome == "interrupted"

    # Two turn_status labels are two interruptions, though only one turn shows it.
    twice = (*labels, Label(kind="interrupted", source="turn_status"))
    assert session_stats(make_session(interrupted, calm, labels=twice)).figures.interruptions == 2


def test_outcome_is_the_sessions_and_each_turn_gets_its_own_labels_verdict():
    turns = (
        Turn(index=0, steps=(agent(call("t1", "bash", "error")),)),
        Turn(index=1, steps=(agent(call("t2", "bash")),)),
        Turn(index=2, steps=(agent(),)),
    )
    labels = (
        Label(kind="tests_failed", source="exec_shell", tool_call_id="t1"),  # turn from call
        Label(kind="tests_passed", source="exec_shell", turn_index=1, tool_call_id="t2"),
    )
    stats = session_stats(make_session(*turns, labels=labels, outcome="success"))
    assert stats.outcome == "success"
    assert [t.outcome for t in stats.turns] == ["failure", "success", "unknown"]


def test_unrecorded_tokens_and_cost_stay_unknown_never_zero():
    stats = session_stats(make_session(Turn(index=0, steps=(Step(source="user"), agent()))))
    tokens = stats.figures.tokens
    assert (tokens.input, tokens.output, tokens.reasoning, tokens.cached) == (None,) * 4
    assert stats.figures.cost_usd is None
    assert stats.figures.wall_s is None and stats.figures.tool_s is None
    assert stats.turns[0].figures.tokens.input is None


def test_the_sessions_recorded_total_wins_field_by_field_over_the_steps_sum():
    turn = Turn(
        index=0,
        steps=(
            agent(usage=Usage(input_tokens=10, output_tokens=5, cached_tokens=4)),
            agent(usage=Usage(input_tokens=20, reasoning_tokens=2, cost_usd=0.01)),
            agent(usage=Usage(cost_usd=0.02)),
        ),
    )
    # The source's total knows input and output only; the rest comes from the steps.
    recorded = Usage(input_tokens=1000, output_tokens=99)
    stats = session_stats(make_session(turn, usage=recorded))
    tokens = stats.figures.tokens
    assert (tokens.input, tokens.output, tokens.reasoning, tokens.cached) == (1000, 99, 2, 4)
    assert stats.figures.cost_usd == pytest.approx(0.03)
    per_turn = stats.turns[0].figures.tokens
    assert (per_turn.input, per_turn.output, per_turn.reasoning, per_turn.cached) == (30, 5, 2, 4)


def test_latency_from_turn_timestamps_and_tool_durations():
    call_step = agent(
        call("c1", "bash"),
        call("c2", "bash"),
        results=(ToolResult(call_id="c1", duration_ms=1500),),
        timestamp="2026-01-01T10:00:05Z",
    )
    # c2's result was recorded on a later step of its own: timed from the two timestamps.
    late_result = Step(
        source="user",
        tool_results=(ToolResult(call_id="c2"),),
        timestamp="2026-01-01T10:00:09+00:00",
        kind="orphan_tool_results",
    )
    timed = Turn(
        index=0,
        started_at="2026-01-01T10:00:00Z",
        steps=(call_step, late_result, agent(timestamp="2026-01-01T10:01:00")),  # naive = UTC
    )
    untimed = Turn(index=1, steps=(agent(timestamp="2026-01-01T11:00:00Z"),))  # one stamp only
    stats = session_stats(make_session(timed, untimed))
    first, second = stats.turns
    assert first.figures.wall_s == 60.0
    assert second.figures.wall_s is None
    assert (first.figures.tool_s, first.figures.tool_calls_timed) == (5.5, 2)
    assert first.figures.tool_max_s == 4.0
    latency = stats.figures
    assert (latency.wall_s, latency.turns_timed) == (60.0, 1)
    assert (latency.tool_s, latency.tool_calls_timed, latency.tool_max_s) == (5.5, 2, 4.0)


def test_a_result_on_its_calls_own_step_without_a_duration_is_not_timed():
    step = agent(
        call("c1", "bash"), results=(ToolResult(call_id="c1"),), timestamp="2026-01-01T10:00:05Z"
    )
    figures = session_stats(make_session(Turn(index=0, steps=(step,)))).figures
    assert (figures.tool_s, figures.tool_calls_timed, figures.tool_max_s) == (None, 0, None)


def test_branches_are_left_out_and_sub_agents_add_to_the_totals():
    sub = make_session(
        Turn(index=0, steps=(agent(call("s1", "read_file"), usage=Usage(input_tokens=7)),)),
        session_id="parent-agent-1",
        outcome="success",
    )
    parent = make_session(
        Turn(index=0, steps=(agent(call("p1", "bash", "error")),)),
        branches=(Branch(reason="abandoned", leaf_id="x", steps=(agent(call("b1", "bash")),)),),
        subagents=(sub,),
        session_id="parent",
        outcome="failure",
    )
    other = make_session(Turn(index=0), session_id="other")
    stats = [session_stats(parent), session_stats(other)]
    assert stats[0].branch_steps == 1
    assert stats[0].figures.tool_calls == 1  # the branch's call is not counted
    assert [s.id for s in stats[0].threads()] == ["parent", "parent-agent-1"]
    assert stats[0].with_subagents().tool_calls == 2

    summary = totals(stats)
    assert (summary.sessions, summary.subagents) == (2, 1)
    assert summary.figures.tool_calls == 2 and summary.figures.tool_failures == 1
    assert summary.figures.tokens.input == 7  # the one thread that recorded it
    assert summary.known_in["input"] == 1 and summary.known_in["cost_usd"] == 0
    # Outcomes are the top-level sessions' verdicts only.
    assert summary.outcomes == {"success": 0, "failure": 1, "interrupted": 0, "unknown": 1}


def test_combining_nothing_is_all_zero_counts_and_unknown_figures():
    empty = combine([])
    assert empty.tool_calls == 0 and empty.tokens.input is None and empty.wall_s is None
    assert set(empty.by_status) == set(TOOL_STATUSES)
    assert combine([Figures(tool_max_s=2.0), Figures(tool_max_s=3.0)]).tool_max_s == 3.0
