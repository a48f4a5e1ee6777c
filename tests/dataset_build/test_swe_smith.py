"""Parity with SWE-smith's own SFT file for the same resolved trajectory.

``shared/corpus/swe-smith-trajs/ft_xml_example.jsonl`` is SWE-smith's ``transform_to_ft``
output ("xml" style) for ``pydantic__pydantic.acb0f10f.pr_8316``. The trajectory goes
through the real flow here (import with the SWE-agent importer, redacted export, review,
approval, ``dataset build``), with SWE-smith's system prompt as ``--system-prompt``, since
SWE-smith also replaces the trajectory's own. The mapping asserted below is exact; each
difference is explained in docs/datasets.md ("SWE-smith parity"):

* SWE-smith renders a call as ``{thought}\\n\\n<function=NAME><parameter=K>V</parameter>
  </function>`` in the assistant's text; we keep the thought as ``content`` and the call
  as ``tool_calls``.
* SWE-smith sends results back as ``user`` messages wrapped by SWE-agent's observation
  template (``OBSERVATION:\\n`` + output, or a fixed sentence for empty output); we send the
  raw output as a ``tool`` message.
* SWE-smith takes the messages of the last step's query, which ends at the ``submit`` call:
  our row also has the submit's result (the patch), one more message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataset_build.builders import build, rows
from modellab.cli import main

INSTANCE = "pydantic__pydantic.acb0f10f.pr_8316"
OBSERVATION = "OBSERVATION:\n"
NO_OUTPUT = "Your command ran successfully and did not produce any output."
#: SWE-smith's parameters that get a newline on each side (``XML_STR_REPLACES``).
_PADDED = {"old_str", "new_str", "file_text"}
_FUNCTION = re.compile(r"<function=([^>]+)>\n(.*?)</function>\s*$", re.S)
_PARAMETER = re.compile(r"<parameter=([^>]+)>(.*?)</parameter>", re.S)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _xml_action(content: str) -> tuple[str, str, dict[str, str]]:
    """SWE-smith's assistant text as (thought, function name, parameters)."""
    thought, _, action = content.partition("\n\n<function=")
    match = _FUNCTION.fullmatch("<function=" + action)
    assert match, content[-300:]
    params = {
        key: value[1:-1] if key in _PADDED else value
        for key, value in _PARAMETER.findall(match.group(2))
    }
    return thought, match.group(1), params


@pytest.fixture
def theirs(corpus: Path) -> list[dict]:
    lines = (corpus / "swe-smith-trajs" / "ft_xml_example.jsonl").read_text("utf-8").splitlines()
    (row,) = [r for r in map(json.loads, lines) if r["instance_id"] == INSTANCE]
    return row["messages"]


@pytest.fixture
def ours(corpus: Path, theirs: list[dict], tmp_path: Path, capsys) -> list[dict]:
    traj = corpus / "swe-smith-trajs" / "trajectories" / f"{INSTANCE}.traj"
    assert main(["sessions", "import", str(traj)]) == 0
    export = tmp_path / "export"
    assert main(["export", "--all", "--out", str(export)]) == 0
    assert main(["redact", "review", str(export), "--accept-all"]) == 0
    assert main(["redact", "approve", str(export)]) == 0
    prompt = tmp_path / "swesmith-system.txt"
    prompt.write_text(theirs[0]["content"], encoding="utf-8")
    flags = [
        "--from",
        "successful-sessions",
        "--test-fraction",
        "0",
        "--system-prompt",
        str(prompt),
    ]
    manifest = build(export, tmp_path / "ds", capsys, *flags)
    assert manifest["counts"]["train"]["rows"] == 1  # resolved, so a successful session
    (row,) = rows(tmp_path / "ds" / "trl-sft" / "train.jsonl")
    return row["messages"]


def test_our_row_carries_the_same_turns_as_swe_smiths(ours, theirs):
    # One more message: the submit call's result, which SWE-smith's row stops before.
    assert len(ours) == len(theirs) + 1 == 46
    assert ours[-1]["role"] == "tool" and ours[-1]["content"].startswith("diff --git")
    roles = {"tool": "user"}  # results: tool messages here, user messages there
    assert [roles.get(m["role"], m["role"]) for m in ours[:-1]] == [m["role"] for m in theirs]
    assert ours[0] == theirs[0]  # the system prompt, swapped in
    assert ours[1]["content"] == theirs[1]["content"]  # the task
    empty = 0
    for mine, their in zip(ours[2:-1], theirs[2:], strict=True):
        if mine["role"] == "tool":
            if mine["content"] == "":
                empty += 1
                assert their["content"] == NO_OUTPUT
            else:
                assert their["content"] == OBSERVATION + mine["content"]
            continue
        thought, name, params = _xml_action(their["content"])
        (call,) = mine["tool_calls"]
        assert _norm(mine["content"]) == _norm(thought)
        assert call["function"]["name"] == name
        arguments = json.loads(call["function"]["arguments"])
        assert {k: str(v) for k, v in arguments.items()} == params
    assert empty == 1  # the one command with no output
