"""The SWE-agent ``.traj`` importer, against the real trajectories in ``../shared/corpus``.

Expected facts are read from the raw JSON in each test (and agree with the corpus README:
pydantic pr_8316 resolved, pandas pr_53856 unresolved), so the tests check the mapping.
Files written to ``tmp_path`` are synthetic copies or damaged versions and say so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from modellab.cli import main
from modellab.errors import CorruptSourceError
from modellab.sources import FileImport, read_head
from modellab.sources.claude_code import ClaudeCodeImporter
from modellab.sources.codex import CodexImporter
from modellab.sources.openhands import OpenHandsImporter
from modellab.sources.swe_agent import SweAgentImporter
from modellab.traces import Session, Step, from_atif, to_atif

PYDANTIC = "pydantic__pydantic.acb0f10f.pr_8316"
PANDAS = "pandas-dev__pandas.95280573.pr_53856"


def _read(path: Path) -> tuple[FileImport, Session]:
    report = SweAgentImporter().read(path)
    assert len(report.sessions) == 1
    assert report.accounted, report
    return report, report.sessions[0]


def _steps(session: Session) -> list[Step]:
    return [step for turn in session.turns for step in turn.steps]


def _raw(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return value


@pytest.fixture
def smith(corpus: Path) -> Path:
    return corpus / "swe-smith-trajs"


def test_resolved_trajectory_maps_steps_calls_usage_and_report(smith):
    path = smith / "trajectories" / f"{PYDANTIC}.traj"
    raw = _raw(path)
    report, session = _read(path)
    assert report.skipped == {}
    assert report.lines_total == len(raw["trajectory"]) + len(raw["history"]) == 22 + 46
    steps = _steps(session)
    agent = [s for s in steps if s.source == "agent"]
    assert len(agent) == len(raw["trajectory"]) == 22
    assert steps[0].source == "user" and "<pr_description>" in steps[0].text
    assert session.system_prompt == raw["history"][0]["content"]
    # Function-calling ids and names come from history; the action is SWE-agent's rendering.
    first = agent[0].tool_calls[0]
    assert first.id == "toolu_01HqTZT4FM2tnh5pvmCX592Q" and first.name == "bash"
    assert first.arguments == {"command": 'find /testbed -type f -name "*.py" | grep -i alias'}
    assert first.canonical_name == "exec_shell"
    assert agent[0].tool_results[0].content.startswith("/testbed/pydantic/alias_generators.py")
    assert agent[0].tool_results[0].duration_ms == 153
    assert agent[1].tool_calls[0].name == "str_replace_editor"
    assert agent[-1].tool_calls[0].name == "submit"
    assert session.model == "claude-3-7-sonnet-20250219"
    assert session.agent.version == "1.0.1"
    assert session.usage is not None
    assert (session.usage.input_tokens, session.usage.output_tokens) == (161683, 968)
    assert session.usage.cost_usd == pytest.approx(0.3017616)
    assert session.outcome == "success" and session.extra["resolved"] is True
    (label,) = session.labels
    assert label.kind == "tests_passed" and label.source == "swebench_report"
    assert label.detail == "resolved (FAIL_TO_PASS 5/5, PASS_TO_PASS 150/150)"
    assert session.provenance.sidecars[0].path.endswith(f"{PYDANTIC}/report.json")
    (diff,) = session.artifacts
    assert diff.type == "diff" and diff.patch == raw["info"]["submission"]
    assert diff.tool_call_id == "toolu_01Kvc3xhosB69wjEpGszFDbZ"
    assert session.cwd == "/testbed"
    assert from_atif(json.loads(json.dumps(to_atif(session)))) == session


def test_unresolved_trajectory_is_a_failure(smith):
    _, session = _read(smith / "trajectories" / f"{PANDAS}.traj")
    assert session.outcome == "failure" and session.extra["resolved"] is False
    assert session.labels[0].detail == "unresolved (FAIL_TO_PASS 0/28, PASS_TO_PASS 595/595)"
    names = [c.name for s in _steps(session) for c in s.tool_calls]
    assert len(names) == 17 and names.count("submit") == 2


def test_old_style_trajectory_names_calls_by_first_word(corpus):
    path = corpus / "swe-agent-traj" / "pydicom__pydicom-1458.traj"
    raw = _raw(path)
    report, session = _read(path)
    assert report.lines_total == 12 + 26 and report.skipped == {}
    steps = _steps(session)
    assert steps[0].kind == "demonstration" and raw["history"][1]["is_demo"] is True
    assert steps[1].text.startswith("We're currently solving the following issue")
    calls = [c for s in steps for c in s.tool_calls]
    assert [c.name for c in calls[:3]] == ["create", "edit", "python"]
    assert calls[0].arguments == {"command": "create reproduce_bug.py\n"}
    assert calls[0].id == "step-1"
    assert session.model is None and session.outcome == "unknown"  # no report, no config
    assert session.usage is not None and session.usage.cost_usd == pytest.approx(1.26719)
    assert session.cwd == "/pydicom__pydicom"


def test_replayed_demonstration_has_no_usage(corpus):
    path = corpus / "swe-agent-traj" / "marshmallow-code__marshmallow-1867.function_calling.traj"
    report, session = _read(path)
    assert session.usage is None and any("all zero" in w for w in report.warnings)
    assert session.model == "gpt-4o"
    first = _steps(session)[1].tool_calls[0]
    assert first.name == "create" and first.arguments == {"filename": "reproduce.py"}


def test_report_beside_the_trajectory_and_summary_report(smith, tmp_path):
    """Synthetic layouts: a copied trajectory with a SWE-bench-keyed report beside it."""
    target = tmp_path / PANDAS / f"{PANDAS}.traj"
    target.parent.mkdir()
    shutil.copy(smith / "trajectories" / f"{PANDAS}.traj", target)
    (target.parent / "report.json").write_text(json.dumps({PANDAS: {"resolved": True}}))
    assert _read(target)[1].outcome == "success"
    # A run summary (SWE-smith's ids_resolved) two folders up is found too.
    (target.parent / "report.json").unlink()
    (tmp_path / "run_evaluation").mkdir()
    (tmp_path / "run_evaluation" / "report.json").write_text(
        json.dumps({"ids_resolved": [], "ids_unresolved": [PANDAS]})
    )
    _, session = _read(target)
    assert session.outcome == "failure" and session.labels[0].detail.endswith("run summary)")


def test_broken_report_is_a_warning_not_a_failure(smith, tmp_path):
    target = tmp_path / f"{PANDAS}.traj"
    shutil.copy(smith / "trajectories" / f"{PANDAS}.traj", target)
    (tmp_path / "report.json").write_text("{not json")
    report, session = _read(target)
    assert session.outcome == "unknown" and "could not be read" in report.warnings[0]


def test_unknown_entries_are_counted_under_named_reasons(corpus, tmp_path):
    raw = _raw(corpus / "swe-agent-traj" / "pydicom__pydicom-1458.traj")
    raw["trajectory"].append("not a step")
    raw["trajectory"].append({"observation": "no action"})
    raw["history"].append({"role": "critic", "content": "?"})
    target = tmp_path / "synthetic.traj"
    target.write_text(json.dumps(raw))
    report, _ = _read(target)
    assert report.skipped == {
        "trajectory step is not an object": 1,
        "trajectory step without an action": 1,
        "history message with role 'critic'": 1,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"trajectory": [{"action": "ls"}', "truncated JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"trajectory": {"a": 1}}', "'trajectory' is missing or not a list"),
        ('{"trajectory": [], "history": 3}', "'history' is not a list"),
        ('{"trajectory": [], "info": {"model_stats": {"tokens_sent": -5}}}', None),
    ],
)
def test_bad_input_fails_with_one_error_naming_the_file(tmp_path, text, reason):
    target = tmp_path / "bad.traj"
    target.write_text(text)
    if reason is None:  # damaged but readable: no crash, no negative counts
        _, session = _read(target)
        assert session.usage is None  # the only figure was negative: dropped
        return
    with pytest.raises(CorruptSourceError) as caught:
        SweAgentImporter().read(target)
    assert str(target) in str(caught.value) and reason in str(caught.value)


def test_sniff_is_specific(corpus, smith):
    importer = SweAgentImporter()
    traj = smith / "trajectories" / f"{PYDANTIC}.traj"
    assert importer.sniff(traj, read_head(traj))
    for other in [
        corpus / "openhands" / "multi_swe_bench_output.jsonl",
        corpus / "swe-agent-traj" / "all_preds.jsonl",
        smith / "ft_xml_example.jsonl",
        smith / "run_evaluation" / "report.json",
        corpus / "claude-code-spotter" / "short.jsonl",
    ]:
        assert not importer.sniff(other, read_head(other)), other
    # And no other importer claims a trajectory.
    for other_importer in (ClaudeCodeImporter(), CodexImporter(), OpenHandsImporter()):
        assert not other_importer.sniff(traj, read_head(traj))
    assert list(importer.discover(smith)) == sorted((smith / "trajectories").glob("*.traj"))


def test_cli_imports_a_trajectory_end_to_end(capsys, smith):
    path = smith / "trajectories" / f"{PYDANTIC}.traj"
    assert main(["sessions", "import", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["sessions_new"] == 1
    assert main(["sessions", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == PYDANTIC and row["source"] == "swe-agent"
    assert row["outcome"] == "success" and row["tool_calls"] == 22
