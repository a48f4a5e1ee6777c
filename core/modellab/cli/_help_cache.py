"""``modellab --help`` from a saved copy, without building the grammar.

The top-level help is the same text every time until one of its inputs changes: the
command-line code, the enabled worksets' command index, the terminal width and
``--no-worksets``. Building it needs ``argparse``, our grammar and the workset index
(about half of ``--help``'s start-up with every workset installed); reading it back needs
one small file. The first ``--help`` saves its text under ``$MODELLAB_HOME/cache/``, headed
by a line that lists those inputs; a later one prints it only when that line is the same.

The inputs are the size and mtime of every module of ``modellab.cli`` (an upgrade or an
edit changes them), of the workset command index (every install, enable, disable and
removal rewrites it), the width and the mode. A copy that cannot be read or written is no
error: the help is then built as usual. A copy is printed only if it is plain text.

Imports only ``os`` and ``sys``: it runs before anything else on ``--help``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["load", "save", "terminal_width"]

#: Bumped when what a copy holds changes meaning.
_FORMAT = "modellab-help 1"


def terminal_width() -> int:
    """The width help is wrapped to: ``$COLUMNS``, else the terminal's (at most 120), else 100."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return max(int(columns) - 2, 40)
    try:
        return max(min(os.get_terminal_size(sys.stdout.fileno()).columns, 120) - 2, 40)
    except (OSError, ValueError):
        return 98


def _inputs(width: int, no_worksets: bool, home: str) -> str:
    """One line naming everything the top-level help depends on."""
    parts = [_FORMAT, f"width={width}", "no-worksets" if no_worksets else "worksets"]
    with os.scandir(os.path.dirname(__file__)) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".py"):
                stat = entry.stat()
                parts.append(f"{entry.name}={stat.st_size}/{stat.st_mtime_ns}")
    if not no_worksets:
        from modellab.worksets._commands import INDEX_NAME

        try:
            stat = os.stat(os.path.join(home, "worksets", INDEX_NAME))
            parts.append(f"index={stat.st_size}/{stat.st_mtime_ns}")
        except OSError:
            parts.append("index=none")
    return " ".join(parts)


def _where(width: int, no_worksets: bool) -> tuple[str, str]:
    """(the copy's path, the inputs line it must start with)."""
    from modellab.worksets._commands import lab_home

    home = lab_home()
    mode = "bare" if no_worksets else "all"
    path = os.path.join(home, "cache", f"help-{width}-{mode}.txt")
    return path, _inputs(width, no_worksets, home)


def load(width: int, no_worksets: bool) -> str | None:
    """The saved help for these inputs, or ``None``."""
    try:
        path, inputs = _where(width, no_worksets)
        with open(path, encoding="utf-8") as handle:
            head = handle.readline()
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    if head.rstrip("\n") != inputs:
        return None
    # Printed raw: only plain text (anything else is rebuilt, and replaced when saved).
    return text if text and text.replace("\n", "").isprintable() else None


def save(text: str, width: int, no_worksets: bool) -> None:
    """Keep ``text`` for the next ``--help`` with the same inputs (best effort, atomic)."""
    try:
        path, inputs = _where(width, no_worksets)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(inputs + "\n" + text)
        os.replace(temporary, path)
    except OSError:
        pass
