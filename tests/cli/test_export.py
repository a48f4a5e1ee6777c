"""``modellab export``: contents, manifest hashes, selection flags and atomicity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from factories import saved_session, write_session
from modellab.cli import main
from modellab.export import write_export
from modellab.settings import Settings
from modellab.store import Catalog, Selection
from modellab.traces import from_atif


@pytest.fixture
def imported(tmp_path, capsys) -> Path:
    folder = tmp_path / "sessions"
    for n in range(4):
        write_session(
            folder,
            saved_session(
                session_id=f"s{n}",
                created_at=f"2026-11-0{n + 1}T00:00:00Z",
                updated_at=f"2026-11-0{n + 1}T00:00:00Z",
            ),
        )
    assert main(["sessions", "import", str(folder)]) == 0
    capsys.readouterr()
    return folder


def test_export_writes_redacted_atif_and_a_manifest_of_hashes(imported, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["capture", "s1", "s3"]) == 0
    assert main(["export", "--out", str(out)]) == 0
    assert "Next: modellab redact review" in capsys.readouterr().out
    lines = (out / "trajectories.jsonl").read_bytes().splitlines()
    trajectories = [json.loads(line) for line in lines]
    assert [t["session_id"] for t in trajectories] == ["s1", "s3"]
    session = from_atif(trajectories[0])
    assert session.outcome == "success"
    assert {a.type for a in session.artifacts} == {"diff", "test_run"}
    assert session.cwd == "<WORKSPACE:1>"  # the workspace path is replaced whole
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["redaction_status"] == "redacted"
    assert manifest["redaction"]["counts_by_rule"] == {"workspace-path": 4}
    assert manifest["counts"]["sessions"] == 2
    assert manifest["counts"]["tool_calls"] == 6
    for name in ("trajectories.jsonl", "redaction-findings.jsonl"):
        entry = manifest["files"][name]
        data = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data) and entry["lines"] == len(data.splitlines())
    (source,) = manifest["sources"]
    assert source["source_format"] == "codewhale.saved_session"
    assert source["parser_version"]
    for row in manifest["sessions"]:
        line = next(raw for raw in lines if json.loads(raw)["session_id"] == row["id"])
        assert hashlib.sha256(line).hexdigest() == row["sha256"]
        assert row["findings"] == 2


def test_raw_export_is_marked_raw_and_warns(imported, tmp_path, capsys):
    out = tmp_path / "raw"
    assert main(["export", "--all", "--raw", "--out", str(out)]) == 0
    assert "RAW: not redacted" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["redaction_status"] == "raw" and manifest["redaction"] is None
    assert sorted(p.name for p in out.iterdir()) == [
        ".modellab-output",
        "manifest.json",
        "trajectories.jsonl",
    ]
    settings = Settings.from_env()
    with Catalog(settings.catalog_path) as catalog:
        stored = [catalog.trajectory(row["id"]) for row in manifest["sessions"]]
    assert (out / "trajectories.jsonl").read_bytes().splitlines() == stored


def test_selection_flags(imported, tmp_path, capsys):
    code = main(["export", "--out", str(tmp_path / "none")])
    assert code == 2 and "no sessions match" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert main(["export", "--all", "--out", str(tmp_path / "all"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["counts"]["sessions"] == 4
    assert main(["export", "--ids", "s0", "s2", "--out", str(tmp_path / "ids")]) == 0
    assert (
        main(
            [
                "export",
                "--all",
                "--since",
                "2026-11-03",
                "--source",
                "codewhale",
                "--label",
                "tests_passed",
                "--out",
                str(tmp_path / "since"),
            ]
        )
        == 0
    )
    ids = [
        json.loads(x)["session_id"]
        for x in (tmp_path / "since" / "trajectories.jsonl").read_text().splitlines()
    ]
    assert ids == ["s2", "s3"]


def test_existing_output_needs_force(imported, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", "--all", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").exists()
    # --force replaces only what an earlier export wrote (it carries our marker).
    assert main(["export", "--all", "--out", str(out), "--force"]) == 2
    assert "no Model Lab export wrote it" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    assert main(["export", "--all", "--out", str(out)]) == 0
    assert main(["export", "--all", "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".modellab-output",
        "manifest.json",
        "redaction-findings.jsonl",
        "trajectories.jsonl",
    ]


def test_interrupted_export_leaves_nothing_that_looks_complete(imported, tmp_path):
    out = tmp_path / "out"
    settings = Settings.from_env()

    def interrupt(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with Catalog(settings.catalog_path) as catalog, pytest.raises(KeyboardInterrupt):
        write_export(catalog, Selection(), out, redaction=None, on_progress=interrupt)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_empty_sessions_are_listed_but_not_exported(imported, tmp_path, capsys):
    # An empty session (no messages at all) imports and is listed; it is no ATIF trajectory,
    # so the export leaves it out and says so.
    folder = tmp_path / "empty"
    write_session(folder, saved_session([], session_id="empty-1"))
    assert main(["sessions", "import", str(folder)]) in (0, 1)
    assert main(["sessions", "list", "--json"]) == 0
    assert "empty-1" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["export", "--all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Left out 1 empty session(s)" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["left_out"] == {"empty": {"count": 1, "ids": ["empty-1"]}}
    lines = (out / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["steps"] for line in lines)
    # Only empty sessions selected: nothing to export, said plainly (usage error).
    assert main(["export", "--ids", "empty-1", "--out", str(tmp_path / "none")]) == 2
    assert "empty (no messages)" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
