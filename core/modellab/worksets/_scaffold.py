"""``modellab worksets new NAME``: write a new workset project that passes ``check``.

The project is the shape every workset has (issue 13): ``pyproject.toml`` (the one place
its version lives, and its entry point), ``README.md``, ``src/modellab_NAME/`` (the
manifest, a small ``plugin.py`` that imports its command lazily, ``cli.py``) and its own
``tests/``, run with ``python -m pytest`` from the project's folder. An existing folder is
never written into.
"""

from __future__ import annotations

import re
from pathlib import Path

from modellab.errors import UsageError

__all__ = ["ISOLATIONS", "package_name", "scaffold"]

ISOLATIONS = ("shared", "venv")
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


_PYPROJECT = """\
[project]
name = "modellab-{name}"
# The one place the version lives: workset.toml repeats it (worksets check compares).
version = "0.1.0"
description = "Model Lab workset {name}: say hello."
readme = "README.md"
requires-python = ">=3.11"
license = "Apache-2.0"
dependencies = ["modellab>=0.1"]

# The core finds worksets through this group and reads the manifest shipped in the package
# without importing it; the plugin is imported only in the workset's own child process.
[project.entry-points."modellab.worksets"]
{name} = "{package}.plugin:plugin"

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

[tool.pytest.ini_options]
pythonpath = ["src"]
testpaths = ["tests"]
"""

_README = """\
# modellab-{name}

A Model Lab workset that adds the command `modellab {name}`.

## Develop

```sh
modellab worksets check .                 # lint: manifest, hooks, commands, dependencies
modellab worksets dev . -- {name} World   # run it from this folder, unsigned, nothing kept
python -m pytest                          # its own tests
```

`worksets dev` runs the workset confined by its manifest's policy, exactly as an installed
one, but unsigned and without consent: it is marked unsafe and nothing of it is kept.

## Publish

Build, sign and add it to a registry with `modellab registry build`, `registry sign` and
`registry add` (see `docs/worksets/authoring.md`). The version lives in `pyproject.toml` only;
`src/{package}/workset.toml` repeats it and `worksets check` fails when they differ.
"""

_MANIFEST = """\
[workset]
name = "{name}"
version = "0.1.0"
summary = "Say hello: a starting point for the {name} workset."
license = "Apache-2.0"
publisher = "Your name"

[privacy]
telemetry = "off"
data_leaves_machine = []
network_egress = []
reads_catalog = false

[requirements]
# Must equal [project] dependencies in pyproject.toml (the wheel's Requires-Dist).
python = ["modellab>=0.1"]
gpu = "none"
isolation = "{isolation}"

[hooks]
implements = ["modellab_run_command"]

[[commands]]
name = "{name}"
summary = "say hello from the {name} workset"
"""

_INIT = '''\
"""The {name} workset for Model Lab.

Its version is read from the installed package's metadata (written once, in
pyproject.toml), never spelt here.
"""
'''

_PLUGIN = '''\
"""The entry point (group ``modellab.worksets``, name ``{name}``).

Importing this module is cheap: the command's code is imported only when Model Lab asks
this workset to run ``{name}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modellab.workset import hookimpl

if TYPE_CHECKING:
    from modellab.workset import Settings

__all__ = ["COMMAND", "Plugin", "plugin"]

#: The command this workset adds (declared in workset.toml too).
COMMAND = "{name}"


class Plugin:
    """Implements ``modellab_run_command`` (declared in workset.toml's hooks.implements)."""

    @hookimpl
    def modellab_run_command(
        self, command: str, argv: list[str], settings: Settings | None
    ) -> int | None:
        """Run ``modellab {name} ARGV...``; ``None`` for any other command."""
        if command != COMMAND:
            return None  # not ours: the next workset is asked
        from {package}.cli import main

        return main(argv)


#: The object the entry point names.
plugin = Plugin()
'''

_CLI = '''\
"""``modellab {name}``: the command's own parser, output and exit codes.

Everything it needs from Model Lab comes from ``modellab.workset``, the stable API.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from modellab.workset import add_json_flag, emit_json, exit_codes_epilog, shown

__all__ = ["EXIT_CODES", "build_parser", "main"]

#: Every exit code this command uses (the same numbers as Model Lab's for the same failure).
EXIT_CODES = {{0: "success", 2: "usage error: bad arguments"}}


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments (Model Lab hands them over unparsed)."""
    parser = argparse.ArgumentParser(
        prog="modellab {name}",
        description="Say hello.",
        epilog=exit_codes_epilog(EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("who", nargs="?", default="world", help="whom to greet")
    add_json_flag(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the command; returns its exit code."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or bad arguments (2)
        return int(exc.code or 0)
    greeting = f"hello, {{args.who}}, from {name}"
    if args.json:
        emit_json({{"greeting": greeting}})
    else:
        print(shown(greeting))  # args.who came from outside: escaped
    return 0
'''

_TEST = '''\
"""Tests of the {name} workset, run from its own folder with ``python -m pytest``."""

from __future__ import annotations

import json

import pytest

from {package}.cli import main
from {package}.plugin import COMMAND, plugin


def test_says_hello(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Ada"]) == 0
    assert capsys.readouterr().out == "hello, Ada, from {name}\\n"


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {{"greeting": "hello, world, from {name}"}}


def test_bad_arguments_exit_2() -> None:
    assert main(["--no-such-flag"]) == 2


def test_plugin_runs_only_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.modellab_run_command(command="other", argv=[], settings=None) is None
    assert plugin.modellab_run_command(command=COMMAND, argv=["x"], settings=None) == 0
    assert "hello, x" in capsys.readouterr().out
'''


def package_name(name: str) -> str:
    """The import package of workset ``name``: ``modellab_`` plus its name, ``-`` as ``_``."""
    return "modellab_" + name.replace("-", "_")


def scaffold(name: str, parent: Path, isolation: str = "shared") -> Path:
    """Write the project ``parent/NAME`` and return its folder.

    :raises UsageError: a name a manifest does not allow or Model Lab's own command, an
        unknown isolation, or a folder that exists already (nothing is written then).
    """
    from modellab.cli._app import CORE_COMMANDS

    if not _NAME.fullmatch(name):
        raise UsageError(
            f"NAME {name!r}: 2 to 41 lower-case letters, digits and '-', starting with a letter"
        )
    if name in CORE_COMMANDS:
        raise UsageError(f"NAME {name!r} is one of Model Lab's own commands; choose another")
    if isolation not in ISOLATIONS:
        raise UsageError(f"--isolation {isolation!r}: use shared or venv")
    if not parent.is_dir():
        raise UsageError(f"--dir {parent}: not a folder")
    target = parent / name
    if target.exists() or target.is_symlink():
        raise UsageError(
            f"{target} exists already; 'worksets new' never writes into an existing folder",
            hint="choose another --dir or NAME",
        )
    package = package_name(name)
    values = {"name": name, "package": package, "isolation": isolation}
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{package}/__init__.py": _INIT,
        f"src/{package}/plugin.py": _PLUGIN,
        f"src/{package}/cli.py": _CLI,
        f"src/{package}/workset.toml": _MANIFEST,
        f"tests/test_{package.removeprefix('modellab_')}.py": _TEST,
    }
    # mkdir without exist_ok: a folder made in between by someone else is not written into.
    target.mkdir()
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return target
