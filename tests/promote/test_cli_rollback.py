"""``modellab promote --rollback`` and ``--history``: undoing promotions, one at a time."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from modellab.cli import main
from modellab.cli._exit import PROMOTION_ERROR

ORIGINAL = '# mine\nprovider = "deepseek"\n\n[tui]\nstatus_items = ["mode"]\n'


def run(capsys, *argv):
    code = main(["promote", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def promote(capsys, lab, model, **kwargs):
    cid = lab.add_comparison(model=model, **kwargs)
    code, _, err = run(capsys, "--if-better", "--comparison", cid, "--context-window", "8192")
    assert code == 0, err
    return cid


def write_original(lab):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(ORIGINAL, encoding="utf-8")


def test_rollback_restores_the_file_before_the_promotion(lab, capsys):
    write_original(lab)
    promote(capsys, lab, "ft-a")
    code, out, err = run(capsys, "--rollback")
    assert code == 0, err
    assert "Rolled back promotion #1 (ft-a as 'modellab-ft-a')" in out
    assert lab.config.read_text(encoding="utf-8") == ORIGINAL
    rows = lab.rows()
    assert [r[1] for r in rows] == ["promote", "rollback"]
    provenance = json.loads(rows[1][7])
    assert provenance["undoes"] == 1 and provenance["forced"] is False
    # The promoted file is kept too: a rollback is itself undoable by hand.
    assert provenance["config"]["backup_path"] == rows[1][3]
    assert "modellab-ft-a" in Path(rows[1][3]).read_text(encoding="utf-8")


def test_rollback_of_a_created_config_removes_it(lab, capsys):
    promote(capsys, lab, "ft-a")
    assert lab.config.exists()
    code, out, _ = run(capsys, "--rollback")
    assert code == 0 and "(there was none before)" in out
    assert not lab.config.exists()


def test_a_second_rollback_goes_one_promotion_further(lab, capsys):
    write_original(lab)
    promote(capsys, lab, "ft-a")
    after_a = lab.config.read_bytes()
    promote(capsys, lab, "ft-b")
    assert tomllib.loads(lab.config.read_text())["default_text_model"] == "ft-b"
    assert run(capsys, "--rollback")[0] == 0
    assert lab.config.read_bytes() == after_a
    assert run(capsys, "--rollback")[0] == 0
    assert lab.config.read_text(encoding="utf-8") == ORIGINAL
    code, _, err = run(capsys, "--rollback")
    assert code == 2 and "no promotion of" in err and "left to roll back" in err


def test_rollback_refuses_after_a_manual_edit_unless_forced(lab, capsys):
    write_original(lab)
    promote(capsys, lab, "ft-a")
    edited = lab.config.read_text(encoding="utf-8") + "\n[notifications]\nquiet = true\n"
    lab.config.write_text(edited, encoding="utf-8")

    code, _, err = run(capsys, "--rollback")
    assert code == PROMOTION_ERROR
    assert "changed since promotion #1 wrote it" in err and "--force" in err
    assert lab.config.read_text(encoding="utf-8") == edited
    assert [r[1] for r in lab.rows()] == ["promote"]

    code, out, _ = run(capsys, "--rollback", "--force")
    assert code == 0
    assert lab.config.read_text(encoding="utf-8") == ORIGINAL
    rollback = lab.rows()[1]
    assert json.loads(rollback[7])["forced"] is True
    # The hand edit is not lost: it is the rollback's backup.
    assert Path(rollback[3]).read_text(encoding="utf-8") == edited
    assert f"kept in {rollback[3]}" in out


def test_rollback_refuses_when_the_backup_was_tampered_with(lab, capsys):
    write_original(lab)
    promote(capsys, lab, "ft-a")
    backup = lab.rows()[0][3]
    with open(backup, "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    code, _, err = run(capsys, "--rollback", "--force")
    assert code == PROMOTION_ERROR and "changed since it was made" in err
    assert "modellab-ft-a" in lab.config.read_text(encoding="utf-8")


def test_rollback_dry_run(lab, capsys):
    write_original(lab)
    promote(capsys, lab, "ft-a")
    promoted = lab.config.read_bytes()
    code, out, _ = run(capsys, "--rollback", "--dry-run")
    assert code == 0
    assert "Would undo promotion #1" in out and '+provider = "deepseek"' in out
    assert lab.config.read_bytes() == promoted and len(lab.rows()) == 1


def test_history_table_and_json(lab, capsys):
    code, out, _ = run(capsys, "--history")
    assert code == 0 and "No promotions yet." in out
    write_original(lab)
    cid = promote(capsys, lab, "ft-a")
    promote(capsys, lab, "ft-b")
    run(capsys, "--rollback")

    code, out, _ = run(capsys, "--history")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID", "WHEN", "(UTC)", "ACTION", "PROVIDER", "MODEL", "COMPARISON", "STATE", "CONFIG"
    ]  # fmt: skip
    assert "modellab-ft-a" in lines[2] and cid[:12] in lines[2] and "in effect" in lines[2]
    assert "undone by #3" in lines[3]
    assert "rollback" in lines[4] and "undid #2" in lines[4]

    code, out, _ = run(capsys, "--history", "--json")
    history = json.loads(out)
    assert [(h["id"], h["action"], h["undone_by"]) for h in history] == [
        (1, "promote", None),
        (2, "promote", 3),
        (3, "rollback", None),
    ]
    assert history[0]["provenance"]["comparison"] == cid


def test_rollback_json(lab, capsys):
    promote(capsys, lab, "ft-a")
    code, out, _ = run(capsys, "--rollback", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["undoes"] == 1 and report["removes_file"] is True
    assert report["rollback"]["id"] == 2
