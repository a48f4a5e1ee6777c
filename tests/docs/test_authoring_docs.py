"""Every fenced code block in the workset authoring docs runs, in order, in a temp folder.

The docs under test are ``docs/worksets/authoring.md`` and ``docs/worksets/registry.md``.
Each page runs in its own empty working folder with its own ``MODELLAB_HOME``, its blocks
in the order they appear. A block's info string says what happens to it:

* ```` ```sh ````: run by ``bash -euo pipefail`` in the working folder, with the venv's
  ``bin`` first on ``PATH`` (so ``modellab`` and ``python`` are this checkout's). A
  non-zero exit fails the test, naming the page, the block's line and its output.
* ```` ```python file=PATH ```` and ```` ```toml file=PATH ````: written to ``PATH``
  (relative to the working folder; the folder is created), replacing what is there.
* ```` ```python ```` without ``file=``: run by the venv's ``python`` in the working folder
  (it may ``assert``); a non-zero exit fails the test.
* ```` ```text ````: shown only, never run (command outlines with placeholders, output).

Any other info string fails the test, so a block cannot quietly go untested. A page is
one build, one registry and one install: it runs in seconds, offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs" / "worksets"
#: The venv's bin folder (where ``modellab`` and this ``python`` live).
VENV_BIN = Path(sys.executable).parent

_FENCE = re.compile(r"^```(?P<info>[^`]*)$")
_FILE = re.compile(r"^file=(?P<path>[A-Za-z0-9_./-]+)$")
#: Seconds a single block may run before the test fails (the whole page runs in seconds).
_BLOCK_TIMEOUT = 120


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its info string and its text."""

    line: int
    info: str
    text: str

    @property
    def kind(self) -> str:
        """The language word of the info string (``sh``, ``python``, ``toml``, ``text``)."""
        return self.info.split(" ", 1)[0] if self.info else ""

    @property
    def file(self) -> str | None:
        """The ``file=PATH`` the block is written to, if any."""
        for word in self.info.split()[1:]:
            match = _FILE.fullmatch(word)
            if match:
                return match["path"]
        return None


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order (fences must close)."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    start: int | None = None
    info = ""
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        if start is None:
            match = _FENCE.match(line)
            if match:
                start, info, body = number, match["info"].strip(), []
        elif line == "```":
            found.append(Block(start, info, "\n".join(body) + "\n"))
            start = None
        else:
            body.append(line)
    assert start is None, f"{page.name}:{start}: a fenced block never closes"
    return found


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MODELLAB_HOME"] = str(workdir / "modellab-home")
    env["HOME"] = str(workdir / "user-home")
    (workdir / "user-home").mkdir(exist_ok=True)
    return env


def _fail(page: Path, block: Block, result: subprocess.CompletedProcess[str]) -> None:
    pytest.fail(
        f"{page.name}:{block.line}: ```{block.info} block exited {result.returncode}\n"
        f"--- block ---\n{block.text}--- stdout ---\n{result.stdout[-4000:]}"
        f"--- stderr ---\n{result.stderr[-4000:]}"
    )


def run_page(page: Path, workdir: Path) -> list[Block]:
    """Run every block of ``page`` in ``workdir``; returns the blocks that ran."""
    env = _env(workdir)
    ran: list[Block] = []
    for block in blocks(page):
        if block.kind == "text":
            continue
        if block.kind in ("python", "toml") and block.file is not None:
            target = workdir / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        elif block.kind == "sh":
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.text],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=_BLOCK_TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                _fail(page, block, result)
        elif block.kind == "python":
            result = subprocess.run(
                [sys.executable, "-c", block.text],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=_BLOCK_TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                _fail(page, block, result)
        else:
            pytest.fail(
                f"{page.name}:{block.line}: ```{block.info}: use sh, python [file=PATH], "
                "toml file=PATH or text"
            )
        ran.append(block)
    return ran


def test_authoring_tutorial_builds_publishes_installs_and_runs(tmp_path: Path) -> None:
    """The tutorial's own blocks make a workset that passes check, is published, installed
    with consent and runs (the page's last blocks assert each step)."""
    ran = run_page(DOCS / "authoring.md", tmp_path)
    home = tmp_path / "modellab-home"
    # The install really happened through the registry, into this page's home.
    assert (home / "worksets" / "hello").is_dir()
    assert (tmp_path / "hello-output.txt").read_text(encoding="utf-8").startswith("hello")
    assert sum(block.kind == "sh" for block in ran) >= 5


def test_every_hook_has_a_running_example() -> None:
    """Each hook the core calls is implemented in at least one run (not ``text``) block."""
    from modellab.plugins._table import hook_names

    run = [b.text for b in blocks(DOCS / "authoring.md") if b.kind == "python" and not b.file]
    missing = [hook for hook in sorted(hook_names()) if not any(f"def {hook}(" in t for t in run)]
    assert missing == []


def test_registry_page_runs(tmp_path: Path) -> None:
    """Every block of the registry page runs: keys, init, add, yank, resign, verify."""
    ran = run_page(DOCS / "registry.md", tmp_path)
    assert any("registry verify" in block.text for block in ran)
    assert (tmp_path / "registry" / "metadata" / "1.root.json").is_file()


def test_unknown_info_string_is_refused(tmp_path: Path) -> None:
    """A block the runner does not know fails instead of going untested."""
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```bash\necho hi\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"page.md:3: ```bash"):
        run_page(page, tmp_path)


def test_failing_sh_block_fails_naming_its_line(tmp_path: Path) -> None:
    """A shell block that exits non-zero fails the page at that block."""
    page = tmp_path / "page.md"
    page.write_text("```text\nnot run\n```\n\n```sh\ntrue\nfalse\n```\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"page.md:5: ```sh block exited 1"):
        run_page(page, tmp_path)
