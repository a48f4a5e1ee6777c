"""Building blocks for the trainer tests: tiny datasets, requests, reading events.

Not a conftest: the kill-and-resume test's child script imports it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from modellab.workset import ApprovalRecord, TrainRequest

HERE = Path(__file__).resolve().parent

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "bash",
            "description": "Run a shell command.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    },
]


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, sort_keys=True)},
    }


def sft_rows() -> list[dict[str, Any]]:
    """Four conversations with tool calls and results, shaped like ``dataset build``'s rows."""
    rows = []
    tasks = [
        ("Run the tests.", "bash", {"command": "pytest -q"}, "4 passed", "All 4 tests pass."),
        (
            "Show app.py.",
            "read_file",
            {"path": "app.py"},
            "def add(a, b): return a + b",
            "app.py defines add(a, b).",
        ),
        (
            "List the files.",
            "bash",
            {"command": "ls"},
            "app.py\ntests",
            "Two entries: app.py, tests.",
        ),
        (
            "What is in README.md?",
            "read_file",
            {"path": "README.md"},
            "# Demo",
            "README.md has one heading: Demo.",
        ),
    ]
    for n, (ask, tool, args, result, answer) in enumerate(tasks):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are a coding agent."},
                    {"role": "user", "content": ask},
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_call(f"c{n}", tool, args)],
                    },
                    {"role": "tool", "tool_call_id": f"c{n}", "content": result},
                    {"role": "assistant", "content": answer},
                ],
                "tools": [t for t in TOOLS if t["function"]["name"] == tool],
            }
        )
    return rows


def overfit_rows() -> list[dict[str, Any]]:
    """Two short rows to memorise: a tool call with its result, and a plain answer."""
    bash = {
        "type": "function",
        "function": {
            "name": "bash",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
    }
    return [
        {
            "messages": [
                {"role": "user", "content": "Run the tests."},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [_call("c1", "bash", {"command": "pytest -q"})],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "4 passed"},
                {"role": "assistant", "content": "All 4 tests pass."},
            ],
            "tools": [bash],
        },
        {
            "messages": [
                {"role": "user", "content": "What is the project codename?"},
                {"role": "assistant", "content": "The codename is Bluebird, shipping Friday."},
            ],
            "tools": [],
        },
    ]


def preference_rows() -> list[dict[str, Any]]:
    """Two DPO pairs: a failed call rejected, its retry chosen."""
    rows = []
    for n, (bad, good) in enumerate(
        [("pytest -x bad", "pytest -q"), ("cat nope.py", "cat app.py")]
    ):
        rows.append(
            {
                "prompt": [
                    {"role": "system", "content": "You are a coding agent."},
                    {"role": "user", "content": f"Task {n}: check the project."},
                ],
                "chosen": [
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_call(f"g{n}", "bash", {"command": good})],
                    }
                ],
                "rejected": [
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_call(f"b{n}", "bash", {"command": bad})],
                    }
                ],
                "tools": [TOOLS[0]],
            }
        )
    return rows


def write_dataset(
    folder: Path,
    *,
    sft: list[dict[str, Any]] | None = None,
    preference: list[dict[str, Any]] | None = None,
) -> Path:
    """A dataset folder as ``modellab dataset build`` lays it out."""
    for sub, rows in (("trl-sft", sft), ("preference", preference)):
        if rows is None:
            continue
        (folder / sub).mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (folder / sub / "train.jsonl").write_text(text)
    return folder


def approval(export_dir: Path) -> ApprovalRecord:
    """A standing approval record, as the gate would hand it over."""
    export_dir.mkdir(parents=True, exist_ok=True)
    return ApprovalRecord(
        export_dir=export_dir,
        approved_at="2026-12-01T10:00:00Z",
        catalog_id="exp-0001",
        files_sha256="ab" * 32,
        files={"sessions.jsonl": "cd" * 32},
    )


def request(
    tmp: Path,
    base: Path,
    *,
    method: str = "sft-lora",
    backend: str = "trl",
    output: Path | None = None,
    resume: bool = False,
    **hyperparameters: Any,
) -> TrainRequest:
    """A TrainRequest over the dataset in ``tmp/data`` (written if missing)."""
    data = tmp / "data"
    if not data.exists():
        write_dataset(data, sft=sft_rows(), preference=preference_rows())
    return TrainRequest(
        backend=backend,
        method=method,
        base_model="smollm2-test",
        base_model_dir=base,
        dataset_dir=data,
        approval=approval(tmp / "export"),
        output_dir=output or tmp / "run",
        hyperparameters=hyperparameters,
        resume=resume,
    )


def events(output_dir: Path) -> list[dict[str, Any]]:
    """Every event in ``events.jsonl``, in order."""
    path = output_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_trainer(
    request: TrainRequest,
    engine: str = "trl",
    *,
    guard_network: Path | None = None,
    wrapper: list[str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``run_trainer.py`` on ``request`` in a fresh interpreter."""
    request_file = Path(request.output_dir).parent / f"{Path(request.output_dir).name}.json"
    request_file.write_text(request.model_dump_json())
    command = [sys.executable, str(HERE / "run_trainer.py"), str(request_file), engine]
    if guard_network is not None:
        command += ["--guard-network", str(guard_network)]
    return subprocess.Popen(
        [*(wrapper or []), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=request_file.parent,
    )


def train(request: TrainRequest, engine: str = "trl", **kwargs: Any) -> dict[str, Any]:
    """Run a trainer to the end; return its TrainResult as JSON, or fail with its stderr."""
    process = start_trainer(request, engine, **kwargs)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


def probe(
    base: Path, adapter: Path | None, conversation: dict[str, Any], tmp: Path
) -> dict[str, Any]:
    """``probe_model.py``: the answer's mean log-probability and the greedy continuation."""
    conversation_file = tmp / "probe-conversation.json"
    conversation_file.write_text(json.dumps(conversation))
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "probe_model.py"),
            str(base),
            str(adapter or "-"),
            str(conversation_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
