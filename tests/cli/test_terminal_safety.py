"""Text from outside never reaches the terminal raw: every command shows it escaped.

Sessions, file names, folder names and workset names below carry what a hostile file could:
an OSC 52 clipboard write, a screen clear, colours, a carriage return that overwrites the
line, a one-character C1 CSI and a bidirectional override. Each command runs as a real
process on a pseudo-terminal (``pty``); what reaches the terminal holds none of them raw,
and shows them visibly escaped (``\\x1b``, ``\\x0d``, ``\\u202e``) instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from factories import assistant, result, saved_session, user, write_session
from modellab._internal.term import render_table, shown
from modellab.cli import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals"),
]

OSC52 = "\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07"
CLEAR = "\x1b[2J\x1b[H"
COLOUR = "\x1b[31mred\x1b[0m"
OVERWRITE = "\rOVERWRITTEN"
C1_CSI = "\x9b2J"
BIDI = "\u202etxt.exe\u202c"
HOSTILE = f"{OSC52}{CLEAR}{COLOUR}{OVERWRITE}{C1_CSI}{BIDI}"
#: Nothing of these may reach the terminal raw (CR only as the tty's own CR LF).
_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")

SESSION_ID = "5afe0001-0000-0000-0000-000000000001"


def _hostile_session() -> dict[str, object]:
    messages = [
        user(f"Please fix it {HOSTILE}"),
        assistant(f"Looking {HOSTILE}", ("c1", "bash", {"command": f"ls {CLEAR}"})),
        result("c1", f"src/app.py {HOSTILE}\nsrc/other.py"),
        assistant("", ("c2", f"bash{CLEAR}", {"command": "pytest -q"})),
        result("c2", f"4 passed {OVERWRITE}"),
        assistant(f"Done {HOSTILE}"),
    ]
    doc = saved_session(
        messages, session_id=SESSION_ID, title=f"Fix {CLEAR}the bug{OVERWRITE}{BIDI}"
    )
    doc["metadata"]["model"] = f"deepseek{COLOUR}"  # type: ignore[index]
    return doc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Hostile sessions imported, captured, exported (to a folder with an ESC in its name),
    reviewed and approved; a suite built from it and run."""
    root = tmp_path_factory.mktemp("lab")
    home = root / "home"
    home.mkdir()
    env = {"HOME": str(home), "MODELLAB_HOME": str(home / ".modellab")}
    export = root / f"export{CLEAR}"
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith(("MODELLAB_", "CODEWHALE_", "DEEPSEEK_")):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        write_session(root / "sessions", _hostile_session())
        write_session(root / "sessions", saved_session(session_id="5afe0002-plain"))
        (root / "tokens").mkdir()
        (root / "tokens" / f"app{CLEAR}{BIDI}.env").write_text(f"GITHUB_TOKEN=ghp_{'Zq3' * 12}\n")
        with _quiet():
            assert main(["sessions", "import", str(root / "sessions")]) == 0
            assert main(["capture", "--last", "2"]) == 0
            assert main(["export", "--out", str(export)]) == 0
            assert main(["redact", "review", str(export), "--accept-all"]) == 0
            assert main(["redact", "approve", str(export)]) == 0
            assert main(["eval", "build", str(export), "--out", str(root / "suite")]) == 0
            assert main(["eval", "run", str(root / "suite"), "--model", "recorded"]) == 0
    yield {**env, "ROOT": str(root), "EXPORT": str(export)}


def _on_a_terminal(lab: dict[str, str], arguments: list[str]) -> tuple[int, str, str]:
    """Run ``modellab ARGUMENTS`` with stdout on a pseudo-terminal: (code, terminal, stderr)."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELLAB_")}
    env.update(HOME=lab["HOME"], MODELLAB_HOME=lab["MODELLAB_HOME"], COLUMNS="120")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "modellab", *arguments],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.stderr is not None
    err = process.stderr.read()
    process.stderr.close()
    code = process.wait(timeout=120)
    # The terminal writes each line feed as CR LF (ONLCR): those CRs are its own.
    terminal = b"".join(chunks).replace(b"\r\n", b"\n").decode("utf-8", "replace")
    return code, terminal, err.decode("utf-8", "replace")


def _commands(lab: dict[str, str]) -> dict[str, tuple[list[str], int, list[str]]]:
    """name: (arguments, exit code, escaped text the terminal must show)."""
    root, export = lab["ROOT"], lab["EXPORT"]
    return {
        "sessions list": (["sessions", "list"], 0, ["\\x1b[2J"]),
        "sessions show": (
            ["sessions", "show", SESSION_ID, "--full"],
            0,
            ["\\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\\x07", "\\x0dOVERWRITTEN", "\\x9b2J", "\\u202e"],
        ),
        "sessions show --json": (["sessions", "show", SESSION_ID, "--json"], 0, ["\\u202e"]),
        "capture --list": (["capture", "--list"], 0, ["\\x1b[2J"]),
        "export": (["export", "--out", os.path.join(root, f"again{CLEAR}")], 0, ["again\\x1b"]),
        "redact review --list": (["redact", "review", export, "--list"], 0, ["export\\x1b[2J"]),
        "redact scan": (["redact", "scan", os.path.join(root, "tokens")], 8, ["app\\x1b[2J"]),
        "eval build": (
            ["eval", "build", export, "--out", os.path.join(root, f"suite{OVERWRITE}")],
            0,
            ["suite\\x0dOVERWRITTEN"],
        ),
        "eval runs": (["eval", "runs"], 0, []),
        "dataset build": (
            ["dataset", "build", export, "--out", os.path.join(root, f"data{BIDI}")],
            0,
            ["data\\u202e"],
        ),
        "worksets list": (["worksets", "list"], 0, []),
        "promote --history": (["promote", "--history"], 0, []),
    }


_NAMES = [
    "sessions list",
    "sessions show",
    "sessions show --json",
    "capture --list",
    "export",
    "redact review --list",
    "redact scan",
    "eval build",
    "eval runs",
    "dataset build",
    "worksets list",
    "promote --history",
]


@pytest.mark.parametrize("name", _NAMES)
def test_outside_text_reaches_the_terminal_escaped(lab: dict[str, str], name: str) -> None:
    arguments, expected_code, visible = _commands(lab)[name]
    code, terminal, err = _on_a_terminal(lab, arguments)
    assert code == expected_code, err
    for stream in (terminal, err):
        raw = sorted({hex(ord(c)) for c in _RAW.findall(stream) if c not in "\n\t"})
        assert not raw, f"raw control characters reached the terminal: {raw}"
    for text in visible:
        assert text in terminal


@pytest.mark.parametrize(
    "arguments",
    [
        ["sessions", "show", f"nope{OSC52}"],
        ["worksets", "info", f"evil{CLEAR}"],
        ["eval", "build", f"missing{OVERWRITE}", "--out", "x"],
    ],
    ids=["unknown session", "unknown workset", "missing export"],
)
def test_error_messages_quoting_outside_text_are_escaped(
    lab: dict[str, str], arguments: list[str]
) -> None:
    code, terminal, err = _on_a_terminal(lab, arguments)
    assert code != 0 and "error" in err
    for stream in (terminal, err):
        assert not [c for c in _RAW.findall(stream) if c not in "\n\t"]


def test_shown_escapes_controls_and_keeps_what_is_readable() -> None:
    assert shown(HOSTILE) == (
        "\\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\\x07\\x1b[2J\\x1b[H\\x1b[31mred\\x1b[0m"
        "\\x0dOVERWRITTEN\\x9b2J\\u202etxt.exe\\u202c"
    )
    assert shown("a\nb\tc") == "a\\x0ab\\x09c"  # one-line fields cannot fake a line
    assert shown("a\nb\tc\x7f\u2066", lines=True) == "a\nb\tc\\x7f\\u2066"
    assert (
        shown("caf\u00e9 \u4e2d\u6587 \U0001f600 \u00a0")
        == "caf\u00e9 \u4e2d\u6587 \U0001f600 \u00a0"
    )
    assert shown(shown(HOSTILE)) == shown(HOSTILE)  # idempotent
    assert shown(os.fsdecode(b"bad\xffname")) == "bad\\xffname"  # an undecodable byte
    assert shown(None) == ""


def test_tables_escape_their_cells() -> None:
    table = render_table(["title"], [[f"one\ntwo{CLEAR}"]])
    assert table.splitlines()[2] == "one two\\x1b[2J\\x1b[H"


def test_json_carries_terminal_controls_as_json_escapes(lab: dict[str, str]) -> None:
    """``--json`` output parses to the same text, with no raw C1 or bidi character in it."""
    import json

    _code, terminal, _err = _on_a_terminal(lab, ["sessions", "show", SESSION_ID, "--json"])
    trajectory = json.loads(terminal)
    texts = json.dumps(trajectory, ensure_ascii=False)
    assert "\x9b" in texts and "\u202e" in texts  # the data is intact, only shown escaped
