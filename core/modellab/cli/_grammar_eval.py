"""The grammar of ``modellab eval``: build suites, run models on them, compare runs.

Kept apart from ``_app`` so each file describes one part of the command line. Only
``argparse`` is used here: this runs on every start.
"""

from __future__ import annotations

import argparse

# Not typing.TYPE_CHECKING: importing typing costs start-up time (see modellab.cli).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    _Add: TypeAlias = Callable[..., argparse.ArgumentParser]
    _Group: TypeAlias = Any  # argparse._SubParsersAction: private

__all__ = ["add_eval_commands"]

_EXIT = (
    "exit codes: 0 done, 2 bad arguments, 4 export file damaged, 9 export not approved, or "
    "(eval run) the approval a suite was built from no longer stands in this catalog, "
    "11 (eval build) another command is writing the same --out, "
    "12 suite, endpoint or run unusable, or the run is incomplete (the same command resumes)"
)


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _model_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """``--model``/``--base-url``/``--provider``/``--api-key-env``/``--label``."""
    dest = prefix.replace("-", "_")
    parser.add_argument(
        f"--{prefix}model",
        dest=f"{dest}model",
        metavar="NAME",
        help="the model name the server serves, 'recorded' for the actions in the trace "
        "(which must score 100%%: a sanity check), or candidate:NAME (an installed model or "
        "candidate, served by --serve-backend for the run and stopped after)",
    )
    parser.add_argument(
        f"--{prefix}base-url",
        dest=f"{dest}base_url",
        metavar="URL",
        help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1",
    )
    parser.add_argument(
        f"--{prefix}provider",
        dest=f"{dest}provider",
        metavar="NAME",
        help="a provider from CodeWhale's config.toml ([providers.NAME], or a built-in one "
        "such as vllm or ollama), or 'current' for the model CodeWhale uses now",
    )
    parser.add_argument(
        f"--{prefix}api-key-env",
        dest=f"{dest}api_key_env",
        metavar="VAR",
        help="with --base-url: the environment variable holding the API key (keys are never "
        "logged or stored)",
    )
    parser.add_argument(
        f"--{prefix}context-window",
        dest=f"{dest}context_window",
        type=int,
        metavar="N",
        help="the tokens the server accepts, recorded with the run so that 'promote' can "
        "write it into CodeWhale's config (default: the provider table's context_window)",
    )
    parser.add_argument(
        f"--{prefix}label",
        dest=f"{dest}label",
        metavar="TEXT",
        help="what reports call this model (default: the provider or model name)",
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="requests in flight, 1 to 256 (default 4)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="per request (default 120 s)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=4,
        metavar="N",
        help="retries after a network error, timeout, 429 or 5xx, with backoff (default 4)",
    )
    parser.add_argument(
        "--temperature", type=float, default=0.0, metavar="T", help="sampling (default 0)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=512, metavar="N", help="per answer (default 512)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="sampling seed sent to the server"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start a new run instead of resuming an unfinished one of the same model",
    )


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--html", metavar="FILE", help="also write a static HTML report with a chart"
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=10_000,
        metavar="N",
        help="paired bootstrap resamples (default 10000)",
    )
    parser.add_argument(
        "--stats-seed", type=int, default=0, metavar="N", help="bootstrap seed (default 0)"
    )


def add_eval_commands(commands: _Group, add: _Add) -> None:
    """``modellab eval ...``."""
    evals = add(
        commands,
        "eval",
        help="replay eval suites: compare a candidate model with the current one",
        description="Replay the decision points of an approved export against models and "
        "compare them with paired statistics (exact McNemar, a session-clustered bootstrap "
        "interval, per-slice results). Cases go only to the endpoint you name.",
    )
    sub = evals.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")

    build = add(
        sub,
        "build",
        help="make a suite from an approved export",
        description="Every agent decision point of the chosen sessions becomes a case: the "
        "conversation and tools before it, and the recorded next action. Writes cases.jsonl "
        "and suite.json. The export must pass the redaction gate.",
        epilog=_EXIT,
    )
    build.add_argument("export", metavar="EXPORT", help="an approved export folder")
    build.add_argument("--out", metavar="DIR", required=True, help="the suite folder to write")
    build.add_argument(
        "--outcome",
        action="append",
        default=[],
        choices=["success", "failure", "interrupted", "unknown"],
        help="only sessions with this outcome; repeatable",
    )
    build.add_argument(
        "--label", action="append", default=[], metavar="KIND", help="only sessions with it"
    )
    build.add_argument(
        "--max-context-tokens",
        type=int,
        metavar="N",
        help="drop the oldest exchanges so each case fits about N tokens (keep the first "
        "request); use the serving context window",
    )
    build.add_argument(
        "--max-cases", type=int, metavar="N", help="keep N cases, chosen by a seeded hash"
    )
    build.add_argument("--seed", type=int, default=0, metavar="N", help="for --max-cases")
    build.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder an earlier suite wrote (never any other folder)",
    )
    _json(build)

    run = add(
        sub,
        "run",
        help="answer a suite with a model, and compare with a baseline",
        description="Send every case of SUITE to the model and grade the answers (decision, "
        "tool name, arguments, JSON and schema validity, plus graders from worksets). Each "
        "answer is stored as it arrives: an interrupted run resumes where it stopped and "
        "never re-sends a finished case. With --against, the baseline answers the same "
        "cases and the two runs are compared.",
        epilog=_EXIT,
    )
    run.add_argument("suite", metavar="SUITE", help="a suite folder from 'eval build'")
    _model_options(run)
    run.add_argument(
        "--against",
        metavar="MODEL",
        help="the baseline: 'current' (CodeWhale's model now), 'recorded', or a provider "
        "name; or use --baseline-base-url/--baseline-model",
    )
    _model_options(run, "baseline-")
    run.add_argument(
        "--serve-backend",
        default="llama.cpp",
        metavar="NAME",
        help="the server that serves a candidate:NAME model for the run (default: llama.cpp; "
        "see modellab serve --help)",
    )
    run.add_argument(
        "--converters",
        metavar="FILE",
        help="llama_cpp_python-0.3.36.tar.gz, to convert a candidate to GGUF (default: "
        "$MODELLAB_CONVERTERS)",
    )
    _run_options(run)
    _report_options(run)
    _json(run)

    compare = add(
        sub,
        "compare",
        help="compare two runs of the same suite",
        description="Paired statistics on the cases both runs answered: exact McNemar on "
        "the discordant pairs, a bootstrap interval of the score difference clustered by "
        "session, the minimum detectable effect, and per-slice results by tool and repo.",
        epilog=_EXIT,
    )
    compare.add_argument("candidate", metavar="CANDIDATE_RUN", help="run id (or prefix)")
    compare.add_argument("baseline", metavar="BASELINE_RUN", help="run id (or prefix)")
    _report_options(compare)
    _json(compare)

    runs = add(sub, "runs", help="list eval runs", description="Every eval run, newest first.")
    _json(runs)
