"""``modellab eval build``: decision points of an approved export become cases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.evals import SuiteOptions, read_suite
from modellab.evals._suite import _fit

from .conftest import CASES_PER_SESSION, SESSIONS, make_export


def test_every_decision_point_becomes_a_case(suite_dir: Path) -> None:
    suite = read_suite(suite_dir)
    assert len(suite.cases) == len(SESSIONS) * CASES_PER_SESSION
    assert suite.id == hashlib.sha256((suite_dir / "cases.jsonl").read_bytes()).hexdigest()
    for case in suite.cases:
        # The context stops right before the recorded action, and ends where an agent
        # would act: after the user's request or a tool result.
        assert case.messages[-1]["role"] in ("user", "tool")
        assert case.messages[0]["role"] == "system"
    # The working folder is redacted to a stable placeholder, which still groups by repo.
    repo = {c.session_id: c.slices["repo"] for c in suite.cases}
    assert repo["s-alpha-1"] == repo["s-alpha-2"] != repo["s-beta-1"] == repo["s-beta-2"]
    assert all(r.startswith("<WORKSPACE:") for r in repo.values())
    first = [c for c in suite.cases if c.session_id == "s-alpha-1"]
    assert [c.expected.kind for c in first] == ["tool"] * 4 + ["answer"]
    # Slices use the shared tool vocabulary; the expected call keeps the recorded name.
    assert [c.slices["tool"] for c in first] == [
        "exec_shell",
        "read_file",
        "edit_file",
        "exec_shell",
        "(answer)",
    ]
    assert first[0].expected.calls[0].name == "bash"
    assert json.loads(first[0].expected.calls[0].arguments) == {"command": "ls -la src"}
    # Every tool the session used is offered at every point, not only the ones used so far.
    assert {t["function"]["name"] for t in first[0].tools} == {"bash", "read", "edit"}


def test_an_unapproved_export_is_refused(tmp_path: Path) -> None:
    export = make_export(tmp_path, approve=False)
    assert main(["eval", "build", str(export), "--out", str(tmp_path / "suite")]) == 9
    assert not (tmp_path / "suite").exists()


def test_a_changed_suite_is_refused(suite_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = suite_dir / "cases.jsonl"
    cases.write_bytes(cases.read_bytes().replace(b"ls -la src", b"ls -la srd", 1))
    assert main(["eval", "run", str(suite_dir), "--model", "recorded"]) == 12
    assert "changed since the suite was built" in capsys.readouterr().err


def test_filters_max_cases_and_json(
    approved_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "few"
    args = ["eval", "build", str(approved_export), "--out", str(out), "--json"]
    assert main([*args, "--max-cases", "7", "--seed", "3"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["cases"] == 7
    chosen = [c.id for c in read_suite(out).cases]
    # The same seed picks the same cases; a non-empty folder needs --force.
    assert main([*args, "--max-cases", "7", "--seed", "3"]) == 2
    assert main([*args, "--max-cases", "7", "--seed", "3", "--force"]) == 0
    capsys.readouterr()
    assert [c.id for c in read_suite(out).cases] == chosen
    assert main([*args, "--max-cases", "0", "--force"]) == 2
    assert "--max-cases" in capsys.readouterr().err
    assert main([*args, "--outcome", "failure", "--force"]) == 12
    assert "no decision point" in capsys.readouterr().err


def test_trimming_keeps_calls_with_their_results() -> None:
    long = "x" * 4000
    context = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "task"},
    ]
    for i in range(6):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
        context.append({"role": "assistant", "content": "", "tool_calls": [call]})
        context.append({"role": "tool", "tool_call_id": f"c{i}", "content": long})
    fitted = _fit(context, max_tokens=2500)
    assert fitted[:2] == context[:2]
    calls = [m["tool_calls"][0]["id"] for m in fitted if m["role"] == "assistant"]
    results = [m["tool_call_id"] for m in fitted if m["role"] == "tool"]
    assert calls == results and calls[-1] == "c5" and "c0" not in calls
    assert sum(len(json.dumps(m)) for m in fitted) <= 2500 * 4
    # A single message over the whole budget is cut in the middle, with a note.
    huge = _fit([{"role": "user", "content": "y" * 10_000}], max_tokens=100)
    assert len(huge[0]["content"]) < 1000 and "characters cut" in huge[0]["content"]


def _fit_by_definition(context: list[dict], max_tokens: int) -> list[dict]:
    """What _fit must return, computed the slow, obvious way (every size measured anew)."""
    from modellab.evals._suite import CHARS_PER_TOKEN, _clip, _size

    budget = max_tokens * CHARS_PER_TOKEN
    head = 0
    while head < len(context) and context[head]["role"] in ("system", "user"):
        head += 1
        if context[head - 1]["role"] == "user":
            break
    groups: list[list[dict]] = []
    for message in context[head:]:
        if message["role"] == "tool" and groups:
            groups[-1].append(message)
        else:
            groups.append([message])

    def flat(groups: list[list[dict]]) -> list[dict]:
        return [m for g in groups for m in g]

    while groups and sum(_size(m) for m in context[:head] + flat(groups)) > budget:
        groups.pop(0)
    kept = context[:head] + flat(groups)
    return [_clip(m, budget // max(len(kept), 1)) for m in kept]


def test_trimming_measures_once_and_agrees_with_the_definition() -> None:
    import random

    rng = random.Random(5)
    for _ in range(200):
        context: list[dict] = [{"role": "system", "content": "s" * rng.randint(0, 300)}]
        if rng.random() < 0.9:
            context.append({"role": "user", "content": "u" * rng.randint(0, 3000)})
        for i in range(rng.randint(0, 12)):
            role = rng.choice(("assistant", "tool", "tool", "user"))
            context.append({"role": role, "content": "m" * rng.randint(0, 2500), "n": i})
        budget = rng.choice((64, 200, 800, 3000))
        assert _fit(context, budget) == _fit_by_definition(context, budget)


def test_options_are_validated(approved_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    assert (
        main(
            ["eval", "build", str(approved_export), "--out", str(out), "--max-context-tokens", "10"]
        )
        == 2
    )
    assert SuiteOptions().max_cases is None


def test_a_suite_is_built_from_an_approved_export_and_records_it(
    approved_export: Path, tmp_path: Path
) -> None:
    """The library takes the gate's ApprovedExport, never a path, and records its approval;
    the approval withdrawn afterwards refuses the suite at the moment of use."""
    from modellab.errors import NotApprovedError
    from modellab.evals import build_suite, verify_suite_approval
    from modellab.gate import open_approved
    from modellab.settings import Settings
    from modellab.store import Catalog

    with Catalog(Settings.from_env().catalog_path) as catalog:
        export = open_approved(approved_export, catalog=catalog)
        suite = build_suite(export, tmp_path / "lib-suite", SuiteOptions(), catalog=catalog)
        assert suite.manifest["approval"] == export.record()
        assert verify_suite_approval(suite, catalog).fingerprint == export.fingerprint
        with catalog.transaction() as db:
            db.execute("DELETE FROM approvals WHERE export_dir = ?", (str(export.path),))
        with pytest.raises(NotApprovedError, match=str(export.path)):
            verify_suite_approval(suite, catalog)
