"""Argument parsing and dispatch. Only ``argparse`` is imported at module level."""

from __future__ import annotations

import argparse
import contextlib
import sys

from modellab.cli import TYPE_CHECKING
from modellab.cli._exit import DISK_FULL, EXIT_CODES, exit_code_for
from modellab.cli.options import add_json_flag as _add_json
from modellab.cli.options import add_selection_flags as _add_selection
from modellab.cli.options import exit_codes_epilog

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["ALL_COMMANDS", "build_parser", "run"]


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the width so it does not import ``shutil`` (3 ms).

    Descriptions are wrapped to the terminal; the exit-code table is kept as written.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width())

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _terminal_width() -> int:
    from modellab.cli._help_cache import terminal_width

    return terminal_width()


_EPILOG = exit_codes_epilog(EXIT_CODES)

#: Commands the product will have that later issues build. They say so and exit 2.
_NOT_BUILT: dict[str, str] = {}
#: Top-level commands of the core; a workset may never take one of these names.
CORE_COMMANDS = frozenset(
    {
        "sessions",
        "capture",
        "uncapture",
        "export",
        "redact",
        "dataset",
        "eval",
        "worksets",
        "registry",
        "promote",
        "train",
        "models",
        "serve",
        *_NOT_BUILT,
    }
)


def _add(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A sub-command parser with our formatter (argparse does not pass it down)."""
    return group.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


#: The most worker processes ``--jobs`` may ask for: each is a Python process with its own
#: memory, and more than this only adds start-up cost and risks exhausting the machine.
MAX_JOBS = 64


def _jobs(value: str) -> int:
    """``--jobs N``: a whole number of worker processes, 1 to :data:`MAX_JOBS`."""
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= jobs <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_JOBS}")
    return jobs


def _skip_gettext() -> None:
    """Stop argparse from searching the disk for translations while it builds parsers.

    argparse passes its built-in strings ("usage: ", "show this help message and exit")
    through ``gettext``, which looks for a message catalogue on disk on every call when none
    is installed: about fifty lookups for our parser, a measurable part of ``--help``.
    Model Lab's command line is English only, so argparse gets the identity instead.
    """
    argparse._ = str  # type: ignore[attr-defined]


def _workset_index() -> dict[str, tuple[str, str]]:
    """Commands of enabled worksets, from the small index installs keep (no workset import)."""
    import os

    if os.environ.get("MODELLAB_NO_WORKSETS", "").lower() in {"1", "true", "yes"}:
        return {}
    from modellab.worksets._commands import lab_home, read_command_index

    index = read_command_index(os.path.join(lab_home(), "worksets"))
    return {name: entry for name, entry in index.items() if name not in CORE_COMMANDS}


#: ``build_parser(command=...)`` default: every command's full grammar (docs, tests).
ALL_COMMANDS = "*"


class _Unused:
    """Stands in for the grammar of a command this run will not parse.

    Every method a grammar builder calls (``add_argument``, ``add_subparsers``,
    ``add_parser``, ...) does nothing and returns the stand-in, so the builders need not
    know: the command still appears in ``--help`` with its summary, at none of the cost.
    """

    def __getattr__(self, name: str) -> Callable[..., _Unused]:
        return self._nothing

    def _nothing(self, *args: object, **kwargs: object) -> _Unused:
        return self


def _only(group: argparse._SubParsersAction[argparse.ArgumentParser], command: str | None) -> None:
    """Make ``group`` build the full grammar of ``command`` alone; the others get a summary."""
    add_parser = group.add_parser

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == command:
            return add_parser(name, **kwargs)
        # Our formatter here too: argparse's own imports shutil (4 ms) to size the terminal.
        add_parser(name, help=kwargs.get("help"), formatter_class=_HelpFormatter)
        return _Unused()  # type: ignore[return-value]

    group.add_parser = add  # type: ignore[method-assign]


def build_parser(
    workset_commands: dict[str, tuple[str, str]] | None = None,
    *,
    command: str | None = ALL_COMMANDS,
) -> argparse.ArgumentParser:
    """The command-line grammar.

    :param workset_commands: {command: (workset, summary)}; ``None`` reads the index of
        enabled worksets (``{}`` for none, as with ``--no-worksets``).
    :param command: build the full grammar of this command only, and a one-line summary of
        the others (``None``: summaries only, for ``modellab --help``). Building all of it
        costs about a third of ``--help``'s start-up.
    """
    from modellab.cli._grammar_eval import add_eval_commands
    from modellab.cli._grammar_worksets import (
        add_registry_commands,
        add_workset_commands,
        add_worksets_commands,
    )

    _skip_gettext()
    parser = argparse.ArgumentParser(
        prog="modellab",
        description="Turn your coding-agent sessions into redacted exports, datasets and "
        "evals for open-weight models. Nothing leaves this machine unless you run an "
        "explicit export or upload command.",
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--no-worksets",
        action="store_true",
        help="start with no workset loaded (also MODELLAB_NO_WORKSETS=1)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command != ALL_COMMANDS:
        _only(commands, command)

    sessions = _add(
        commands,
        "sessions",
        help="import, list and show agent sessions",
        description="Import, list and show agent sessions.",
    )
    session_commands = sessions.add_subparsers(dest="sessions_command", metavar="SUBCOMMAND")
    imp = _add(
        session_commands,
        "import",
        help="import session files into the catalog",
        description="Import sessions. With no PATH, scan every agent's default folders: "
        "$CODEWHALE_HOME/sessions (~/.codewhale/sessions, and legacy ~/.deepseek/sessions), "
        "~/.claude/projects and ~/.codex/sessions. Re-importing is idempotent.",
        epilog="exit codes: 0 all imported, 1 some files failed (the rest were imported)",
    )
    imp.add_argument("paths", nargs="*", metavar="PATH", help="session files or folders")
    imp.add_argument("--force", action="store_true", help="re-read files even if unchanged")
    _add_json(imp)
    listing = _add(session_commands, "list", help="list imported sessions as a table")
    _add_selection(listing, ids=False)
    listing.add_argument("--captured", action="store_true", help="only captured sessions")
    listing.add_argument("--last", type=int, metavar="N", help="only the N most recent")
    _add_json(listing)
    show = _add(session_commands, "show", help="show one session as a readable transcript")
    show.add_argument("id", metavar="ID", help="a session id or a unique prefix of one")
    show.add_argument("--full", action="store_true", help="do not shorten long tool output")
    _add_json(show)

    capture = _add(
        commands,
        "capture",
        help="mark sessions as export candidates",
        description="Mark sessions as candidates for export. Give ids, or --last / --since.",
    )
    capture.add_argument("ids", nargs="*", metavar="ID", help="session ids or unique prefixes")
    capture.add_argument("--last", type=int, metavar="N", help="the N most recent sessions")
    capture.add_argument("--since", metavar="DATE", help="sessions updated on or after DATE")
    capture.add_argument("--list", action="store_true", help="list captured sessions instead")
    _add_json(capture)
    uncapture = _add(commands, "uncapture", help="remove sessions from the candidates")
    uncapture.add_argument("ids", nargs="*", metavar="ID", help="session ids or unique prefixes")
    uncapture.add_argument("--all", action="store_true", help="remove every captured session")
    _add_json(uncapture)

    export = _add(
        commands,
        "export",
        help="write selected sessions, redacted, as ATIF trajectories plus a manifest",
        description="Write trajectories.jsonl (one ATIF trajectory per line, redacted), "
        "redaction-findings.jsonl (each finding's place, rule and value hash; never the "
        "value) and manifest.json (counts, sha256 of every file, source formats, the "
        "redaction report). By default the captured sessions are exported. The write is "
        "atomic. Review the result with 'modellab redact review', then approve it.",
        epilog="exit codes: 0 written, 2 bad arguments or nothing selected (or an --out that "
        "may not be used), 6 write failed, 7 unusable rules file, 11 another command is "
        "writing the same --out",
    )
    export.add_argument(
        "--out", metavar="DIR", help="output folder (default: $MODELLAB_HOME/exports/<time>)"
    )
    export.add_argument("--all", action="store_true", help="every session, not only captured")
    _add_selection(export, ids=True)
    export.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder an earlier export wrote (never any other folder)",
    )
    export.add_argument(
        "--raw",
        action="store_true",
        help="do not redact; the manifest says raw and the export can never be approved or sent",
    )
    export.add_argument(
        "--rules",
        metavar="FILE",
        help="also redact with the rules in FILE (they add to the built-in rules and to "
        "$MODELLAB_HOME/rules.toml, never replace them)",
    )
    export.add_argument(
        "--jobs",
        type=_jobs,
        metavar="N",
        help=f"redaction worker processes, 1 to {MAX_JOBS} (default: by size)",
    )
    _add_json(export)

    redact = _add(
        commands,
        "redact",
        help="scan for secrets, review an export's redactions, approve it for sending",
        description="Find secrets, personal data and machine identity with the engine that "
        "redacts exports; review what an export redacted; approve it for sending.",
    )
    redact_commands = redact.add_subparsers(dest="redact_command", metavar="SUBCOMMAND")
    scan = _add(
        redact_commands,
        "scan",
        help="scan files or folders for secrets and personal data",
        description="Scan files or folders (recursively, in name order; .git, node_modules, "
        ".venv and cache folders are left out) with the rules exports are redacted with. "
        "UTF-8 text, and UTF-16/32 with a byte-order mark, is decoded. Anything that cannot "
        "be scanned is named and makes the scan incomplete: a missing or unreadable path, a "
        "FIFO, socket or device (never opened), a binary file (but see --skip-binary), or a "
        "symbolic link to a folder outside PATH (links to folders are never followed; links "
        "to files are). Values are never printed in full: each finding shows its first "
        "characters and the sha256 of the value.",
        epilog="exit codes: 0 everything scanned and nothing found, 8 something found, "
        "4 something could not be scanned (wins over 8), 7 unusable rules file",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to scan")
    scan.add_argument(
        "--rules",
        metavar="FILE",
        help="also scan with the rules in FILE (they add to the built-in rules and to "
        "$MODELLAB_HOME/rules.toml, never replace them)",
    )
    scan.add_argument(
        "--skip-binary",
        action="store_true",
        help="binary files are listed but do not make the scan incomplete (exit 4)",
    )
    _add_json(scan)
    approve = _add(
        redact_commands,
        "approve",
        help="approve a reviewed, redacted export for sending",
        description="Record an approval bound to the sha256 of every file in EXPORT. Any later "
        "change to those files invalidates it. Exports that were not redacted can never be "
        "approved.",
        epilog="exit codes: 0 approved, 9 refused (not redacted), 2 not an export folder",
    )
    approve.add_argument("export", metavar="EXPORT", help="an export folder")
    _add_json(approve)
    review = _add(
        redact_commands,
        "review",
        help="decide on every value an export redacted, before approving it",
        description="Step through an export's findings, one distinct value at a time, "
        "grouped by rule, shown masked in context. For each: keep the redaction, mark it a "
        "false positive (its hash joins a persistent allowlist), or add a term to redact "
        "everywhere. When the allowlist or terms change, the export is redacted again in "
        "place. Without options the review is interactive; the options below do the same "
        "from scripts.",
        epilog="exit codes: 0 done (see 'complete' in --json), 2 bad arguments, "
        "7 findings file damaged, 9 export not redacted",
    )
    review.add_argument("export", metavar="EXPORT", help="an export folder")
    review.add_argument("--list", action="store_true", help="print the values and decisions")
    review.add_argument(
        "--accept-rule",
        action="append",
        metavar="RULE",
        help="keep every redaction of RULE (repeatable)",
    )
    review.add_argument("--accept-all", action="store_true", help="keep every redaction")
    review.add_argument(
        "--allow-hash",
        action="append",
        metavar="HASH",
        help="mark the value with this hash (or unique prefix) a false positive (repeatable)",
    )
    review.add_argument(
        "--add-term",
        action="append",
        metavar="TERM",
        help="redact TERM everywhere, in this and later exports (repeatable)",
    )
    _add_json(review)

    _add_dataset_commands(commands)
    add_eval_commands(commands, _add)
    add_worksets_commands(commands, _add)
    add_registry_commands(commands, _add)
    from modellab.cli.promote import add_promote_command

    add_promote_command(commands, _add)
    from modellab.cli.models import add_models_command
    from modellab.cli.train import add_train_command

    add_models_command(commands, _add)
    add_train_command(commands, _add)
    from modellab.cli.serve import add_serve_command

    add_serve_command(commands, _add)
    for name, what in _NOT_BUILT.items():
        stub = _add(commands, name, help=f"not built yet: {what}", add_help=True)
        stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    index = _workset_index() if workset_commands is None else workset_commands
    add_workset_commands(commands, _add, index)
    return parser


#: ``dataset build`` choices (kept here, not imported: ``--help`` must stay light).
_DATASET_FROM = ("successful-turns", "successful-sessions", "failed-turns", "all")
_DATASET_FORMATS = ("trl-sft", "preference", "unpaired", "nemo", "llama-factory")


def _add_dataset_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dataset = _add(
        commands,
        "dataset",
        help="build training datasets from an approved export",
        description="Build training datasets from an export that was redacted, reviewed and "
        "approved.",
    )
    dataset_commands = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    build = _add(
        dataset_commands,
        "build",
        help="SFT, preference and unpaired rows in TRL, NeMo or LLaMA-Factory layouts, with "
        "grouped or time-ordered train/test splits",
        description="Write each --format's train and test files in a folder named after "
        "the format (FORMAT/train.jsonl, FORMAT/test.jsonl; trl-sft: TRL conversational rows "
        "with OpenAI-style tool_calls and tool messages plus tools), dedup-report.json "
        "(exact and near-duplicate SFT rows dropped, and why), manifest.json (the export's "
        "hashes, filters, formats, split, counts, token lengths, the sha256 of every output "
        "file) and README.md (a dataset card). The export must pass the redaction gate and is "
        "streamed, so memory does not grow with its size. Splits are grouped: no session and "
        "no near-duplicate task (MinHash over the first prompt and touched files) is in both, "
        "in any format. --label and --outcome select sessions; --from selects SFT rows; every "
        "session left out is counted under its reason, on the terminal and in the manifest. "
        "Formats, the same-step rule for preference pairs and every manifest field are "
        "described in docs/datasets.md.",
        epilog="exit codes: 0 written, 2 bad arguments or no rows selected, 4 export file "
        "damaged, 6 write failed, 9 export not approved, changed since, or not redacted, "
        "11 another command is writing the same --out",
    )
    build.add_argument("export", metavar="EXPORT", help="an approved export folder")
    build.add_argument("--out", metavar="DIR", required=True, help="output folder")
    build.add_argument(
        "--from",
        dest="source_kind",
        choices=_DATASET_FROM,
        default="successful-turns",
        help="what becomes an SFT row: each successful turn (with the turns before it as "
        "context), each successful session, each failed turn, or every session "
        "(default: successful-turns)",
    )
    build.add_argument(
        "--format",
        dest="formats",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="output format, repeatable or comma-separated: trl-sft (TRL messages + tools), "
        "preference (TRL prompt/chosen/rejected from a failed tool call and its successful "
        "retry at the same step), unpaired (TRL/KTO prompt/completion/label per agent step, "
        "true in successful turns), nemo (NeMo SFT chat jsonl), llama-factory (sharegpt with "
        "function_call/observation and dataset_info.json). The first one weighs the split "
        "(default: trl-sft)",
    )
    build.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KIND",
        help="only sessions with this label (e.g. tests_passed); repeatable",
    )
    build.add_argument(
        "--outcome",
        action="append",
        default=[],
        choices=["success", "failure", "interrupted", "unknown"],
        help="only sessions with this outcome; repeatable",
    )
    build.add_argument(
        "--split",
        choices=("grouped", "time"),
        default="grouped",
        help="grouped: whole groups shuffled with --seed go to test; time: the groups whose "
        "newest session started latest go to test, a near-duplicate group moving whole "
        "(default: grouped)",
    )
    build.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="share of the first format's rows for the test split, in whole groups (default: 0.1)",
    )
    build.add_argument("--seed", type=int, default=0, metavar="N", help="split seed (default: 0)")
    build.add_argument(
        "--system-prompt",
        metavar="FILE",
        help="use this file's text as every row's system prompt, in every format (the one "
        "used at serving time)",
    )
    build.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="count tokens with this tokenizer.json (default: estimate, characters / 4)",
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="replace an --out folder an earlier dataset build wrote (never any other folder)",
    )
    _add_json(build)


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int] | None:
    if args.command == "sessions":
        from modellab.cli.sessions import cmd_import, cmd_list, cmd_show

        table: dict[str, Callable[[argparse.Namespace], int]] = {
            "import": cmd_import,
            "list": cmd_list,
            "show": cmd_show,
        }
        return table.get(args.sessions_command)
    if args.command in {"capture", "uncapture"}:
        from modellab.cli.capture import cmd_capture, cmd_uncapture

        return cmd_capture if args.command == "capture" else cmd_uncapture
    if args.command == "export":
        from modellab.cli.export import cmd_export

        return cmd_export
    if args.command == "redact" and args.redact_command in {"scan", "approve"}:
        from modellab.cli.redact import cmd_approve, cmd_scan

        return cmd_scan if args.redact_command == "scan" else cmd_approve
    if args.command == "redact" and args.redact_command == "review":
        from modellab.cli.review import cmd_review

        return cmd_review
    if args.command == "dataset" and args.dataset_command == "build":
        from modellab.cli.dataset import cmd_build

        return cmd_build
    if args.command == "eval" and args.eval_command:
        from modellab.cli.eval import HANDLERS as EVAL

        return EVAL.get(args.eval_command)
    if args.command == "models" and args.models_command:
        from modellab.cli.models import HANDLERS as MODELS

        return MODELS.get(args.models_command)
    if args.command == "promote":
        from modellab.cli.promote import cmd_promote

        return cmd_promote
    if args.command == "train":
        from modellab.cli.train import cmd_train

        return cmd_train
    if args.command == "serve":
        from modellab.cli.serve import cmd_serve

        return cmd_serve
    if args.command == "worksets" and args.worksets_command:
        from modellab.cli.worksets import HANDLERS as WORKSETS

        return WORKSETS.get(args.worksets_command)
    if args.command == "registry" and args.registry_command:
        from modellab.cli.registry import HANDLERS as REGISTRY

        return REGISTRY.get(args.registry_command)
    if getattr(args, "workset_command", None):
        from modellab.cli.worksets import cmd_workset_command

        return cmd_workset_command
    return None


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Dispatch parsed arguments; turn library errors into messages and exit codes."""
    if args.version:
        from modellab import __version__

        print(f"modellab {__version__}")
        return 0
    if args.command in _NOT_BUILT:
        print(
            f"modellab {args.command}: not built yet ({_NOT_BUILT[args.command]}).", file=sys.stderr
        )
        return 2
    handler = _handler(args)
    if handler is None:
        # A command group without its subcommand: show that group's help, not an error.
        with contextlib.suppress(SystemExit):
            parser.parse_args([args.command, "--help"] if args.command else ["--help"])
        return 2
    from modellab.errors import ModellabError

    try:
        return handler(args)
    except ModellabError as exc:
        from modellab._internal.term import shown

        # Messages quote file names, manifest strings and server replies: shown escaped.
        print(f"modellab: error: {shown(exc.message, lines=True)}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {shown(exc.hint, lines=True)}", file=sys.stderr)
        from modellab._internal.files import is_disk_full

        # An error a writer raised from a full disk (``ExportError`` from ``ENOSPC``).
        return DISK_FULL if is_disk_full(exc) else exit_code_for(exc)
    except BrokenPipeError:
        raise  # the reader closed stdout: normal; ``modellab.cli.main`` ends quietly
    except Exception as exc:
        from modellab._internal.files import is_disk_full
        from modellab._internal.term import shown

        if is_disk_full(exc):
            # The net for a writer that does not say what it kept: still one line, exit 15.
            where = getattr(exc, "filename", None) or "a file"
            print(
                f"modellab: error: disk full: no space left while writing {shown(where)}",
                file=sys.stderr,
            )
            return DISK_FULL
        if not isinstance(exc, OSError):
            raise
        # A file or folder named on the command line that cannot be read or created; library
        # code wraps the OS errors it expects, so this is the net for the ones it does not.
        where = f"{shown(exc.filename)}: " if exc.filename else ""
        print(f"modellab: error: {where}{shown(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("modellab: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
