"""An agent's next action: answer in text, or call tools. Both recorded and model actions.

Recorded actions come from an export's assistant messages; model actions come from an
OpenAI-compatible chat completion. Both become the same :class:`Action`, so graders compare
like with like. Tool arguments stay the exact text the model produced: whether that text is
valid JSON is itself graded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Action", "ActionKind", "CalledTool"]

ActionKind = Literal["tool", "answer"]


@dataclass(frozen=True, slots=True)
class CalledTool:
    """One tool call: the function name and its arguments as the raw text sent."""

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Action:
    """What the agent did next: call tools (``kind == "tool"``) or answer in text."""

    kind: ActionKind
    calls: tuple[CalledTool, ...] = ()
    content: str | None = None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Action:
        """Read an OpenAI-style assistant message (``content`` and ``tool_calls``).

        Malformed entries are kept as far as they go (a call with no name gets ``""``):
        a model that sends them should be graded down, not crash the run.
        """
        calls: list[CalledTool] = []
        raw_calls = message.get("tool_calls")
        for raw in raw_calls if isinstance(raw_calls, list) else []:
            function = raw.get("function") if isinstance(raw, Mapping) else None
            if not isinstance(function, Mapping):
                continue
            name = function.get("name")
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                # Some servers send a parsed object; grade what it means, not its type.
                arguments = json.dumps(arguments, ensure_ascii=False)
            calls.append(CalledTool(name if isinstance(name, str) else "", arguments))
        content = message.get("content")
        text = content if isinstance(content, str) else None
        return cls(kind="tool" if calls else "answer", calls=tuple(calls), content=text)

    def to_json(self) -> dict[str, Any]:
        """A plain dict, as stored in the catalog and suites."""
        return {
            "kind": self.kind,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in self.calls],
            "content": self.content,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        """The inverse of :meth:`to_json`."""
        kind = data.get("kind")
        if kind not in ("tool", "answer"):
            raise ValueError(f"action kind must be 'tool' or 'answer', not {kind!r}")
        calls = tuple(
            CalledTool(str(call["name"]), str(call["arguments"]))
            for call in data.get("tool_calls") or ()
        )
        content = data.get("content")
        return cls(kind=kind, calls=calls, content=content if isinstance(content, str) else None)

    def to_message(self) -> dict[str, Any]:
        """The action as an OpenAI-style assistant message (what ``recorded`` answers)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for i, c in enumerate(self.calls)
            ]
        return message
