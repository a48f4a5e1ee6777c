"""One tool vocabulary: ``eval build`` and ``observability stats`` name the same calls alike.

The same imported session goes through both commands; each names a call by
``ToolCall.display_name`` (the shared vocabulary, ``bash`` -> ``exec_shell``), while eval
cases keep the recorded function name the model is offered.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from modellab_observability.plugin import plugin

from modellab.testing import cli, codewhale
from modellab.workset import Settings


def test_eval_build_and_observability_stats_name_tools_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approved_export, observed_session
) -> None:
    export = approved_export(
        [codewhale.write_session(tmp_path / "sessions", observed_session)]
    ).path
    capsys.readouterr()

    out = tmp_path / "suite"
    text = cli("eval", "build", str(export), "--out", str(out))
    (line,) = [row for row in text.splitlines() if row.startswith("Next actions: ")]
    listed = dict(re.findall(r"([^\s,]+) (\d+)", line.removeprefix("Next actions: ")))
    # The suite's cases, read as the documented cases.jsonl (one JSON case a line).
    lines = (out / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line]
    sliced = {case["slices"]["tool"] for case in cases} - {"(answer)"}
    # The cases themselves still hold what the agent called (an answer case has no calls).
    called = [c["expected"].get("tool_calls") for c in cases]
    assert {calls[0]["name"] for calls in called if calls} == {
        "bash",
        "read_file",
        "edit",
    }

    code = plugin.modellab_run_command("observability", ["stats", "--json"], Settings.from_env())
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (session,) = report["sessions"]
    counted = session["tools"]["by_name"]

    assert set(counted) == {"exec_shell", "read_file", "edit_file"}
    assert sliced == set(counted)
    assert set(listed) - {"(answer)"} == set(counted)
    # Each decision point calling a tool is one of the session's calls, so the counts agree.
    assert {k: int(v) for k, v in listed.items() if k != "(answer)"} == {
        name: figures["calls"] for name, figures in counted.items()
    }
