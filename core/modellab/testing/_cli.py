"""Run the real ``modellab`` command line, in this process or in a child process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def cli(*argv: str) -> str:
    """Run ``modellab ARGV...`` in this process; return its stdout, fail loudly otherwise.

    Output is captured so that a fixture's set-up stays out of the test's own ``capsys``;
    on a non-zero exit both streams go into the error, since they say what went wrong.
    """
    from modellab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    if code != 0:
        raise AssertionError(
            f"modellab {' '.join(argv)} exited {code}\n"
            f"--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}"
        )
    return out.getvalue()


def run_modellab(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> tuple[int, str, str]:
    """Run ``python -m modellab ARGV...`` in a child process: ``(code, stdout, stderr)``.

    The child gets ``env`` (``os.environ`` by default, which the fixtures point at the
    temporary home), so it sees exactly what the test set up and nothing of the user's.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "modellab", *argv],
        env=dict(os.environ if env is None else env),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    return completed.returncode, completed.stdout, completed.stderr
