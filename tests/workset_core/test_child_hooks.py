"""Every workset call runs in a child process, as data; hooks are declared, typed and named."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.errors import ManifestError, UsageError
from modellab.evals import collect_graders
from modellab.plugins import build_plugin_manager
from modellab.plugins.hookspecs import ApprovalRecord, TrainRequest, TrainResult, request_paths
from modellab.settings import Settings
from modellab.worksets._backends import call_named
from modellab.worksets._child import ChildTarget, child_env
from modellab.worksets._hooks import WorksetHookError
from modellab.worksets._manifest import load_manifest
from modellab.worksets._sandbox import files_confinement

from .builders import MANIFEST, make_workset

TRAINER = """\
import os
import sys

from modellab.plugins.hookspecs import (
    BackendDescriptor, GraderDescriptor, GradeAnswer, GradeResult, TrainResult, hookimpl,
)


def _train(request):
    print("training noise on stdout must not reach the result")
    request.output_dir.mkdir(parents=True, exist_ok=True)
    (request.output_dir / "adapter.txt").write_text(sys.prefix)
    env = sorted(k for k in os.environ if k.startswith("MODELLAB_"))
    return TrainResult(
        output_dir=request.output_dir,
        metrics={{"pid": float(os.getpid()), "modellab_vars": float(len(env))}},
    )


def _grade(request):
    reason = f"pid {{os.getpid()}}"
    return GradeResult(grades=[
        GradeAnswer(score=1.0 if item.action.get("tool_calls") else 0.0, reason=reason)
        for item in request.items
    ])


class _Plugin:
{methods}


plugin = _Plugin()
"""

METHODS = {
    "modellab_run_command": """\
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        print("ran", command, os.getpid())
        return 0
""",
    "modellab_register_trainers": """\
    @hookimpl
    def modellab_register_trainers(self, register):
        register(BackendDescriptor(name="{trainer}", summary="a test trainer",
                                   accepts=["lora"]), _train)
""",
    "modellab_register_graders": """\
    @hookimpl
    def modellab_register_graders(self, register):
        register(GraderDescriptor(name="calls_something", summary="any call scores 1"), _grade)
""",
}


def _publish(
    publisher,
    name: str,
    *,
    declared: list[str],
    implemented: list[str],
    isolation: str = "shared",
    trainer: str = "tiny",
) -> None:
    manifest = MANIFEST.format(name=name, version="0.1.0", isolation=isolation, command=name)
    manifest = manifest.replace(
        'implements = ["modellab_run_command"]', f"implements = {json.dumps(declared)}"
    )
    source = make_workset(
        publisher.root / "sources" / name, name, isolation=isolation, manifest=manifest
    )
    methods = "".join(METHODS[hook].format(trainer=trainer) for hook in implemented)
    package = source / "src" / f"modellab_{name.replace('-', '_')}"
    (package / "plugin.py").write_text(TRAINER.format(methods=methods))
    publisher.publish(source)


def _install(capsys, name: str) -> None:
    capsys.readouterr()
    assert main(["worksets", "install", name]) == 10  # no consent yet
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", capsys.readouterr().out)
    assert found
    assert main(["worksets", "install", name, "--accept-manifest", found.group(1)]) == 0
    capsys.readouterr()


def _approval(export: Path) -> ApprovalRecord:
    return ApprovalRecord(
        export_dir=export,
        approved_at="2026-12-07T20:00:00Z",
        catalog_id="c",
        files_sha256="0" * 64,
        files={},
    )


def _backends(capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["worksets", "backends", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_venv_trainer_is_listed_and_called_by_name_in_its_venv(
    publisher, capsys, tmp_path: Path, monkeypatch
) -> None:
    hooks = ["modellab_run_command", "modellab_register_trainers"]
    _publish(publisher, "heavy", declared=hooks, implemented=hooks, isolation="venv")
    _install(capsys, "heavy")
    code, listed = _backends(capsys)
    assert code == 0 and listed["problems"] == []
    rows = {(b["kind"], b["name"]): b for b in listed["backends"]}
    assert rows[("trainer", "tiny")]["workset"] == "heavy"
    assert rows[("trainer", "tiny")]["accepts"] == ["lora"]
    assert rows[("importer", "codex")]["workset"] == "(built-in)"
    assert rows[("grader", "decision")]["workset"] == "(built-in)"

    monkeypatch.setenv("MODELLAB_SECRET_FOR_TEST", "x")  # must not reach the child
    settings = Settings.from_env()
    data = tmp_path / "dataset"
    data.mkdir()
    request = TrainRequest(
        backend="tiny",
        base_model="smollm2",
        method="lora",
        dataset_dir=data,
        approval=_approval(tmp_path / "export"),
        output_dir=tmp_path / "out",
        hyperparameters={"epochs": 1},
    )
    result = call_named(settings, "modellab_register_trainers", "tiny", request, TrainResult)
    assert isinstance(result, TrainResult) and result.output_dir == tmp_path / "out"
    venv = settings.worksets_dir / "heavy" / "0.1.0" / "venv"
    assert Path((tmp_path / "out" / "adapter.txt").read_text()).resolve() == venv.resolve()
    assert result.metrics["pid"] != os.getpid()
    # Only what the sandbox itself hands the child (its data folder), never the core's.
    assert result.metrics["modellab_vars"] <= 1
    assert "modellab_heavy" not in sys.modules

    with pytest.raises(UsageError, match=r"no trainer named 'nope' \(registered: tiny\)"):
        call_named(settings, "modellab_register_trainers", "nope", request, TrainResult)


def test_a_shared_workset_grades_in_a_child_fed_json(publisher, capsys) -> None:
    hooks = ["modellab_run_command", "modellab_register_graders"]
    _publish(publisher, "grading", declared=hooks, implemented=hooks)
    _install(capsys, "grading")
    settings = Settings.from_env()
    manager = build_plugin_manager(settings, worksets_for="modellab_register_graders")
    graders = collect_graders(manager.hook.modellab_register_graders)
    names = [g.name for g in graders]
    assert names[-1] == "calls_something" and "decision" in names
    from modellab.evals._actions import Action, CalledTool

    grader = graders[-1]
    case = _case()
    answered = Action(kind="tool", calls=(CalledTool(name="ls", arguments="{}"),))
    grades = grader.grade_many([(case, answered), (case, Action(kind="answer", content="hi"))])
    assert [g.score for g in grades if g] == [1.0, 0.0]
    pids = {g.reason for g in grades if g}
    assert len(pids) == 1 and pids != {f"pid {os.getpid()}"}  # one child for the batch
    assert grader.grade(case, answered).reason in pids  # the same child serves the run
    assert "modellab_grading" not in sys.modules


def _case():
    from modellab.evals._actions import Action
    from modellab.evals._suite import EvalCase

    return EvalCase(
        id="c1",
        session_id="s1",
        position=1,
        messages=({"role": "user", "content": "list files"},),
        tools=(),
        expected=Action(kind="answer", content="done"),
        slices={"tool": "(answer)"},
    )


def test_an_undeclared_hook_implementation_is_refused(publisher, capsys) -> None:
    _publish(
        publisher,
        "sneaky",
        declared=["modellab_run_command"],
        implemented=["modellab_run_command", "modellab_register_trainers"],
    )
    _install(capsys, "sneaky")
    assert main(["sneaky"]) == 1
    err = capsys.readouterr().err
    assert "implements modellab_register_trainers, which its manifest does not declare" in err
    assert "ran sneaky" not in err


def test_a_declared_hook_it_does_not_implement_is_an_error(publisher, capsys) -> None:
    _publish(
        publisher,
        "hollow",
        declared=["modellab_run_command", "modellab_register_trainers"],
        implemented=["modellab_run_command"],
    )
    _install(capsys, "hollow")
    code, listed = _backends(capsys)
    assert code == 1
    assert listed["problems"] == [
        {
            "workset": "hollow",
            "problem": "workset hollow: workset hollow declares modellab_register_trainers in "
            "hooks.implements but does not implement it",
        }
    ]


def test_two_worksets_registering_one_name_is_an_error_naming_both(publisher, capsys) -> None:
    hooks = ["modellab_run_command", "modellab_register_trainers"]
    _publish(publisher, "first", declared=hooks, implemented=hooks, trainer="same")
    _publish(publisher, "second", declared=hooks, implemented=hooks, trainer="same")
    _install(capsys, "first")
    _install(capsys, "second")
    code, listed = _backends(capsys)
    assert code == 1
    problems = [p["problem"] for p in listed["problems"]]
    assert problems == ["trainer 'same' is registered by both first and second"]
    with pytest.raises(UsageError, match="registered by both first and second"):
        call_named(
            Settings.from_env(),
            "modellab_register_trainers",
            "same",
            TrainRequest(
                backend="same",
                base_model="m",
                method="lora",
                dataset_dir=Path("/nonexistent"),
                approval=_approval(Path("/nonexistent/export")),
                output_dir=Path("/nonexistent/out"),
            ),
            TrainResult,
        )


def test_unknown_hooks_are_refused_by_the_manifest_check() -> None:
    text = MANIFEST.format(name="old", version="0.1.0", isolation="venv", command="old")
    for hook in ("modellab_eval", "modellab_train", "modellab_export", "bogus"):
        bad = text.replace('["modellab_run_command"]', f'["{hook}"]')
        with pytest.raises(ManifestError, match=rf"unknown hook\(s\) {hook} \(known: "):
            load_manifest(bad.encode(), "workset.toml")
    # Every hook crosses the process boundary as data: venv worksets may register graders.
    fine = text.replace('["modellab_run_command"]', '["modellab_register_graders"]')
    assert load_manifest(fine.encode(), "workset.toml")[0].hooks.implements == [
        "modellab_register_graders"
    ]


def test_an_importer_workset_may_not_declare_network_egress() -> None:
    text = MANIFEST.format(name="imp", version="0.1.0", isolation="shared", command="imp")
    importer = text.replace('["modellab_run_command"]', '["modellab_register_importers"]')
    assert load_manifest(importer.encode(), "workset.toml")[0].hooks.implements
    egress = 'network_egress = [{ host = "api.example.com", commands = ["imp"] }]'
    leaky = importer.replace("network_egress = []", egress)
    with pytest.raises(ManifestError, match="registers importers"):
        load_manifest(leaky.encode(), "workset.toml")


def test_the_childs_environment_is_scrubbed(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELLAB_REDACTION_KEY_FILE", "/secret")
    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    settings = Settings.from_env()
    target = ChildTarget("w", "shared", Path(sys.executable), tmp_path, ())
    hook_env = child_env(target, settings, needs_home=False)
    assert not [k for k in hook_env if k.startswith("MODELLAB_")]
    assert "OPENAI_API_KEY" not in hook_env
    command_env = child_env(target, settings, needs_home=True)
    assert [k for k in command_env if k.startswith("MODELLAB_")] == ["MODELLAB_HOME"]


def test_requests_mark_their_input_and_output_paths(tmp_path: Path) -> None:
    request = TrainRequest(
        backend="t",
        base_model="m",
        method="lora",
        dataset_dir=tmp_path / "in",
        approval=_approval(tmp_path / "export"),
        output_dir=tmp_path / "out",
    )
    # Paths in nested models count too: the approved export is readable by the call.
    reads, writes = request_paths(request)
    assert (reads, writes) == ([tmp_path / "in", tmp_path / "export"], [tmp_path / "out"])
    again = TrainRequest.model_validate_json(request.model_dump_json())
    assert again == request  # plain data: JSON round-trips
    # Optional paths (``InputPath | None``) count when given: pydantic keeps their marker
    # inside the union, and a base model folder the child could not read failed a real run.
    given = request.model_copy(
        update={"base_model_dir": tmp_path / "model", "chat_template": tmp_path / "t.jinja"}
    )
    reads, writes = request_paths(given)
    assert reads == [tmp_path / "model", tmp_path / "in", tmp_path / "export", tmp_path / "t.jinja"]
    assert writes == [tmp_path / "out"]


IMPORTER = """\
import os
from collections import Counter

from modellab.plugins.hookspecs import hookimpl
from modellab.sources import FileImport
from modellab.traces import Agent, Provenance, Session, Step, Turn


class _Notes:
    name = "notes"
    parser_version = "notes-1"

    def default_roots(self, settings):
        return []

    def discover(self, root):
        yield from sorted(root.glob("*.notes"))

    def sniff(self, path, head):
        return path.suffix == ".notes"

    def read(self, path):
        data = path.read_bytes()
        try:  # beside the folder being imported: not granted to this child
            (path.parent.parent / "outside.txt").read_bytes()
            outside = "read"
        except OSError as exc:
            outside = type(exc).__name__
        data += f"|outside={outside}".encode()
        report = FileImport(path=path, importer=self.name, lines_total=2, lines_mapped=1)
        report.skipped = Counter({"blank": 1})
        report.sessions.append(
            Session(
                id=f"{path.stem}-{os.getpid()}",
                source=self.name,
                agent=Agent(name="notes"),
                turns=(Turn(index=0, steps=(Step(source="user", text=data.decode()),)),),
                provenance=Provenance.of_bytes(
                    path, data, source_format="notes", source_format_version=None,
                    parser_version=self.parser_version,
                ),
            )
        )
        return report


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        return 0

    @hookimpl
    def modellab_register_importers(self, register):
        register(_Notes())


plugin = _Plugin()
"""


def test_a_workset_importer_reads_in_its_child(publisher, capsys, tmp_path: Path) -> None:
    from modellab.sources import collect_importers, plan_files

    hooks = ["modellab_run_command", "modellab_register_importers"]
    manifest = MANIFEST.format(name="notes", version="0.1.0", isolation="shared", command="notes")
    manifest = manifest.replace(
        'implements = ["modellab_run_command"]', f"implements = {json.dumps(hooks)}"
    )
    source = make_workset(publisher.root / "sources" / "notes", "notes", manifest=manifest)
    (source / "src" / "modellab_notes" / "plugin.py").write_text(IMPORTER)
    publisher.publish(source)
    _install(capsys, "notes")

    # The user's session folder, outside anything of Model Lab's: the child that reads it
    # is granted that folder only.
    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "idea.notes").write_text("remember the milk")
    (tmp_path / "outside.txt").write_text("not granted")
    manager = build_plugin_manager(Settings.from_env(), worksets_for=hooks[1])
    importers = collect_importers(manager)
    notes = [i for i in importers if i.name == "notes"]
    assert len(notes) == 1 and notes[0].parser_version == "notes-1"
    planned, unrecognised = plan_files([folder], importers)
    assert unrecognised == []
    assert [(p.path.name, p.importer.name) for p in planned] == [("idea.notes", "notes")]
    report = planned[0].importer.read(planned[0].path)
    (session,) = report.sessions
    assert session.id != f"idea-{os.getpid()}"  # read in the child
    text = session.turns[0].steps[0].text
    assert text.startswith("remember the milk|outside=")
    if files_confinement()[0]:
        assert text.endswith("outside=PermissionError")
    # A root that holds Model Lab's home is never granted to an importer's child.
    with pytest.raises(WorksetHookError, match="Model Lab's home"):
        list(notes[0].discover(Settings.from_env().home.parent))
    assert report.skipped == {"blank": 1} and report.lines_total == 2
    code, listed = _backends(capsys)
    assert code == 0
    assert {"kind": "importer", "name": "notes", "workset": "notes"} in [
        {k: b[k] for k in ("kind", "name", "workset")} for b in listed["backends"]
    ]
    assert "modellab_notes" not in sys.modules


def test_a_refused_grader_workset_is_reported_and_the_run_goes_on(publisher, capsys) -> None:
    _publish(
        publisher,
        "overreach",
        declared=["modellab_run_command", "modellab_register_graders"],
        implemented=[
            "modellab_run_command",
            "modellab_register_graders",
            "modellab_register_trainers",
        ],
    )
    _install(capsys, "overreach")
    manager = build_plugin_manager(Settings.from_env(), worksets_for="modellab_register_graders")
    graders = collect_graders(manager.hook.modellab_register_graders)
    assert "calls_something" not in [g.name for g in graders]
    err = capsys.readouterr().err
    assert "workset overreach not loaded" in err
    assert "implements modellab_register_trainers, which its manifest does not declare" in err


def test_only_a_workset_declaring_a_gpu_is_granted_the_gpu_devices(
    monkeypatch, tmp_path: Path
) -> None:
    from modellab.worksets._sandbox import gpu_paths, policy_for

    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "home"))
    text = MANIFEST.format(name="gpu-w", version="0.1.0", isolation="venv", command="gpu-w")
    settings = Settings.from_env()
    none = policy_for(load_manifest(text.encode(), "w.toml")[0], tmp_path, settings)
    wanting = text.replace('gpu = "none"', 'gpu = "required"')
    gpu = policy_for(load_manifest(wanting.encode(), "w.toml")[0], tmp_path, settings)
    reads, devices = gpu_paths()
    assert all(path.exists() for path in [*reads, *devices])  # never created
    assert set(reads) <= set(gpu.read_only) and set(devices) <= set(gpu.writable)
    assert not (set(reads) | set(devices)) & (set(none.read_only) | set(none.writable))
    assert [p for p in devices if not str(p).startswith("/dev/")] == []
