"""Synthetic workset source folders: a real pyproject, manifest and plugin module."""

from __future__ import annotations

from pathlib import Path

#: The manifest ``make_workset`` writes; ``{name}``, ``{version}``, ``{isolation}`` and
#: ``{command}`` are filled in, and an empty ``python = []`` becomes the dependencies.
MANIFEST = """\
[workset]
name = "{name}"
version = "{version}"
summary = "A test workset"
license = "Apache-2.0"
publisher = "Model Lab tests"
[privacy]
telemetry = "off"
data_leaves_machine = []
network_egress = []
[requirements]
python = []
gpu = "none"
isolation = "{isolation}"
[hooks]
implements = ["modellab_run_command"]
[[commands]]
name = "{command}"
summary = "say hello from {name}"
"""

#: The plugin module ``make_workset`` writes: its command prints a greeting and its argv.
PLUGIN = """\
from modellab.workset import hookimpl

{preamble}


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        if command != "{command}":
            return None
        print("hello from {name} {version}", *argv)
        return 0


plugin = _Plugin()
"""


def make_workset(
    root: Path,
    name: str = "hello",
    version: str = "0.1.0",
    *,
    isolation: str = "shared",
    dependencies: tuple[str, ...] = ("modellab>=0.1",),
    command: str | None = None,
    preamble: str = "",
    manifest: str | None = None,
) -> Path:
    """Write ``root/<name>`` as a workset source folder and return it.

    The workset implements one command (``command``, default ``name``) that prints
    ``hello from NAME VERSION`` followed by its arguments. ``preamble`` is put at the top
    of its ``plugin.py``; ``manifest`` replaces the whole manifest text.
    """
    package = f"modellab_{name.replace('-', '_')}"
    source = root / name
    (source / "src" / package).mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (source / "pyproject.toml").write_text(
        f'[project]\nname = "modellab-{name}"\nversion = "{version}"\n'
        f'description = "test workset"\nlicense = "Apache-2.0"\n'
        f'requires-python = ">=3.11"\ndependencies = [{deps}]\n'
        f'[project.entry-points."modellab.worksets"]\n{name} = "{package}.plugin:plugin"\n'
    )
    command = command or name
    text = manifest or MANIFEST.format(
        name=name, version=version, isolation=isolation, command=command
    )
    # requirements.python must equal the wheel's Requires-Dist: an empty list in the manifest
    # is filled with ``dependencies`` (a test that wants them to differ writes its own).
    python = ", ".join(f'"{d}"' for d in dependencies)
    text = text.replace("\npython = []\n", f"\npython = [{python}]\n")
    (source / "src" / package / "workset.toml").write_text(text)
    (source / "src" / package / "__init__.py").write_text("")
    (source / "src" / package / "plugin.py").write_text(
        PLUGIN.format(name=name, version=version, command=command, preamble=preamble)
    )
    return source
