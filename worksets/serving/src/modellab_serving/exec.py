"""``python -m modellab_serving.exec PROGRAM ARGS...``: become ``PROGRAM``.

Every launch plan is ``-m MODULE`` run with the workset's Python; a stack that is a program
(``ollama``, ``text-generation-launcher``, ``vllm`` on ``PATH``) is started through this
module, which replaces itself with the program (``os.execv``: same process id, so the
core's supervision and confinement apply to the server itself).
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]

#: The shell's code for "command not found / not executable".
NOT_RUNNABLE = 127


def main(argv: list[str]) -> int:
    """Exec ``argv[0]`` with ``argv[1:]``; return 127 (after one line on stderr) when it
    is not an absolute path to an executable file. Does not return otherwise."""
    if not argv:
        print("modellab_serving.exec: no program given", file=sys.stderr)
        return NOT_RUNNABLE
    program = argv[0]
    # An absolute path only: a bare name would be looked up on the server's PATH, which
    # is not what the plan was checked against.
    if not os.path.isabs(program):
        print(f"modellab_serving.exec: {program!r} is not an absolute path", file=sys.stderr)
        return NOT_RUNNABLE
    if not (os.path.isfile(program) and os.access(program, os.X_OK)):
        print(f"modellab_serving.exec: {program!r} is not an executable file", file=sys.stderr)
        return NOT_RUNNABLE
    try:
        os.execv(program, [program, *argv[1:]])
    except OSError as error:
        print(f"modellab_serving.exec: cannot run {program!r}: {error.strerror}", file=sys.stderr)
    return NOT_RUNNABLE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
