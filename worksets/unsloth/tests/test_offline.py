"""Telemetry off and no network: a whole training run never tries to connect."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import trainkit
from modellab_unsloth import _offline


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return done.returncode == 0


def test_a_training_run_attempts_no_connection(synthetic: Path, tmp_path: Path) -> None:
    # Every IP connect and name lookup is recorded and fails; where user namespaces are
    # allowed the run also gets no network at all (`unshare -rn`), as the sandbox does.
    attempts = tmp_path / "network-attempts.log"
    wrapper = ["unshare", "-rn"] if _unshare_works() else None
    request = trainkit.request(
        tmp_path, synthetic, max_steps=2, save_steps=1, merge=True, batch_size=1
    )
    result = trainkit.train(request, guard_network=attempts, wrapper=wrapper)
    assert result["metrics"]["steps"] == 2
    assert attempts.is_file(), "the network guard was not installed"
    assert attempts.read_text() == ""


def test_the_guard_does_catch_a_connection(tmp_path: Path) -> None:
    # The guard itself works: a lookup in the guarded interpreter is recorded.
    import sys

    attempts = tmp_path / "attempts.log"
    script = (
        "import sys, socket; sys.path.insert(0, sys.argv[1]); import run_trainer;"
        "run_trainer.guard_network(__import__('pathlib').Path(sys.argv[2]));"
        "import urllib.request\n"
        "try: urllib.request.urlopen('http://huggingface.co', timeout=2)\n"
        "except Exception as e: print(type(e).__name__)"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(Path(trainkit.__file__).parent), str(attempts)],
        check=True,
        capture_output=True,
    )
    assert "huggingface.co" in attempts.read_text()


def test_offline_environment_sets_every_switch_and_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with _offline.offline_environment() as values:
        for name, value in _offline.SWITCHES.items():
            assert os.environ[name] == value
        for name in _offline.CACHE_VARIABLES:
            folder = Path(os.environ[name])
            assert folder.is_dir()
            assert folder.is_relative_to(tempfile.gettempdir())
        assert values["HF_HUB_OFFLINE"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert "WANDB_MODE" not in os.environ


def test_the_known_phone_home_switches_are_all_off() -> None:
    switches = _offline.SWITCHES
    assert switches["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert switches["HF_HUB_OFFLINE"] == switches["TRANSFORMERS_OFFLINE"] == "1"
    assert switches["HF_DATASETS_OFFLINE"] == "1"
    assert switches["DO_NOT_TRACK"] == "1"
    assert switches["WANDB_MODE"] == "disabled" and switches["WANDB_DISABLED"] == "true"
    assert switches["UNSLOTH_DISABLE_STATISTICS"] == "1"
