"""Structural fuzzing: a damaged file may fail to import, but only with a ``SourceError``.

Valid session files (synthetic CodeWhale files, real Claude Code and Codex fixtures) are
parsed, a few nodes are replaced by values of the wrong type, deleted, or blown up, and the
result is written back and imported. Any exception other than ``SourceError`` is a bug: the
user would see a traceback instead of one line naming the file and the reason.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO_ROOT, SHARED
from modellab.errors import SourceError
from modellab.sources.claude_code import ClaudeCodeImporter
from modellab.sources.codewhale import CodeWhaleImporter
from modellab.sources.codex import CodexImporter
from modellab.sources.openhands import OpenHandsImporter
from modellab.sources.swe_agent import SweAgentImporter
from modellab.traces import from_atif, to_atif

MUTATIONS_PER_FILE = 50
_REPLACEMENTS: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    True,
    "",
    "x" * 10_000,
    [],
    {},
    [None],
    {"type": None},
    {"type": "tool_use"},
    {"type": "tool_result"},
    [[[[[]]]]],
    "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_nodes(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_nodes(child, (*path, index)))
    return found


def _mutate(doc: Any, rng: random.Random) -> Any:
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _nodes(doc) if p]
        if not paths:
            return copy.deepcopy(rng.choice(_REPLACEMENTS))
        path = rng.choice(paths)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[last]
        else:
            # A fresh copy each time: a shared list could end up inside itself.
            parent[last] = copy.deepcopy(rng.choice(_REPLACEMENTS))
    return doc


def _check(importer: Any, path: Path) -> None:
    try:
        report = importer.read(path)
    except SourceError:
        return
    for session in report.sessions:
        # Whatever was accepted must also survive the export format.
        assert from_atif(json.loads(json.dumps(to_atif(session)))) == session


def _fuzz_json_document(importer: Any, source: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    original = json.loads(source.read_text(encoding="utf-8"))
    target = tmp_path / source.name
    for _ in range(MUTATIONS_PER_FILE):
        doc = _mutate(json.loads(json.dumps(original)), rng)
        target.write_text(json.dumps(doc), encoding="utf-8")
        _check(importer, target)


def _fuzz_jsonl(importer: Any, source: Path, tmp_path: Path, seed: int, limit: int = 400) -> None:
    rng = random.Random(seed)
    lines = source.read_text(encoding="utf-8").splitlines()[:limit]
    target = tmp_path / source.name
    for _ in range(MUTATIONS_PER_FILE):
        mutated = list(lines)
        for _ in range(rng.randint(1, 5)):
            index = rng.randrange(len(mutated))
            try:
                value = json.loads(mutated[index])
            except json.JSONDecodeError:
                continue
            mutated[index] = json.dumps(_mutate(value, rng))
        target.write_text("\n".join(mutated) + "\n", encoding="utf-8")
        _check(importer, target)


CODEWHALE_FILES = sorted((REPO_ROOT / "tests" / "data" / "codewhale" / "sessions").glob("*.json"))


@pytest.mark.parametrize("source", CODEWHALE_FILES, ids=lambda p: p.stem[:8])
def test_codewhale_saved_sessions_never_crash(source, tmp_path):
    _fuzz_json_document(CodeWhaleImporter(), source, tmp_path, seed=hash(source.name) % 1000 + 17)


@pytest.mark.parametrize(
    "source",
    sorted((REPO_ROOT / "tests" / "data" / "codewhale" / "stream-json").glob("*.ndjson"))
    + sorted((SHARED / "fixtures" / "codewhale" / "conformance").glob("*.golden.jsonl")),
    ids=lambda p: p.name.split(".")[0],
)
def test_codewhale_streams_never_crash(source, tmp_path):
    if not source.exists():
        pytest.skip(f"{source} not found (../shared is needed)")
    _fuzz_jsonl(CodeWhaleImporter(), source, tmp_path, seed=77)


@pytest.mark.parametrize("name", ["short.jsonl", "tool_heavy.jsonl"])
def test_claude_code_never_crashes(name, corpus, tmp_path):
    _fuzz_jsonl(ClaudeCodeImporter(), corpus / "claude-code-spotter" / name, tmp_path, seed=111)


@pytest.mark.parametrize("name", ["turn-1.jsonl", "turn-2.jsonl", "turn-spawn-skill.jsonl"])
def test_codex_never_crashes(name, corpus, tmp_path):
    source = corpus / "codex-rollouts-codemie" / "session-fixtures" / name
    _fuzz_jsonl(CodexImporter(), source, tmp_path, seed=131)


@pytest.mark.parametrize(
    "name",
    ["pydicom__pydicom-1458.traj", "marshmallow-code__marshmallow-1867.function_calling.traj"],
)
def test_swe_agent_never_crashes(name, corpus, tmp_path):
    _fuzz_json_document(SweAgentImporter(), corpus / "swe-agent-traj" / name, tmp_path, seed=151)


def test_openhands_never_crashes(corpus, tmp_path):
    source = corpus / "openhands" / "multi_swe_bench_output.jsonl"
    _fuzz_jsonl(OpenHandsImporter(), source, tmp_path, seed=171)
