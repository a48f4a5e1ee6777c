"""The ``modellab`` command. A thin layer: parse, call the library, render.

Start-up stays cheap: this package imports only ``argparse`` at module level. Library
modules (pydantic, pluggy, sqlite) load inside the command that needs them, so
``modellab --help`` never imports them.
"""

from __future__ import annotations

import sys

# Not ``typing.TYPE_CHECKING``: importing typing alone costs a sixth of our start-up budget.
# mypy treats any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

__all__ = ["main", "run_command"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # --no-worksets must also keep workset commands out of the grammar itself.
    options = []
    command = None
    for argument in arguments:  # the global options, before the command
        if not argument.startswith("-"):
            command = argument
            break
        options.append(argument)
    no_worksets = "--no-worksets" in options
    # ``modellab --help`` (argparse stops at the first -h, whatever follows it).
    asks_help = bool({"-h", "--help"} & set(options))
    if asks_help and set(options) <= {"-h", "--help", "--no-worksets"}:
        _top_help(no_worksets)
    from modellab.cli._app import build_parser, run

    # Only the command being run gets its full grammar: --help stays cheap.
    parser = build_parser({} if no_worksets else None, command=command)
    args = parser.parse_args(arguments)
    try:
        return run(parser, args)
    except BrokenPipeError:
        # The reader went away (``modellab sessions list | head -3``): that is normal, as
        # for ``git log | head``. Stop quietly; whatever was left to print has no reader.
        _stdout_closed()
        return 0


def _top_help(no_worksets: bool) -> NoReturn:
    """``modellab --help``: the saved copy when its inputs are unchanged, else built and
    saved (see ``_help_cache``)."""
    import os

    from modellab.cli import _help_cache

    no_worksets = no_worksets or os.environ.get("MODELLAB_NO_WORKSETS", "").lower() in {
        "1",
        "true",
        "yes",
    }
    width = _help_cache.terminal_width()
    text = _help_cache.load(width, no_worksets)
    if text is None:
        from modellab.cli._app import build_parser

        text = build_parser({} if no_worksets else None, command=None).format_help()
        _help_cache.save(text, width, no_worksets)
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        _stdout_closed()
    # As argparse's --help does, for every other command's help too: in-process callers
    # see one behaviour.
    raise SystemExit(0)


def _stdout_closed() -> None:
    """Point standard output at the null device once its reader has closed the pipe.

    Python's documentation on SIGPIPE: otherwise the flush at interpreter exit writes the
    rest of the buffer to the closed pipe again and prints a traceback-like complaint.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no descriptor: stdout replaced in-process
        pass


def run_command() -> None:
    """The ``modellab`` executable and ``python -m modellab``: run, then exit at once.

    After a command, interpreter shutdown runs one last garbage collection over every object
    still alive: after a workset install (pydantic, cryptography, python-tuf loaded) that
    walk costs 35-40 ms, a tenth of the install. Freezing the heap first skips it; nothing
    is left that needs collecting, and files and the catalog are already closed by then.
    ``main`` does not do this, so in-process callers (the tests) keep normal collection.
    """
    code = main()
    try:
        # Flush here, not at interpreter exit: a reader that closed the pipe after the last
        # write (output smaller than the buffer) must end as quietly as one that closed early.
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    import gc

    gc.freeze()
    sys.exit(code)
