"""``modellab observability stats`` end to end: synthetic sessions imported into a real
catalog, then read back through the workset's hook, as the core will call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modellab_observability.plugin import plugin
from modellab_observability.report import SCHEMA

from modellab.testing import cli, codewhale
from modellab.workset import Settings

#: A synthetic CodeWhale session (a copy of one the core's tests keep): this project's own.
CODEWHALE_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def settings(tmp_path: Path, observed_session: dict[str, Any]) -> Settings:
    """A catalog holding the observed session and the kit's default saved session."""
    folder = tmp_path / "sessions"
    codewhale.write_session(folder, observed_session)
    codewhale.write_session(
        folder,
        codewhale.saved_session(
            session_id="plain-2",
            created_at="2026-11-21T09:00:00Z",
            updated_at="2026-11-21T10:00:00Z",
        ),
    )
    settings = Settings.from_env()
    cli("sessions", "import", str(folder))
    return settings


def run(settings: Settings, capsys, *argv: str) -> tuple[int | None, str, str]:
    code = plugin.modellab_run_command("observability", list(argv), settings)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stats_json(settings: Settings, capsys, *argv: str) -> dict[str, Any]:
    code, out, err = run(settings, capsys, "stats", "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def test_figures_of_an_imported_session(settings, capsys):
    report = stats_json(settings, capsys, "--ids", "obs-1", "--per-turn")
    (session,) = report["sessions"]
    assert session["outcome"] == "success"  # the last test run passed
    assert session["turns"] == 2
    tools = session["tools"]
    assert tools["calls"] == 5 and tools["failed"] == 1
    assert tools["by_status"]["denied"] == 1 and tools["by_status"]["ok"] == 3
    assert tools["by_name"] == {
        "exec_shell": {"calls": 3, "failed": 1},
        "read_file": {"calls": 1, "failed": 0},
        "edit_file": {"calls": 1, "failed": 0},
    }
    assert (session["denials"], session["interruptions"]) == (1, 1)
    # CodeWhale's saved sessions record a cost but no token counts: unknown, not 0.
    assert session["tokens"] == {"input": None, "output": None, "reasoning": None, "cached": None}
    assert session["cost_usd"] == 0.0125
    assert session["latency"]["wall_s"] == 50.0  # 30 s + 20 s; the idle gap is left out
    assert session["latency"]["turns_timed"] == 2
    assert session["latency"]["tool_s"] is None  # no durations recorded

    first, second = session["per_turn"]
    assert (first["interrupted"], first["outcome"], first["denials"]) == (True, "failure", 1)
    assert first["latency"]["wall_s"] == 30.0 and first["tools"]["failed"] == 1
    assert (second["interrupted"], second["outcome"], second["tools"]["calls"]) == (
        False,
        "success",
        2,
    )


def test_json_layout_is_stable(settings, capsys):
    report = stats_json(settings, capsys)
    assert report["schema"] == SCHEMA
    assert list(report) == ["schema", "selection", "sessions", "totals", "skipped", "chart"]
    assert report["selection"] == {
        "ids": [],
        "last": None,
        "since": None,
        "sources": [],
        "labels": [],
        "outcomes": [],
    }
    figures = ["tokens", "cost_usd", "latency", "tools", "denials", "interruptions"]
    session = report["sessions"][0]
    assert list(session) == [
        *["id", "source", "title", "created_at", "model", "outcome", "turns"],
        *figures,
        *["branch_steps", "subagents", "per_turn"],
    ]
    assert session["per_turn"] is None  # only with --per-turn
    assert list(session["latency"]) == [
        "wall_s",
        "turns_timed",
        "tool_s",
        "tool_calls_timed",
        "tool_max_s",
    ]
    totals = report["totals"]
    assert list(totals) == ["sessions", "subagents", "turns", *figures, "outcomes", "known_in"]
    assert [s["id"] for s in report["sessions"]] == ["obs-1", "plain-2"]  # oldest first
    assert (totals["sessions"], totals["turns"], totals["tools"]["calls"]) == (2, 3, 8)
    assert totals["outcomes"] == {"success": 2, "failure": 0, "interrupted": 0, "unknown": 0}
    assert totals["tokens"]["input"] is None and totals["known_in"]["input"] == 0
    assert report["skipped"] == [] and report["chart"] is None


def test_selection_flags_narrow(settings, capsys):
    assert [s["id"] for s in stats_json(settings, capsys, "--last", "1")["sessions"]] == ["plain-2"]
    assert stats_json(settings, capsys, "--label", "denied")["totals"]["sessions"] == 1
    assert stats_json(settings, capsys, "--since", "2026-11-21")["sessions"][0]["id"] == "plain-2"
    assert stats_json(settings, capsys, "--source", "codewhale")["totals"]["sessions"] == 2


def test_table_is_aligned_and_says_unknown(settings, capsys):
    code, out, _ = run(settings, capsys, "stats", "--per-turn")
    assert code == 0
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["session", "source", "turns", "input"]
    row = next(line for line in lines if line.startswith("obs-1"))
    cells = row.split()
    assert cells[1] == "codewhale" and cells[2] == "2"
    assert cells[3:7] == ["?", "?", "?", "?"]  # tokens not recorded
    assert "$0.0125" in cells and "50.0s" in cells
    # Figures are right-aligned: the rule under the header is as wide as each row's cells.
    assert len(lines[1]) >= len(row.rstrip())
    assert "total (2 sessions)" in out
    assert "exec_shell" in out and "Outcomes: 2 success" in out
    assert "Turns of obs-1 (Observed session)" in out
    assert "unknown, not zero" in out


def test_chart_is_a_real_png(settings, capsys, tmp_path):
    from matplotlib.image import imread

    target = tmp_path / "chart.png"
    code, out, _ = run(settings, capsys, "stats", "--chart", str(target))
    assert code == 0 and f"Chart written to {target}" in out
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    pixels = imread(target)
    assert pixels.ndim == 3 and pixels.shape[0] > 500 and pixels.shape[1] > 500
    assert not list(tmp_path.glob(".chart.png.*"))  # no temporary file left beside it


def test_json_names_the_chart(settings, capsys, tmp_path, monkeypatch):
    import modellab_observability.chart

    drawn = []
    # Drawing is tested above; here only what --json says about it (and no second draw).
    monkeypatch.setattr(
        modellab_observability.chart,
        "write_chart",
        lambda sessions, totals, path: drawn.append(path) or len(sessions),
    )
    target = tmp_path / "chart.png"
    report = stats_json(settings, capsys, "--chart", str(target))
    assert report["chart"] == {"path": str(target), "sessions_drawn": 2}
    assert drawn == [target]


def test_an_empty_selection_exits_3(settings, capsys):
    code, out, err = run(settings, capsys, "stats", "--outcome", "failure")
    assert (code, out) == (3, "")
    assert "no session matches the selection" in err
    code, _, err = run(settings, capsys, "stats", "--ids", "no-such-session")
    assert code == 3 and "no such session" in err


def test_an_empty_catalog_exits_3(capsys):
    code, out, err = run(Settings.from_env(), capsys, "stats", "--json")
    assert (code, out) == (3, "")
    assert "the catalog has no sessions" in err and "modellab sessions import" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "--last", "0"],
        ["stats", "--last", "many"],
        ["stats", "--since", "last tuesday"],
        ["stats", "--label", "no_such_label"],
        ["stats", "--outcome", "great"],
        ["stats", "--chart", "chart.jpg"],
        ["stats", "--chart", "/no/such/folder/chart.png"],
        ["stats", "--no-such-flag"],
        ["nonsense"],
        [],
    ],
)
def test_bad_arguments_exit_2(settings, capsys, argv):
    code, out, err = run(settings, capsys, *argv)
    assert code == 2 and out == ""
    assert err  # always says why


def test_help_exits_0_and_lists_the_exit_codes(settings, capsys):
    code, out, _ = run(settings, capsys, "stats", "--help")
    assert code == 0
    assert "--per-turn" in out and "--chart FILE.png" in out
    assert "exit codes:" in out and "nothing selected" in out


def test_a_damaged_trajectory_is_skipped_and_reported(settings, capsys):
    from modellab.workset import Catalog, Selection

    with Catalog(settings.catalog_path) as catalog:
        ((_, digest, _),) = catalog.trajectory_refs(Selection(ids=("obs-1",)))
        catalog.objects.path_of(digest).unlink()
    code, out, err = run(settings, capsys, "stats", "--json")
    assert code == 1
    report = json.loads(out)
    assert [s["id"] for s in report["sessions"]] == ["plain-2"]
    assert [s["id"] for s in report["skipped"]] == ["obs-1"]
    assert "session obs-1 skipped" in err


def test_a_denial_recorded_three_ways_counts_once(capsys):
    # Synthetic fixture: one call denied, seen in its result text and its approval receipt.
    settings = Settings.from_env()
    cli("sessions", "import", str(CODEWHALE_DATA / "b4140c92-be2f-4749-9776-119d8c6600e8.json"))
    (session,) = stats_json(settings, capsys)["sessions"]
    assert session["denials"] == 1
    assert session["tools"]["by_status"]["denied"] == 1
    assert session["tools"]["by_status"]["dangling"] == 1


def test_the_hook_ignores_other_commands(settings):
    assert plugin.modellab_run_command("other", [], settings) is None
    assert plugin.modellab_run_command("sessions", ["list"], settings) is None
