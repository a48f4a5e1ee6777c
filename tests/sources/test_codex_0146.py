"""Codex CLI 0.146 rollouts (issue 11): prompts before ``task_started``, content-part outputs,
MCP and patch end events, and the working folder named in ``<environment_context>``.

``tests/data/codex-0.146`` holds a rollout written from Codex's published protocol types (see
its README: no public 0.146 rollout with these records was found). Expected values are read
from the raw JSONL here, so the tests check the mapping, not the importer's own output.
Files written to ``tmp_path`` are synthetic and say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.sources.codex import CodexImporter
from modellab.traces import Session, Step, ToolResult, from_atif, to_atif

DATA = Path(__file__).resolve().parents[1] / "data" / "codex-0.146"


@pytest.fixture(scope="module")
def rollout() -> Path:
    (path,) = DATA.glob("rollout-*.jsonl")
    return path


def _raw(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _payloads(path: Path, kind: str, payload_type: str) -> list[dict[str, Any]]:
    return [
        line["payload"]
        for line in _raw(path)
        if line["type"] == kind and line["payload"].get("type") == payload_type
    ]


def _steps(session: Session) -> list[Step]:
    return [step for turn in session.turns for step in turn.steps]


def _results(session: Session) -> dict[str | None, ToolResult]:
    return {r.call_id: r for step in _steps(session) for r in step.tool_results}


def _read(path: Path) -> Session:
    report = CodexImporter().read(path)
    assert report.accounted
    assert not any("unknown call" in reason for reason in report.skipped), report.skipped
    (session,) = report.sessions
    return session


def _line(kind: str, payload: dict[str, Any], second: int = 0) -> dict[str, Any]:
    return {"timestamp": f"2026-01-01T00:00:{second:02d}.000Z", "type": kind, "payload": payload}


def _write(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / "rollout-synthetic.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    return path


_META = _line("session_meta", {"id": "synthetic-0146", "cwd": "/w", "cli_version": "0.146.0"})


# -- the 0.146 rollout ----------------------------------------------------------------


def test_each_prompt_appears_once_in_its_own_turn(rollout: Path) -> None:
    session = _read(rollout)
    events = [p["message"] for p in _payloads(rollout, "event_msg", "user_message")]
    assert len(events) == 2
    prompts = [
        [s.text for s in turn.steps if s.source == "user" and s.kind is None]
        for turn in session.turns
    ]
    # One turn per task_started, each opening with its prompt, written once.
    assert len(session.turns) == len(_payloads(rollout, "event_msg", "task_started"))
    assert prompts == [[events[0]], [events[1]]]
    assert session.title == events[0]


def test_tool_calls_keep_their_names_and_arguments(rollout: Path) -> None:
    session = _read(rollout)
    calls = {c.id: c for step in _steps(session) for c in step.tool_calls}
    for item in _payloads(rollout, "response_item", "function_call"):
        call = calls[item["call_id"]]
        assert call.name == item["name"]
        assert call.arguments == json.loads(item["arguments"])
    (patch_item,) = _payloads(rollout, "response_item", "custom_tool_call")
    assert calls[patch_item["call_id"]].arguments == {"_raw": patch_item["input"]}
    assert calls["call_exec_1"].canonical_name == "exec_shell"


def test_outputs_given_as_objects_or_content_parts_become_their_text(rollout: Path) -> None:
    session = _read(rollout)
    results = _results(session)
    outputs = {
        p["call_id"]: p["output"]
        for kind in ("function_call_output", "custom_tool_call_output")
        for p in _payloads(rollout, "response_item", kind)
    }
    # An object {"output", "metadata"}: the text, with the exit code it carries.
    assert isinstance(outputs["call_exec_1"], dict)
    assert results["call_exec_1"].content == outputs["call_exec_1"]["output"]
    assert results["call_exec_1"].exit_code == 1
    assert results["call_exec_1"].is_error
    # A list of input_text parts.
    assert isinstance(outputs["call_mcp_1"], list)
    assert results["call_mcp_1"].content == outputs["call_mcp_1"][0]["text"]
    # An object {"content": [parts], "success"}.
    assert results["call_patch_1"].content == outputs["call_patch_1"]["content"][0]["text"]
    for result in results.values():
        assert not result.content.startswith(("{", "[")), result.content


def test_mcp_and_patch_end_events_are_the_results_of_their_calls(rollout: Path) -> None:
    session = _read(rollout)
    results = _results(session)
    calls = {c.id: c for step in _steps(session) for c in step.tool_calls}
    mcp_ends = {p["call_id"]: p for p in _payloads(rollout, "event_msg", "mcp_tool_call_end")}
    patch_ends = {p["call_id"]: p for p in _payloads(rollout, "event_msg", "patch_apply_end")}
    # call_mcp_1 has a function_call item: the end event adds its duration.
    assert results["call_mcp_1"].duration_ms == 250
    # call_mcp_2 exists only as its end event: it becomes the call and its result.
    end = mcp_ends["call_mcp_2"]
    assert "call_mcp_2" not in {
        p.get("call_id") for p in _payloads(rollout, "response_item", "function_call")
    }
    invocation = end["invocation"]
    assert calls["call_mcp_2"].name == f"mcp__{invocation['server']}__{invocation['tool']}"
    assert calls["call_mcp_2"].arguments == invocation["arguments"]
    assert results["call_mcp_2"].content == end["result"]["Ok"]["content"][0]["text"]
    assert results["call_mcp_2"].duration_ms == 90
    assert calls["call_mcp_2"].status == "ok"
    # Patches: the answered custom tool call, and one known only by its end event.
    assert calls["call_patch_1"].status == "ok"
    end = patch_ends["call_patch_2"]
    assert calls["call_patch_2"].name == "apply_patch"
    assert results["call_patch_2"].content == end["stdout"] + end["stderr"]
    ((path, change),) = end["changes"].items()
    diffs = [a for a in session.artifacts if a.type == "diff" and a.tool_call_id == "call_patch_2"]
    assert [(d.path, d.patch, d.applied) for d in diffs] == [(path, change["unified_diff"], True)]
    # No path is kept as a JSON object key (redaction rewrites values, not keys).
    assert calls["call_patch_2"].arguments["changes"][0]["path"] == path


def test_final_answers_and_reasoning_are_kept_once(rollout: Path) -> None:
    session = _read(rollout)
    finals = [p["last_agent_message"] for p in _payloads(rollout, "event_msg", "task_complete")]
    for turn, final in zip(session.turns, finals, strict=True):
        texts = [s.text for s in turn.steps if s.source == "agent" and s.text]
        assert texts == [final]
    (reasoning,) = _payloads(rollout, "response_item", "reasoning")
    assert [s.reasoning for s in _steps(session) if s.reasoning] == [
        reasoning["summary"][0]["text"]
    ]


def test_environment_context_cwd_is_recorded_where_redaction_finds_it(rollout: Path) -> None:
    session = _read(rollout)
    meta = _raw(rollout)[0]["payload"]
    context = next(s for s in _steps(session) if s.text.startswith("<environment_context>"))
    assert context.kind == "context"
    assert f"<cwd>{meta['cwd']}</cwd>" in context.text
    assert context.extra["cwd"] == meta["cwd"]
    assert session.cwd == meta["cwd"]
    assert all(turn.cwd == meta["cwd"] for turn in session.turns)


def test_round_trip_through_atif(rollout: Path) -> None:
    session = _read(rollout)
    assert from_atif(to_atif(session)) == session


# -- synthetic variants -----------------------------------------------------------------


def test_cwd_from_environment_context_when_session_meta_has_none(tmp_path: Path) -> None:
    # Synthetic: a rollout whose session_meta names no cwd.
    path = _write(
        tmp_path,
        [
            _line("session_meta", {"id": "s", "cli_version": "0.146.0"}),
            _line(
                "response_item",
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {
                            "type": "input_text",
                            "text": "<environment_context>\n<cwd>/srv/app</cwd>\n"
                            "</environment_context>",
                        }
                    ],
                },
            ),
            _line("event_msg", {"type": "user_message", "message": "hi"}),
            _line("event_msg", {"type": "task_started", "turn_id": "t"}),
            _line("event_msg", {"type": "agent_message", "message": "hello"}),
        ],
    )
    session = _read(path)
    assert session.cwd == "/srv/app"
    assert [turn.cwd for turn in session.turns] == ["/srv/app"]
    assert [s.text for s in _steps(session) if s.source == "user" and s.kind is None] == ["hi"]


def test_end_event_written_before_its_call_item_still_answers_it(tmp_path: Path) -> None:
    # Synthetic: the end events come before the call items they answer.
    path = _write(
        tmp_path,
        [
            _META,
            _line("event_msg", {"type": "task_started", "turn_id": "t"}),
            _line("event_msg", {"type": "user_message", "message": "go"}),
            _line(
                "event_msg",
                {
                    "type": "mcp_tool_call_end",
                    "call_id": "m1",
                    "invocation": {"server": "s", "tool": "t", "arguments": {}},
                    "duration": {"secs": 1, "nanos": 0},
                    "result": {"Err": "server went away"},
                },
            ),
            _line(
                "response_item",
                {"type": "function_call", "name": "mcp__s__t", "arguments": "{}", "call_id": "m1"},
            ),
        ],
    )
    session = _read(path)
    (result,) = _results(session).values()
    assert result.content == "server went away"
    assert result.is_error
    assert result.duration_ms == 1000
    calls = [c for step in _steps(session) for c in step.tool_calls]
    assert [(c.id, c.name, c.status) for c in calls] == [("m1", "mcp__s__t", "error")]


@pytest.mark.parametrize(
    ("output", "text"),
    [
        (
            json.dumps([{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]),
            "a\nb",
        ),
        ({"type": "input_text", "text": "one part"}, "one part"),
        ({"content_items": [{"type": "input_text", "text": "x"}], "success": True}, "x"),
        (
            [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:"}],
            "see\n[image]",
        ),
        ("plain [text]", "plain [text]"),
    ],
)
def test_output_shapes_become_text(tmp_path: Path, output: Any, text: str) -> None:
    # Synthetic: one call, answered with each shape Codex writes.
    path = _write(
        tmp_path,
        [
            _META,
            _line("event_msg", {"type": "task_started", "turn_id": "t"}),
            _line(
                "response_item",
                {"type": "function_call", "name": "view", "arguments": "{}", "call_id": "c"},
            ),
            _line(
                "response_item", {"type": "function_call_output", "call_id": "c", "output": output}
            ),
        ],
    )
    (result,) = _results(_read(path)).values()
    assert result.content == text


def test_patch_end_without_a_call_item_gives_diffs_in_both_change_shapes(tmp_path: Path) -> None:
    # Synthetic: FileChange as {"type": ...} (current) and externally tagged (older builds).
    path = _write(
        tmp_path,
        [
            _META,
            _line("event_msg", {"type": "task_started", "turn_id": "t"}),
            _line(
                "event_msg",
                {
                    "type": "patch_apply_end",
                    "call_id": "p",
                    "stdout": "Success.\n",
                    "stderr": "",
                    "success": True,
                    "changes": {
                        "/w/new.txt": {"type": "add", "content": "a\nb\n"},
                        "/w/old.txt": {"update": {"unified_diff": "@@ -1 +1 @@\n-x\n+y\n"}},
                    },
                },
            ),
        ],
    )
    session = _read(path)
    diffs = sorted((a.path, a.patch) for a in session.artifacts if a.type == "diff")
    assert diffs == [("/w/new.txt", "+a\n+b\n"), ("/w/old.txt", "@@ -1 +1 @@\n-x\n+y\n")]
    (result,) = _results(session).values()
    assert (result.call_id, result.content, result.is_error) == ("p", "Success.\n", False)


def test_the_environment_context_cwd_is_redacted_in_text_too(rollout: Path) -> None:
    # The <cwd> of <environment_context> is the session's working folder: in the export it
    # becomes the same <WORKSPACE:n> as the structured cwd fields, inside the text as well.
    from modellab.redact import Placeholders, RedactionConfig, redact_trajectory

    session = _read(rollout)
    cwd = session.cwd
    assert cwd
    trajectory = to_atif(session)
    assert cwd in json.dumps(trajectory)
    redact_trajectory(trajectory, RedactionConfig(hash_key=bytes(32)).scanner(), Placeholders())
    text = json.dumps(trajectory)
    assert cwd not in text  # a boolean: the path is not printed on failure
    assert "<cwd><WORKSPACE:1></cwd>" in text
