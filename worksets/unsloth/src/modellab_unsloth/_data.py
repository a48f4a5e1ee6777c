"""Dataset rows to training examples, rendered with the base model's own chat template.

SFT rows (``trl-sft/train.jsonl``) are ``{"messages": [...], "tools": [...]}``; preference
rows (``preference/train.jsonl``) are ``{"prompt": [...], "chosen": [...], "rejected":
[...], "tools": [...]}`` (what ``modellab dataset build`` writes).

The rows are tokenized here rather than handed to TRL as conversations: an Arrow table
merges every row's ``tools`` JSON schemas and messages into one struct type, filling
missing keys with nulls, and a chat template would then render those nulls. Rendering
each row from its own Python dicts keeps the text exactly what the template makes of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.workset import UsageError, shown

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DPO_FILE",
    "SFT_FILE",
    "SftExamples",
    "dataset_file",
    "has_generation_blocks",
    "preference_texts",
    "read_rows",
    "sft_examples",
    "sha256_file",
]

SFT_FILE = "trl-sft/train.jsonl"
DPO_FILE = "preference/train.jsonl"

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_blocks(template: str | None) -> bool:
    """True when the template marks assistant text with ``{% generation %}``."""
    return bool(template) and _GENERATION.search(template or "") is not None


def dataset_file(dataset_dir: Path, method: str) -> Path:
    """The rows file for ``method`` inside ``dataset_dir``; UsageError when missing."""
    relative = DPO_FILE if method == "dpo" else SFT_FILE
    path = dataset_dir / relative
    if not path.is_file():
        hint = "--format preference" if method == "dpo" else "--format trl-sft"
        raise UsageError(f"{shown(str(path))}: not found; the dataset was not built with {hint}")
    return path


def sha256_file(path: Path) -> str:
    """The file's sha256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every JSON object in ``path``, each holding the ``required`` list fields."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UsageError(
                    f"{shown(str(path))} line {number}: not JSON ({error.msg})"
                ) from None
            if not isinstance(row, dict):
                raise UsageError(f"{shown(str(path))} line {number}: not a JSON object")
            for key in required:
                if not isinstance(row.get(key), list) or not row[key]:
                    raise UsageError(
                        f"{shown(str(path))} line {number}: field {key!r} must be a non-empty list"
                    )
            if "tools" in row and not isinstance(row["tools"], list | type(None)):
                raise UsageError(f"{shown(str(path))} line {number}: field 'tools' must be a list")
            rows.append(row)
    if not rows:
        raise UsageError(f"{shown(str(path))}: no rows to train on")
    return rows


@dataclass(frozen=True)
class SftExamples:
    """Tokenized SFT rows: ``input_ids`` and ``labels`` (-100 where no loss is taken)."""

    rows: list[dict[str, list[int]]]
    #: Loss on the assistant's tokens only (the template has generation blocks).
    assistant_only: bool
    #: Rows cut at ``max_seq_len`` / dropped because nothing trainable was left.
    truncated: int
    dropped: int


def sft_examples(
    rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, max_seq_len: int
) -> SftExamples:
    """Render and tokenize each row; mask all but the assistant's tokens when possible."""
    assistant_only = has_generation_blocks(tokenizer.chat_template)
    out: list[dict[str, list[int]]] = []
    truncated = dropped = 0
    for row in rows:
        encoded: Any = tokenizer.apply_chat_template(
            row["messages"],
            tools=row.get("tools") or None,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=assistant_only,
        )
        ids = list(encoded["input_ids"])
        if assistant_only:
            mask = list(encoded["assistant_masks"])
            labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
        else:
            labels = list(ids)
        if len(ids) > max_seq_len:
            truncated += 1
            ids, labels = ids[:max_seq_len], labels[:max_seq_len]
        if all(label == -100 for label in labels):
            dropped += 1  # nothing of the assistant's survived: no loss to take
            continue
        out.append({"input_ids": ids, "labels": labels})
    if not out:
        raise UsageError(
            f"no row has assistant tokens within max_seq_len={max_seq_len} "
            f"({dropped} dropped): raise --max-seq-len"
        )
    return SftExamples(out, assistant_only, truncated, dropped)


def preference_texts(
    rows: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase
) -> list[dict[str, str]]:
    """``prompt`` / ``chosen`` / ``rejected`` as text, rendered by the chat template.

    The prompt ends with the assistant header (generation prompt); each completion is the
    rest of the whole conversation's rendering, ending at the end-of-turn token so TRL adds
    no second one.
    """
    eos = tokenizer.eos_token or ""
    out: list[dict[str, str]] = []
    for number, row in enumerate(rows, 1):
        tools = row.get("tools") or None
        prompt = tokenizer.apply_chat_template(
            row["prompt"], tools=tools, tokenize=False, add_generation_prompt=True
        )
        texts = {"prompt": str(prompt)}
        for side in ("chosen", "rejected"):
            full = str(
                tokenizer.apply_chat_template(
                    row["prompt"] + row[side], tools=tools, tokenize=False
                )
            )
            if not full.startswith(texts["prompt"]):
                raise UsageError(
                    f"preference row {number}: the chat template renders the prompt differently "
                    "alone and with its answer; DPO needs a template whose prompt is a prefix"
                )
            completion = full[len(texts["prompt"]) :]
            if eos and eos in completion:
                completion = completion[: completion.rindex(eos) + len(eos)]
            texts[side] = completion
        out.append(texts)
    return out
