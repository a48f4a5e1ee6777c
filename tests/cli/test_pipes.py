"""A reader that closes the pipe early is normal: ``modellab ... | head`` ends quietly.

Each listing command runs as a real process (``python -m modellab``) with its standard
output on a pipe. The reader either reads one line and closes (``| head -1``) or closes
before anything was written (``| true``); the pipe is shrunk to one page, so a listing
longer than that is still being written when the reader goes away. Either way the command
exits 0 and writes nothing to standard error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from factories import assistant, result, saved_session, user, write_session
from modellab.cli import main

pytestmark = pytest.mark.slow

#: Linux's fcntl to resize a pipe (not in every Python's fcntl module).
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _session(n: int) -> dict[str, object]:
    words = " ".join(f"step{k}" for k in range(200))
    messages = [
        user(f"Task {n}: list the files and fix the failing test. {words}"),
        assistant(f"Listing files for task {n}.", (f"c{n}a", "bash", {"command": "ls -la src"})),
        result(f"c{n}a", "\n".join(f"src/module_{k}.py" for k in range(40))),
        assistant(f"Done with task {n}. {words}"),
    ]
    return saved_session(
        messages,
        session_id=f"019e{n:04d}-aaaa-bbbb-cccc-{n:012d}",
        title=f"Session number {n} with a long title that the table cuts at its width",
        updated_at=f"2026-11-{n % 28 + 1:02d}T10:00:00Z",
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Set-up commands run in-process, their output dropped."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A lab with 40 imported, captured and exported sessions, an approved export and an
    eval run: every listing has more than a page to print."""
    root = tmp_path_factory.mktemp("lab")
    home = root / "home"
    home.mkdir()
    env = {"HOME": str(home), "MODELLAB_HOME": str(home / ".modellab")}
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith(("MODELLAB_", "CODEWHALE_", "DEEPSEEK_")):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        for n in range(40):
            write_session(root / "sessions", _session(n))
        (root / "tokens").mkdir()
        for n in range(60):  # something for 'redact scan' to list
            (root / "tokens" / f"app{n}.env").write_text(f"GITHUB_TOKEN=ghp_{'Zq3' * 12}\n")
        with _quiet():
            assert main(["sessions", "import", str(root / "sessions")]) == 0
            assert main(["capture", "--last", "40"]) == 0
            assert main(["export", "--out", str(root / "export")]) == 0
            assert main(["redact", "review", str(root / "export"), "--accept-all"]) == 0
            assert main(["redact", "approve", str(root / "export")]) == 0
            assert main(["eval", "build", str(root / "export"), "--out", str(root / "suite")]) == 0
            assert main(["eval", "run", str(root / "suite"), "--model", "recorded"]) == 0
    yield {**env, "ROOT": str(root)}


def _commands(root: str) -> dict[str, list[str]]:
    return {
        "sessions list": ["sessions", "list"],
        "sessions show": ["sessions", "show", "019e0007", "--full"],
        "sessions show --json": ["sessions", "show", "019e0007", "--json"],
        "capture --list": ["capture", "--list"],
        "export": ["export", "--out", os.path.join(root, "export-again")],
        "redact review --list": ["redact", "review", os.path.join(root, "export"), "--list"],
        "redact scan": ["redact", "scan", os.path.join(root, "tokens")],
        "worksets list": ["worksets", "list"],
        "eval runs": ["eval", "runs"],
        "promote --history": ["promote", "--history"],
    }


def _run_into_closing_reader(
    lab: dict[str, str], arguments: list[str], *, read_first_line: bool
) -> tuple[int, bytes]:
    """Run ``modellab ARGUMENTS`` into a one-page pipe whose reader closes early."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, 4096)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELLAB_")}
    env.update(HOME=lab["HOME"], MODELLAB_HOME=lab["MODELLAB_HOME"], COLUMNS="120")
    process = subprocess.Popen(
        [sys.executable, "-m", "modellab", *arguments],
        stdout=write_end,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        if read_first_line:
            assert reader.readline()  # something was printed: the reader saw a line
    # The reader is gone; the command is still writing, or about to.
    _out, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("read_first_line", [True, False], ids=["head -1", "closed at once"])
@pytest.mark.parametrize(
    "name",
    [
        "sessions list",
        "sessions show",
        "sessions show --json",
        "capture --list",
        "export",
        "redact review --list",
        "redact scan",
        "worksets list",
        "eval runs",
        "promote --history",
    ],
)
def test_a_reader_that_closes_early_ends_the_command_quietly(
    lab: dict[str, str], name: str, read_first_line: bool
) -> None:
    arguments = _commands(lab["ROOT"])[name]
    if name == "export":  # a fresh folder each time
        arguments[-1] += "-" + ("head" if read_first_line else "closed")
    code, err = _run_into_closing_reader(lab, arguments, read_first_line=read_first_line)
    assert (code, err.decode(errors="replace")) == (0, "")


def test_the_pipe_is_smaller_than_the_listings(lab: dict[str, str]) -> None:
    """The test above means something: these listings outgrow the one-page pipe."""
    env = {**os.environ, "HOME": lab["HOME"], "MODELLAB_HOME": lab["MODELLAB_HOME"]}
    root = lab["ROOT"]
    for arguments in (
        ["sessions", "list"],
        ["capture", "--list"],
        ["sessions", "show", "019e0007", "--full"],
        ["redact", "scan", os.path.join(root, "tokens")],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "modellab", *arguments], capture_output=True, env=env
        ).stdout
        assert len(out) > 4096, arguments


def test_a_closed_pipe_in_process_returns_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``main`` itself (the tests' entry point) turns a closed pipe into a quiet 0."""
    write_session(tmp_path / "sessions", saved_session(session_id="only-one"))
    with _quiet():
        assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0

    class ClosedPipe:
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise OSError("no file descriptor")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["sessions", "list"]) == 0
