"""Output formats: what each writes, and the sharegpt-style layouts made from an SFT row.

``trl-sft`` rows are the canonical rendering (:mod:`modellab.datasets._rows`); ``nemo`` and
``llama-factory`` are layouts of the same rows, so the three always hold the same
conversations. ``preference`` and ``unpaired`` rows come from
:mod:`modellab.datasets._preference`. What was checked against each project's own code
is in ``docs/datasets.md``.

**nemo**: NeMo's SFT chat JSONL (``GPTSFTChatDataset``): ``system``, ``conversations`` of
``{"from": "User" | "Assistant", "value": ...}``, ``"mask": "User"`` (the role left out of
the loss) and ``"type": "VALUE_TO_TEXT"``. The format has two speakers and no tool roles,
so a call is written into the assistant's text as ``<tool_call>{"name", "arguments"}
</tool_call>`` and a result comes back as a User turn in ``<tool_response>`` tags (masked
from the loss, as a tool result should be). Consecutive turns of one speaker are joined
with a blank line. The row's tool definitions are kept as a JSON string under ``tools``,
which NeMo carries as metadata and does not train on.

**llama-factory**: LLaMA-Factory's sharegpt layout: ``conversations`` of ``{"from",
"value"}`` with ``human``, ``gpt``, ``function_call`` and ``observation``; ``system``; and
``tools`` as a JSON string. LLaMA-Factory requires human/observation at odd positions and
gpt/function_call at even ones, and an even count, so: parallel calls are one
``function_call`` holding a JSON list; their results are one ``observation`` joined the way
LLaMA-Factory's own OpenAI-format converter joins them; text an assistant wrote beside a
call is dropped (that converter also replaces it by the call); consecutive texts of one
side are joined; a result followed by a user prompt becomes one ``human`` message; and a
trailing result or prompt is dropped. Each adjustment is counted in the manifest. A row
that still cannot alternate (it starts with the assistant) is skipped and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "FORMATS",
    "SFT_FORMATS",
    "Format",
    "format_files",
    "llama_factory_info",
    "to_llama_factory",
    "to_nemo",
]

Format = Literal["trl-sft", "preference", "unpaired", "nemo", "llama-factory"]
#: Every ``--format``, in the order ``--help`` lists them.
FORMATS: tuple[Format, ...] = ("trl-sft", "preference", "unpaired", "nemo", "llama-factory")
#: Formats that lay out the SFT rows (the others have rows of their own).
SFT_FORMATS: frozenset[Format] = frozenset({"trl-sft", "nemo", "llama-factory"})
#: What LLaMA-Factory's own OpenAI-format converter puts between parallel results.
_RESULT_JOIN = "\n</tool_response>\n<tool_response>\n"
_ODD = ("human", "observation")


def format_files(name: Format) -> dict[str, str]:
    """The files a format writes, by split: every format has a folder of its own name,
    ``<format>/train.jsonl`` and ``<format>/test.jsonl``, beside the build's manifest, card
    and de-duplication report at the top."""
    return {"train": f"{name}/train.jsonl", "test": f"{name}/test.jsonl"}


def _arguments(call: Mapping[str, Any]) -> Any:
    return json.loads(call["function"]["arguments"])


def _call_objects(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": call["function"]["name"], "arguments": _arguments(call)}
        for call in message.get("tool_calls", ())
    ]


def _split_system(row: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = row["messages"]
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return "", messages


def _join(turns: list[tuple[str, str]], separator: str = "\n\n") -> list[tuple[str, str]]:
    joined: list[tuple[str, str]] = []
    for speaker, value in turns:
        if joined and joined[-1][0] == speaker:
            joined[-1] = (speaker, joined[-1][1] + separator + value)
        else:
            joined.append((speaker, value))
    return joined


def to_nemo(row: Mapping[str, Any]) -> dict[str, Any] | str:
    """The row in NeMo's SFT chat layout, or why it cannot be (a skip reason)."""
    system, messages = _split_system(row)
    turns: list[tuple[str, str]] = []
    for message in messages:
        if message["role"] == "user":
            turns.append(("User", message["content"]))
        elif message["role"] == "tool":
            turns.append(("User", f"<tool_response>\n{message['content']}\n</tool_response>"))
        else:
            calls = [
                f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"
                for call in _call_objects(message)
            ]
            turns.append(("Assistant", "\n".join(filter(None, [message["content"], *calls]))))
    conversations = [{"from": s, "value": v} for s, v in _join(turns)]
    if not any(c["from"] == "User" for c in conversations):
        return "no-user-turn"  # NeMo asserts the masked role is present
    return {
        "system": system,
        "conversations": conversations,
        "mask": "User",
        "type": "VALUE_TO_TEXT",
        "tools": json.dumps(row["tools"], ensure_ascii=False),
    }


def _sharegpt_turns(messages: list[dict[str, Any]], adjusted: Counter[str]) -> list[list[str]]:
    turns: list[list[str]] = []
    for message in messages:
        role = message["role"]
        if role == "user":
            speaker, value = "human", message["content"]
        elif role == "tool":
            speaker, value = "observation", message["content"]
        elif message.get("tool_calls"):
            objects = _call_objects(message)
            if message["content"]:
                adjusted["assistant-text-beside-call-dropped"] += 1
            speaker = "function_call"
            value = json.dumps(objects[0] if len(objects) == 1 else objects, ensure_ascii=False)
        else:
            speaker, value = "gpt", message["content"]
        previous = turns[-1] if turns else None
        if previous is None:
            turns.append([speaker, value])
        elif (previous[0], speaker) == ("observation", "observation"):
            previous[1] += _RESULT_JOIN + value
        elif (previous[0], speaker) in {("human", "human"), ("gpt", "gpt")}:
            previous[1] += "\n\n" + value
        elif (previous[0], speaker) == ("observation", "human"):
            previous[:] = ["human", previous[1] + "\n\n" + value]
            adjusted["result-merged-into-user-prompt"] += 1
        elif (previous[0], speaker) == ("gpt", "function_call"):
            previous[:] = [speaker, value]
            adjusted["assistant-text-beside-call-dropped"] += 1
        else:
            turns.append([speaker, value])
    return turns


def to_llama_factory(row: Mapping[str, Any], adjusted: Counter[str]) -> dict[str, Any] | str:
    """The row in LLaMA-Factory's sharegpt layout, or why it cannot be (a skip reason).

    :param adjusted: counts each change made to fit the layout.
    """
    system, messages = _split_system(row)
    turns = _sharegpt_turns(messages, adjusted)
    while turns and turns[-1][0] in _ODD:
        adjusted[f"trailing-{turns[-1][0]}-dropped"] += 1
        turns.pop()
    if not turns or turns[0][0] not in _ODD:
        return "starts-with-assistant" if turns else "no-assistant-turn"
    if any((s in _ODD) != (i % 2 == 0) for i, (s, _) in enumerate(turns)):
        return "roles-do-not-alternate"
    return {
        "conversations": [{"from": s, "value": v} for s, v in turns],
        "system": system,
        "tools": json.dumps(row["tools"], ensure_ascii=False),
    }


def llama_factory_info(prefix: str = "modellab") -> dict[str, Any]:
    """``dataset_info.json`` for the ``llama-factory`` folder: one entry per split."""
    tags = {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
        "system_tag": "system",
    }
    columns = {"messages": "conversations", "system": "system", "tools": "tools"}
    return {
        f"{prefix}_{split}": {
            "file_name": f"{split}.jsonl",
            "formatting": "sharegpt",
            "columns": columns,
            "tags": tags,
        }
        for split in ("train", "test")
    }
