"""``modellab train`` end to end, for real: the unsloth workset's ``trl`` trainer in its
confined child trains a LoRA on a 2-layer cut of SmolLM2-135M, on a dataset built from the
bundled sample sessions; the result becomes a candidate model; a ``kill -9`` resumes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from training.conftest import Lab

from modellab.testing import run_modellab

pytestmark = pytest.mark.slow

#: Small and quick: 2 layers, short rows, a high learning rate so the loss moves in a few steps.
FAST = ["--max-seq-len", "384", "--lr", "2e-3", "--lora-r", "8"]


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _train(lab: Lab, *extra: str, timeout: float = 600) -> tuple[int, str, str]:
    return run_modellab(
        ["train", str(lab.dataset), "--base", lab.model, "--backend", "trl", *FAST, *extra],
        timeout=timeout,
    )


@contextlib.contextmanager
def _training_until(
    lab: Lab, until: Callable[[dict[str, Any]], bool], *extra: str
) -> Iterator[subprocess.Popen[str]]:
    """``modellab train ... --json`` running in the background, once an event it printed
    satisfies ``until``; the process is waited for on the way out."""
    command = [
        sys.executable,
        "-m",
        "modellab",
        "train",
        str(lab.dataset),
        "--base",
        lab.model,
        "--backend",
        "trl",
        *FAST,
        *extra,
        "--json",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stdout is not None
        deadline = time.monotonic() + 400
        for line in process.stdout:
            if until(json.loads(line)):
                break
            assert time.monotonic() < deadline, "the event did not come in time"
        else:
            raise AssertionError("the run ended before the event came")
        yield process


def test_preflight_only_checks_everything_and_trains_nothing(in_lab: Lab) -> None:
    code, out, err = _train(in_lab, "--preflight-only", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    names = {c["check"] for c in report["checks"]}
    assert {"dataset", "chat_template", "licence", "memory", "deployability"} <= names
    code, out, _ = run_modellab(["train", "list", "--json"])
    assert code == 0 and json.loads(out) == []


def test_trains_a_lora_and_registers_a_candidate_with_lineage(in_lab: Lab) -> None:
    code, out, err = _train(in_lab, "--max-steps", "8", "--save-steps", "4", "--json")
    assert code == 0, err
    events = _lines(out)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "result" and "done" in kinds
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 9))
    assert all(e["tokens_per_s"] > 0 for e in steps)
    result = events[-1]
    assert result["metrics"]["loss_last"] < result["metrics"]["loss_first"]
    candidate = result["candidate"]

    code, out, _ = run_modellab(["train", "show", result["run"], "--json"])
    run = json.loads(out)
    assert run["status"] == "succeeded"
    lineage = run["lineage"]
    from modellab.gate import open_approved
    from modellab.settings import Settings
    from modellab.store import Catalog

    with Catalog(Settings.from_env().catalog_path) as catalog:
        approved = open_approved(in_lab.export, catalog=catalog)
    assert lineage["approval"]["files_sha256"] == approved.fingerprint
    assert lineage["backend"]["workset"] == "unsloth"
    assert lineage["seed"] == 42 and run["config"]["max_steps"] == 8

    code, out, _ = run_modellab(["models", "info", candidate, "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["kind"] == "candidate" and info["parent"] == in_lab.model
    card = (Path(run["output_dir"]) / "README.md").read_text()
    assert approved.fingerprint in card


def test_a_dataset_changed_after_its_build_is_refused(in_lab: Lab, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "dataset"
    shutil.copytree(in_lab.dataset, copy)
    rows = copy / "trl-sft" / "train.jsonl"
    rows.write_bytes(rows.read_bytes().replace(b'"role"', b'"role" ', 1))
    code, _, err = run_modellab(
        ["train", str(copy), "--base", in_lab.model, "--backend", "trl", "--preflight-only"]
    )
    assert code == 9, err
    assert "changed after the dataset was built" in err


def test_unsloth_without_a_gpu_names_the_trl_backend(in_lab: Lab) -> None:
    import shutil

    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU is present: the Unsloth path is tested in worksets/unsloth/tests")
    code, _, err = run_modellab(
        [
            "train",
            str(in_lab.dataset),
            "--base",
            in_lab.model,
            "--backend",
            "unsloth",
            "--max-steps",
            "1",
            *FAST,
        ]
    )
    assert code == 16
    assert "--backend trl" in err and "Traceback" not in err


def test_a_killed_run_resumes_from_its_checkpoint(in_lab: Lab) -> None:
    def checkpointed(event: dict[str, Any]) -> bool:
        return event["event"] == "checkpoint" and event["step"] >= 3

    with _training_until(in_lab, checkpointed, "--max-steps", "10", "--save-steps", "3") as run:
        os.kill(run.pid, signal.SIGKILL)  # the trainer's child dies with it
        run.wait()
    code, out, _ = run_modellab(["train", "list", "--json"])
    run = next(r for r in json.loads(out) if r["status"] == "interrupted")
    code, out, err = run_modellab(["train", "--resume", run["id"], "--json"], timeout=600)
    assert code == 0, err
    events = _lines(out)
    start = events[0]
    assert start["event"] == "start" and start["resumed_from"] >= 3
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps and steps[0] == start["resumed_from"] + 1 and steps[-1] == 10
    code, out, _ = run_modellab(["train", "show", run["id"], "--json"])
    assert json.loads(out)["status"] == "succeeded"


def test_dpo_trains_on_preference_pairs_through_the_same_gate(in_lab: Lab) -> None:
    code, out, err = _train(in_lab, "--method", "dpo", "--max-steps", "2", "--json")
    assert code == 0, err
    events = _lines(out)
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2]
    result = events[-1]
    code, out, _ = run_modellab(["train", "show", result["run"], "--json"])
    run = json.loads(out)
    assert run["method"] == "dpo"
    assert run["lineage"]["dataset"]["rows_file"] == "preference/train.jsonl"


def test_a_running_job_is_cancelled_and_stays_cancelled(in_lab: Lab) -> None:
    def stepped(event: dict[str, Any]) -> bool:
        return bool(event["event"] == "step")

    with _training_until(in_lab, stepped, "--max-steps", "400") as process:
        code, out, _ = run_modellab(["train", "list", "--json"])
        run = next(r for r in json.loads(out) if r["status"] == "running")
        code, out, err = run_modellab(["train", "cancel", run["id"]])
        assert code == 0, err
        assert f"run {run['id']}: cancelled" in out
        assert process.wait(timeout=60) == 16
    code, out, _ = run_modellab(["train", "show", run["id"], "--json"])
    assert json.loads(out)["status"] == "cancelled"
    code, _, err = run_modellab(["train", "--resume", run["id"]])
    assert code == 2 and "nothing to resume" in err
