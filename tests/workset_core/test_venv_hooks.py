"""Hooks of ``venv`` worksets run in the workset's own environment, not in the core's."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.errors import ManifestError
from modellab.plugins import build_plugin_manager
from modellab.settings import Settings
from modellab.worksets._manifest import VENV_HOOKS, load_manifest
from modellab.worksets._venv_proxy import PROXIED_HOOKS

from .builders import MANIFEST, make_workset

PLUGIN = """\
import sys
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        return None

    @hookimpl
    def modellab_train(self, job, dataset_dir, settings):
        if job.get("fail"):
            raise RuntimeError("CUDA out of memory")
        print("training noise on stdout must not reach the result")
        return {
            "prefix": sys.prefix,
            "job": job,
            "dataset_dir": str(dataset_dir),
            "is_path": isinstance(dataset_dir, Path),
            "home": str(settings.home),
        }

    @hookimpl
    def modellab_export(self, export_dir, settings):
        out = export_dir / "extra.txt"
        out.write_text(sys.prefix)
        return [out]


plugin = _Plugin()
"""


def _venv_workset(publisher, hooks: list[str]) -> None:
    manifest = MANIFEST.format(name="heavy", version="0.1.0", isolation="venv", command="heavy")
    manifest = manifest.replace(
        'implements = ["modellab_run_command"]', f"implements = {json.dumps(hooks)}"
    )
    source = make_workset(publisher.root / "sources", "heavy", isolation="venv", manifest=manifest)
    (source / "src" / "modellab_heavy" / "plugin.py").write_text(PLUGIN)
    publisher.publish(source)


def _install(capsys) -> None:
    capsys.readouterr()
    assert main(["worksets", "install", "heavy"]) == 10  # no consent yet
    captured = capsys.readouterr()
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", captured.out)
    assert found, captured.err
    sha = found.group(1)
    assert main(["worksets", "install", "heavy", "--accept-manifest", sha]) == 0


def test_train_and_export_run_in_the_worksets_venv(publisher, capsys, tmp_path: Path) -> None:
    _venv_workset(publisher, ["modellab_run_command", "modellab_train", "modellab_export"])
    _install(capsys)
    settings = Settings.from_env()
    assert "modellab_heavy" not in sys.modules

    manager = build_plugin_manager(settings, worksets_for="modellab_train")
    job = {"base_model": "smollm2", "method": "lora", "epochs": 1}
    result = manager.hook.modellab_train(job=job, dataset_dir=tmp_path, settings=settings)
    venv = settings.worksets_dir / "heavy" / "0.1.0" / "venv"
    assert Path(result["prefix"]).resolve() == venv.resolve()
    assert result["job"] == job and result["is_path"] is True
    assert result["dataset_dir"] == str(tmp_path) and result["home"] == str(settings.home)
    assert "modellab_heavy" not in sys.modules  # never imported into the core's process

    export = tmp_path / "export"
    export.mkdir()
    manager = build_plugin_manager(settings, worksets_for="modellab_export")
    written = manager.hook.modellab_export(export_dir=export, settings=settings)
    assert written == [[export / "extra.txt"]]
    assert Path((export / "extra.txt").read_text()).resolve() == venv.resolve()


def test_a_failing_hook_is_an_error_naming_the_workset(publisher, capsys, tmp_path: Path):
    _venv_workset(publisher, ["modellab_run_command", "modellab_train"])
    _install(capsys)
    settings = Settings.from_env()
    manager = build_plugin_manager(settings, worksets_for="modellab_train")
    from modellab.worksets._venv_proxy import VenvHookError

    with pytest.raises(VenvHookError, match="heavy: modellab_train failed"):
        manager.hook.modellab_train(job={"fail": True}, dataset_dir=tmp_path, settings=settings)


def test_live_object_hooks_are_refused_for_venv_worksets() -> None:
    text = MANIFEST.format(name="heavy", version="0.1.0", isolation="venv", command="heavy")
    text = text.replace('["modellab_run_command"]', '["modellab_eval"]')
    with pytest.raises(ManifestError, match=r"hooks\.implements: modellab_eval cannot run"):
        load_manifest(text.encode(), "workset.toml")
    shared = text.replace('isolation = "venv"', 'isolation = "shared"')
    assert load_manifest(shared.encode(), "workset.toml")[0].hooks.implements == ["modellab_eval"]


def test_every_venv_hook_has_a_proxy() -> None:
    assert set(PROXIED_HOOKS) == VENV_HOOKS
