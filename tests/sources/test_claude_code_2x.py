"""Claude Code 2.x: a public 2.1.173 session with sub-agent files, sub-agent links, and the
shapes issue 11 found dropped (plain-string assistant content, ``summary`` lines that carry
``message``).

``tests/data/claude-code-2x/README.md`` says where the public files come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.sources.claude_code import ClaudeCodeImporter
from modellab.traces import Session, Step, ToolResult, from_atif, to_atif

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data" / "claude-code-2x"
SHOWCASE = "55550000-0000-4000-8000-000000000001"
BIG = "fa812bfe-b295-4cca-9c2f-fdf01028cb46"
REF = "subagent_trajectory_ref"
SID = "5e55a0e0-0000-4000-8000-00000000abcd"


@pytest.fixture
def importer() -> ClaudeCodeImporter:
    return ClaudeCodeImporter()


def _steps(session: Session) -> list[Step]:
    return [step for turn in session.turns for step in turn.steps]


def _results(session: Session) -> dict[str, ToolResult]:
    return {r.call_id or "": r for step in _steps(session) for r in step.tool_results}


def _refs(result: ToolResult) -> list[dict[str, Any]]:
    assert REF not in result.extra  # a field of its own, not a source fact
    return [ref.model_dump(exclude_defaults=True) for ref in result.subagent_trajectory_ref]


# --- the public 2.1.173 session -----------------------------------------------------------


def test_public_2x_session_imports_whole(importer) -> None:
    path = DATA / f"{SHOWCASE}.jsonl"
    assert [p.name for p in importer.discover(DATA)] == [path.name]
    report = importer.read(path)
    assert report.accounted and report.warnings == []
    # 11 main lines and 2 + 4 sub-agent lines, every one mapped.
    assert report.lines_total == report.lines_mapped == 17
    (session,) = report.sessions
    assert session.id == SHOWCASE
    assert session.agent.version == "2.1.173"
    assert session.model == "claude-haiku-4-5-20251001"
    assert session.cwd == "/workspace/example-app"

    steps = _steps(session)
    assert (steps[0].source, steps[0].kind) == ("user", None)
    assert steps[0].text == (
        "Give me a tour of the repository: its structure, then compare the web and jobs "
        "modules side by side."
    )
    assert len(session.turns) == 1
    calls = [(c.id, c.name, c.canonical_name, c.arguments) for s in steps for c in s.tool_calls]
    assert calls == [
        (
            "toolu_sc_inspect",
            "mcp__plugin_showcase_example__inspect_repository_structure",
            None,
            {"path": "."},
        ),
        ("toolu_sc_refresh", "mcp__plugin_showcase_example__refresh_search_index", None, {}),
        (
            "toolu_sc_wake",
            "ScheduleWakeup",
            None,
            {
                "delaySeconds": 600,
                "reason": "re-check the search index once the refresh has settled",
                "prompt": "Check that the search index is current.",
            },
        ),
        (
            "toolu_sc_showcol1",
            "Agent",
            "agent",
            {
                "description": "Survey the web module",
                "subagent_type": "general-purpose",
                "prompt": "Survey src/web and report its layout, with a screenshot.",
            },
        ),
        (
            "toolu_sc_showcol2",
            "Agent",
            "agent",
            {
                "description": "Survey the jobs module",
                "subagent_type": "general-purpose",
                "prompt": "Survey src/jobs and list its scheduled jobs.",
            },
        ),
    ]
    assert all(c.status == "ok" for s in steps for c in s.tool_calls)
    results = _results(session)
    assert set(results) == {c[0] for c in calls}
    assert results["toolu_sc_inspect"].content.startswith('{\n  "repository": "example-app",')
    assert results["toolu_sc_refresh"].content == "done"
    assert results["toolu_sc_wake"].content == "Wakeup scheduled in 600s."
    assert results["toolu_sc_showcol1"].content.startswith(
        "The web module renders its pages in a column layout (screenshot attached).\n"
        "agentId: showcol1"
    )
    assert results["toolu_sc_showcol2"].content.startswith(
        "The jobs module defines three scheduled jobs: cleanup, reindex, report."
    )
    # Agent text before the calls, and the final answer after them.
    texts = [s.text for s in steps if s.source == "agent" and s.text]
    assert texts == [
        "Let me inspect the repository structure first.",
        "Now two agents, one per module, so their reports can be compared.",
        "Both modules are surveyed: **web** renders the column layout, and **jobs** runs "
        "three scheduled jobs.",
    ]
    assert steps[-1].source == "agent" and steps[-1].text == texts[-1]


def test_public_2x_agent_results_link_to_their_subagent_sessions(importer) -> None:
    session = importer.read(DATA / f"{SHOWCASE}.jsonl").sessions[0]
    web, jobs = session.subagents
    assert [s.extra["agent_id"] for s in (web, jobs)] == ["showcol1", "showcol2"]
    assert [s.path for s in session.provenance.sidecars] == [
        f"{SHOWCASE}/subagents/agent-showcol1.jsonl",
        f"{SHOWCASE}/subagents/agent-showcol2.jsonl",
    ]
    results = _results(session)
    for call_id, sub in (("toolu_sc_showcol1", web), ("toolu_sc_showcol2", jobs)):
        agent = sub.extra["agent_id"]
        assert sub.id == f"{SHOWCASE}-agent-{agent}"
        assert sub.extra["parent_tool_call_id"] == call_id
        assert _refs(results[call_id]) == [
            {
                "session_id": sub.id,
                "extra": {"source_file": f"{SHOWCASE}/subagents/agent-{agent}.jsonl"},
            }
        ]
    # No other result points at a sub-agent.
    assert [k for k, r in results.items() if r.subagent_trajectory_ref] == [
        "toolu_sc_showcol1",
        "toolu_sc_showcol2",
    ]
    # Each sub-agent session holds its own prompt, calls, results and answer.
    assert [(s.source, s.text) for s in _steps(web)] == [
        ("user", "Survey src/web and report its layout, with a screenshot."),
        ("agent", _steps(web)[1].text),
    ]
    assert _steps(web)[1].text.startswith("## The web module\n\nPages render in a **column")
    jobs_steps = _steps(jobs)
    assert jobs_steps[0].text == "Survey src/jobs and list its scheduled jobs."
    (grep,) = jobs_steps[1].tool_calls
    assert (grep.name, grep.canonical_name, grep.arguments) == (
        "Grep",
        "grep_files",
        {"pattern": "@scheduled", "path": "src/jobs"},
    )
    (found,) = jobs_steps[1].tool_results
    assert found.call_id == "toolu_sc_grep"
    assert found.content.splitlines()[0] == 'src/jobs/cleanup.py:12:@scheduled("0 3 * * *")'
    assert jobs_steps[-1].text.startswith("Three scheduled jobs:\n\n| Job | Schedule |")


def test_public_2x_subagent_refs_survive_atif(importer) -> None:
    session = importer.read(DATA / f"{SHOWCASE}.jsonl").sessions[0]
    trajectory = to_atif(session)
    assert from_atif(trajectory) == session
    json.dumps(trajectory)  # JSON-ready
    subagent_ids = {sub["session_id"] for sub in trajectory["extra"]["modellab"]["subagents"]}
    # ATIF's own place: observation.results[i].subagent_trajectory_ref, never under extra.
    linked = [
        ref
        for step in trajectory["steps"]
        for result in step.get("observation", {}).get("results", ())
        for ref in result.get(REF, ())
    ]
    assert sorted(ref["session_id"] for ref in linked) == sorted(subagent_ids)
    assert all(set(ref) <= {"session_id", "trajectory_path", "extra"} for ref in linked)
    assert REF not in json.dumps([s["extra"] for s in trajectory["steps"]])


# --- the real spotter transcripts (CLI 2.1.3x) -----------------------------------------------


def test_spotter_task_results_link_to_subagent_files(corpus: Path, importer) -> None:
    spotter = corpus / "claude-code-spotter"
    session = importer.read(spotter / f"{BIG}.jsonl").sessions[0]
    results = _results(session)
    by_call = {sub.extra.get("parent_tool_call_id"): sub for sub in session.subagents}
    linked = {call: _refs(r) for call, r in results.items() if r.subagent_trajectory_ref}
    assert len(linked) == 2  # the two Task calls; the compactor ran from no call
    for call_id, refs in linked.items():
        sub = by_call[call_id]
        agent = sub.extra["agent_id"]
        assert refs == [
            {
                "session_id": f"{BIG}-agent-{agent}",
                "extra": {"source_file": f"{BIG}/subagents/agent-{agent}.jsonl"},
            }
        ]
        call = next(c for s in _steps(session) for c in s.tool_calls if c.id == call_id)
        assert call.name == "Task" and call.status == "ok"


def test_spotter_progress_only_subagent_is_linked(corpus: Path, importer) -> None:
    session = importer.read(corpus / "claude-code-spotter" / "subagent.jsonl").sessions[0]
    (sub,) = session.subagents
    call_id = sub.extra["parent_tool_call_id"]
    # No file: the reference names the session rebuilt from the agent_progress records.
    assert _refs(_results(session)[call_id]) == [{"session_id": sub.id}]


# --- synthetic lines (shapes outside the published schema) ----------------------------------


def _line(kind: str, uuid: str, parent: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "uuid": uuid,
        "parentUuid": parent,
        "isSidechain": False,
        "sessionId": SID,
        "version": "2.1.144",
        "cwd": "/work/proj",
        "timestamp": f"2026-05-01T00:00:{len(uuid):02d}.000Z",
        **fields,
    }


def _prompt(uuid: str, parent: str | None, text: str) -> dict[str, Any]:
    return _line("user", uuid, parent, message={"role": "user", "content": text})


def _assistant(uuid: str, parent: str, msg: str, content: Any) -> dict[str, Any]:
    message = {"id": msg, "role": "assistant", "model": "claude-test", "content": content}
    return _line("assistant", uuid, parent, message=message)


def _results_line(uuid: str, parent: str, *blocks: dict[str, Any], **fields: Any) -> Any:
    return _line("user", uuid, parent, message={"role": "user", "content": list(blocks)}, **fields)


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_plain_string_assistant_content_is_the_reply(tmp_path: Path, importer) -> None:
    # Synthetic: assistant message.content written as a string instead of blocks.
    bash = {"type": "tool_use", "id": "toolu_b", "name": "Bash", "input": {"command": "ls"}}
    path = _write(
        tmp_path / "string.jsonl",
        [
            _prompt("u1", None, "what is here?"),
            _assistant("a1", "u1", "msg_1", "Let me look."),
            _assistant("a2", "a1", "msg_2", [bash]),
            _results_line(
                "u2", "a2", {"type": "tool_result", "tool_use_id": "toolu_b", "content": "a.py"}
            ),
            _assistant("a3", "u2", "msg_3", "There is one file: a.py."),
            _assistant("a4", "a3", "msg_4", "   "),
        ],
    )
    report = importer.read(path)
    assert report.accounted and not report.skipped
    assert report.lines_mapped == 6
    session = report.sessions[0]
    steps = _steps(session)
    assert [(s.source, s.text) for s in steps] == [
        ("user", "what is here?"),
        ("agent", "Let me look."),
        ("agent", ""),
        ("agent", "There is one file: a.py."),
        ("agent", ""),
    ]
    assert steps[2].tool_calls[0].arguments == {"command": "ls"}
    assert steps[2].tool_results[0].content == "a.py"
    assert from_atif(to_atif(session)) == session


@pytest.mark.parametrize(
    "summary_line",
    [
        {"type": "summary", "message": "Fixing the login bug", "leafUuid": "a1"},
        {
            "type": "summary",
            "message": {"role": "assistant", "content": "Fixing the login bug"},
            "leafUuid": "a1",
        },
        {
            "type": "summary",
            "message": {"content": [{"type": "text", "text": "Fixing the login bug"}]},
            "leafUuid": "a1",
        },
    ],
    ids=["string", "message-string", "message-blocks"],
)
def test_summary_with_message_is_accepted(
    tmp_path: Path, importer, summary_line: dict[str, Any]
) -> None:
    # Synthetic: a summary line that carries its text under "message" instead of "summary".
    path = _write(
        tmp_path / "summary.jsonl",
        [
            summary_line,
            _prompt("u1", None, "log in fails"),
            _assistant("a1", "u1", "msg_1", [{"type": "text", "text": "Fixed."}]),
        ],
    )
    report = importer.read(path)
    assert report.accounted
    assert not any("malformed" in reason for reason in report.skipped)
    assert report.lines_mapped == 3
    session = report.sessions[0]
    assert session.title == "Fixing the login bug"
    assert session.extra["summaries"] == [{"summary": "Fixing the login bug", "leaf_uuid": "a1"}]
    assert [(s.source, s.text) for s in _steps(session)] == [
        ("user", "log in fails"),
        ("agent", "Fixed."),
    ]


def test_summary_without_any_text_is_still_malformed(tmp_path: Path, importer) -> None:
    path = _write(
        tmp_path / "empty-summary.jsonl",
        [
            {"type": "summary", "message": {"content": []}, "leafUuid": "a1"},
            _prompt("u1", None, "hi"),
        ],
    )
    report = importer.read(path)
    assert report.accounted
    assert report.skipped["malformed summary line"] == 1


def test_agent_result_links_by_its_agent_id_trailer(tmp_path: Path, importer) -> None:
    # Synthetic, 2.1.144 shape: an Agent call whose result names its sub-agent only in the
    # text trailer (no toolUseResult), and the sub-agent's own file beside the session.
    agent = {
        "type": "tool_use",
        "id": "toolu_ag",
        "name": "Agent",
        "input": {"description": "count", "prompt": "count the tests"},
    }
    # The report quotes another agent's id; the CLI's own trailer comes last.
    trailer = (
        "12 tests (counted as before by\nagentId: 0ld0ld)\n\n"
        "agentId: a0b1c2d3e4f5a6b7 (use SendMessage to continue this agent)"
    )
    main = _write(
        tmp_path / f"{SID}.jsonl",
        [
            _prompt("u1", None, "how many tests?"),
            _assistant("a1", "u1", "msg_1", [agent]),
            _results_line(
                "u2",
                "a1",
                {"type": "tool_result", "tool_use_id": "toolu_ag", "content": trailer},
            ),
            _assistant("a2", "u2", "msg_2", [{"type": "text", "text": "There are 12 tests."}]),
        ],
    )
    sub_line = {"isSidechain": True, "agentId": "a0b1c2d3e4f5a6b7"}
    _write(
        tmp_path / SID / "subagents" / "agent-a0b1c2d3e4f5a6b7.jsonl",
        [
            {**_prompt("s1", None, "count the tests"), **sub_line},
            {
                **_assistant("s2", "s1", "msg_s", [{"type": "text", "text": "12 tests."}]),
                **sub_line,
            },
        ],
    )
    session = importer.read(main).sessions[0]
    (sub,) = session.subagents
    assert sub.id == f"{SID}-agent-a0b1c2d3e4f5a6b7"
    assert sub.extra["parent_tool_call_id"] == "toolu_ag"
    assert [(s.source, s.text) for s in _steps(sub)] == [
        ("user", "count the tests"),
        ("agent", "12 tests."),
    ]
    result = _results(session)["toolu_ag"]
    assert result.content == trailer
    assert _refs(result) == [
        {
            "session_id": sub.id,
            "extra": {"source_file": f"{SID}/subagents/agent-a0b1c2d3e4f5a6b7.jsonl"},
        }
    ]
    assert _steps(session)[-1].text == "There are 12 tests."


def test_agent_result_for_a_missing_subagent_has_no_ref(tmp_path: Path, importer) -> None:
    # Synthetic: the result names a sub-agent whose file is gone: nothing to point at.
    task = {"type": "tool_use", "id": "toolu_t", "name": "Task", "input": {"prompt": "x"}}
    path = _write(
        tmp_path / f"{SID}.jsonl",
        [
            _prompt("u1", None, "go"),
            _assistant("a1", "u1", "msg_1", [task]),
            _results_line(
                "u2",
                "a1",
                {"type": "tool_result", "tool_use_id": "toolu_t", "content": "done"},
                toolUseResult={"agentId": "gone", "status": "completed"},
            ),
        ],
    )
    session = importer.read(path).sessions[0]
    assert session.subagents == ()
    assert _results(session)["toolu_t"].subagent_trajectory_ref == ()
