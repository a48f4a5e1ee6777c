"""The loop as one story, on CPU with real processes and real HTTP: the steps the demo runs
(``examples/loop.py``), from an approved export of the bundled sample sessions through
dataset, train, serve, eval run (the candidate served for the run, against the model
CodeWhale uses today), promote (refused by the real bar), a promotion with the bar lowered,
and the rollback that restores CodeWhale's config byte for byte."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from labs import REPO, Lab, build_lab

from modellab.testing import run_modellab

pytestmark = pytest.mark.slow


def _loop_module():
    spec = importlib.util.spec_from_file_location(
        "modellab_example_loop", REPO / "examples" / "loop.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loop_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from evals import llama_server

    if not llama_server.installed():
        pytest.skip("the model server is not built: python3 tests/evals/llama_server.py")
    lab = build_lab(tmp_path_factory.mktemp("loop"), serving=True, install_model=False)
    yield lab
    # However the test ended, no server it started outlives it.
    home = {"HOME": str(lab.user_home), "MODELLAB_HOME": str(lab.user_home / ".modellab")}
    run_modellab(["serve", "stop", "--all"], env={**os.environ, **home})


def test_capture_train_serve_eval_promote_rollback(loop_lab: Lab, tmp_path: Path, monkeypatch):
    import tiny_models
    from evals import llama_server

    loop = _loop_module()
    home = loop_lab.user_home
    config = tmp_path / "codewhale" / "config.toml"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MODELLAB_HOME", str(home / ".modellab"))
    monkeypatch.setenv("CODEWHALE_CONFIG_PATH", str(config))
    monkeypatch.setenv("MODELLAB_CONVERTERS", str(llama_server.sdist()))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    suite = tmp_path / "suite"
    code, _, err = run_modellab(
        ["eval", "build", str(loop_lab.export), "--out", str(suite), "--max-cases", "10"]
    )
    assert code == 0, err
    steps = loop.steps(
        export=loop_lab.export,
        suite=suite,
        dataset=tmp_path / "dataset",
        gguf=llama_server.gguf_path(),
        base=tiny_models.smollm2_folder(layers=2),
    )
    results = []
    original = b""
    for step in steps:
        code, out, err = run_modellab(step.argv, timeout=600)
        assert code in step.expected, f"{step.argv}: exit {code}\n{out}\n{err}"
        if step.argv[:2] == ["serve", loop.CURRENT]:
            # The user's CodeWhale already talks to today's model: the demo writes that config.
            code, listed, _ = run_modellab(["serve", "list", "--json"])
            (current,) = json.loads(listed)
            loop.codewhale_config(
                config, current["base_url"], current["served_model"], current["context_window"]
            )
            original = config.read_bytes()
        results.append((step.argv, code, out, err, config.read_bytes() if config.exists() else b""))
    (train, serve, evaluate, refused, lowered, rollback, stop) = results[3:]

    assert "candidate     smollm2-2l-sft-lora-" in train[2]
    assert "Smoke test passed: chat" in serve[3]
    # The candidate was served for the run, under its own name, and stopped after.
    assert "Serving smollm2-2l-sft-lora-" in evaluate[3] and "for this run" in evaluate[3]
    assert "Stopped server" in evaluate[3]
    assert "Comparison" in evaluate[2] and "saved" in evaluate[2]
    # The real bar refuses a 2-layer cut trained for 8 steps on 10 cases; nothing changed.
    assert refused[1] == 13
    assert "promotion refused" in refused[3]
    assert refused[4] == original
    # With the bar lowered (the mechanics only), the served backend's provider block lands.
    assert lowered[1] == 0
    promoted = tomllib.loads(lowered[4].decode())
    name = promoted["provider"]
    assert name.startswith("modellab-smollm2-2l-sft-lora-")
    table = promoted["providers"][name]
    assert table["base_url"].startswith("http://127.0.0.1:") and table["auth_mode"] == "none"
    assert "Served by llama.cpp in the eval" in lowered[2]
    assert "CodeWhale needs it running: modellab serve smollm2-2l-sft-lora-" in lowered[2]
    # The rollback restores CodeWhale's config byte for byte.
    assert rollback[1] == 0 and rollback[4] == original
    assert "Stopped 1 server" in stop[2]
    code, listed, _ = run_modellab(["serve", "list", "--json", "--all"])
    servers = json.loads(listed)
    assert {s["status"] for s in servers} == {"stopped"}
    assert sorted(s["started_by"] for s in servers) == ["eval", "serve"]
    assert not any(Path(f"/proc/{s['pid']}").exists() for s in servers)

    # The next run of the same candidate is served on the same port: the same endpoint, so
    # an interrupted run would resume rather than start over.
    code, _, err = run_modellab(["eval", "run", str(suite), "--model", "candidate:latest"])
    assert code == 0, err
    code, listed, _ = run_modellab(["serve", "list", "--json", "--all"])
    ports = [s["port"] for s in json.loads(listed) if s["started_by"] == "eval"]
    assert len(ports) == 2 and ports[0] == ports[1]
