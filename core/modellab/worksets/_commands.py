"""The command index: which top-level commands enabled worksets add, for ``--help``.

``modellab --help`` must list workset commands without importing workset code, opening the
catalog or parsing manifests, so installs write this small index (one tab-separated line per
command: name, workset, summary) whenever the set of active worksets changes. This module
imports only ``os``: it runs on every start.
"""

from __future__ import annotations

import os

__all__ = [
    "INDEX_NAME",
    "drop_workset_commands",
    "lab_home",
    "read_command_index",
    "write_command_index",
]

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
    except (OSError, ValueError):  # ValueError: not UTF-8 (damaged); --help must still work
        return {}
    index: dict[str, tuple[str, str]] = {}
    for line in lines:
        parts = line.split("\t")
        # Names are what a manifest allows (lower-case letters, digits, hyphens); a line
        # that is not (a damaged or hand-edited index) is skipped, never given to argparse.
        if len(parts) == 3 and _plain_name(parts[0]) and _plain_name(parts[1]):
            index[parts[0]] = (parts[1], parts[2])
    return index


def _plain_name(text: str) -> bool:
    return text[:1].isalpha() and text.isascii() and text.replace("-", "a").isalnum()


def write_command_index(worksets_dir: str, commands: dict[str, tuple[str, str]]) -> None:
    """Replace the index atomically."""
    os.makedirs(worksets_dir, exist_ok=True)
    path = os.path.join(worksets_dir, INDEX_NAME)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            for name in sorted(commands):
                workset, summary = commands[name]
                handle.write(f"{name}\t{workset}\t{' '.join(summary.split())}\n")
        os.replace(temporary, path)
    except BaseException:
        # A full disk, say: the old index stays, and no temporary file is left beside it.
        # (No contextlib.suppress: this module imports only os, see above.)
        try:  # noqa: SIM105
            os.unlink(temporary)
        except OSError:
            pass
        raise


def drop_workset_commands(worksets_dir: str, workset: str) -> None:
    """Remove ``workset``'s commands from the index (it was found tampered)."""
    index = read_command_index(worksets_dir)
    kept = {name: entry for name, entry in index.items() if entry[0] != workset}
    if len(kept) != len(index):
        write_command_index(worksets_dir, kept)
