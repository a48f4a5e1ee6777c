"""``modellab.workset``, the stable API for worksets: exactly these names, each importable
and documented, cheap to import; and no workset reaches past it into the core."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import modellab.workset as facade
from modellab.store import Selection

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKSETS = REPO_ROOT / "worksets"

#: The stable API, written out: adding or removing a name must change this list on purpose.
STABLE = [
    "EXIT_CODES",
    "Agent",
    "ApprovalRecord",
    "ApprovedExport",
    "BackendDescriptor",
    "CaseToGrade",
    "Catalog",
    "DiskFullError",
    "EvalError",
    "ExportError",
    "FileImport",
    "GateError",
    "GradeAnswer",
    "GradeRequest",
    "GradeResult",
    "GraderDescriptor",
    "InputPath",
    "Label",
    "LabelKind",
    "ModellabError",
    "Outcome",
    "OutputPath",
    "Progress",
    "Provenance",
    "RemoteFinetuneRequest",
    "RemoteFinetuneResult",
    "Selection",
    "ServeRequest",
    "ServeResult",
    "Session",
    "SessionNotFoundError",
    "SessionRow",
    "Settings",
    "Step",
    "StoreError",
    "ToolCallStatus",
    "TrainRequest",
    "TrainResult",
    "Turn",
    "Usage",
    "UsageError",
    "add_json_flag",
    "add_selection_flags",
    "derive_outcome",
    "emit_json",
    "exit_code_for",
    "exit_codes_epilog",
    "from_atif",
    "hookimpl",
    "open_approved",
    "parse_since",
    "selection_from_args",
    "shown",
]


def test_all_is_exactly_the_stable_api():
    assert facade.__all__ == STABLE
    assert sorted(dir(facade)) == sorted(STABLE)


@pytest.mark.parametrize("name", STABLE)
def test_every_name_is_importable_and_documented(name):
    namespace: dict[str, object] = {}
    exec(f"from modellab.workset import {name}", namespace)
    value = namespace[name]
    assert value is not None and value is getattr(facade, name)
    # The facade's docstring is the list of what is stable: every name is on it.
    assert f"``{name}" in (facade.__doc__ or ""), f"{name} is not in the facade's docstring"
    if inspect.isclass(value) or inspect.isfunction(value):
        assert inspect.getdoc(value), f"{name} has no docstring"


def test_a_name_outside_the_api_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = facade.no_such_name  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from modellab.workset import build_plugin_manager", {})


def test_names_are_the_cores_own_objects_not_copies():
    from modellab.cli._exit import EXIT_CODES
    from modellab.gate import open_approved
    from modellab.plugins.hookspecs import hookimpl

    assert facade.EXIT_CODES is EXIT_CODES
    assert facade.open_approved is open_approved
    assert facade.hookimpl is hookimpl


def test_importing_the_facade_loads_nothing_heavy():
    probe = (
        "import sys\n"
        "import modellab.workset\n"
        "from modellab.workset import shown, exit_codes_epilog\n"
        "heavy = {'pydantic', 'pluggy', 'sqlite3', 'modellab.gate', 'modellab.store'}\n"
        "loaded = sorted(heavy & set(sys.modules))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


# -- the command-line kit, as a workset uses it ---------------------------------------------


def _workset_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modellab example")
    group = parser.add_argument_group("selection")
    facade.add_selection_flags(group, ids=True, last=True)
    facade.add_json_flag(parser)
    return parser


def test_selection_flags_become_the_cores_selection():
    args = _workset_parser().parse_args(
        [
            *("--ids", "abc", "--last", "2", "--since", "2026-01-02"),
            *("--source", "codex", "--label", "denied", "--outcome", "failure", "--json"),
        ]
    )
    assert args.json is True
    assert facade.selection_from_args(args) == Selection(
        ids=("abc",),
        last=2,
        since="2026-01-02",
        sources=("codex",),
        labels=("denied",),
        outcomes=("failure",),
    )


@pytest.mark.parametrize("argv", [["--last", "0"], ["--last", "x"], ["--outcome", "great"]])
def test_bad_selection_flags_exit_2_at_parse_time(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _workset_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "flag"), [(["--since", "last tuesday"], "--since"), (["--label", "nope"], "--label")]
)
def test_bad_values_are_usage_errors_with_exit_2(argv, flag):
    args = _workset_parser().parse_args(argv)
    with pytest.raises(facade.UsageError, match=flag) as error:
        facade.selection_from_args(args)
    assert facade.exit_code_for(error.value) == 2
    assert error.value.hint


def test_the_epilog_lists_each_code_once():
    epilog = facade.exit_codes_epilog({0: "success", 3: "nothing selected"})
    assert epilog.splitlines() == ["exit codes:", "  0    success", "  3    nothing selected"]


def test_emit_json_escapes_what_a_terminal_would_obey(capsys):
    facade.emit_json({"title": "a\u202eb\x9bc"})
    out = capsys.readouterr().out
    assert "\u202e" not in out and "\x9b" not in out
    assert json.loads(out) == {"title": "a\u202eb\x9bc"}


# -- worksets use the facade and nothing else of modellab -----------------------------------

#: Besides the facade, a workset's own tests (``worksets/<name>/tests``) may use the kit.
TEST_KIT = "modellab.testing"


def _offences(path: Path, root: Path = WORKSETS) -> list[str]:
    """``file:line: name`` for every import in ``path`` (a file under ``root``) of a
    ``modellab`` module or name other than the facade's public names."""
    in_tests = "tests" in path.relative_to(root).parts
    allowed = {"modellab.workset", *((TEST_KIT,) if in_tests else ())}
    offences: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        bad: list[str] = []
        if isinstance(node, ast.Import):
            # ``import modellab.workset``: the facade itself, never a module beside or below it.
            names = [alias.name for alias in node.names]
            bad = [n for n in names if n.split(".")[0] == "modellab" and n not in allowed]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module == "modellab":  # ``from modellab import workset`` is the facade too
                bad = [
                    f"modellab.{a.name}" for a in node.names if f"modellab.{a.name}" not in allowed
                ]
            elif module.split(".")[0] == "modellab":
                names = [f"{module}.{a.name}" for a in node.names]
                # ``from modellab.workset import X``: X public; any other module: refused.
                bad = (
                    names
                    if module not in allowed
                    else [
                        n for n, a in zip(names, node.names, strict=True) if a.name.startswith("_")
                    ]
                )
        offences += [f"{path.relative_to(root)}:{node.lineno}: {name}" for name in bad]
    return offences


def test_no_workset_imports_past_the_facade():
    files = sorted(WORKSETS.rglob("*.py"))
    assert any(f.parent.name == "modellab_observability" for f in files), "no workset found"
    offences = [offence for path in files for offence in _offences(path)]
    assert offences == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("from modellab.workset import shown\n", False),
        ("import modellab.workset\n", False),
        ("from modellab.workset import _HOMES\n", True),
        ("from modellab._internal.term import shown\n", True),
        ("from modellab.store import Catalog\n", True),
        ("import modellab.traces\n", True),
        ("import modellab\n", True),
        ("from modellab import workset\n", False),
        ("from modellab import store\n", True),
        ("from modellab.workset._x import y\n", True),
        ("def f():\n    from modellab.gate import open_approved\n", True),
        ("from modellab.testing import fixtures\n", True),  # not in a workset's src
    ],
)
def test_the_import_check_catches_each_form(tmp_path, source, bad):
    module = tmp_path / "example" / "src" / "modellab_example" / "cli.py"
    module.parent.mkdir(parents=True)
    module.write_text(source, encoding="utf-8")
    assert bool(_offences(module, tmp_path)) is bad


def test_a_worksets_own_tests_may_use_the_testing_kit(tmp_path):
    test = tmp_path / "example" / "tests" / "test_cli.py"
    test.parent.mkdir(parents=True)
    test.write_text("from modellab.testing import x\nimport modellab.store\n", encoding="utf-8")
    assert _offences(test, tmp_path) == ["example/tests/test_cli.py:2: modellab.store"]


def test_the_docs_example_of_the_stable_api_runs():
    """``docs/worksets.md``'s "Stable API" example parses like the core's commands."""
    text = (REPO_ROOT / "docs" / "worksets.md").read_text(encoding="utf-8")
    section = text.split("### Stable API (`modellab.workset`)", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/worksets.md", "exec"), namespace)
    parser = namespace["parser"]
    assert isinstance(parser, argparse.ArgumentParser)
    args = parser.parse_args(["--last", "3", "--json"])
    assert args.last == 3 and args.json is True
    assert "exit codes:" in parser.format_help()
    # Every name the section's table lists is in the facade, and the other way round.
    listed = {n for n in STABLE if f"`{n}`" in section or f"`{n}(" in section}
    assert listed == set(STABLE)
