"""What an import says about what it could not import, for every importer.

A file whose content maps to nothing fails (exit 1) with its path, its record count and the
reasons; a folder import names every file it did not import and why; such a file can then
be imported by naming its path, or fails with one line naming it.

The ``Hollow`` importer below is synthetic: it stands for any importer (a plugin's too) that
hands back sessions with no steps, to show the rule lives in ``importing.py``, not in one
importer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import modellab.importing
from modellab.cli import main
from modellab.sources import FileImport
from modellab.traces import Agent, Provenance, Session, Step, Turn

V1_OUTPUT = Path(__file__).resolve().parents[1] / "data" / "openhands-v1" / "output.jsonl"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _session(path: Path, sid: str, steps: int) -> Session:
    data = path.read_bytes()
    made = tuple(Step(source="user", text=f"prompt {i}") for i in range(steps))
    return Session(
        id=sid,
        source="hollow",
        agent=Agent(name="hollow"),
        turns=(Turn(index=0, steps=made),) if made else (),
        provenance=Provenance.of_bytes(
            path, data, source_format="hollow", source_format_version=None, parser_version="1"
        ),
    )


class Hollow:
    """A synthetic importer for ``*.hollow`` files: ``{"sessions": {id: steps}, ...}``."""

    name = "hollow"
    parser_version = "1"

    def default_roots(self, settings: Any) -> list[Path]:
        return []

    def discover(self, root: Path) -> Any:
        yield from sorted(root.glob("*.hollow"))

    def sniff(self, path: Path, head: bytes) -> bool:
        return path.suffix == ".hollow"

    def read(self, path: Path) -> FileImport:
        spec = json.loads(path.read_text())
        report = FileImport(path=path, importer=self.name)
        report.lines_total = spec["total"]
        report.lines_mapped = spec["mapped"]
        for reason, count in spec["skipped"].items():
            report.skip(reason, count)
        for sid, steps in spec["sessions"].items():
            report.sessions.append(_session(path, sid, steps))
        return report


@pytest.fixture
def hollow(monkeypatch: pytest.MonkeyPatch) -> None:
    real = modellab.importing.collect_importers
    monkeypatch.setattr(
        modellab.importing, "collect_importers", lambda manager: [*real(manager), Hollow()]
    )


def _hollow(folder: Path, name: str, **spec: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.hollow"
    path.write_text(json.dumps(spec))
    return path


def test_an_openhands_file_of_nothing_but_bookkeeping_fails_and_says_why(tmp_path, capsys):
    row = json.loads(V1_OUTPUT.read_text().splitlines()[0])
    row["history"] = [e for e in row["history"] if e["kind"] == "ConversationStateUpdateEvent"]
    row["history"].append({"id": "x", "kind": "BrandNewEvent", "source": "agent"})
    row["instruction"] = None
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(row) + "\n")
    code, out, _ = run(capsys, "sessions", "import", str(path))
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert str(path) in line
    assert "nothing in the file could be mapped: 3 records, all skipped" in line
    assert "2 conversation state update" in line and "'BrandNewEvent'" in line
    code, out, _ = run(capsys, "sessions", "import", str(path), "--force", "--json")
    (outcome,) = json.loads(out)["files"]
    assert code == 1 and outcome["status"] == "failed" and outcome["lines_total"] == 3
    assert run(capsys, "sessions", "list", "--json")[1].strip() == "[]"  # nothing stored


def test_sessions_with_no_steps_from_skipped_records_fail_any_importer(hollow, tmp_path, capsys):
    path = _hollow(
        tmp_path,
        "lost",
        total=5,
        mapped=1,
        skipped={"unknown record": 4},
        sessions={"a": 0, "b": 0},
    )
    code, out, _ = run(capsys, "sessions", "import", str(path), "--json")
    (outcome,) = json.loads(out)["files"]
    assert code == 1 and outcome["status"] == "failed"
    assert outcome["error"] == (
        "no step could be built (2 sessions with no steps; 4 records skipped: 4 unknown record)"
    )


def test_some_empty_sessions_are_a_warning_naming_the_file(hollow, tmp_path, capsys):
    path = _hollow(
        tmp_path,
        "partly",
        total=6,
        mapped=4,
        skipped={"unknown record": 2},
        sessions={"full": 2, "empty": 0},
    )
    code, out, err = run(capsys, "sessions", "import", str(path))
    assert code == 0 and "sessions 2 new" in out
    assert f"{path}: 1 of 2 sessions have no steps (2 records skipped: 2 unknown record)" in err


def test_a_session_that_is_empty_at_its_source_is_imported_quietly(hollow, tmp_path, capsys):
    path = _hollow(tmp_path, "blank", total=0, mapped=0, skipped={}, sessions={"blank": 0})
    code, out, err = run(capsys, "sessions", "import", str(path))
    assert code == 0 and "sessions 1 new" in out and err == ""


def test_a_folder_names_every_file_it_did_not_import(tmp_path, capsys):
    folder = tmp_path / "runs"
    (folder / "notes").mkdir(parents=True)
    shutil.copy(V1_OUTPUT, folder / "output.jsonl")  # found: OpenHands discovers *.jsonl
    shutil.copy(V1_OUTPUT, folder / "notes" / "run.json")  # OpenHands content, not its layout
    (folder / "a.json").write_text('{"hello": 1}')
    (folder / "b.txt").write_text("plain text")
    (folder / ".hidden").write_text("ignored")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("ignored")
    code, out, _ = run(capsys, "sessions", "import", str(folder))
    assert code == 0
    assert "2 files not imported, not a session file of any known agent: a.json, b.txt" in out
    assert (
        "1 file not imported, in openhands format but not in a known folder layout "
        "(import it by path): notes/run.json"
    ) in out
    code, out, _ = run(capsys, "sessions", "import", str(folder), "--json")
    report = json.loads(out)
    assert report["counts"]["files_not_imported"] == 3
    listed = {Path(i["path"]).name: (i["reason"], i["format"]) for i in report["not_imported"]}
    assert listed == {
        "a.json": ("not a session file of any known agent", None),
        "b.txt": ("not a session file of any known agent", None),
        "run.json": (
            "in openhands format but not in a known folder layout (import it by path)",
            "openhands",
        ),
    }
    # Named by its path, the file in a known format imports ...
    code, out, _ = run(capsys, "sessions", "import", str(folder / "notes" / "run.json"), "--json")
    assert code == 0 and json.loads(out)["files"][0]["importer"] == "openhands"
    # ... and one of no known format fails with one line naming it.
    code, out, _ = run(capsys, "sessions", "import", str(folder / "b.txt"))
    assert code == 1
    (line,) = [line for line in out.splitlines() if str(folder / "b.txt") in line]
    assert line.startswith("FAILED") and "not a session file of any known agent" in line


def test_a_folder_with_nothing_importable_exits_non_zero(tmp_path, capsys):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "readme.md").write_text("# hi")
    code, out, _ = run(capsys, "sessions", "import", str(tmp_path / "stuff"))
    assert code == 1
    assert "1 file not imported, not a session file of any known agent: readme.md" in out


def test_files_read_with_a_session_are_not_reported(corpus, tmp_path, capsys):
    """Claude Code subagent transcripts are read with their parent session, never alone."""
    source = corpus / "claude-code-spotter"
    code, out, _ = run(capsys, "sessions", "import", str(source), "--json")
    assert code == 0
    report = json.loads(out)
    names = {Path(i["path"]).name for i in report["not_imported"]}
    sidecars = {Path(s).name for f in report["files"] for s in f["sidecars"]}
    assert "agent-a93ccab.jsonl" in sidecars and not names & sidecars
    assert names == {"LICENSE.upstream", "UPSTREAM_FIXTURES_README.md"}
    # A second import finds every file unchanged and still does not report the sidecars.
    code, out, _ = run(capsys, "sessions", "import", str(source), "--json")
    again = json.loads(out)
    assert code == 0 and again["counts"]["files_unchanged"] == len(again["files"])
    assert {Path(i["path"]).name for i in again["not_imported"]} == names
