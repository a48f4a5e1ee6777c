"""What every preflight check shares: the verdict type, the template it renders with,
and how a row becomes the conversations a trainer renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modellab._internal.term import shown
from modellab.models._template import (
    TemplateError,
    render_template,
)

__all__ = [
    "CHECKS",
    "MAX_LISTED",
    "METHODS",
    "SFT_METHODS",
    "ChatTemplate",
    "Check",
    "Verdict",
    "conversations",
    "dataset_file",
    "size_text",
    "special_token",
    "worst",
]

Verdict = Literal["pass", "warn", "fail"]
#: Every check's name, in the order :func:`run_preflight` returns them.
CHECKS = ("dataset", "chat_template", "licence", "memory", "deployability")
SFT_METHODS = ("sft-lora", "sft-qlora", "sft-full")
METHODS = (*SFT_METHODS, "dpo")
#: How many problems a check lists in its details (the reason names the first).
MAX_LISTED = 20


@dataclass(frozen=True)
class Check:
    """One preflight verdict: ``fail`` stops the job, ``warn`` is shown and goes on."""

    name: str
    verdict: Verdict
    #: One line, naming the file, row or value the verdict is about.
    reason: str
    #: JSON-native facts behind the verdict (counts, sizes, the problems found).
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Reasons quote the dataset, the model's files and the template's own errors:
        # escaped once here (escaping is idempotent), so a reason is always one safe line.
        object.__setattr__(self, "reason", shown(self.reason))


def dataset_file(dataset_dir: Path, method: str) -> Path:
    """The file a method trains on: ``preference/train.jsonl`` for dpo, else ``trl-sft``."""
    return dataset_dir / ("preference" if method == "dpo" else "trl-sft") / "train.jsonl"


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    return "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"


def size_text(size: float) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.0f} MiB"


def conversations(row: Mapping[str, Any], method: str) -> list[list[dict[str, Any]]]:
    """What the trainer will render of a row: one conversation, or two for a DPO pair."""
    if method != "dpo":
        return [list(row["messages"])]
    return [list(row["prompt"]) + list(row[side]) for side in ("chosen", "rejected")]


def special_token(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if isinstance(value, Mapping):  # older tokenizer_config.json: an AddedToken object
        value = value.get("content")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class ChatTemplate:
    """The chat template preflight renders with, and the tokens it is given."""

    text: str | None
    source: str
    bos: str = ""
    eos: str = ""

    def render(self, messages: list[dict[str, Any]], tools: Any) -> str:
        if self.text is None:
            raise TemplateError("no chat template")
        return render_template(
            self.text, messages, tools=tools or None, bos_token=self.bos, eos_token=self.eos
        )
