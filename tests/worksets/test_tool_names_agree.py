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

from factories import exported
from modellab.cli import main
from modellab.evals import read_suite
from modellab.settings import Settings

from .test_observability_cli import observed_session


def test_eval_build_and_observability_stats_name_tools_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = exported(tmp_path, [observed_session()])
    capsys.readouterr()

    out = tmp_path / "suite"
    assert main(["eval", "build", str(export), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    (line,) = [row for row in text.splitlines() if row.startswith("Next actions: ")]
    listed = dict(re.findall(r"([^\s,]+) (\d+)", line.removeprefix("Next actions: ")))
    suite = read_suite(out)
    sliced = {case.slices["tool"] for case in suite.cases} - {"(answer)"}
    # The cases themselves still hold what the agent called.
    assert {c.expected.calls[0].name for c in suite.cases if c.expected.calls} == {
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
