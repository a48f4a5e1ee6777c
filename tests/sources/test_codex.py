"""The Codex CLI rollout importer, against the real rollouts in ``../shared/corpus``.

Expected numbers are counted from the raw JSONL in each test (and agree with the corpus
README), so the tests check the mapping, not a copy of the importer's own output. Files
written to ``tmp_path`` are synthetic and say so.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pluggy
import pytest

from modellab.errors import CorruptSourceError
from modellab.plugins import hookspecs
from modellab.settings import Settings
from modellab.sources import FileImport, Importer, collect_importers, read_head
from modellab.sources.codex import PARSER_VERSION, CodexImporter
from modellab.traces import Session, Step, ToolResult, from_atif, to_atif

FIRST = "rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
SECOND = "rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl"
FIXTURES = ("turn-1.jsonl", "turn-2.jsonl", "turn-spawn-skill.jsonl")


@pytest.fixture
def codex_dir(corpus: Path) -> Path:
    return corpus / "codex-rollouts-codemie"


def _read(path: Path) -> tuple[FileImport, Session]:
    report = CodexImporter().read(path)
    assert len(report.sessions) == 1
    return report, report.sessions[0]


def _raw(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _payloads(path: Path, kind: str, payload_type: str) -> list[dict[str, Any]]:
    return [
        line["payload"]
        for line in _raw(path)
        if line.get("type") == kind and line["payload"].get("type") == payload_type
    ]


def _steps(session: Session) -> list[Step]:
    return [step for turn in session.turns for step in turn.steps]


def _results(session: Session) -> dict[str | None, tuple[Step, ToolResult]]:
    return {r.call_id: (step, r) for step in _steps(session) for r in step.tool_results}


def _prompts(session: Session) -> list[str]:
    return [s.text for s in _steps(session) if s.source == "user" and s.kind is None]


def _write(tmp_path: Path, lines: list[dict[str, Any]], name: str = "rollout-x.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    return path


def _line(kind: str, payload: dict[str, Any], second: int = 0) -> dict[str, Any]:
    return {"timestamp": f"2026-01-01T00:00:{second:02d}.000Z", "type": kind, "payload": payload}


_META = _line("session_meta", {"id": "synthetic-1", "cwd": "/w", "cli_version": "0.130.0"})


# -- the real rollouts ---------------------------------------------------------------


def _corpus_rollouts(codex_dir: Path) -> list[Path]:
    return [codex_dir / FIRST, codex_dir / SECOND] + [
        codex_dir / "session-fixtures" / name for name in FIXTURES
    ]


def test_every_corpus_rollout_imports_with_every_line_accounted(codex_dir: Path) -> None:
    for path in _corpus_rollouts(codex_dir):
        report, session = _read(path)
        assert report.accounted, (path.name, report.lines_total, report.skipped)
        assert report.lines_total == len(_raw(path))
        assert report.warnings == [], path.name
        assert session.source == "codex"
        assert session.turns


def test_round_trip_through_atif_holds_for_every_imported_session(codex_dir: Path) -> None:
    for path in _corpus_rollouts(codex_dir):
        _, session = _read(path)
        assert from_atif(to_atif(session)) == session, path.name


def test_session_facts_and_provenance_come_from_session_meta(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    meta = _raw(path)[0]["payload"]
    assert session.id == meta["id"] == "019e1625-789d-76c0-80ab-3724b5ddb799"
    assert session.agent.name == "codex"
    assert session.agent.version == meta["cli_version"]
    assert session.cwd == meta["cwd"]
    assert session.model_provider == "openai"
    assert session.created_at == meta["timestamp"]
    assert session.system_prompt == meta["base_instructions"]["text"]
    assert session.extra["originator"] == "codex-tui"
    assert session.title == "show tools"
    data = path.read_bytes()
    prov = session.provenance
    assert prov.source_format == "codex.rollout"
    assert prov.source_format_version == meta["cli_version"]
    assert prov.parser_version == PARSER_VERSION == "2"
    assert prov.sha256 == hashlib.sha256(data).hexdigest()
    assert prov.size_bytes == len(data)
    git = session.turns[0].git
    assert git is not None
    assert (git.branch, git.commit, git.remote) == (
        meta["git"]["branch"],
        meta["git"]["commit_hash"],
        meta["git"]["repository_url"],
    )


def test_turn_context_sets_posture_cwd_and_model(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    contexts = [line["payload"] for line in _raw(path) if line["type"] == "turn_context"]
    assert len(session.turns) == len(contexts) == 2
    for turn, context in zip(session.turns, contexts, strict=True):
        assert turn.cwd == context["cwd"]
        assert turn.posture == {
            "approval_policy": context["approval_policy"],
            "sandbox_policy": context["sandbox_policy"]["type"],
            "network_access": "false",
        }
    assert session.model == contexts[0]["model"]
    agent_models = {s.model_name for s in _steps(session) if s.source == "agent"}
    assert agent_models == {contexts[0]["model"]}


def test_function_calls_pair_with_their_outputs(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    calls = _payloads(path, "response_item", "function_call")
    outputs = {p["call_id"]: p for p in _payloads(path, "response_item", "function_call_output")}
    assert len(calls) == len(outputs) == 99  # the corpus README's count
    results = _results(session)
    steps_by_call = {c.id: step for step in _steps(session) for c in step.tool_calls}
    for raw in calls:
        step, result = results[raw["call_id"]]
        # The result sits on the very step that made the call.
        assert steps_by_call[raw["call_id"]] is step
        assert result.content == outputs[raw["call_id"]]["output"]
        call = next(c for c in step.tool_calls if c.id == raw["call_id"])
        assert call.name == raw["name"]
        assert call.arguments == json.loads(raw["arguments"])
        assert call.status in {"ok", "error"}
    names = Counter(c.canonical_name for s in _steps(session) for c in s.tool_calls)
    assert names == {"exec_shell": 43, None: 54, "todo_write": 2, "apply_patch": 3, "web_search": 3}


def test_exit_codes_and_durations_come_from_exec_command_end(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    ends = _payloads(path, "event_msg", "exec_command_end")
    assert len(ends) == 43
    results = _results(session)
    for end in ends:
        _, result = results[end["call_id"]]
        assert result.exit_code == end["exit_code"]
        assert result.is_error is (end["exit_code"] != 0)
        assert result.error_kind == ("exit_code" if end["exit_code"] else None)
        duration = end["duration"]
        assert result.duration_ms == duration["secs"] * 1000 + duration["nanos"] // 1_000_000
    assert Counter(e["exit_code"] for e in ends) == {0: 39, 1: 3, 2: 1}
    assert session.error_count == 4
    failed = {c.id for s in _steps(session) for c in s.tool_calls if c.status == "error"}
    assert failed == {e["call_id"] for e in ends if e["exit_code"] != 0}


def test_user_prompts_and_agent_replies_are_mapped_once(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    report, session = _read(path)
    events = _payloads(path, "event_msg", "user_message")
    assert _prompts(session) == [e["message"] for e in events]
    replies = [
        p["content"][0]["text"]
        for p in _payloads(path, "response_item", "message")
        if p["role"] == "assistant"
    ]
    agent_texts = [s.text for s in _steps(session) if s.source == "agent" and s.text]
    assert agent_texts == replies
    duplicates = len(events) + len(_payloads(path, "event_msg", "agent_message"))
    assert report.skipped["duplicate of response_item message"] == duplicates == 15


def test_injected_context_is_kept_as_context_steps_not_prompts(codex_dir: Path) -> None:
    _, session = _read(codex_dir / FIRST)
    context = [s for s in _steps(session) if s.kind == "context"]
    assert [(s.source, s.text.split("\n")[0][:26]) for s in context] == [
        ("system", "<permissions instructions>"),
        ("user", "# AGENTS.md instructions f"),
    ]
    assert not any("AGENTS.md" in prompt for prompt in _prompts(session))


def test_prompts_recorded_only_as_events_still_open_turns(codex_dir: Path) -> None:
    path = codex_dir / SECOND
    report, session = _read(path)
    events = _payloads(path, "event_msg", "user_message")
    assert [t.steps[0].text for t in session.turns] == [e["message"] for e in events]
    assert "duplicate of response_item message" not in report.skipped
    assert session.title is not None
    assert session.title.startswith("analyze trascript and summarzie action items")
    assert session.tool_call_count == 38
    # No exec_command_end here: the exit code is read from unified exec's output header.
    failing = [r for _, r in _results(session).values() if r.is_error]
    assert [r.exit_code for r in failing] == [1]
    assert "Process exited with code 1" in failing[0].content


def test_encrypted_reasoning_is_dropped_and_counted(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    report, session = _read(path)
    reasoning = _payloads(path, "response_item", "reasoning")
    assert all(not r["summary"] for r in reasoning)
    assert report.skipped["reasoning with only encrypted content"] == len(reasoning) == 25
    assert all(s.reasoning is None for s in _steps(session))
    assert "gAAAA" not in json.dumps(to_atif(session))


def test_token_counts_become_step_usage_and_a_session_total(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    counts = [p["info"] for p in _payloads(path, "event_msg", "token_count") if p["info"]]
    last_total = counts[-1]["total_token_usage"]
    assert session.usage is not None
    assert session.usage.input_tokens == last_total["input_tokens"]
    assert session.usage.output_tokens == last_total["output_tokens"]
    assert session.usage.cached_tokens == last_total["cached_input_tokens"]
    assert session.usage.reasoning_tokens == last_total["reasoning_output_tokens"]
    per_step = [s.usage for s in _steps(session) if s.usage is not None]
    assert len(per_step) == len(counts) == 66
    assert sum(u.input_tokens or 0 for u in per_step) == last_total["input_tokens"]


def test_apply_patch_calls_become_diffs(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    _, session = _read(path)
    patches = _payloads(path, "response_item", "custom_tool_call")
    diffs = [a for a in session.artifacts if a.type == "diff"]
    assert [d.tool_call_id for d in diffs] == [p["call_id"] for p in patches]
    assert [d.patch for d in diffs] == [p["input"] for p in patches]
    assert {d.origin for d in diffs} == {"apply_patch"}
    assert all(d.applied for d in diffs)
    assert diffs[0].path == "src/agents/plugins/__tests__/codemie-code-reasoning.test.ts"
    _, result = _results(session)[patches[0]["call_id"]]
    # custom_tool_call_output wraps the text as {"output", "metadata"}.
    assert result.content.startswith("Success. Updated the following files:")
    assert result.exit_code == 0
    assert result.duration_ms == 2200


def test_test_commands_become_test_runs_and_labels(codex_dir: Path) -> None:
    _, session = _read(codex_dir / FIRST)
    runs = [a for a in session.artifacts if a.type == "test_run"]
    assert [(r.exit_code, r.success) for r in runs] == [(1, False), (0, True), (0, True)]
    assert all(r.command is not None and r.command.startswith("npm test") for r in runs)
    labels = [(label.kind, label.source, label.tool_call_id) for label in session.labels]
    assert labels == [
        ("tests_failed", "exec_command_end", runs[0].tool_call_id),
        ("tests_passed", "exec_command_end", runs[1].tool_call_id),
        ("tests_passed", "exec_command_end", runs[2].tool_call_id),
    ]
    assert session.outcome == "success"


def test_web_searches_are_calls_and_their_end_events_are_duplicates(codex_dir: Path) -> None:
    path = codex_dir / FIRST
    report, session = _read(path)
    ends = _payloads(path, "event_msg", "web_search_end")
    searches = [c for s in _steps(session) for c in s.tool_calls if c.name == "web_search"]
    assert [c.id for c in searches] == [e["call_id"] for e in ends]
    assert [c.arguments["query"] for c in searches] == [e["query"] for e in ends]
    assert report.skipped["duplicate of response_item web_search_call"] == 3


def test_session_fixtures_agree_with_upstream_expected_conversation(codex_dir: Path) -> None:
    folder = codex_dir / "session-fixtures"
    expected = _raw(folder / "expected-conversation.jsonl")
    _, session = _read(folder / "turn-2.jsonl")
    assert len(session.turns) == len(expected)
    for turn, row in zip(session.turns, expected, strict=True):
        conversation = [
            {"role": "User" if s.source == "user" else "Assistant", "message": s.text}
            for s in turn.steps
            if s.kind is None and s.text
        ]
        assert conversation == row["payload"]["history"]
    _, first = _read(folder / "turn-1.jsonl")
    assert [s.text for s in first.turns[0].steps if s.kind is None] == [
        m["message"] for m in expected[0]["payload"]["history"]
    ]
    assert first.system_prompt == "You are Codex, an AI coding assistant."
    assert first.turns[0].posture["approval_policy"] == "never"


def test_collab_end_events_answer_calls_that_have_no_output(codex_dir: Path) -> None:
    report, session = _read(codex_dir / "session-fixtures" / "turn-spawn-skill.jsonl")
    results = _results(session)
    _, spawn = results["call_spawn1"]
    assert json.loads(spawn.content)["new_thread_id"] == "child-thread-uuid"
    assert "call_wait1" in results
    assert {c.status for s in _steps(session) for c in s.tool_calls} == {"ok"}
    assert report.warnings == []


# -- synthetic files (written by these tests, not real Codex output) -------------------


def test_dangling_call_is_kept_and_marked(tmp_path: Path) -> None:
    # Synthetic: a call whose output was never written (Codex killed mid-call).
    path = _write(
        tmp_path,
        [
            _META,
            _line("event_msg", {"type": "user_message", "message": "list files"}, 1),
            _line(
                "response_item",
                {
                    "type": "function_call",
                    "name": "exec_command",
                    "arguments": '{"cmd": "ls"}',
                    "call_id": "call_dangling",
                },
                2,
            ),
        ],
    )
    report, session = _read(path)
    assert report.accounted
    (call,) = [c for s in _steps(session) for c in s.tool_calls]
    assert (call.id, call.status, call.arguments) == ("call_dangling", "dangling", {"cmd": "ls"})
    assert any("call_dangling" in w and "dangling" in w for w in report.warnings)


def test_reasoning_summaries_patches_and_aborts(tmp_path: Path) -> None:
    # Synthetic: reasoning with a readable summary (and its agent_reasoning echo), an older
    # shell call running pytest, a two-file apply_patch given as a function call, a call
    # cut off by an abort, and non-object arguments.
    patch = (
        "*** Begin Patch\n*** Add File: a.py\n+x = 1\n"
        "*** Update File: b.py\n@@\n-y = 1\n+y = 2\n*** End Patch\n"
    )
    summary = [{"type": "summary_text", "text": "**Plan** run the tests"}]
    shell_out = {"output": "1 failed, 2 passed in 0.1s", "metadata": {"exit_code": 1}}
    lines = [
        _META,
        _line("turn_context", {"cwd": "/w", "model": "gpt-x", "approval_policy": "never"}),
        _line("event_msg", {"type": "user_message", "message": "fix it"}, 1),
        _line("event_msg", {"type": "agent_reasoning", "text": "**Plan** run the tests"}, 2),
        _line("response_item", {"type": "reasoning", "summary": summary}, 2),
        _line(
            "response_item",
            {
                "type": "function_call",
                "name": "shell",
                "arguments": json.dumps({"command": ["bash", "-lc", "pytest -q"]}),
                "call_id": "c1",
            },
            3,
        ),
        _line(
            "response_item",
            {"type": "function_call_output", "call_id": "c1", "output": json.dumps(shell_out)},
            4,
        ),
        _line(
            "response_item",
            {
                "type": "function_call",
                "name": "apply_patch",
                "arguments": json.dumps({"input": patch}),
                "call_id": "c2",
            },
            5,
        ),
        _line(
            "event_msg",
            {"type": "patch_apply_end", "call_id": "c2", "success": True, "stdout": "ok"},
            6,
        ),
        _line(
            "response_item",
            {"type": "function_call_output", "call_id": "c2", "output": "Done!"},
            6,
        ),
        _line(
            "response_item",
            {"type": "function_call", "name": "mystery", "arguments": "[1, 2]", "call_id": "c3"},
            7,
        ),
        _line("event_msg", {"type": "turn_aborted", "reason": "interrupted"}, 8),
    ]
    report, session = _read(_write(tmp_path, lines))
    assert report.accounted
    assert report.skipped["duplicate of response_item reasoning"] == 1
    steps = _steps(session)
    assert steps[1].reasoning == "**Plan** run the tests"
    _, shell = _results(session)["c1"]
    assert (shell.exit_code, shell.is_error, shell.content) == (1, True, shell_out["output"])
    (run,) = [a for a in session.artifacts if a.type == "test_run"]
    assert (run.command, run.passed, run.failed, run.success) == ("pytest -q", 2, 1, False)
    diffs = [a for a in session.artifacts if a.type == "diff"]
    assert [d.path for d in diffs] == ["a.py", "b.py"]
    assert all(d.applied and d.patch.startswith("*** Begin Patch\n") for d in diffs)
    assert "+y = 2" in diffs[1].patch and "+x = 1" not in diffs[1].patch
    calls = {c.id: c for s in steps for c in s.tool_calls}
    assert calls["c3"].arguments == {"_raw": "[1, 2]"}
    assert calls["c3"].status == "cancelled"  # the turn was aborted before it answered
    assert steps[-1].interrupted
    assert [(label.kind, label.source) for label in session.labels] == [
        ("tests_failed", "tool_result_text"),
        ("interrupted", "turn_aborted"),
    ]
    assert session.outcome == "failure"  # test results outrank how the turn ended
    assert from_atif(to_atif(session)) == session


def test_truncated_final_line_is_skipped_with_its_reason(tmp_path: Path) -> None:
    # Synthetic: the writer was killed mid-line.
    path = _write(tmp_path, [_META, _line("event_msg", {"type": "user_message", "message": "hi"})])
    with path.open("ab") as handle:
        handle.write(b'{"timestamp":"2026-01-01T00:00:09Z","type":"event_msg","payl')
    report, session = _read(path)
    assert report.skipped == Counter({"truncated final line": 1})
    assert report.accounted
    assert _prompts(session) == ["hi"]


def test_invalid_line_in_the_middle_is_counted_and_warned(tmp_path: Path) -> None:
    # Synthetic: one garbled line between good ones.
    path = tmp_path / "rollout-garbled.jsonl"
    good = json.dumps(_line("event_msg", {"type": "user_message", "message": "hi"}))
    path.write_text(json.dumps(_META) + "\n{not json\n" + good + "\n", "utf-8")
    report, _ = _read(path)
    assert report.skipped == Counter({"invalid JSON line": 1})
    assert report.accounted
    assert report.warnings and report.warnings[0].startswith("line 2:")


def test_non_utf8_file_is_rejected_naming_the_file(tmp_path: Path) -> None:
    # Synthetic: Latin-1 bytes inside an otherwise valid line.
    path = tmp_path / "rollout-latin1.jsonl"
    path.write_bytes(json.dumps(_META).encode() + b'\n{"type":"event_msg","payload":"caf\xe9"}\n')
    with pytest.raises(CorruptSourceError, match="not UTF-8") as caught:
        CodexImporter().read(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_file_that_is_not_utf8_at_all_is_rejected(tmp_path: Path) -> None:
    # Synthetic: a Latin-1 file with no parseable line.
    path = tmp_path / "rollout-latin1-only.jsonl"
    path.write_bytes('{"type": "café"}\n'.encode("latin-1"))
    with pytest.raises(CorruptSourceError, match="not UTF-8"):
        CodexImporter().read(path)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"{not json at all"])
def test_file_with_no_parseable_line_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "rollout-empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(CorruptSourceError, match="no parseable JSON line") as caught:
        CodexImporter().read(path)
    assert caught.value.path == path


def test_files_of_another_shape_are_rejected(corpus: Path, codex_dir: Path) -> None:
    for path in (
        codex_dir / "session-fixtures" / "expected-conversation.jsonl",
        corpus / "claude-code-spotter" / "short.jsonl",
    ):
        with pytest.raises(CorruptSourceError, match="not a Codex rollout") as caught:
            CodexImporter().read(path)
        assert caught.value.path == path


def test_legacy_rollout_with_a_bare_meta_line_is_read(tmp_path: Path) -> None:
    # Synthetic, in the shape of 2025 rollouts: bare meta object, bare items, state records.
    meta = {"id": "legacy-1", "timestamp": "2025-05-01T10:00:00Z", "instructions": None}
    lines = [
        meta,
        {"record_type": "state"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "yo"}],
        },
    ]
    path = _write(tmp_path, lines)
    assert CodexImporter().sniff(path, read_head(path))
    report, session = _read(path)
    assert report.accounted
    assert report.skipped == Counter({"legacy state record": 1})
    assert session.id == "legacy-1"
    assert [(s.source, s.text) for s in _steps(session)] == [("user", "hi"), ("agent", "yo")]


def test_missing_session_meta_takes_the_id_from_the_file_name(tmp_path: Path) -> None:
    # Synthetic: a rollout whose first line was lost.
    name = "rollout-2026-01-01T00-00-00-019e0000-0000-7000-8000-000000000001.jsonl"
    path = _write(tmp_path, [_line("event_msg", {"type": "user_message", "message": "hi"})], name)
    report, session = _read(path)
    assert session.id == "019e0000-0000-7000-8000-000000000001"
    assert report.warnings


# -- discovery, sniffing, registration -----------------------------------------------------


def test_sniff_recognises_rollouts_and_rejects_other_formats(corpus: Path, codex_dir: Path) -> None:
    importer = CodexImporter()
    for path in _corpus_rollouts(codex_dir):
        assert importer.sniff(path, read_head(path)), path.name
    for path in (
        corpus / "claude-code-spotter" / "short.jsonl",
        corpus / "claude-code-spotter" / "subagent.jsonl",
        codex_dir / "session-fixtures" / "expected-conversation.jsonl",
        corpus / "swe-smith-trajs" / "ft_xml_example.jsonl",
    ):
        assert not importer.sniff(path, read_head(path)), path.name


def test_no_other_corpus_file_is_taken_for_a_rollout(shared: Path) -> None:
    importer = CodexImporter()
    others = [
        path
        for path in sorted(shared.rglob("*"))
        if path.is_file() and "codex-rollouts" not in str(path)
    ]
    assert len(others) > 50
    claimed = [path for path in others if importer.sniff(path, read_head(path))]
    assert claimed == []


def test_sniff_reads_a_first_line_longer_than_the_window(tmp_path: Path) -> None:
    # Synthetic: base instructions far longer than the 64 KiB sniff window.
    meta = _line("session_meta", {"id": "big", "base_instructions": {"text": "x" * 100_000}})
    path = _write(tmp_path, [meta])
    head = read_head(path)
    assert b"\n" not in head
    assert CodexImporter().sniff(path, head)
    assert not CodexImporter().sniff(path, b'{"type": "user", "message": ' + b"x" * 70_000)


def test_discover_finds_rollouts_in_date_folders_only(tmp_path: Path) -> None:
    # Synthetic layout of ~/.codex/sessions.
    day = tmp_path / "2026" / "05" / "11"
    day.mkdir(parents=True)
    wanted = [_write(day, [_META], "rollout-a.jsonl"), _write(tmp_path, [_META], "rollout-b.jsonl")]
    _write(day, [_META], "history.jsonl")
    (day / "rollout-c.json").write_text("{}", "utf-8")
    assert sorted(CodexImporter().discover(tmp_path)) == sorted(wanted)
    assert list(CodexImporter().discover(tmp_path / "missing")) == []


def test_default_roots_follow_codex_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "cx")})
    assert CodexImporter().default_roots(settings) == [
        tmp_path / "cx" / "sessions",
        tmp_path / "cx" / "archived_sessions",
    ]


def test_plugin_registers_the_codex_importer() -> None:
    from modellab.sources import codex

    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(codex.plugin, name="codex")
    (importer,) = collect_importers(manager)
    assert isinstance(importer, Importer)
    assert isinstance(importer, CodexImporter)
    assert importer.name == "codex"
