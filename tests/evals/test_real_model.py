"""The whole eval against a real model: SmolLM2-135M served by llama-cpp-python on loopback.

Nothing here is scripted: the answers are whatever the model produces at temperature 0.
What must hold is what Model Lab controls: every case is sent once and graded, the run is
stored and repeatable, and the comparison and report come out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modellab.cli import main

from . import llama_server

#: Cases replayed (of the 20 in the fixture export), chosen by a seeded hash.
CASES = 10

pytestmark = pytest.mark.skipif(
    not llama_server.installed(),
    reason="llama-cpp-python server not installed: run 'python3 tests/evals/llama_server.py' "
    "(python3 dev.py test does it)",
)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server.serve(log=log) as base_url:
        yield base_url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["eval", "run", *args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_smollm2_against_recorded(
    smollm2: str, approved_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite"
    build = ["eval", "build", str(approved_export), "--out", str(suite)]
    # Small contexts and answers keep this to about a minute on two CPUs.
    assert main([*build, "--max-context-tokens", "400", "--max-cases", str(CASES)]) == 0
    model = ["--base-url", smollm2, "--model", llama_server.MODEL_ALIAS, "--max-tokens", "48"]
    html = tmp_path / "report.html"
    report = _run(
        capsys,
        str(suite),
        *model,
        "--concurrency",
        "2",
        "--against",
        "recorded",
        "--html",
        str(html),
    )
    stats = report["statistics"]
    total = CASES
    assert stats["n"] == total and stats["baseline_score"] == 1.0
    assert 0.0 <= stats["candidate_score"] <= 1.0
    assert stats["mcnemar"]["c"] == 0  # nothing beats the recorded actions
    assert report["candidate"]["endpoint"] == smollm2
    assert "<svg" in html.read_text()

    from modellab.evals import RunStore
    from modellab.settings import Settings
    from modellab.store import Catalog

    with Catalog(Settings.from_env().catalog_path) as catalog:
        first = RunStore(catalog).results(report["candidate"]["run_id"])
    assert len(first) == total
    assert all(r.status == "answered" and r.latency_ms for r in first.values())
    assert all(r.prompt_tokens and r.prompt_tokens > 0 for r in first.values())

    # Temperature 0 and a fixed seed: a fresh run gives the same actions, case by case.
    again = _run(capsys, str(suite), *model, "--fresh")
    with Catalog(Settings.from_env().catalog_path) as catalog:
        second = RunStore(catalog).results(again["candidate_run"])
    assert again["candidate_run"] != report["candidate"]["run_id"]
    assert {k: r.action for k, r in second.items()} == {k: r.action for k, r in first.items()}
