"""``modellab redact review``: scripted and interactive decisions, re-redaction, approval."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from factories import assistant, result, saved_session, user, write_session
from modellab.cli import main
from modellab.errors import StaleApprovalError
from modellab.gate import open_approved as require_approved
from modellab.settings import Settings
from modellab.store import Catalog

TOKEN = "ghp_" + "Kx7" * 12
OPS = "ops@acme-corp.io"
NOREPLY = "dana.kim@build.acme-corp.io"


@pytest.fixture
def export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    session = saved_session(
        [
            user(f"Deploy Halcyon to staging and mail {OPS} when done."),
            assistant("Deploying.", ("c1", "bash", {"command": "./deploy.sh staging"})),
            result("c1", f"GITHUB_TOKEN={TOKEN}\nsent by {NOREPLY}\nHalcyon is up"),
            assistant("Halcyon is deployed."),
        ],
        session_id="deploy",
    )
    write_session(tmp_path / "sessions", session)
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    out = tmp_path / "export"
    assert main(["export", "--all", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def _review_json(export: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    capsys.readouterr()
    assert main(["redact", "review", str(export), "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def _text(export: Path) -> str:
    return (export / "trajectories.jsonl").read_text()


def _hash_of(report: dict, rule: str, placeholder: str) -> str:
    (group,) = [
        g for g in report["groups"] if g["rule"] == rule and g["replacement"] == placeholder
    ]
    return str(group["sha256"])


def test_list_and_json_show_hashes_and_places_never_values(export, capsys):
    assert main(["redact", "review", str(export), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "github-token" in listed and "email" in listed and "workspace-path" in listed
    assert "still to decide" in listed
    report = _review_json(export, capsys)
    assert report["complete"] is False and report["undecided"] == report["values"] == 4
    rules = [g["rule"] for g in report["groups"]]
    assert rules[0] == "github-token" and rules[-1] == "workspace-path"  # secrets first
    assert {g["decision"] for g in report["groups"]} == {None}
    assert all(g["examples"][0]["session"] == "deploy" for g in report["groups"])
    for value in (TOKEN, OPS, NOREPLY, "/home/dev/proj"):
        assert value not in listed and value not in json.dumps(report)


def test_allowlist_and_terms_redact_the_export_again_and_persist(export, tmp_path, capsys):
    first = _review_json(export, capsys, "--accept-rule", "github-token")
    noreply = _hash_of(first, "email", "<EMAIL:2>")
    assert NOREPLY not in _text(export) and "Halcyon" in _text(export)
    report = _review_json(export, capsys, "--allow-hash", noreply[:10], "--add-term", "Halcyon")
    assert report["redacted_again"] is True
    text = _text(export)
    assert NOREPLY in text  # a reviewed false positive is no longer redacted
    assert "Halcyon" not in text and text.count("<TERM:1>") == 3
    assert TOKEN not in text and OPS not in text
    decided = {g["rule"]: g["decision"] for g in report["groups"]}
    assert decided["github-token"] == "keep"  # carried over to the new version
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["redaction"]["allowlisted_values"] == 1
    assert manifest["redaction"]["custom_terms"] == 1
    assert "Halcyon" not in (export / "manifest.json").read_text()
    # Both persist: the next export starts from them.
    later = tmp_path / "later"
    assert main(["export", "--all", "--out", str(later)]) == 0
    assert NOREPLY in _text(later) and "Halcyon" not in _text(later)


def test_bad_decisions_are_refused_by_name(export, capsys):
    assert main(["redact", "review", str(export), "--accept-rule", "stripe-key"]) == 2
    assert "--accept-rule stripe-key: no findings of that rule" in capsys.readouterr().err
    assert main(["redact", "review", str(export), "--allow-hash", "xyz"]) == 2
    assert "at least 8 hex digits" in capsys.readouterr().err
    assert main(["redact", "review", str(export), "--allow-hash", "0" * 12]) == 2
    assert "no value in this export" in capsys.readouterr().err
    assert main(["redact", "review", str(export), "--add-term", "ab"]) == 2
    assert "too short" in capsys.readouterr().err
    assert _review_json(export, capsys)["undecided"] == 4  # nothing was recorded


def test_interactive_review_reveals_only_on_request(export, capsys, monkeypatch):
    # github-token: reveal, then keep; first e-mail: false positive; then quit.
    monkeypatch.setattr("sys.stdin", io.StringIO("v\nk\nf\nq\n"))
    assert main(["redact", "review", str(export)]) == 0
    out = capsys.readouterr().out
    before_reveal, after_reveal = out.split("value: ", 1)
    assert TOKEN not in before_reveal and "⟦<SECRET:github-token:1>⟧" in before_reveal
    assert after_reveal.startswith(repr(TOKEN))
    assert "redacted again" in out and "still to decide" in out
    text = _text(export)
    assert (OPS in text) != (NOREPLY in text)  # exactly one e-mail was allowed
    report = _review_json(export, capsys)
    assert [g["rule"] for g in report["groups"] if g["decision"] == "keep"] == ["github-token"]
    # End of input ends the review too, keeping what was decided.
    monkeypatch.setattr("sys.stdin", io.StringIO("r\n"))
    assert main(["redact", "review", str(export)]) == 0
    assert _review_json(export, capsys)["undecided"] == 1  # the workspace path


def test_a_term_added_interactively_applies_at_once(export, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("t\nHalcyon\nk\n"))
    assert main(["redact", "review", str(export)]) == 0
    capsys.readouterr()
    assert "Halcyon" not in _text(export) and "<TERM:1>" in _text(export)


def test_changes_after_approval_need_a_new_review(export, capsys):
    assert main(["redact", "approve", str(export)]) == 9
    assert "4 redacted value(s) not reviewed yet" in capsys.readouterr().err
    assert _review_json(export, capsys, "--accept-all")["complete"] is True
    assert main(["redact", "approve", str(export)]) == 0
    with Catalog(Settings.from_env().catalog_path) as catalog:
        require_approved(export, catalog=catalog)
    # A new term rewrites the export: the approval is stale, the new value undecided.
    report = _review_json(export, capsys, "--add-term", "Halcyon")
    assert report["undecided"] == 1 and report["groups"]
    with (
        Catalog(Settings.from_env().catalog_path) as catalog,
        pytest.raises(StaleApprovalError),
    ):
        require_approved(export, catalog=catalog)
    assert main(["redact", "approve", str(export)]) == 9
    assert "custom-term 1" in capsys.readouterr().err


def test_damaged_or_raw_exports_cannot_be_reviewed(export, tmp_path, capsys):
    findings = export / "redaction-findings.jsonl"
    findings.write_text(findings.read_text().replace('"email"', '"phone"', 1))
    assert main(["redact", "review", str(export), "--list"]) == 7
    assert "does not match the sha256" in capsys.readouterr().err
    raw = tmp_path / "raw"
    assert main(["export", "--all", "--raw", "--out", str(raw)]) == 0
    capsys.readouterr()
    assert main(["redact", "review", str(raw)]) == 9
    assert "nothing to review" in capsys.readouterr().err
    assert main(["redact", "review", str(tmp_path / "nowhere")]) == 2


def test_the_list_tells_shared_placeholders_apart_and_orders_them(tmp_path, capsys):
    homes = [f"/home/{name}/src" for name in ("alice", "bobby", "carol")]
    session = saved_session(
        [
            user("Compare the three checkouts, and mail a@corp-x.io and b@corp-x.io."),
            assistant("Listing.", ("c1", "bash", {"command": "ls " + " ".join(homes)})),
            result("c1", "\n".join(f"{home}/app.py" for home in homes)),
            assistant("Done."),
        ],
        session_id="homes",
    )
    write_session(tmp_path / "sessions", session)
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    out = tmp_path / "export"
    assert main(["export", "--all", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["redact", "review", str(out), "--list"]) == 0
    listing = capsys.readouterr().out
    # Three different home folders, all "~" in the export: numbered here, with hash and count.
    assert all(f"~ ({n} of 3)" in listing for n in (1, 2, 3))
    # Placeholders in their own order.
    assert listing.index("<EMAIL:1>") < listing.index("<EMAIL:2>")


def test_approval_refusal_and_added_terms_say_what_to_do(export, capsys):
    assert main(["redact", "approve", str(export)]) == 9
    err = capsys.readouterr().err
    assert "--accept-rule RULE" in err and "--accept-all" in err
    assert main(["redact", "review", str(export), "--add-term", "Halcyon"]) == 0
    out = capsys.readouterr().out
    assert "Added 'Halcyon'" in out and "--accept-rule custom-term" in out
