"""The upload gate: approvals bound to file hashes, refusals for every unsafe case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factories import write_session
from modellab.cli import main
from modellab.errors import NotApprovedError, RawExportError, StaleApprovalError
from modellab.plugins import require_approved
from modellab.redact import approve_export
from modellab.settings import Settings
from modellab.store import Catalog


@pytest.fixture
def catalog():
    with Catalog(Settings.from_env().catalog_path) as opened:
        yield opened


def make_export(root: Path, status: str = "redacted") -> Path:
    """An export folder as export writes it. Only the status differs between cases: the
    export writer cannot produce a redacted export yet, so these tests set it directly."""
    root.mkdir(parents=True)
    (root / "trajectories.jsonl").write_text('{"session_id": "s1", "steps": []}\n')
    (root / "manifest.json").write_text(json.dumps({"redaction_status": status}))
    return root


def test_an_approved_export_passes_and_lists_its_files(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approved = approve_export(catalog, export, approved_by="alex")
    passed = require_approved(export, catalog=catalog)
    assert passed.files == approved.files
    assert set(passed.files) == {"manifest.json", "trajectories.jsonl"}
    assert passed.approved_by == "alex"


def test_no_approval_is_refused(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    with pytest.raises(NotApprovedError, match="never approved"):
        require_approved(export, catalog=catalog)


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_any_change_after_approval_makes_it_stale(tmp_path, catalog, change):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    if change == "edit":
        (export / "trajectories.jsonl").write_text('{"session_id": "s2", "steps": []}\n')
    elif change == "add":
        (export / "extra.txt").write_text("smuggled")
    else:
        (export / "manifest.json").unlink()
        (export / "manifest.json").write_text(json.dumps({"redaction_status": "redacted"}) + " ")
    with pytest.raises(StaleApprovalError, match="changed since it was approved"):
        require_approved(export, catalog=catalog)
    # Approving again (after a new review) makes it pass.
    approve_export(catalog, export)
    require_approved(export, catalog=catalog)


@pytest.mark.parametrize("status", ["raw", "not-redacted"])
def test_unredacted_exports_can_never_be_approved_or_sent(tmp_path, catalog, status):
    export = make_export(tmp_path / "exp", status)
    with pytest.raises(RawExportError, match=status):
        approve_export(catalog, export)
    with pytest.raises(RawExportError):
        require_approved(export, catalog=catalog)


def test_an_export_without_a_manifest_is_treated_as_raw(tmp_path, catalog):
    export = tmp_path / "loose"
    export.mkdir()
    (export / "trajectories.jsonl").write_text("{}\n")
    with pytest.raises(RawExportError, match="no readable manifest"):
        require_approved(export, catalog=catalog)


def test_export_review_approve_end_to_end(tmp_path, capsys):
    write_session(tmp_path / "sessions")
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    assert main(["export", "--all", "--out", str(tmp_path / "exp")]) == 0
    assert main(["export", "--all", "--raw", "--out", str(tmp_path / "raw")]) == 0
    capsys.readouterr()
    # The raw export can never be approved; the redacted one not before its review.
    assert main(["redact", "approve", str(tmp_path / "raw")]) == 9
    assert "'raw'" in capsys.readouterr().err
    assert main(["redact", "approve", str(tmp_path / "exp")]) == 9
    assert "not reviewed yet (workspace-path 1)" in capsys.readouterr().err
    assert main(["redact", "review", str(tmp_path / "exp"), "--accept-rule", "workspace-path"]) == 0
    assert main(["redact", "approve", str(tmp_path / "exp")]) == 0
    with Catalog(Settings.from_env().catalog_path) as catalog:
        approval = require_approved(tmp_path / "exp", catalog=catalog)
    assert set(approval.files) == {
        "manifest.json",
        "trajectories.jsonl",
        "redaction-findings.jsonl",
    }


def test_approve_command_json(tmp_path, capsys):
    export = make_export(tmp_path / "exp")
    assert main(["redact", "approve", str(export), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["files"]) == {"manifest.json", "trajectories.jsonl"}
    assert main(["redact", "approve", str(tmp_path / "missing")]) == 2
