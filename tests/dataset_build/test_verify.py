"""A dataset records the approval it was built from, and is refused at the moment of use
when that approval is missing, stale or not its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataset_build.builders import build, mixed
from factories import exported
from modellab.cli import main
from modellab.datasets import verify_dataset
from modellab.errors import NotApprovedError, RawExportError, StaleApprovalError
from modellab.settings import Settings
from modellab.store import Catalog


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """(export, dataset): a dataset built through the CLI from an approved export."""
    export = exported(tmp_path, mixed())
    dataset = tmp_path / "dataset"
    build(export, dataset, capsys, "--from", "all")
    return export, dataset


def _verify(dataset: Path):
    with Catalog(Settings.from_env().catalog_path) as catalog:
        return verify_dataset(dataset, catalog=catalog)


def test_the_dataset_records_its_approval_and_passes_while_it_stands(built):
    export, dataset = built
    recorded = json.loads((dataset / "manifest.json").read_text())["approval"]
    assert recorded["export_dir"] == str(export.resolve())
    assert set(recorded["files"]) >= {"manifest.json", "trajectories.jsonl"}
    approval = _verify(dataset)
    assert approval.path == export.resolve()
    assert approval.fingerprint == recorded["files_sha256"]
    assert recorded["files_sha256"] in (dataset / "README.md").read_text(encoding="utf-8")


def test_export_changed_after_the_build_is_refused(built):
    export, dataset = built
    path = export / "trajectories.jsonl"
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(StaleApprovalError, match="changed since it was approved"):
        _verify(dataset)


def test_export_reapproved_differently_is_refused(built, capsys):
    export, dataset = built
    path = export / "trajectories.jsonl"
    path.write_bytes(path.read_bytes() + b"\n")
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    assert main(["redact", "approve", str(export)]) == 0
    with pytest.raises(StaleApprovalError, match="for other files") as refused:
        _verify(dataset)
    assert "trajectories.jsonl" in str(refused.value)
    assert str(dataset) in str(refused.value)


def test_approval_removed_is_refused(built):
    export, dataset = built
    with Catalog(Settings.from_env().catalog_path) as catalog, catalog.transaction() as db:
        db.execute("DELETE FROM approvals WHERE export_dir = ?", (str(export.resolve()),))
    with pytest.raises(NotApprovedError, match="approval was withdrawn") as refused:
        _verify(dataset)
    assert str(export.resolve()) in str(refused.value)


def test_dataset_used_under_another_catalog_is_refused(built, tmp_path, monkeypatch):
    _, dataset = built
    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "other-home"))
    with pytest.raises(NotApprovedError, match="another Model Lab home"):
        _verify(dataset)


def test_export_made_raw_after_the_build_is_refused(built):
    export, dataset = built
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["redaction_status"] = "raw"
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RawExportError, match="raw"):
        _verify(dataset)


def test_dataset_pointed_at_another_approved_export_is_refused(built, tmp_path):
    """The dataset's manifest edited to name another export approved here, with that
    export's own approval record: the catalog's record of the build names the real one."""
    _, dataset = built
    other = exported(tmp_path / "other", mixed())
    other_dataset = tmp_path / "other-dataset"
    assert main(["dataset", "build", str(other), "--out", str(other_dataset)]) == 0
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["approval"] = json.loads((other_dataset / "manifest.json").read_text())["approval"]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NotApprovedError, match="never built this dataset"):
        _verify(dataset)


def test_dataset_without_an_approval_record_is_refused(built):
    _, dataset = built
    manifest = json.loads((dataset / "manifest.json").read_text())
    del manifest["approval"]
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NotApprovedError, match="records no approval"):
        _verify(dataset)


def test_dataset_whose_export_is_gone_is_refused(built, tmp_path):
    export, dataset = built
    shutil.move(export, tmp_path / "moved-away")
    with pytest.raises(NotApprovedError, match="is gone"):
        _verify(dataset)
