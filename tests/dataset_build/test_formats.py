"""Every ``--format`` end to end: layouts, preference pairs, unpaired labels, the prompt swap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dataset_build.builders import FAIL, PASS, build, edit, mixed, pytest_run, rows, session
from factories import assistant, exported, user
from modellab.cli import main
from modellab.datasets._preference import command_family

ALL = "trl-sft,preference,unpaired,nemo,llama-factory"


def _retries() -> dict[str, Any]:
    """Failed calls with and without a successful retry at the same step (see each line)."""
    return session(
        "pref",
        [
            user("Fix the parser"),
            *edit("p1", "parser.py", error=True),  # fails ...
            *edit("p2", "parser.py", old="x"),  # ... same path, other arguments, passes: pair
            *pytest_run("p3", FAIL),  # next action edits a file: different-step
            *edit("p4", "lexer.py"),
            *pytest_run("p5", FAIL, "python -m pytest tests"),  # pytest family ...
            *pytest_run("p6", PASS, "python -m pytest tests -x"),  # ... passes: pair
            *pytest_run("p7", FAIL),  # nothing after it in this turn
            assistant("Still one failure."),
            user("Try once more"),
            *pytest_run("q1", FAIL),  # the retry fails too: retry-failed
            *pytest_run("q2", FAIL, "pytest -x"),  # retried with the same command
            *pytest_run("q3", PASS, "pytest -x"),  # identical-action
            assistant("All green."),
        ],
    )


def _call(message: dict[str, Any]) -> tuple[str, str]:
    (call,) = message["tool_calls"]
    return call["id"], call["function"]["name"]


def test_command_families():
    assert command_family("pytest -q") == command_family("python -m pytest tests/") == "pytest"
    assert command_family("cd app && FOO=1 uv run pytest -x") == "pytest"
    assert command_family("sudo npm test -- --watch") == "npm test"
    assert command_family("npm install") == "npm install"
    assert command_family("python3 setup.py build") == "python3"
    assert command_family("cd src") == ""


def test_preference_pairs_follow_the_same_step_rule(tmp_path, capsys):
    export = exported(tmp_path, [_retries(), *mixed()])
    out = tmp_path / "ds"
    manifest = build(export, out, capsys, "--format", "preference", "--test-fraction", "0")
    entry = manifest["formats"]["preference"]
    assert entry["pairs_found"] == 2 and entry["rows"] == {"train": 2, "test": 0}
    # mixed(): "bad" fails last in its turn; "retry" fails, then a new prompt starts.
    assert entry["failed_calls_without_pair"] == {
        "no-later-action-in-turn": 3,
        "different-step": 1,
        "retry-failed": 1,
        "retry-outcome-unknown": 0,
        "identical-action": 1,
    }
    first, second = rows(out / "preference" / "train.jsonl")
    assert set(first) == {"prompt", "chosen", "rejected", "tools"}
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert first["prompt"][1]["content"] == "Fix the parser"
    assert _call(first["rejected"][0]) == ("p1", "edit") and _call(first["chosen"][0]) == (
        "p2",
        "edit",
    )
    for row in (first, second):
        for answer in (row["chosen"], row["rejected"]):
            assert len(answer) == 1 and answer[0]["role"] == "assistant"
            assert answer[0]["content"] == ""  # the action only
    # The second pair's prompt is everything before p5's step, p4's result last.
    assert second["prompt"][-1] == {
        "role": "tool",
        "tool_call_id": "p4",
        "content": "Successfully replaced 1 block(s) in lexer.py.",
    }
    assert _call(second["rejected"][0]) == ("p5", "bash") and _call(second["chosen"][0])[0] == "p6"
    assert {t["function"]["name"] for t in second["tools"]} == {"edit", "bash"}
    assert manifest["counts"]["train"] == {"rows": 2, "sessions": 1}  # weighed by pairs
    assert manifest["split"]["weighted_by"] == "preference rows"


def test_unpaired_rows_are_labelled_by_their_turn(tmp_path, capsys):
    export = exported(tmp_path, [_retries()])
    out = tmp_path / "ds"
    manifest = build(export, out, capsys, "--format", "unpaired", "--test-fraction", "0")
    found = rows(out / "unpaired" / "train.jsonl")
    # Turn 1 ends with failing tests (eight agent steps), turn 2 with passing ones (four).
    assert [r["label"] for r in found] == [False] * 8 + [True] * 4
    assert manifest["formats"]["unpaired"]["labels"] == {"true": 4, "false": 8}
    last = found[-1]
    assert set(last) == {"prompt", "completion", "label", "tools"}
    assert last["completion"] == [{"role": "assistant", "content": "All green."}]
    assert last["prompt"][-1]["tool_call_id"] == "q3"
    with_call = found[0]["completion"][0]
    assert _call(with_call) == ("p1", "edit")


def test_nemo_and_llama_factory_layouts(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    manifest = build(
        export,
        out,
        capsys,
        "--from",
        "all",
        "--test-fraction",
        "0",
        "--format",
        "nemo,llama-factory",
    )
    assert not (out / "trl-sft").exists()  # trl-sft was not asked for
    assert manifest["primary_format"] == "nemo"
    nemo = {r["conversations"][0]["value"]: r for r in rows(out / "nemo" / "train.jsonl")}
    retry = nemo["Speed up the cache lookup"]
    assert retry["system"] == "You are CodeWhale." and retry["mask"] == "User"
    assert retry["type"] == "VALUE_TO_TEXT"
    speakers = [c["from"] for c in retry["conversations"]]
    assert speakers == ["User", "Assistant"] * (len(speakers) // 2)
    call_text = retry["conversations"][1]["value"]
    assert call_text.startswith("Running the tests.\n<tool_call>\n")
    call = json.loads(call_text.split("<tool_call>\n")[1].split("\n</tool_call>")[0])
    assert call == {"name": "bash", "arguments": {"command": "pytest -q"}}
    assert retry["conversations"][2]["value"].startswith(f"<tool_response>\n{FAIL}\n")
    assert [t["function"]["name"] for t in json.loads(retry["tools"])] == ["bash", "edit"]

    lf = rows(out / "llama-factory" / "train.jsonl")
    assert len(lf) == len(nemo) == 3
    for row in lf:
        roles = [c["from"] for c in row["conversations"]]
        assert len(roles) % 2 == 0
        assert all(r in ("human", "observation") for r in roles[0::2])
        assert all(r in ("gpt", "function_call") for r in roles[1::2])
        for turn in row["conversations"]:
            if turn["from"] == "function_call":
                value = json.loads(turn["value"])
                assert set(value) == {"name", "arguments"} and isinstance(value["arguments"], dict)
        assert isinstance(json.loads(row["tools"]), list) and row["system"] == "You are CodeWhale."
    retry_lf = next(r for r in lf if r["conversations"][0]["value"] == "Speed up the cache lookup")
    assert [c["from"] for c in retry_lf["conversations"]] == [
        "human", "function_call", "observation", "gpt",
        "human", "function_call", "observation", "function_call", "observation", "gpt",
    ]  # fmt: skip
    adjusted = manifest["formats"]["llama-factory"]["adjusted"]
    assert adjusted == {"assistant-text-beside-call-dropped": 4}  # "Running the tests." x4
    info = json.loads((out / "llama-factory" / "dataset_info.json").read_text())
    assert {e["file_name"] for e in info.values()} == {"train.jsonl", "test.jsonl"}
    entry = info["modellab_train"]
    assert entry["formatting"] == "sharegpt" and entry["tags"]["function_tag"] == "function_call"
    assert entry["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
    assert "llama-factory/dataset_info.json" in manifest["files"]


def test_the_system_prompt_swap_reaches_every_format(tmp_path, capsys):
    export = exported(tmp_path, [_retries(), *mixed()])
    prompt = tmp_path / "serving.txt"
    prompt.write_text("You are the served model.", encoding="utf-8")
    out = tmp_path / "ds"
    flags = ["--from", "all", "--test-fraction", "0", "--system-prompt", str(prompt)]
    manifest = build(export, out, capsys, "--format", ALL, *flags)
    swapped = {"role": "system", "content": "You are the served model."}
    for row in rows(out / "trl-sft" / "train.jsonl"):
        assert row["messages"][0] == swapped
    for name in ("preference", "unpaired"):
        found = rows(out / name / "train.jsonl")
        assert found and all(r["prompt"][0] == swapped for r in found)
    for name in ("nemo", "llama-factory"):
        found = rows(out / name / "train.jsonl")
        assert found and all(r["system"] == swapped["content"] for r in found)
    assert set(manifest["formats"]) == set(ALL.split(","))
    card = (out / "README.md").read_text(encoding="utf-8")
    for name in ALL.split(","):
        assert f"config_name: {name}" in card


def test_a_second_build_with_fewer_formats_leaves_no_stale_files(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    build(export, out, capsys, "--from", "all", "--format", "trl-sft", "--format", "llama-factory")
    assert (out / "llama-factory" / "dataset_info.json").is_file()
    manifest = build(export, out, capsys, "--from", "all", "--force")
    assert not (out / "llama-factory").exists()
    assert sorted(manifest["files"]) == [
        "README.md",
        "dedup-report.json",
        "trl-sft/test.jsonl",
        "trl-sft/train.jsonl",
    ]


def test_an_unknown_format_is_named(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = str(tmp_path / "ds")
    capsys.readouterr()
    assert main(["dataset", "build", str(export), "--out", out, "--format", "trl-sft,dpo"]) == 2
    assert "--format: dpo is not one of" in capsys.readouterr().err
    assert not Path(out).exists()
