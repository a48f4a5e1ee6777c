"""A ``venv`` workset's own dependencies: what uv installs beside it, and how it is held.

A ``venv`` workset brings its stack (torch, transformers, ...) into an environment of its
own, installed on demand (the design: heavy dependencies never enter the core). Two rules:

* **The core's packages stay the core's.** The workset's environment is layered over the
  core's (its ``_modellab_core.pth``), and Model Lab's own code runs in the child too, so a
  package both need must be the version the core runs: every distribution of the core's
  environment is a uv *constraint* (``name==version``). The workset gets its own copy of
  such a package only at that version; a workset that cannot accept it fails to install.
* **uv decides where packages come from**, by the user's own uv settings (``UV_INDEX_URL``,
  ``UV_FIND_LINKS``, ``UV_NO_INDEX``, ``uv.toml``): the same index their other installs
  use. The consent screen says that the dependencies come from there; the workset's own
  code and its manifest still come only from the signed wheel. What was installed is
  recorded file by file with the workset (``_files``) and checked at every load.

``modellab`` itself is never installed into the workset's environment: the core provides it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

__all__ = ["core_constraints", "dependency_lines", "install_dependencies"]

#: The core's own distribution, which a workset may require but never gets a copy of.
_CORE = "modellab"
#: The start of a requirement: its distribution name (PEP 508).
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_lines(requires: list[str]) -> list[str]:
    """The ``Requires-Dist`` lines uv must install: every one but ``modellab``'s, as written
    (uv evaluates their markers; ``extra == ...`` ones are left out, as no extra is asked)."""
    lines = []
    for line in requires:
        found = _NAME.match(line)
        if found is None or _normalised(found.group(1)) == _CORE:
            continue
        if "extra" in line.partition(";")[2]:
            continue
        lines.append(line.strip())
    return lines


def core_constraints() -> list[str]:
    """``name==version`` for every distribution of the core's environment but the core.

    Workspace members installed for development (``modellab-workspace``) are pinned like
    any other: a constraint on a package the workset does not need changes nothing.
    """
    from importlib import metadata

    pins: dict[str, str] = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if not name or _normalised(name) == _CORE:
            continue
        pins.setdefault(_normalised(name), f"{_normalised(name)}=={distribution.version}")
    return sorted(pins.values())


def install_dependencies(
    python: Path, staging: Path, requires: list[str], run_uv: Callable[[list[str]], None]
) -> int:
    """Install ``requires`` (less ``modellab``) into the environment of ``python``, held to
    the core's versions; return how many requirements were asked for (0: uv not run).

    Bytecode is compiled by uv, in parallel: the install records every file, ``.pyc``
    included, and a load never writes one.
    """
    lines = dependency_lines(requires)
    if not lines:
        return 0
    wanted = staging / "dependencies.txt"
    pinned = staging / "core-constraints.txt"
    wanted.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pinned.write_text("\n".join(core_constraints()) + "\n", encoding="utf-8")
    try:
        run_uv(
            [
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                "-r",
                str(wanted),
                "--constraint",
                str(pinned),
                # Copies: an edited file must never change uv's cached copy (see _install).
                "--link-mode",
                "copy",
                "--compile-bytecode",
            ]
        )
    finally:
        wanted.unlink(missing_ok=True)
        pinned.unlink(missing_ok=True)
    return len(lines)
