"""The OpenHands ``output.jsonl`` importer, against the real evaluation output in the corpus.

Expected facts are counted from the raw JSONL in each test. Files written to ``tmp_path``
are synthetic (damaged copies, or a row with a graded report added) and say so.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from modellab.cli import main
from modellab.errors import CorruptSourceError
from modellab.sources import read_head
from modellab.sources.claude_code import ClaudeCodeImporter
from modellab.sources.codex import CodexImporter
from modellab.sources.openhands import OpenHandsImporter
from modellab.sources.swe_agent import SweAgentImporter
from modellab.traces import from_atif, to_atif


@pytest.fixture
def output(corpus: Path) -> Path:
    return corpus / "openhands" / "multi_swe_bench_output.jsonl"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_every_row_is_a_session_and_every_event_is_accounted_for(output):
    rows = _rows(output)
    report = OpenHandsImporter().read(output)
    assert [s.id for s in report.sessions] == [r["instance_id"] for r in rows]
    assert report.lines_total == sum(len(r["history"]) for r in rows) == 222
    assert report.accounted
    # Only the runtime's workspace-context recall (one action + observation per row).
    assert report.skipped == {
        "recall action (workspace context lookup)": 3,
        "recall observation (workspace context)": 3,
    }
    for session in report.sessions:
        assert from_atif(json.loads(json.dumps(to_atif(session)))) == session


def test_first_instance_maps_prompt_calls_results_and_usage(output):
    row = _rows(output)[0]
    session = OpenHandsImporter().read(output).sessions[0]
    actions = Counter(e["action"] for e in row["history"] if "action" in e)
    steps = [s for t in session.turns for s in t.steps]
    assert steps[0].source == "user" and steps[0].text == row["history"][1]["args"]["content"]
    assert session.system_prompt is not None
    assert session.system_prompt.startswith("You are OpenHands agent")
    calls = [c for s in steps for c in s.tool_calls]
    tool_actions = sum(actions[a] for a in ("run", "read", "edit", "think", "finish"))
    assert len(calls) == tool_actions == 23
    first = calls[0]
    assert first.id == "toolu_01" and first.name == "run" and first.canonical_name == "exec_shell"
    assert first.arguments["command"] == "ls -l /workspace/ponylang__ponyc__0.1"
    assert steps[1].text.startswith("The task involves fixing an issue")
    assert steps[1].model_name == "meta-llama/llama-4-maverick"
    assert steps[1].usage is not None and steps[1].usage.input_tokens == 5920
    assert steps[1].timestamp == "2025-04-30T16:32:57.821635"
    result = steps[1].tool_results[0]
    assert result.call_id == "toolu_01" and result.exit_code == 0 and not result.is_error
    # The failed build run: exit code 127 is an error result.
    failed = [r for s in steps for r in s.tool_results if r.exit_code == 127]
    assert failed and all(r.is_error and r.error_kind == "exit_code" for r in failed)
    assert calls[-1].name == "finish" and calls[-1].arguments["task_completed"] == "partial"
    assert session.model == "openai/openrouter-llama-4-maverick"
    assert session.usage is not None
    assert (session.usage.input_tokens, session.usage.output_tokens) == (565158, 2558)
    assert session.usage.cost_usd is None  # accumulated_cost 0.0 with no priced calls
    assert session.created_at == "2025-04-30T16:32:54.707474"
    (diff,) = session.artifacts
    assert diff.patch == row["test_result"]["git_patch"]
    assert session.outcome == "unknown"  # the row was never graded: no resolved field


def test_error_observation_and_max_iterations(output):
    sessions = OpenHandsImporter().read(output).sessions
    errors = [
        s for t in sessions[1].turns for s in t.steps if s.kind == "error"
    ]  # an invalid editor command, refused before it became an action
    assert len(errors) == 1 and "Parameter 'command'" in errors[0].text
    assert sessions[2].outcome == "failure"
    assert any(
        label.kind == "turn_failed" and "maximum iteration" in (label.detail or "")
        for label in sessions[2].labels
    )


@pytest.mark.parametrize(
    ("where", "resolved", "outcome"),
    [("test_result", True, "success"), ("report", False, "failure")],
)
def test_graded_rows_carry_the_resolved_label(output, tmp_path, where, resolved, outcome):
    """Synthetic: the real first row with a graded ``report`` added as the harness writes."""
    row = _rows(output)[0]
    if where == "test_result":
        row["test_result"]["report"] = {"resolved": resolved}
    else:
        row["report"] = {"resolved": resolved}
    target = tmp_path / "output.jsonl"
    target.write_text(json.dumps(row) + "\n")
    (session,) = OpenHandsImporter().read(target).sessions
    assert session.outcome == outcome and session.extra["resolved"] is resolved


def test_bad_lines_are_counted_and_a_file_of_nothing_fails(output, tmp_path):
    first = output.read_text("utf-8").splitlines()[0]
    target = tmp_path / "output.jsonl"
    target.write_text(first + "\n[1]\n{broken\n" + first[:500])
    report = OpenHandsImporter().read(target)
    assert len(report.sessions) == 1 and report.accounted
    assert report.skipped["line is not an evaluation row (instance_id and history)"] == 1
    assert report.skipped["invalid JSON line"] == 1
    assert report.skipped["truncated final line"] == 1
    for text in (first[:1000], '{"instance_id": 3, "history": []}\n'):
        target.write_text(text)
        with pytest.raises(CorruptSourceError) as caught:
            OpenHandsImporter().read(target)
        assert str(target) in str(caught.value)


def test_sniff_is_specific(corpus, output):
    importer = OpenHandsImporter()
    assert importer.sniff(output, read_head(output))
    for other in [
        corpus / "swe-agent-traj" / "all_preds.jsonl",
        corpus / "swe-smith-trajs" / "ft_xml_example.jsonl",
        corpus / "openhands" / "replay_basic.json",
        corpus / "claude-code-spotter" / "short.jsonl",
        corpus / "swe-agent-traj" / "pydicom__pydicom-1458.traj",
    ]:
        assert not importer.sniff(other, read_head(other)), other
    for other_importer in (ClaudeCodeImporter(), CodexImporter(), SweAgentImporter()):
        assert not other_importer.sniff(output, read_head(output))


def test_cli_imports_output_end_to_end(capsys, output):
    assert main(["sessions", "import", str(output), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["sessions_new"] == 3
    assert main(["sessions", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["id"] for r in rows) == [
        "ponylang__ponyc-4588",
        "ponylang__ponyc-4593",
        "ponylang__ponyc-4595",
    ]
    assert {r["source"] for r in rows} == {"openhands"}


def test_a_folder_finds_renamed_evaluation_outputs(corpus):
    found = list(OpenHandsImporter().discover(corpus / "openhands"))
    assert [p.name for p in found] == ["multi_swe_bench_output.jsonl"]  # not the replay files
