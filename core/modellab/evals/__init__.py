"""Replay evals: decision points of approved exports, answered by models, graded and compared.

Build a suite from an export (:func:`build_suite`), answer it with a model
(:func:`run_suite`: an OpenAI-compatible endpoint, a CodeWhale provider, or ``recorded``),
and compare two runs on the same cases with paired statistics. See ``docs/evals.md``.
"""

from modellab.evals._actions import Action, CalledTool
from modellab.evals._compare import compare_runs
from modellab.evals._endpoints import RECORDED, Endpoint, endpoint_from_args, is_loopback
from modellab.evals._graders import (
    BUILTIN_GRADERS,
    CaseGrade,
    Grade,
    Grader,
    collect_graders,
    grade_case,
)
from modellab.evals._report import render_html, render_terminal, write_html
from modellab.evals._runner import RunLimits, RunSummary, Sampling, request_body, run_suite
from modellab.evals._runs import CaseResult, RunInfo, RunStore
from modellab.evals._stats import Comparison, PairedCase, compare
from modellab.evals._suite import (
    EvalCase,
    Suite,
    SuiteOptions,
    build_suite,
    read_suite,
    verify_suite_approval,
)

__all__ = [
    "BUILTIN_GRADERS",
    "RECORDED",
    "Action",
    "CalledTool",
    "CaseGrade",
    "CaseResult",
    "Comparison",
    "Endpoint",
    "EvalCase",
    "Grade",
    "Grader",
    "PairedCase",
    "RunInfo",
    "RunLimits",
    "RunStore",
    "RunSummary",
    "Sampling",
    "Suite",
    "SuiteOptions",
    "build_suite",
    "collect_graders",
    "compare",
    "compare_runs",
    "endpoint_from_args",
    "grade_case",
    "is_loopback",
    "read_suite",
    "render_html",
    "render_terminal",
    "request_body",
    "run_suite",
    "verify_suite_approval",
    "write_html",
]
