"""The built-in graders, on hand-made cases where the right grade is known."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modellab.errors import EvalError
from modellab.evals import (
    BUILTIN_GRADERS,
    Action,
    CalledTool,
    EvalCase,
    collect_graders,
    grade_case,
)

BASH_SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
    "required": ["command"],
    "additionalProperties": False,
}
EDIT_SCHEMA = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
    "required": ["path"],
}


def _tool(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": schema}}


def _case(expected: Action) -> EvalCase:
    return EvalCase(
        id="s:0001",
        session_id="s",
        position=1,
        messages=({"role": "user", "content": "fix it"},),
        tools=(_tool("bash", BASH_SCHEMA), _tool("edit", EDIT_SCHEMA)),
        expected=expected,
        slices={"tool": "bash", "repo": "r"},
    )


def _call(name: str, **arguments: Any) -> Action:
    return Action("tool", (CalledTool(name, json.dumps(arguments)),))


def _grades(expected: Action, got: Action) -> dict[str, float]:
    graded = grade_case(_case(expected), got, BUILTIN_GRADERS)
    return {g.grader: g.score for g in graded.grades}


def test_the_recorded_action_scores_one() -> None:
    expected = _call("bash", command="pytest -q")
    graded = grade_case(_case(expected), expected, BUILTIN_GRADERS)
    assert graded.passed and graded.score == 1.0
    assert {g.grader for g in graded.grades} == {
        "decision",
        "tool_name",
        "arguments",
        "json_valid",
        "schema_valid",
    }


def test_key_order_and_whitespace_in_json_do_not_matter() -> None:
    expected = Action("tool", (CalledTool("edit", '{"path": "a.py", "text": "x"}'),))
    got = Action("tool", (CalledTool("edit", '{ "text":"x",\n  "path":"a.py" }'),))
    assert _grades(expected, got)["arguments"] == 1.0


def test_answering_instead_of_calling_scores_zero() -> None:
    graded = grade_case(
        _case(_call("bash", command="ls")), Action("answer", content="Done!"), BUILTIN_GRADERS
    )
    assert graded.score == 0.0 and not graded.passed
    scores = {g.grader: g.score for g in graded.grades}
    assert scores == {"decision": 0.0, "tool_name": 0.0, "arguments": 0.0}


def test_both_answering_passes_on_decision_alone() -> None:
    graded = grade_case(
        _case(Action("answer", content="Fixed.")),
        Action("answer", content="All done"),
        BUILTIN_GRADERS,
    )
    assert graded.passed and [g.grader for g in graded.grades] == ["decision"]


def test_wrong_tool_name() -> None:
    scores = _grades(_call("bash", command="ls"), _call("edit", path="ls"))
    assert scores["decision"] == 1.0
    assert scores["tool_name"] == 0.0 and scores["arguments"] == 0.0


def test_paths_get_partial_credit_and_normalise() -> None:
    expected = _call("edit", path="src/app.py", text="x")
    assert (
        _grades(expected, _call("edit", path="./src/../src/app.py", text="x"))["arguments"] == 1.0
    )
    close = _grades(expected, _call("edit", path="lib/app.py", text="x"))["arguments"]
    far = _grades(expected, _call("edit", path="docs/readme.md", text="x"))["arguments"]
    assert 0.5 < close < 1.0 and far < close


def test_commands_compare_token_by_token() -> None:
    expected = _call("bash", command="pytest -q tests/test_app.py")
    same = _grades(expected, _call("bash", command="pytest  -q   'tests/test_app.py'"))
    assert same["arguments"] == 1.0
    extra_flag = _grades(expected, _call("bash", command="pytest -q -x tests/test_app.py"))
    other = _grades(expected, _call("bash", command="rm -rf build"))
    assert 0.7 < extra_flag["arguments"] < 1.0 and other["arguments"] == 0.0


def test_invalid_json_and_schema_violations() -> None:
    expected = _call("bash", command="ls")
    broken = Action("tool", (CalledTool("bash", '{"command": "ls"'),))
    scores = _grades(expected, broken)
    assert scores["json_valid"] == 0.0 and scores["schema_valid"] == 0.0
    assert scores["arguments"] == 0.0
    wrong_type = _grades(expected, _call("bash", command="ls", timeout="soon"))
    assert wrong_type["json_valid"] == 1.0 and wrong_type["schema_valid"] == 0.0
    graded = grade_case(_case(expected), _call("bash", cmd="ls"), BUILTIN_GRADERS)
    reasons = {g.grader: g.reason for g in graded.grades}
    assert "command" in reasons["schema_valid"]  # names what is missing
    unknown = _grades(expected, _call("deploy", target="prod"))
    assert unknown["schema_valid"] == 0.0


def test_extra_calls_are_penalised() -> None:
    expected = _call("bash", command="ls")
    twice = Action("tool", expected.calls * 2)
    scores = _grades(expected, twice)
    assert scores["tool_name"] == 0.5 and scores["arguments"] == 0.5


def test_worksets_add_graders_and_names_are_unique() -> None:
    from modellab.plugins.hookspecs import (
        GradeAnswer,
        GraderDescriptor,
        GradeRequest,
        GradeResult,
    )

    seen: list[int] = []

    def short_answer(request: GradeRequest) -> GradeResult:
        # Cases and actions arrive as JSON (they cross a process boundary for worksets).
        seen.append(len(request.items))
        grades: list[GradeAnswer | None] = []
        for item in request.items:
            if item.action["kind"] != "answer":
                grades.append(None)
                continue
            short = len(item.action["content"] or "") < 10
            grades.append(GradeAnswer(score=1.0 if short else 0.0, reason="length"))
        return GradeResult(grades=grades)

    described = GraderDescriptor(name="short_answer", summary="answers under 10 characters")

    def hook(register: Any) -> None:
        register(described, short_answer)

    graders = collect_graders(hook)
    assert [g.name for g in graders][-1] == "short_answer"
    graded = grade_case(
        _case(Action("answer", content="ok")), Action("answer", content="a" * 50), graders
    )
    assert graded.score == 0.0 and not graded.passed
    assert seen == [1]

    def clash(register: Any) -> None:
        register(described, short_answer)
        register(described, short_answer)

    with pytest.raises(EvalError, match="'short_answer' is registered by both a plugin and"):
        collect_graders(clash)

    def builtin_name(register: Any) -> None:
        register(GraderDescriptor(name="decision", summary="mine"), short_answer)

    with pytest.raises(EvalError, match="by both the built-in graders and a plugin"):
        collect_graders(builtin_name)


def test_a_registered_grader_answering_too_few_grades_is_an_error() -> None:
    from modellab.plugins.hookspecs import GraderDescriptor, GradeResult

    def hook(register: Any) -> None:
        register(GraderDescriptor(name="lazy", summary="s"), lambda request: GradeResult(grades=[]))

    lazy = collect_graders(hook)[-1]
    with pytest.raises(EvalError, match=r"lazy \(a plugin\) answered 0 grades for 1 cases"):
        lazy.grade(_case(Action("answer", content="ok")), Action("answer", content="ok"))


def test_actions_from_server_messages() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "1",
                "type": "function",
                "function": {"name": "bash", "arguments": {"command": "ls"}},
            },
            {"id": "2", "type": "function", "function": "garbage"},
        ],
    }
    action = Action.from_message(message)
    assert action.kind == "tool" and len(action.calls) == 1
    assert json.loads(action.calls[0].arguments) == {"command": "ls"}
    assert Action.from_json(action.to_json()) == action
    assert Action.from_message(action.to_message()) == action
