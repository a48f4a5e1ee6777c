"""``modellab dataset build`` end to end, on synthetic CodeWhale sessions exported for real."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from dataset_build.builders import LONG_PROMPT, mixed, success
from dataset_build.builders import build as _build
from dataset_build.builders import rows as read_rows
from factories import exported
from modellab.cli import main


def test_an_unapproved_export_is_refused(tmp_path, capsys):
    export = exported(tmp_path, mixed(), approve=False)
    capsys.readouterr()
    assert main(["dataset", "build", str(export), "--out", str(tmp_path / "ds")]) == 9
    assert "never approved" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_rows_are_trl_conversations_with_matched_tool_calls(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    _build(export, out, capsys, "--from", "all", "--test-fraction", "0")
    rows = read_rows(out / "trl-sft" / "train.jsonl")
    assert len(rows) == 3 and (out / "trl-sft" / "test.jsonl").read_text() == ""
    for row in rows:
        assert set(row) == {"messages", "tools"}
        messages = row["messages"]
        assert messages[0] == {"role": "system", "content": "You are CodeWhale."}
        assert {m["role"] for m in messages} <= {"system", "user", "assistant", "tool"}
        answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
        calls = [c for m in messages for c in m.get("tool_calls", ())]
        assert [c["id"] for c in calls] == answered
        for call in calls:
            assert call["type"] == "function"
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
        used = {c["function"]["name"] for c in calls}
        assert {t["function"]["name"] for t in row["tools"]} == used
        assert all(t["type"] == "function" for t in row["tools"])
    # Each tool message follows the assistant message that made its call.
    first = rows[0]["messages"]
    position = {c["id"]: i for i, m in enumerate(first) for c in m.get("tool_calls", ())}
    for i, message in enumerate(first):
        if message["role"] == "tool":
            assert position[message["tool_call_id"]] < i


def test_successful_and_failed_turns_are_chosen_by_turn_outcome(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    good = _build(export, tmp_path / "good", capsys, "--test-fraction", "0")
    rows = read_rows(tmp_path / "good" / "trl-sft" / "train.jsonl")
    assert good["counts"]["train"] == {"rows": 2, "sessions": 2}
    retry = next(r for r in rows if "Speed up" in r["messages"][1]["content"])
    users = [m["content"] for m in retry["messages"] if m["role"] == "user"]
    assert users == ["Speed up the cache lookup", "Try again with a dict"]  # context kept
    assert retry["messages"][-1] == {"role": "assistant", "content": "Faster now."}

    _build(export, tmp_path / "bad", capsys, "--from", "failed-turns", "--test-fraction", "0")
    failed = read_rows(tmp_path / "bad" / "trl-sft" / "train.jsonl")
    firsts = sorted(r["messages"][1]["content"] for r in failed)
    assert firsts == ["Make the parser accept tabs", "Speed up the cache lookup"]
    retry_failed = next(r for r in failed if "Speed up" in r["messages"][1]["content"])
    assert retry_failed["messages"][-1]["content"] == "Failing."  # the second turn is not in

    sessions = _build(
        export, tmp_path / "whole", capsys, "--from", "successful-sessions", "--test-fraction", "0"
    )
    assert sessions["counts"]["train"]["rows"] == 2  # good and retry end in success
    only = _build(
        export,
        tmp_path / "label",
        capsys,
        "--from",
        "all",
        "--outcome",
        "failure",
        "--test-fraction",
        "0",
    )
    assert only["split"]["session_ids"]["train"] == ["bad"]


def _many() -> list[dict[str, Any]]:
    topics = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    docs = [success(t, f"Implement the {t} feature flag", f"{t}.py") for t in topics]
    docs.append(success("twin-1", LONG_PROMPT, "payments.py", "Rounded half up, " * 30))
    docs.append(
        success("twin-2", LONG_PROMPT + " please", "payments.py", "Tests added for zero. " * 30)
    )
    return docs


def test_splits_are_grouped_by_session_and_near_duplicate_task(tmp_path, capsys):
    export = exported(tmp_path, _many())
    sides_seen = set()
    for seed in range(6):
        manifest = _build(
            export,
            tmp_path / f"s{seed}",
            capsys,
            "--from",
            "all",
            "--test-fraction",
            "0.5",
            "--seed",
            str(seed),
        )
        ids = manifest["split"]["session_ids"]
        assert not set(ids["train"]) & set(ids["test"])
        twins = [side for side in ("train", "test") if {"twin-1", "twin-2"} & set(ids[side])]
        assert len(twins) == 1 and {"twin-1", "twin-2"} <= set(ids[twins[0]])
        assert manifest["split"]["groups"] == 9  # ten sessions, the twins in one group
        assert manifest["split"]["seed"] == seed
        assert manifest["counts"]["dropped"] == {"exact": 0, "near": 0}
        sides_seen.add(tuple(ids["test"]))
    assert len(sides_seen) > 1  # other seeds, other splits


def test_the_same_seed_gives_identical_files(tmp_path, capsys):
    export = exported(tmp_path, _many())
    _build(export, tmp_path / "a", capsys, "--from", "all", "--test-fraction", "0.3", "--seed", "7")
    _build(export, tmp_path / "b", capsys, "--from", "all", "--test-fraction", "0.3", "--seed", "7")
    names = sorted(str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*"))
    assert names == [
        ".modellab-output",
        "README.md",
        "dedup-report.json",
        "manifest.json",
        "trl-sft",
        "trl-sft/test.jsonl",
        "trl-sft/train.jsonl",
    ]
    for name in (n for n in names if n != "trl-sft"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_exact_and_near_duplicates_are_dropped_and_reported(tmp_path, capsys):
    story = "The cache now keeps the last hundred lookups in an ordered dict and evicts. " * 8
    # Export order is by id here; the first row of each duplicate set is the one kept.
    # Call ids are part of a row, so the exact copy reuses the original's call ids.
    copy = success("a-first", "Speed up the cache lookup", "cache.py", story)
    copy["metadata"]["id"] = "b-copy"
    docs = [
        success("a-first", "Speed up the cache lookup", "cache.py", story),
        copy,
        success("c-near", "Speed up the cache lookup", "cache.py", story + "Done."),
        success("d-other", "Document the public API", "api.py"),
    ]
    export = exported(tmp_path, docs)
    manifest = _build(export, tmp_path / "ds", capsys, "--from", "all", "--test-fraction", "0")
    assert manifest["counts"]["dropped"] == {"exact": 1, "near": 1}
    assert manifest["counts"]["train"]["rows"] == 2
    report = json.loads((tmp_path / "ds" / "dedup-report.json").read_text())
    reasons = {d["session_id"]: d for d in report["dropped"]}
    assert reasons["b-copy"]["reason"] == "exact" and len(reasons["b-copy"]["sha256"]) == 64
    assert reasons["b-copy"]["duplicate_of"]["session_id"] == "a-first"
    assert reasons["c-near"]["reason"] == "near-duplicate"
    assert reasons["c-near"]["estimated_jaccard"] >= 0.9
    assert reasons["c-near"]["duplicate_of"]["session_id"] == "a-first"


def test_the_manifest_ties_the_dataset_to_the_export(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    manifest = _build(export, out, capsys, "--from", "all", "--seed", "3")
    on_disk = json.loads((out / "manifest.json").read_text())
    assert {k: v for k, v in manifest.items() if k != "out"} == on_disk

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    source = on_disk["source"]
    assert source["path"] == str(export.resolve())
    assert source["manifest_sha256"] == sha(export / "manifest.json")
    assert source["redaction_report_sha256"] == sha(export / "redaction-findings.jsonl")
    # Hidden files (the approval record, the output marker) are the lab's, not the export's.
    exported_files = [p for p in export.iterdir() if not p.name.startswith(".")]
    assert source["files"] == {p.name: sha(p) for p in exported_files}
    assert on_disk["files"] == {
        name: sha(out / name)
        for name in ("trl-sft/train.jsonl", "trl-sft/test.jsonl", "dedup-report.json", "README.md")
    }
    assert on_disk["split"]["seed"] == 3
    stats = on_disk["token_stats"]["train"]
    assert stats["method"].startswith("estimate") and stats["total"] > 0


def test_system_prompt_swap(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    prompt = tmp_path / "serving.txt"
    prompt.write_text("You are the served model.", encoding="utf-8")
    manifest = _build(
        export,
        tmp_path / "ds",
        capsys,
        "--from",
        "all",
        "--test-fraction",
        "0",
        "--system-prompt",
        str(prompt),
    )
    for row in read_rows(tmp_path / "ds" / "trl-sft" / "train.jsonl"):
        assert row["messages"][0] == {"role": "system", "content": "You are the served model."}
        assert sum(m["role"] == "system" for m in row["messages"]) == 1
    assert manifest["filters"]["system_prompt"].startswith("replaced")


def test_the_card_has_dataset_card_metadata(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    _build(export, tmp_path / "ds", capsys, "--from", "all", "--seed", "5")
    card = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    front, body = card[4:].split("\n---\n", 1)
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load(front)
    assert meta["license"] == "other" and "text-generation" in meta["task_categories"]
    splits = {f["split"]: f["path"] for f in meta["configs"][0]["data_files"]}
    assert splits == {"train": "trl-sft/train.jsonl", "test": "trl-sft/test.jsonl"}
    sha = hashlib.sha256((export / "redaction-findings.jsonl").read_bytes()).hexdigest()
    assert sha in body and "Seed 5" in body and "Licence notes" in body


def test_bad_arguments_are_named(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = str(tmp_path / "ds")
    assert main(["dataset", "build", str(export), "--out", out, "--test-fraction", "1.5"]) == 2
    assert "--test-fraction" in capsys.readouterr().err
    assert main(["dataset", "build", str(export), "--out", out, "--label", "test_passed"]) == 2
    assert "unknown label 'test_passed'" in capsys.readouterr().err
    missing = str(tmp_path / "nope.txt")
    assert main(["dataset", "build", str(export), "--out", out, "--system-prompt", missing]) == 2
    assert "--system-prompt" in capsys.readouterr().err
    assert main(["dataset", "build", str(export), "--out", out, "--label", "goal_blocked"]) == 2
    assert "no rows match" in capsys.readouterr().err
    assert main(["dataset", "build", str(export), "--out", out]) == 0
    assert main(["dataset", "build", str(export), "--out", out]) == 2  # not empty now
    assert "not empty" in capsys.readouterr().err
    assert main(["dataset", "build", str(export), "--out", out, "--force"]) == 0
