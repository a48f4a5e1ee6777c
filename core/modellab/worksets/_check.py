"""``modellab worksets check PATH``: lint a workset's source folder, one line per problem.

Everything here reads files; no code from the folder is imported or run. The folder is
whatever its author (or a download) put there, and ``check`` is the first thing run on it,
before any consent: the hooks it implements are therefore read from the plugin module's
syntax tree (functions decorated ``@hookimpl``), not by importing it. ``worksets dev``
then loads it for real, in the confined child, where the core's own check of declared
against implemented hooks refuses any difference a syntax tree could miss.

Checked: ``pyproject.toml`` (name, version, the one entry point), the manifest (every
field and string, with the validator install uses, and every error, not just the first),
the version in one place (``pyproject.toml``; the manifest must repeat it exactly and no
module may spell it again), hooks declared against implemented, commands against the
core's and installed worksets', ``requirements.python`` against the wheel's
``Requires-Dist``, and isolation against heavy imports and dependencies.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.errors import InstallError, ManifestError, UsageError

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.worksets._manifest import WorksetManifest

__all__ = ["HEAVY_MODULES", "Problem", "check_source"]

#: Top-level modules (and their distributions, normalised) too heavy to load into Model
#: Lab's own environment: a workset that imports or depends on one must be ``venv``.
HEAVY_MODULES = frozenset(
    {
        "accelerate",
        "bitsandbytes",
        "deepspeed",
        "flash_attn",
        "jax",
        "jaxlib",
        "megatron",
        "nemo",
        "nemo_toolkit",
        "peft",
        "tensorflow",
        "torch",
        "torchaudio",
        "torchvision",
        "transformers",
        "triton",
        "trl",
        "unsloth",
        "vllm",
        "xformers",
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: the file, the field (or line) in it, and what is wrong."""

    path: str
    field: str
    message: str

    def line(self) -> str:
        """``PATH:FIELD: problem``, as ``worksets check`` prints it."""
        return f"{self.path}:{self.field}: {self.message}"

    def to_json(self) -> dict[str, str]:
        """The problem as plain data for ``--json``."""
        return {"path": self.path, "field": self.field, "message": self.message}


class _Findings:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Path | str, field: str, message: str) -> None:
        self.problems.append(Problem(str(path), field, message))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _read_pyproject(source: Path, found: _Findings) -> dict[str, Any] | None:
    path = source / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        found.add(path, "(file)", "missing; a workset is a Python project with a pyproject.toml")
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        found.add(path, "(file)", f"cannot be read as TOML ({exc})")
        return None
    project = data.get("project")
    if not isinstance(project, dict):
        found.add(path, "project", "missing [project] table")
        return None
    for key in ("name", "version"):
        if not isinstance(project.get(key), str) or not project.get(key):
            found.add(path, f"project.{key}", "missing or not a string")
    if "version" in project.get("dynamic", []):
        found.add(path, "project.dynamic", "the version must be written here, not dynamic")
    return project


def _entry_point(project: dict[str, Any], path: Path, found: _Findings) -> tuple[str, str] | None:
    """(entry-point name, ``module:attribute``) of the one ``modellab.worksets`` entry."""
    from modellab.worksets._discovery import ENTRY_POINT_GROUP

    groups = project.get("entry-points")
    entries = groups.get(ENTRY_POINT_GROUP) if isinstance(groups, dict) else None
    field = f'project.entry-points."{ENTRY_POINT_GROUP}"'
    if not isinstance(entries, dict) or len(entries) != 1:
        found.add(path, field, "needs exactly one entry point (NAME = 'package.plugin:plugin')")
        return None
    name, target = next(iter(entries.items()))
    if not isinstance(target, str) or not re.fullmatch(r"[\w.]+:[\w]+", target):
        found.add(path, f"{field}.{name}", f"{target!r} is not 'module:attribute'")
        return None
    return str(name), target


def _manifest_file(source: Path, found: _Findings) -> Path | None:
    from modellab.worksets._discovery import MANIFEST_NAME

    root = source / "src" if (source / "src").is_dir() else source
    manifests = sorted(root.glob(f"*/{MANIFEST_NAME}"))
    if len(manifests) != 1:
        found.add(
            root,
            MANIFEST_NAME,
            f"found {len(manifests)}; the package must ship exactly one {MANIFEST_NAME}",
        )
        return None
    return manifests[0]


def _manifest(path: Path, found: _Findings) -> WorksetManifest | None:
    """The validated manifest, or ``None`` after adding every validation error."""
    from pydantic import ValidationError

    from modellab.worksets._manifest import WorksetManifest, _location

    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        found.add(path, "(file)", f"not valid TOML ({exc})")
        return None
    try:
        return WorksetManifest.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            found.add(path, _location(error["loc"]), error["msg"])
        return None


def _module_file(source: Path, module: str) -> Path | None:
    root = source / "src" if (source / "src").is_dir() else source
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parse(path: Path, found: _Findings) -> ast.Module | None:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        found.add(path, "(file)", f"cannot be parsed as Python ({exc})")
        return None


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Name):
        return target.id == "hookimpl"
    return isinstance(target, ast.Attribute) and target.attr == "hookimpl"


def _implemented(tree: ast.Module) -> dict[str, int]:
    """{hook name: line} of every function decorated ``@hookimpl`` in the module."""
    hooks: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _is_hookimpl(d) for d in node.decorator_list
        ):
            hooks.setdefault(node.name, node.lineno)
    return hooks


def _defines(tree: ast.Module, name: str) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return True
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def _check_hooks(
    source: Path,
    target: str,
    manifest: WorksetManifest,
    manifest_path: Path,
    found: _Findings,
) -> None:
    from modellab.plugins._table import hook_names

    module, attribute = target.split(":")
    path = _module_file(source, module)
    if path is None:
        found.add(source / "pyproject.toml", "entry point", f"no module {module} in the folder")
        return
    tree = _parse(path, found)
    if tree is None:
        return
    if not _defines(tree, attribute):
        found.add(path, attribute, f"the entry point names {target}, which {path.name} lacks")
    implemented = _implemented(tree)
    known = hook_names()
    declared = set(manifest.hooks.implements)
    for hook, line in sorted(implemented.items()):
        if hook not in known:
            found.add(path, f"line {line}", f"{hook} is not a Model Lab hook (@hookimpl)")
        elif hook not in declared:
            found.add(
                manifest_path,
                "hooks.implements",
                f"{path.name} implements {hook} (line {line}), which is not declared",
            )
    for hook in sorted(declared - set(implemented)):
        found.add(
            manifest_path,
            "hooks.implements",
            f"declares {hook}, which {path.name} does not implement (@hookimpl)",
        )
    if manifest.commands and "modellab_run_command" not in declared:
        found.add(
            manifest_path,
            "commands",
            "declares commands but not the modellab_run_command hook that runs them",
        )


def _imports(tree: ast.Module) -> dict[str, int]:
    """{top-level module: first line} of every import in the module."""
    names: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.setdefault(alias.name.split(".")[0], node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.setdefault(node.module.split(".")[0], node.lineno)
    return names


def _check_package(
    source: Path, manifest: WorksetManifest | None, manifest_path: Path, found: _Findings
) -> None:
    """Heavy imports in a shared workset; a version spelt again in a module."""
    package = manifest_path.parent
    shared = manifest is not None and manifest.requirements.isolation == "shared"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        tree = _parse(path, found)
        if tree is None:
            continue
        if shared:
            for module, line in sorted(_imports(tree).items()):
                if module in HEAVY_MODULES:
                    found.add(
                        manifest_path,
                        "requirements.isolation",
                        f"shared, but {path.relative_to(source)} imports {module} (line "
                        f"{line}); a workset using {module} must be isolation = 'venv'",
                    )
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                found.add(
                    path,
                    f"line {node.lineno}",
                    "__version__ is written here too; the version lives in pyproject.toml "
                    "only (read it with importlib.metadata.version)",
                )


def _check_dependencies(
    project: dict[str, Any],
    pyproject: Path,
    manifest: WorksetManifest,
    manifest_path: Path,
    found: _Findings,
) -> None:
    from modellab.worksets._install import _check_dependencies as core_allows
    from modellab.worksets._install import check_requires_dist

    dependencies = project.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        found.add(pyproject, "project.dependencies", "must be a list of strings")
        return
    try:
        check_requires_dist(manifest.requirements.python, dependencies, str(manifest_path))
    except ManifestError as exc:
        message = exc.message.removeprefix(f"{manifest_path}: ")
        field, _, rest = message.partition(": ")
        if not rest or " " in field:
            field, rest = "requirements.python", message
        found.add(manifest_path, field, rest)
    if manifest.requirements.isolation != "shared":
        return
    for position, line in enumerate(dependencies):
        name = _normalise(re.split(r"[\s\[<>=!~;@(]", line.strip(), maxsplit=1)[0])
        if name in HEAVY_MODULES:
            found.add(
                pyproject,
                f"project.dependencies[{position}]",
                f"{line!r} is a heavy dependency; a workset needing it must be isolation = 'venv'",
            )
            continue
        try:
            core_allows(manifest.name, [line])
        except InstallError as exc:
            found.add(pyproject, f"project.dependencies[{position}]", exc.message)


def _check_commands(
    manifest: WorksetManifest,
    manifest_path: Path,
    settings: Settings | None,
    found: _Findings,
) -> None:
    from modellab.cli._app import CORE_COMMANDS

    others: dict[str, str] = {}
    if settings is not None and settings.catalog_path.is_file():
        from modellab.store import Catalog
        from modellab.worksets._install import _installed_commands
        from modellab.worksets._state import WorksetState

        with Catalog(settings.catalog_path) as catalog:
            others = _installed_commands(WorksetState(catalog), manifest.name)
    for position, command in enumerate(manifest.commands):
        field = f"commands[{position}].name"
        if command.name in CORE_COMMANDS:
            found.add(manifest_path, field, f"{command.name!r} is one of Model Lab's own commands")
        elif command.name in others:
            found.add(
                manifest_path,
                field,
                f"{command.name!r} is a command of the installed workset {others[command.name]}",
            )


def check_source(source: Path, settings: Settings | None = None) -> list[Problem]:
    """Every problem of the workset source folder ``source`` (empty: it is clean).

    :param settings: where installed worksets are, for command clashes (``None``: only
        the core's commands are checked).
    :raises UsageError: ``source`` is not a folder.
    """
    if not source.is_dir():
        raise UsageError(f"{source}: not a folder (give a workset's source folder)")
    found = _Findings()
    pyproject = source / "pyproject.toml"
    project = _read_pyproject(source, found)
    manifest_path = _manifest_file(source, found)
    manifest = _manifest(manifest_path, found) if manifest_path is not None else None
    entry = _entry_point(project, pyproject, found) if project is not None else None
    if project is not None and manifest is not None and manifest_path is not None:
        version = project.get("version")
        if isinstance(version, str) and version != manifest.version:
            found.add(
                manifest_path,
                "workset.version",
                f"{manifest.version!r}, but pyproject.toml says {version!r} (the one place "
                "the version lives); write the same there",
            )
        if entry is not None and entry[0] != manifest.name:
            found.add(
                pyproject,
                'project.entry-points."modellab.worksets"',
                f"entry point {entry[0]!r}, but the manifest names the workset {manifest.name!r}",
            )
        _check_dependencies(project, pyproject, manifest, manifest_path, found)
    if manifest is not None and manifest_path is not None:
        if entry is not None:
            _check_hooks(source, entry[1], manifest, manifest_path, found)
        _check_commands(manifest, manifest_path, settings, found)
    if manifest_path is not None:
        _check_package(source, manifest, manifest_path, found)
    return found.problems
