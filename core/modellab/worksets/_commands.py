"""The command index: which top-level commands enabled worksets add, for ``--help``.

``modellab --help`` must list workset commands without importing workset code, opening the
catalog or parsing manifests, so installs write this small index (one tab-separated line per
command: name, workset, summary) whenever the set of active worksets changes. This module
imports only ``os``: it runs on every start.
"""

from __future__ import annotations

import os

__all__ = ["INDEX_NAME", "lab_home", "read_command_index", "write_command_index"]

INDEX_NAME = "commands.tsv"


def lab_home(env: os._Environ[str] | dict[str, str] | None = None) -> str:
    """``$MODELLAB_HOME`` resolved as :class:`modellab.settings.Settings` does (a test checks)."""
    env = os.environ if env is None else env
    user = env.get("HOME") or env.get("USERPROFILE") or os.path.expanduser("~")
    value = env.get("MODELLAB_HOME")
    if not value:
        return os.path.join(user, ".modellab")
    if value.startswith("~"):
        return os.path.join(user, value[1:].lstrip("/\\"))
    return value


def read_command_index(worksets_dir: str) -> dict[str, tuple[str, str]]:
    """{command: (workset, summary)}; empty when there is no index or it is unreadable."""
    try:
        with open(os.path.join(worksets_dir, INDEX_NAME), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    index: dict[str, tuple[str, str]] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3 and parts[0]:
            index[parts[0]] = (parts[1], parts[2])
    return index


def write_command_index(worksets_dir: str, commands: dict[str, tuple[str, str]]) -> None:
    """Replace the index atomically."""
    os.makedirs(worksets_dir, exist_ok=True)
    path = os.path.join(worksets_dir, INDEX_NAME)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        for name in sorted(commands):
            workset, summary = commands[name]
            handle.write(f"{name}\t{workset}\t{' '.join(summary.split())}\n")
    os.replace(temporary, path)
