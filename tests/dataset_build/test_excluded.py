"""``dataset build`` says what it left out and why, in words that agree with their counts."""

from __future__ import annotations

import json
import re

from dataset_build.builders import LONG_PROMPT, build, mixed, success
from factories import exported
from modellab._internal.files import OUTPUT_MARKER, write_output_marker
from modellab.cli import main
from modellab.datasets import SESSION_REASONS


def _accounted(manifest: dict) -> None:
    """Every session of the export gave a row or is counted under one named reason."""
    source = manifest["source"]
    excluded = manifest["excluded"]["sessions"]
    assert set(excluded) <= set(SESSION_REASONS)
    assert source["sessions_used"] + sum(excluded.values()) == source["sessions"]
    used = set(manifest["split"]["session_ids"]["train"] + manifest["split"]["session_ids"]["test"])
    assert len(used) == source["sessions_used"]


def _terminal(export, out, *flags: str, capsys) -> str:
    capsys.readouterr()
    assert main(["dataset", "build", str(export), "--out", str(out), *flags]) == 0
    return capsys.readouterr().out


def test_sessions_and_turns_left_out_are_counted_by_reason(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    manifest = build(export, tmp_path / "turns", capsys, "--test-fraction", "0")
    # "bad" has no successful turn; "retry" is used, but its first turn failed.
    assert manifest["excluded"] == {
        "sessions": {"no-successful-turn": 1},
        "turns": {"failure": 1},
        "sft_rows": {},
    }
    _accounted(manifest)

    manifest = build(export, tmp_path / "outcome", capsys, "--from", "all", "--outcome", "failure")
    assert manifest["excluded"]["sessions"] == {"outcome-filter": 2}
    assert manifest["excluded"]["turns"] == {}  # whole sessions: no turn is chosen
    _accounted(manifest)

    manifest = build(export, tmp_path / "whole", capsys, "--from", "successful-sessions")
    assert manifest["excluded"]["sessions"] == {"not-successful": 1}
    _accounted(manifest)

    manifest = build(export, tmp_path / "failed", capsys, "--from", "failed-turns")
    assert manifest["excluded"]["sessions"] == {"no-failed-turn": 1}
    assert manifest["excluded"]["turns"] == {"success": 1}  # retry's second ("good" is out)
    _accounted(manifest)

    card = (tmp_path / "failed" / "README.md").read_text(encoding="utf-8")
    assert "2 of the export's 3 sessions gave rows" in card
    assert "- 1 session without a failed turn (--from failed-turns)" in card


def test_duplicates_are_a_reason_for_sessions_and_rows(tmp_path, capsys):
    story = "The cache now keeps the last hundred lookups in an ordered dict and evicts. " * 8
    copy = success("a-first", "Speed up the cache lookup", "cache.py", story)
    copy["metadata"]["id"] = "b-copy"
    docs = [
        success("a-first", "Speed up the cache lookup", "cache.py", story),
        copy,
        success("c-near", "Speed up the cache lookup", "cache.py", story + "Done."),
        success("d-other", LONG_PROMPT, "api.py"),
    ]
    export = exported(tmp_path, docs)
    manifest = build(export, tmp_path / "ds", capsys, "--from", "all", "--test-fraction", "0")
    assert manifest["excluded"]["sessions"] == {"duplicate": 2}
    assert manifest["excluded"]["sft_rows"] == {"exact-duplicate": 1, "near-duplicate": 1}
    _accounted(manifest)
    out = _terminal(export, tmp_path / "shown", "--from", "all", capsys=capsys)
    assert "  2 sessions whose every SFT row duplicates a kept row (dedup-report.json)" in out
    assert "  1 SFT row: exact duplicate of a kept row (dedup-report.json)" in out
    assert "  1 SFT row: near-duplicate of a kept row (dedup-report.json)" in out


def test_the_terminal_names_each_reason_and_agrees_in_number(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = _terminal(export, tmp_path / "ds", "--test-fraction", "0", capsys=capsys)
    lines = out.splitlines()
    assert "trl-sft: train 2 rows (2 sessions), test 0 rows (0 sessions))." in lines[0]
    assert "Used 2 of 3 sessions. Left out:" in lines
    assert "  1 session without a successful turn (--from successful-turns)" in lines
    assert "  1 turn with outcome failure in the sessions used (--from successful-turns)" in lines

    out = _terminal(
        export, tmp_path / "one", "--from", "all", "--outcome", "success", "--test-fraction", "0.5",
        capsys=capsys,
    )  # fmt: skip
    assert "train 1 row (1 session), test 1 row (1 session))." in out
    assert "  trl-sft/: train 1 row, test 1 row" in out
    assert "  1 session whose outcome is not success (--outcome)" in out
    # No number disagrees with its noun anywhere in the command's output.
    assert not re.search(r"(?<![\d.])1 (rows|sessions|turns|tokens)\b", out)
    assert not re.search(r"\b([02-9]|\d\d+) (row|session|turn)\b", out)

    everything = _terminal(export, tmp_path / "all", "--from", "all", capsys=capsys)
    assert "Used 3 of 3 sessions; nothing was left out." in everything


def test_json_carries_the_exclusions(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    capsys.readouterr()
    flags = ["--out", str(tmp_path / "ds"), "--json", "--label", "tests_passed"]
    assert main(["dataset", "build", str(export), *flags]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["excluded"]["sessions"] == {"label-filter": 1}
    on_disk = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert on_disk["excluded"] == printed["excluded"]


def test_no_rows_says_why(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    capsys.readouterr()
    out = ["--out", str(tmp_path / "ds")]
    assert main(["dataset", "build", str(export), *out, "--label", "goal_blocked"]) == 2
    assert "3 sessions without a goal_blocked label (--label)" in capsys.readouterr().err
    flags = ["--outcome", "failure", "--from", "successful-turns"]
    assert main(["dataset", "build", str(export), *out, *flags]) == 2
    err = capsys.readouterr().err
    assert "2 sessions whose outcome is not failure (--outcome)" in err
    assert "1 session without a successful turn (--from successful-turns)" in err


def test_every_format_has_its_own_folder_and_old_layouts_are_cleared(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    out.mkdir()
    (out / "train.jsonl").write_text("{}\n")  # trl-sft's files before every format had a folder
    (out / "test.jsonl").write_text("")
    write_output_marker(out, "dataset")  # an earlier build's folder: --force may replace it
    formats = "trl-sft,preference,unpaired,nemo,llama-factory"
    manifest = build(export, out, capsys, "--from", "all", "--format", formats, "--force")
    top = sorted(p.name for p in out.iterdir())
    assert top == sorted(
        [OUTPUT_MARKER, "README.md", "dedup-report.json", "manifest.json", *formats.split(",")]
    )
    for name, entry in manifest["formats"].items():
        assert entry["files"] == {"train": f"{name}/train.jsonl", "test": f"{name}/test.jsonl"}
        assert all((out / path).is_file() for path in entry["files"].values())
