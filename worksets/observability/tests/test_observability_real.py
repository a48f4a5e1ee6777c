"""The figures on REAL CodeWhale files (``../shared/fixtures/codewhale``), imported into a
catalog: the conformance event streams record token counts, a denial, a cancellation and
a provider error; the saved sessions record nothing to count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modellab_observability.plugin import plugin

from modellab.testing import cli
from modellab.workset import Settings


@pytest.fixture
def report(shared: Path, capsys) -> dict[str, Any]:
    fixtures = shared / "fixtures" / "codewhale"
    settings = Settings.from_env()
    streams = sorted((fixtures / "conformance").glob("*.golden.jsonl"))
    cli("sessions", "import", str(fixtures), *map(str, streams))
    code = plugin.modellab_run_command("observability", ["stats", "--json"], settings)
    assert code == 0
    return json.loads(capsys.readouterr().out)


def by_stream(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Conformance sessions by the name of their stream (``approval_denied``, ...)."""
    return {
        s["id"].split("@", 1)[1].removesuffix(".golden"): s
        for s in report["sessions"]
        if "@" in s["id"]
    }


def test_token_counts_recorded_by_the_engine_are_reported(report):
    sessions = by_stream(report)
    assert sessions["one_tool_call"]["tokens"] == {
        "input": 350,
        "output": 26,
        "reasoning": None,  # the engine's turn_usage events carry none
        "cached": None,
    }
    assert sessions["approval_denied"]["tokens"]["output"] == 21
    totals = report["totals"]
    assert totals["known_in"]["input"] == 6  # the six streams; the saved sessions have none
    assert totals["tokens"]["input"] == sum(s["tokens"]["input"] for s in sessions.values())
    assert totals["cost_usd"] is None  # no real file records a cost


def test_tool_calls_denials_interruptions_and_outcomes(report):
    sessions = by_stream(report)
    one, parallel = sessions["one_tool_call"], sessions["parallel_tool_calls"]
    assert one["tools"]["by_name"] == {"read_file": {"calls": 1, "failed": 0}}
    assert parallel["tools"]["by_name"] == {"read_file": {"calls": 2, "failed": 0}}

    denied = sessions["approval_denied"]
    assert denied["denials"] == 1 and denied["tools"]["failed"] == 0
    assert denied["tools"]["by_name"] == {"exec_shell": {"calls": 1, "failed": 0}}

    cancelled = sessions["cancel_midstream"]
    # Recorded twice (the interrupted message, and the turn's status): one interruption.
    assert cancelled["interruptions"] == 1 and cancelled["outcome"] == "interrupted"

    errored = sessions["provider_error_after_tool_call"]
    assert errored["outcome"] == "failure"
    assert errored["tools"]["by_status"]["not_executed"] == 1 and errored["tools"]["failed"] == 0

    assert sessions["plain_answer"]["tools"]["calls"] == 0
    assert report["totals"]["outcomes"] == {
        "success": 0,
        "failure": 1,
        "interrupted": 1,
        "unknown": 7,
    }


def test_saved_sessions_without_messages_report_unknown_not_zero(report):
    saved = [s for s in report["sessions"] if "@" not in s["id"]]
    assert len(saved) == 3
    for session in saved:
        assert session["turns"] == 0 and session["tools"]["calls"] == 0
        assert set(session["tokens"].values()) == {None}
        assert session["latency"]["wall_s"] is None
