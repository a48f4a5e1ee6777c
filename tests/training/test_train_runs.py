"""``train list | show | cancel`` on runs as the catalog holds them, without training: what
came from the user's job.toml or from a trainer is shown escaped, a run whose process is
gone reads as interrupted, and bad hyper-parameters are refused before anything starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modellab.settings import Settings
from modellab.store import Catalog
from modellab.testing import run_modellab
from modellab.training._runs import create_run, update_run


def _record(catalog: Catalog, tmp_path: Path, run_id: str, **fields: Any) -> str:
    """A run in the catalog as ``train`` records one, recorded by this process."""
    return create_run(
        catalog,
        run_id=run_id,
        backend="trl",
        method=fields.pop("method", "sft-lora"),
        base_model="base",
        dataset_dir=tmp_path / "ds",
        output_dir=tmp_path / "out",
        config=fields.pop("config", {}),
        lineage=fields.pop("lineage", {}),
        preflight=[],
    ).id


def _run(tmp_path: Path) -> str:
    with Catalog(Settings.from_env().catalog_path) as catalog:
        run_id = _record(
            catalog,
            tmp_path,
            "20261208-000000-abc123",
            config={"lora_targets": "q_proj\x1b]0;owned\x07", "seed": 42},
            lineage={"seed": 42, "backend": {"workset": "evil\x1b[2J"}},
        )
        update_run(catalog, run_id, status="succeeded", metrics={"loss\x1b[31m": 1.5})
    return run_id


def test_show_and_list_escape_what_came_from_outside(tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    code, out, err = run_modellab(["train", "show", run_id])
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "q_proj\\x1b]0;owned\\x07" in out
    code, out, _ = run_modellab(["train", "list"])
    assert code == 0 and run_id in out and "\x1b" not in out


def test_a_run_whose_process_is_gone_reads_as_interrupted(tmp_path: Path) -> None:
    with Catalog(Settings.from_env().catalog_path) as catalog:
        _record(catalog, tmp_path, "20261208-000000-dead00", method="dpo")
        # Recorded as running by this process; a pid that no longer exists stands for it.
        with catalog.transaction() as db:
            db.execute("UPDATE train_runs SET process = '999999999:1'")
    code, out, _ = run_modellab(["train", "list", "--json"])
    assert [r["status"] for r in json.loads(out)] == ["interrupted"]
    code, out, _ = run_modellab(["train", "cancel", "20261208-000000-dead00"])
    assert code == 0 and "marked cancelled" in out


def test_hyper_parameters_out_of_range_are_refused_naming_the_flag(tmp_path: Path) -> None:
    for flag, value in [
        ("--epochs", "0"),
        ("--lr", "-1"),
        ("--dpo-beta", "0"),
        ("--max-steps", "-2"),
    ]:
        code, _, err = run_modellab(
            ["train", str(tmp_path), "--base", "m", "--backend", "trl", flag, value]
        )
        assert code == 2 and flag in err, err
