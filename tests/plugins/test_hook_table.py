"""One hook table, read off the hookspecs, feeds the manifest check, the child and the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import modellab
from modellab.errors import ManifestError
from modellab.plugins import hookspecs
from modellab.plugins._table import DOCS_PATH, hook_names, hook_table, with_table
from modellab.worksets._hooks import _Proxy
from modellab.worksets._manifest import load_manifest

CORE = Path(modellab.__file__).parent


def test_the_docs_table_is_generated_from_the_hookspecs() -> None:
    text = DOCS_PATH.read_text()
    assert text == with_table(text), "run: python -m modellab.plugins._table --write"
    for info in hook_table():
        assert f"| `{info.name}` |" in text


def test_the_table_has_every_hookspec_and_its_models() -> None:
    marked = {
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, "modellab_spec")
    }
    assert {info.name for info in hook_table()} == marked == hook_names()
    assert "modellab_eval" not in marked and "modellab_export" not in marked
    by_name = {info.name: info for info in hook_table()}
    trainers = by_name["modellab_register_trainers"]
    assert trainers.register
    assert (trainers.descriptor, trainers.request, trainers.result) == (
        hookspecs.BackendDescriptor,
        hookspecs.TrainRequest,
        hookspecs.TrainResult,
    )
    for info in hook_table():
        for model in (info.descriptor, info.request, info.result):
            assert model is None or issubclass(model, BaseModel)


def test_the_core_calls_every_hook() -> None:
    """A hookspec nothing calls is a promise nobody keeps: each one has a call site."""
    sources = {
        path: path.read_text()
        for path in CORE.rglob("*.py")
        if path.name not in {"hookspecs.py", "_table.py"}
    }
    for info in hook_table():
        calls = re.compile(rf"hook\.{info.name}\b|\"{info.name}\"")
        sites = [path.name for path, text in sources.items() if calls.search(text)]
        assert sites, f"{info.name} is never called by the core"


def test_every_register_hook_crosses_the_process_boundary() -> None:
    registering = {info.name for info in hook_table() if info.register}
    proxied = {name for name in dir(_Proxy) if name.startswith("modellab_")}
    assert proxied == registering


def test_the_manifest_check_reads_the_table() -> None:
    text = (
        '[workset]\nname = "w-one"\nversion = "0.1.0"\nsummary = "s"\nlicense = "MIT"\n'
        'publisher = "p"\n[hooks]\nimplements = {hooks}\n'
    )
    every = sorted(hook_names())
    manifest, _ = load_manifest(text.format(hooks=every).replace("'", '"').encode(), "w.toml")
    assert manifest.hooks.implements == every
    with pytest.raises(ManifestError, match=r"unknown hook\(s\) modellab_serve"):
        load_manifest(text.format(hooks='["modellab_serve"]').encode(), "w.toml")
    with pytest.raises(ManifestError, match="listed more than once"):
        twice = '["modellab_run_command", "modellab_run_command"]'
        load_manifest(text.format(hooks=twice).encode(), "w.toml")
