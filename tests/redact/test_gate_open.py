"""``modellab.gate``: what an approval is bound to, and reading only through ApprovedExport."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modellab.errors import CorruptSourceError, NotApprovedError, StaleApprovalError
from modellab.gate import ApprovedExport, approve_export, open_approved, verify_built_from
from modellab.gate.layout import (
    APPROVAL_MARKER,
    BOOKKEEPING,
    MANIFEST,
    OUTPUT_MARKER,
    TRAJECTORIES,
)
from modellab.settings import Settings
from modellab.store import Catalog

LINE = b'{"session_id": "s1", "steps": []}\n'


@pytest.fixture
def catalog():
    with Catalog(Settings.from_env().catalog_path) as opened:
        yield opened


def make_export(root: Path) -> Path:
    """A redacted export with nothing to review (no redacted values)."""
    root.mkdir(parents=True)
    (root / TRAJECTORIES).write_bytes(LINE * 2)
    (root / MANIFEST).write_text(json.dumps({"redaction_status": "redacted"}))
    return root


def test_bookkeeping_is_exactly_the_two_markers():
    assert sorted(BOOKKEEPING) == [".modellab-approvals.json", ".modellab-output"]
    assert {OUTPUT_MARKER, APPROVAL_MARKER} == set(BOOKKEEPING)


@pytest.mark.parametrize("name", sorted(BOOKKEEPING))
def test_our_own_markers_at_the_top_do_not_make_it_stale(tmp_path, catalog, name):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    (export / name).write_text('{"rewritten": true}\n')
    passed = open_approved(export, catalog=catalog)
    assert name not in passed.files


@pytest.mark.parametrize(
    "added",
    [
        "notes.txt",
        ".hidden",
        ".modellab-output.bak",
        "modellab-approvals.json",
        "sub/.modellab-output",  # a marker's name below the top is an ordinary file
        "sub/.modellab-approvals.json",
        "deep/er/data.bin",
    ],
)
def test_any_other_added_file_makes_the_approval_stale(tmp_path, catalog, added):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    (export / added).parent.mkdir(parents=True, exist_ok=True)
    (export / added).write_text("smuggled")
    with pytest.raises(StaleApprovalError, match="changed since it was approved") as refused:
        open_approved(export, catalog=catalog)
    assert added in str(refused.value)


@pytest.mark.parametrize("changed", [TRAJECTORIES, MANIFEST, "extra/kept.txt"])
def test_any_changed_file_makes_the_approval_stale(tmp_path, catalog, changed):
    export = make_export(tmp_path / "exp")
    (export / "extra").mkdir()
    (export / "extra" / "kept.txt").write_text("part of the export")
    approve_export(catalog, export)
    assert "extra/kept.txt" in open_approved(export, catalog=catalog).files
    with (export / changed).open("a") as handle:
        handle.write(" ")
    with pytest.raises(StaleApprovalError, match=changed):
        open_approved(export, catalog=catalog)


def test_an_approved_export_is_immutable_and_reads_the_approved_content(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export, approved_by="alex")
    opened = open_approved(export, catalog=catalog)
    assert opened.path == export.resolve()
    assert opened.catalog_id == catalog.catalog_id and opened.approved_by == "alex"
    assert len(opened.fingerprint) == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        opened.path = tmp_path  # type: ignore[misc]
    with pytest.raises(TypeError):
        opened.files["smuggled.txt"] = "0" * 64  # type: ignore[index]
    assert opened.manifest() == {"redaction_status": "redacted"}
    assert [n for n, _ in opened.iter_trajectories()] == [1, 2]
    record = opened.record()
    assert record["files_sha256"] == opened.fingerprint
    assert record["export_dir"] == str(export.resolve())
    assert record["catalog_id"] == catalog.catalog_id
    with pytest.raises(CorruptSourceError, match="missing from the approved export"):
        opened.read_bytes("not-approved.txt")


def test_a_file_changed_after_opening_is_refused_as_it_is_read(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    opened = open_approved(export, catalog=catalog)
    (export / MANIFEST).write_text(json.dumps({"redaction_status": "redacted", "x": 1}))
    with pytest.raises(StaleApprovalError, match=f"{MANIFEST} changed since it was approved"):
        opened.manifest()
    (export / TRAJECTORIES).write_bytes(LINE * 3)
    with pytest.raises(StaleApprovalError, match=TRAJECTORIES):
        list(opened.iter_trajectories())


def test_still_standing_refuses_a_replaced_approval(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    opened = open_approved(export, catalog=catalog)
    opened.still_standing(catalog)
    (export / TRAJECTORIES).write_bytes(LINE)
    approve_export(catalog, export)
    with pytest.raises(StaleApprovalError, match="replaced or withdrawn"):
        opened.still_standing(catalog)


def _verify(record: object, catalog: Catalog, built: Path) -> ApprovedExport:
    return verify_built_from(record, catalog, built=built, kind="dataset", rebuild="rebuild it")


def test_verify_built_from_refuses_each_way_an_approval_stops_standing(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    record = open_approved(export, catalog=catalog).record()
    built = tmp_path / "built"
    assert _verify(record, catalog, built).fingerprint == record["files_sha256"]
    with pytest.raises(NotApprovedError, match="records no approval"):
        _verify(None, catalog, built)
    with pytest.raises(NotApprovedError, match="another Model Lab home"):
        _verify({**record, "catalog_id": "f" * 32}, catalog, built)
    (export / TRAJECTORIES).write_bytes(LINE)
    with pytest.raises(StaleApprovalError, match="changed since it was approved"):
        _verify(record, catalog, built)
    approve_export(catalog, export)
    with pytest.raises(StaleApprovalError, match=f"for other files.*{TRAJECTORIES}"):
        _verify(record, catalog, built)
    export.rename(tmp_path / "gone")
    with pytest.raises(NotApprovedError, match="is gone"):
        _verify(record, catalog, built)


def test_only_the_gate_exports_approval():
    import modellab.plugins
    import modellab.redact

    for module in (modellab.plugins, modellab.redact):
        for name in ("require_approved", "Approval", "approve_export", "APPROVAL_MARKER"):
            assert not hasattr(module, name), (module.__name__, name)


def test_plugins_imports_nothing_above_it():
    """The lowest contract loads no gate, redaction, store or pipeline module."""
    code = (
        "import sys, modellab.plugins; "
        "print('\\n'.join(m for m in sys.modules if m.startswith('modellab')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "modellab.plugins" in loaded
    above = ("gate", "redact", "store", "datasets", "evals", "export", "review", "promote")
    assert not [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in above], loaded
