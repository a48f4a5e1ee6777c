"""The vLLM and SGLang recipes for real, where a GPU machine has their stacks: SmolLM2-135M
(safetensors) served through ``modellab serve --backend vllm|sglang``, probed and
smoke-tested. Everywhere else (CI, CPU machines) each test skips and says what is missing;
the recipes' command lines are tested without a GPU in worksets/serving/tests."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from modellab.testing import run_modellab

pytestmark = pytest.mark.slow


def _missing(module: str, program: str) -> str | None:
    """Why the stack cannot run here, or ``None``."""
    reasons = []
    if not Path("/dev/nvidia0").exists():
        reasons.append("no NVIDIA GPU (/dev/nvidia0 is missing)")
    if importlib.util.find_spec(module) is None and shutil.which(program) is None:
        reasons.append(f"{module} is not installed (no module, no {program} on PATH)")
    return "; ".join(reasons) or None


@pytest.mark.parametrize(
    ("backend", "module", "program"), [("vllm", "vllm", "vllm"), ("sglang", "sglang", "sglang")]
)
def test_a_gpu_recipe_serves_for_real(backend, module, program, request):
    why = _missing(module, program)
    if why:
        pytest.skip(f"the {backend} recipe runs for real only on a GPU machine with it: {why}")
    request.getfixturevalue("in_serving_lab")  # built only where the stack is
    import tiny_models

    name = f"smollm2-hf-{backend}"
    code, _, err = run_modellab(
        [
            "models",
            "install",
            str(tiny_models.smollm2_folder()),
            "--name",
            name,
            "--accept-license",
            "apache-2.0",
        ]
    )
    assert code == 0, err
    code, out, err = run_modellab(["serve", name, "--backend", backend, "--json"], timeout=1200)
    assert code == 0, err
    server = json.loads(out)
    try:
        assert server["smoke"]["ok"], server["smoke"]
    finally:
        assert run_modellab(["serve", "stop", server["id"]])[0] == 0
