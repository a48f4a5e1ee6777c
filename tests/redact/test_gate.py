"""The gate: approvals bound to file hashes, refusals for every unsafe case."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from factories import exported, saved_session, write_session
from modellab.cli import main
from modellab.errors import NotApprovedError, RawExportError, StaleApprovalError
from modellab.gate import approval_marks, approve_export, open_approved
from modellab.gate.layout import APPROVAL_MARKER
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
    passed = open_approved(export, catalog=catalog)
    assert passed.files == approved.files
    assert set(passed.files) == {"manifest.json", "trajectories.jsonl"}
    assert passed.approved_by == "alex"


def test_no_approval_is_refused(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    with pytest.raises(NotApprovedError, match="never approved"):
        open_approved(export, catalog=catalog)


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
        open_approved(export, catalog=catalog)
    # Approving again (after a new review) makes it pass.
    approve_export(catalog, export)
    open_approved(export, catalog=catalog)


@pytest.mark.parametrize("status", ["raw", "not-redacted"])
def test_unredacted_exports_can_never_be_approved_or_sent(tmp_path, catalog, status):
    export = make_export(tmp_path / "exp", status)
    with pytest.raises(RawExportError, match=status):
        approve_export(catalog, export)
    with pytest.raises(RawExportError):
        open_approved(export, catalog=catalog)


def test_an_export_without_a_manifest_is_treated_as_raw(tmp_path, catalog):
    export = tmp_path / "loose"
    export.mkdir()
    (export / "trajectories.jsonl").write_text("{}\n")
    with pytest.raises(RawExportError, match="no readable manifest"):
        open_approved(export, catalog=catalog)


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
        approval = open_approved(tmp_path / "exp", catalog=catalog)
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


# --- an approval is per catalog (per MODELLAB_HOME) ---------------------------------------


def _catalog(home: Path) -> Catalog:
    return Catalog(home / "catalog.sqlite")


def test_an_approval_under_another_home_is_named_and_never_honoured(tmp_path):
    export = make_export(tmp_path / "exp")
    with _catalog(tmp_path / "home-a") as a, _catalog(tmp_path / "home-b") as b:
        assert a.catalog_id != b.catalog_id
        approve_export(a, export)
        marker = json.loads((export / APPROVAL_MARKER).read_text())
        # The marker names the catalog by its random id and never by a path.
        assert [m["catalog_id"] for m in marker["approvals"]] == [a.catalog_id]
        assert str(tmp_path) not in (export / APPROVAL_MARKER).read_text()
        with pytest.raises(NotApprovedError) as refused:
            open_approved(export, catalog=b)
        message = str(refused.value)
        assert "approved under another Model Lab home" in message
        assert f"catalog {a.catalog_id[:12]}" in message and b.catalog_id[:12] in message
        assert "never approved" not in message
        assert "MODELLAB_HOME" in (refused.value.hint or "")
        # The marker is not one of the approved files, and A's approval still passes.
        assert APPROVAL_MARKER not in open_approved(export, catalog=a).files
        # Approving in B too: both pass, and the marker lists both catalogs.
        approve_export(b, export)
        open_approved(export, catalog=b)
        open_approved(export, catalog=a)
        assert {m.catalog_id for m in approval_marks(export)} == {a.catalog_id, b.catalog_id}


def test_a_forged_marker_never_passes_the_gate(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    (export / APPROVAL_MARKER).write_text(
        json.dumps(
            {
                "approvals": [
                    {"catalog_id": catalog.catalog_id, "approved_at": "x", "files_sha256": "y"},
                    {"catalog_id": "f" * 32, "approved_at": "z", "files_sha256": "y"},
                ]
            }
        )
    )
    with pytest.raises(NotApprovedError, match=r"another Model Lab home .*files changed since"):
        open_approved(export, catalog=catalog)
    (export / APPROVAL_MARKER).write_text("not json")
    with pytest.raises(NotApprovedError, match="never approved"):
        open_approved(export, catalog=catalog)


def test_a_moved_export_says_it_was_approved_elsewhere_in_this_catalog(tmp_path, catalog):
    export = make_export(tmp_path / "exp")
    approve_export(catalog, export)
    moved = export.rename(tmp_path / "moved")
    with pytest.raises(NotApprovedError, match="moved or copied"):
        open_approved(moved, catalog=catalog)


def test_two_homes_through_the_cli(tmp_path, monkeypatch, capsys):
    home_a = Path(os.environ["MODELLAB_HOME"])
    export = exported(tmp_path, [saved_session(session_id="s-one")])
    capsys.readouterr()
    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "home-b"))
    # A gate elsewhere in the product (eval build) says why, in terms of homes.
    assert main(["eval", "build", str(export), "--out", str(tmp_path / "suite")]) == 9
    err = capsys.readouterr().err
    assert "approved under another Model Lab home" in err and "never approved" not in err
    # Approving here needs this home's own review, and the refusal says why.
    assert main(["redact", "approve", str(export)]) == 9
    err = capsys.readouterr().err
    assert "not reviewed yet" in err and "approved under another one" in err
    assert "per catalog" in err
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    assert main(["redact", "approve", str(export)]) == 0
    assert main(["eval", "build", str(export), "--out", str(tmp_path / "suite")]) == 0
    monkeypatch.setenv("MODELLAB_HOME", str(home_a))
    assert main(["eval", "build", str(export), "--out", str(tmp_path / "suite-a")]) == 0


def test_review_says_when_an_export_was_approved_under_another_home(tmp_path, monkeypatch, capsys):
    export = exported(tmp_path, [saved_session(session_id="s-one")])
    capsys.readouterr()
    monkeypatch.setenv("MODELLAB_HOME", str(tmp_path / "home-b"))
    assert main(["redact", "review", str(export), "--list"]) == 0
    out = capsys.readouterr().out
    assert "approved under another Model Lab home" in out and "per catalog" in out
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    assert main(["redact", "approve", str(export)]) == 0
    capsys.readouterr()
    assert main(["redact", "review", str(export), "--list"]) == 0
    assert "another Model Lab home" not in capsys.readouterr().out
