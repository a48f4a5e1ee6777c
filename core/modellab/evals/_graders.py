"""Graders: how close a model's next action is to the recorded one.

Each grader looks at one aspect and returns a :class:`Grade` (a score in [0, 1] and a
reason), or ``None`` when the aspect does not apply (there is no tool name to grade when
both answered in text). A case's score is the ``decision`` grade times the mean of the other
grades that applied: calling a tool when the agent should have answered, or the reverse, is
wrong however well-formed the call. A case *passes* when every grade that applied is 1.

Worksets add graders (execution-based ones, say) through the ``modellab_register_graders``
hook: each answers in the workset's own child process, cases and actions in as JSON,
grades out as JSON (:class:`RegisteredGrader`).
"""

from __future__ import annotations

import difflib
import functools
import json
import posixpath
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from modellab.evals._actions import Action, CalledTool
from modellab.evals._suite import EvalCase

__all__ = [
    "BUILTIN_GRADERS",
    "CaseGrade",
    "Grade",
    "Grader",
    "RegisteredGrader",
    "collect_graders",
    "grade_case",
]

#: Argument keys holding a file path: compared as normalised paths.
PATH_KEYS = frozenset({"path", "file_path", "filename", "file", "filepath", "dir", "directory"})
#: Argument keys holding a shell command: compared token by token.
COMMAND_KEYS = frozenset({"command", "cmd", "script", "shell_command"})


@dataclass(frozen=True, slots=True)
class Grade:
    """One grader's verdict on one case."""

    grader: str
    score: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{"grader", "score", "reason"}``."""
        return {"grader": self.grader, "score": self.score, "reason": self.reason}


class Grader(Protocol):
    """What a grader is: a name and a ``grade`` method. Register one through the hook."""

    name: str

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """Grade ``action`` against ``case.expected``, or ``None`` when this does not apply."""
        ...


def _parse_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class DecisionGrader:
    """Did the model choose right between answering and calling a tool?"""

    name = "decision"

    def grade(self, case: EvalCase, action: Action) -> Grade:
        """1 when both called tools or both answered."""
        if action.kind == case.expected.kind:
            return Grade(self.name, 1.0, f"both {'called a tool' if action.calls else 'answered'}")
        wanted = "a tool call" if case.expected.kind == "tool" else "an answer"
        return Grade(self.name, 0.0, f"expected {wanted}, got {_describe(action)}")


class ToolNameGrader:
    """Did the model call the same tools, in the same order?"""

    name = "tool_name"

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """The share of call positions whose names match (extra or missing calls count 0)."""
        expected = case.expected.calls
        if not expected:
            return None
        matches = sum(
            1 for want, got in zip(expected, action.calls, strict=False) if want.name == got.name
        )
        score = matches / max(len(expected), len(action.calls))
        wanted = ", ".join(c.name for c in expected)
        got = ", ".join(c.name for c in action.calls) or "no call"
        return Grade(self.name, score, f"expected {wanted}; got {got}")


def _normal_path(value: str) -> str:
    path = posixpath.normpath(value.replace("\\", "/"))
    return path[2:] if path.startswith("./") else path


def _path_similarity(want: str, got: str) -> float:
    a, b = _normal_path(want), _normal_path(got)
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a.split("/"), b.split("/")).ratio()


def _command_tokens(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:  # an unbalanced quote: still compare what is there
        return value.split()


def _command_similarity(want: str, got: str) -> float:
    a, b = _command_tokens(want), _command_tokens(got)
    if a == b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def _value_similarity(key: str, want: Any, got: Any) -> float:
    if want == got:
        return 1.0
    if isinstance(want, str) and isinstance(got, str):
        if key in PATH_KEYS:
            return _path_similarity(want, got)
        if key in COMMAND_KEYS:
            return _command_similarity(want, got)
        return 1.0 if " ".join(want.split()) == " ".join(got.split()) else 0.0
    return 0.0


def _call_similarity(want: CalledTool, got: CalledTool) -> tuple[float, str]:
    if want.name != got.name:
        return 0.0, f"{got.name or '(no name)'} instead of {want.name}"
    expected = _parse_object(want.arguments)
    actual = _parse_object(got.arguments)
    if actual is None:
        return 0.0, f"{got.name}: arguments are not a JSON object"
    if expected is None:  # a recorded call with unparsable arguments: compare the text
        return (1.0 if want.arguments.strip() == got.arguments.strip() else 0.0), "raw text"
    if expected == actual:
        return 1.0, f"{got.name}: same arguments"
    keys = sorted(set(expected) | set(actual))
    scores = {key: _value_similarity(key, expected.get(key), actual.get(key)) for key in keys}
    differing = [key for key, score in scores.items() if score < 1.0]
    return sum(scores.values()) / len(keys), f"{got.name}: differs in {', '.join(differing)}"


class ArgumentsGrader:
    """Are the arguments the same? Normalised JSON compare; paths and commands get credit
    for being close (a path that differs in one folder, a command with one flag more)."""

    name = "arguments"

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """The mean similarity over call positions (extra or missing calls count 0)."""
        expected = case.expected.calls
        if not expected:
            return None
        if not action.calls:
            return Grade(self.name, 0.0, "no call was made")
        results = [
            _call_similarity(want, got) for want, got in zip(expected, action.calls, strict=False)
        ]
        total = sum(score for score, _ in results)
        score = total / max(len(expected), len(action.calls))
        return Grade(self.name, round(score, 6), "; ".join(reason for _, reason in results))


class JsonValidityGrader:
    """Are the model's tool arguments a JSON object?"""

    name = "json_valid"

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """The share of the model's calls whose arguments parse as a JSON object."""
        if not action.calls:
            return None
        bad = [c.name for c in action.calls if _parse_object(c.arguments) is None]
        score = 1 - len(bad) / len(action.calls)
        return Grade(self.name, score, "all valid" if not bad else f"not JSON: {', '.join(bad)}")


class SchemaValidityGrader:
    """Do the model's tool arguments satisfy the schema of a tool it was offered?"""

    name = "schema_valid"

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """The share of the model's calls that name an offered tool and validate."""
        if not action.calls:
            return None
        problems: list[str] = []
        for call in action.calls:
            problem = _schema_problem(case, call)
            if problem:
                problems.append(problem)
        score = 1 - len(problems) / len(action.calls)
        return Grade(self.name, score, "; ".join(problems) or "all match their schema")


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """A validator for a tool schema, or ``None`` when the schema itself is broken.

    Cached: every case of a session offers the same tools, and checking a schema against
    its metaschema costs more than validating the arguments.
    """
    import jsonschema

    schema = json.loads(schema_json)
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return validator_class(schema)


def _schema_problem(case: EvalCase, call: CalledTool) -> str | None:
    import jsonschema

    schema = case.tool_schema(call.name)
    if schema is None:
        return f"{call.name or '(no name)'} was not offered"
    arguments = _parse_object(call.arguments)
    if arguments is None:
        return f"{call.name}: arguments are not a JSON object"
    validator = _validator(json.dumps(schema))  # key order kept: it orders the errors
    if validator is None:
        return None  # the recorded tool's own schema is broken: not the model's fault
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{call.name}: {where}: {error.message}"


def _describe(action: Action) -> str:
    if action.calls:
        return "a call to " + ", ".join(c.name or "(no name)" for c in action.calls)
    return "an answer"


#: The built-in graders, in report order.
BUILTIN_GRADERS: tuple[Grader, ...] = (
    DecisionGrader(),
    ToolNameGrader(),
    ArgumentsGrader(),
    JsonValidityGrader(),
    SchemaValidityGrader(),
)


@dataclass(frozen=True, slots=True)
class CaseGrade:
    """Every grade of one case, and what they add up to."""

    grades: tuple[Grade, ...]
    score: float
    passed: bool

    def grades_json(self) -> list[dict[str, Any]]:
        """The grades as plain dicts."""
        return [grade.to_json() for grade in self.grades]


def grade_case(case: EvalCase, action: Action, graders: Sequence[Grader]) -> CaseGrade:
    """Grade ``action`` with every grader; see the module docstring for how scores combine."""
    grades = tuple(g for g in (grader.grade(case, action) for grader in graders) if g is not None)
    decision = next((g.score for g in grades if g.grader == DecisionGrader.name), 1.0)
    others = [g.score for g in grades if g.grader != DecisionGrader.name]
    score = decision * (sum(others) / len(others) if others else 1.0)
    passed = all(g.score >= 1.0 for g in grades)
    return CaseGrade(grades=grades, score=round(score, 6), passed=passed)


class RegisteredGrader:
    """A grader registered through ``modellab_register_graders``: a descriptor and a handler.

    The handler takes a :class:`~modellab.plugins.hookspecs.GradeRequest` (cases and
    actions as JSON) and returns a :class:`~modellab.plugins.hookspecs.GradeResult`; for a
    workset it runs in the workset's child, which serves the whole eval run.
    """

    def __init__(self, name: str, summary: str, handler: Callable[[Any], Any]) -> None:
        self.name = name
        self.summary = summary
        self.handler = handler
        #: Which workset registered it (for errors), when the handler says.
        self.workset: str = str(getattr(handler, "workset", "a plugin"))

    def grade_many(self, pairs: Sequence[tuple[EvalCase, Action]]) -> list[Grade | None]:
        """Grade every ``(case, action)`` in one call."""
        from modellab.errors import EvalError
        from modellab.plugins.hookspecs import CaseToGrade, GradeRequest, GradeResult

        items = [CaseToGrade(case=c.to_json(), action=a.to_json()) for c, a in pairs]
        got = self.handler(GradeRequest(grader=self.name, items=items))
        result = got if isinstance(got, GradeResult) else GradeResult.model_validate(got)
        if len(result.grades) != len(items):
            raise EvalError(
                f"grader {self.name} ({self.workset}) answered {len(result.grades)} grades "
                f"for {len(items)} cases"
            )
        return [None if g is None else Grade(self.name, g.score, g.reason) for g in result.grades]

    def grade(self, case: EvalCase, action: Action) -> Grade | None:
        """Grade one case (one call to the handler)."""
        return self.grade_many([(case, action)])[0]


def collect_graders(hook_caller: Callable[..., Any] | None) -> list[Grader]:
    """The built-in graders, then every grader registered through
    ``modellab_register_graders`` (``hook_caller`` is that hook of a plugin manager).

    A grader whose name is taken is refused with an error naming both owners: two graders
    writing the same grade would make reports ambiguous.
    """
    from modellab.errors import EvalError
    from modellab.plugins.hookspecs import GraderDescriptor

    graders: list[Grader] = list(BUILTIN_GRADERS)
    owners = {g.name: "the built-in graders" for g in graders}

    def register(descriptor: object, handler: Callable[[Any], Any]) -> None:
        # Plain data from a workset's child or a model from an in-process plugin.
        if not isinstance(descriptor, GraderDescriptor):
            descriptor = GraderDescriptor.model_validate(descriptor)
        if not callable(handler):
            raise EvalError(f"grader {descriptor.name!r} has no handler")
        grader = RegisteredGrader(descriptor.name, descriptor.summary, handler)
        if descriptor.name in owners:
            raise EvalError(
                f"grader name {descriptor.name!r} is registered by both "
                f"{owners[descriptor.name]} and {grader.workset}"
            )
        owners[descriptor.name] = grader.workset
        graders.append(grader)

    if hook_caller is not None:
        hook_caller(register=register)
    return graders
