"""Redaction through the real export path: import CodeWhale sessions, export, read the files.

Fakes of every rule are planted in synthetic CodeWhale sessions (prompts, replies, bash
commands, tool outputs, diffs, JSON, escaped JSON and base64 command lines), imported into
a real catalog and exported, in this process and in worker processes. No planted value may
appear in any file of the export, the two ways must write identical bytes, and a value
must keep one placeholder across sessions.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from pathlib import Path

import pytest
from redact.fakes import CARRIERS, FAKES, SECRET_RULES, plant, survivors

from factories import assistant, result, saved_session, user, write_session
from modellab.cli import main
from modellab.export import write_export
from modellab.importing import run_import
from modellab.redact import (
    Placeholders,
    RedactionConfig,
    Scanner,
    load_or_create_key,
    load_rules,
    redact_trajectory,
    value_hash,
)
from modellab.review import ExportReview, field_at
from modellab.settings import Settings
from modellab.store import Catalog, Selection

GITHUB = "ghp_" + "Zq3" * 12


def _session(rng: random.Random, index: int, planted: list[str]) -> dict[str, object]:
    """A CodeWhale session whose prompt, reply, command and output carry planted fakes."""
    texts: dict[str, list[str]] = {"prompt": [], "reply": [], "command": [], "output": []}
    for number in range(4):
        rule_id = sorted(FAKES)[(index * 4 + number) % len(FAKES)]
        carriers = [c for c in CARRIERS if c != "base64" or rule_id in SECRET_RULES]
        carrier = rng.choice(carriers)
        text, value, _form = plant(rng, rule_id, carrier)
        slot = {"prompt": "prompt", "reply": "reply", "arguments": "command"}.get(carrier, "output")
        texts[slot].append(text)
        planted.append(value)
    call = f"call_{index}"
    return saved_session(
        [
            user("Please look at this. " + "\n".join(texts["prompt"])),
            assistant(
                "Checking. " + "\n".join(texts["reply"]),
                (call, "bash", {"command": "cat .env; " + " ".join(texts["command"])}),
            ),
            result(call, "\n".join(texts["output"]) + f"\nshared token {GITHUB}"),
            assistant("Done."),
        ],
        session_id=f"plant-{index:02d}",
        created_at=f"2026-10-{index % 28 + 1:02d}T00:00:00Z",
        updated_at=f"2026-10-{index % 28 + 1:02d}T00:00:00Z",
    )


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Settings, list[str]]:
    rng = random.Random(7311)
    values: list[str] = []
    folder = tmp_path / "sessions"
    for index in range(len(FAKES) // 4 + 2):  # every rule at least once
        write_session(folder, _session(rng, index, values))
    settings = Settings.from_env()
    summary = run_import(settings, [folder])
    assert not summary.failed
    return settings, values


def _export(settings: Settings, out: Path, jobs: int) -> dict[str, bytes]:
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(settings, catalog)
        write_export(catalog, Selection(), out, redaction=config, jobs=jobs)
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def test_planted_fakes_never_reach_an_export(planted, tmp_path):
    settings, values = planted
    in_process = _export(settings, tmp_path / "one", jobs=1)
    in_workers = _export(settings, tmp_path / "two", jobs=2)
    assert in_process.keys() == {
        ".modellab-output",
        "manifest.json",
        "redaction-findings.jsonl",
        "trajectories.jsonl",
    }
    # Worker processes, numbering across the export: the same bytes as one process.
    assert in_process["trajectories.jsonl"] == in_workers["trajectories.jsonl"]
    assert in_process["redaction-findings.jsonl"] == in_workers["redaction-findings.jsonl"]
    everything = b"\n".join(in_process.values()).decode()
    for value in values:
        for form in survivors(value):
            assert form not in everything, f"{form[:40]!r} survived into the export"
    # One token in every session: one placeholder, numbered once for the whole export.
    lines = in_process["trajectories.jsonl"].decode().splitlines()
    assert GITHUB not in everything
    assert all("<SECRET:github-token:1>" in line for line in lines)


def test_findings_and_review_locate_each_placeholder(planted, tmp_path):
    settings, _values = planted
    files = _export(settings, tmp_path / "out", jobs=2)
    trajectories = [json.loads(line) for line in files["trajectories.jsonl"].splitlines()]
    manifest = json.loads(files["manifest.json"])
    findings = [json.loads(line) for line in files["redaction-findings.jsonl"].splitlines()]
    assert len(findings) == manifest["redaction"]["findings"] > len(trajectories)
    assert sum(manifest["redaction"]["counts_by_rule"].values()) == len(findings)
    assert sum(v["count"] for v in manifest["redaction"]["values"]) == len(findings)
    assert [s["findings"] for s in manifest["sessions"]] == [
        sum(1 for f in findings if f["session"] == s["id"]) for s in manifest["sessions"]
    ]
    # The review places each sample in the exported text exactly at its placeholder.
    review = ExportReview.load(tmp_path / "out")
    assert {(g.rule, g.sha256) for g in review.groups} == {
        (f["rule"], f["sha256"]) for f in findings
    }
    for group in review.groups:
        assert group.samples
        for sample in group.samples:
            text = field_at(trajectories[sample.line], sample.path)
            start, end = sample.shown_span
            assert text[start:end] == group.replacement, (group.rule, sample)


def test_report_hashes_are_keyed_per_installation(planted, tmp_path):
    settings, _values = planted
    files = _export(settings, tmp_path / "out", jobs=1)
    key_path = settings.redaction_key_path
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    key = load_or_create_key(key_path)
    assert load_or_create_key(key_path) == key  # created once, then reused
    entries = json.loads(files["manifest.json"])["redaction"]["values"]
    sessions = len(json.loads(files["manifest.json"])["sessions"])
    (github,) = [e for e in entries if e["rule"] == "github-token" and e["count"] > 1]
    assert github["sha256"] == value_hash(GITHUB, key)
    assert (github["replacement"], github["count"]) == ("<SECRET:github-token:1>", sessions)
    # Not the plain sha256: nobody can confirm a guessed value from a shared report.
    assert hashlib.sha256(GITHUB.encode()).hexdigest() not in files["manifest.json"].decode()


def test_a_short_or_damaged_key_is_refused(tmp_path, capsys):
    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    settings.redaction_key_path.write_bytes(b"short")
    write_session(tmp_path / "s")
    assert main(["sessions", "import", str(tmp_path / "s")]) == 0
    assert main(["export", "--all", "--out", str(tmp_path / "out")]) == 7
    assert "redaction key has 5 bytes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_machine_identity_is_redacted(tmp_path):
    """User names from the working folder, host names from metadata and this machine."""
    session = saved_session(
        [
            user("on kestrel-ws7 as nadiaq, why does ssh to buildbox-3 fail?"),
            assistant("Looking.", ("c1", "bash", {"command": "ls /home/nadiaq/src"})),
            result("c1", "nadiaq@kestrel-ws7:~$ ls\napp"),
            assistant("It is the buildbox-3 key."),
        ],
        session_id="who",
    )
    session["metadata"]["workspace"] = "/home/nadiaq/src/app"
    write_session(tmp_path / "s", session)
    settings = Settings.from_env()
    run_import(settings, [tmp_path / "s"])
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(settings, catalog)
        config = RedactionConfig(config.hash_key, terms=(("kestrel-ws7", "HOST"),))
        write_export(catalog, Selection(), tmp_path / "out", redaction=config)
    text = (tmp_path / "out" / "trajectories.jsonl").read_text()
    trajectory = json.loads(text)
    assert "nadiaq" not in text and "kestrel-ws7" not in text
    assert "<USER:1>" in text and "<HOST:1>" in text
    assert trajectory["extra"]["modellab"]["cwd"] == "<WORKSPACE:2>"  # turn 1 had :1
    assert "buildbox-3" in text  # no session metadata named it, and it is not this machine


def test_host_names_from_session_metadata_are_redacted_everywhere():
    trajectory = {
        "session_id": "s",
        "extra": {"host": {"hostname": "buildbox-3"}, "cwd": "/home/nadiaq/app"},
        "steps": [{"step_id": 1, "message": "ssh buildbox-3 failed for nadiaq"}],
    }
    report = redact_trajectory(trajectory, Scanner(load_rules()), Placeholders())
    assert trajectory["steps"][0]["message"] == "ssh <HOST:1> failed for <USER:1>"
    assert trajectory["extra"]["cwd"] == "<WORKSPACE:1>"
    assert {e.rule_id for e in report} == {"host-name", "user-name", "workspace-path"}
