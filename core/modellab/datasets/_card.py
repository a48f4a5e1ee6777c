"""The dataset card: ``README.md`` with Hugging Face dataset-card metadata.

Written with ``huggingface_hub``'s card classes (``DatasetCardData`` for the YAML metadata,
``DatasetCard`` for the file), so the Hub reads it as it reads any dataset card. Everything
in it comes from the dataset manifest, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render_card"]


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def _front_matter(manifest: Mapping[str, Any]) -> str:
    from huggingface_hub import DatasetCardData

    rows = sum(manifest["counts"][split]["rows"] for split in ("train", "test"))
    data = DatasetCardData(
        pretty_name="Model Lab SFT dataset",
        license="other",
        license_name="see-licence-notes",
        task_categories=["text-generation"],
        size_categories=[_size_category(rows)],
        tags=["modellab", "sft", "agent-trajectories", "tool-calling"],
        configs=[
            {
                "config_name": "default",
                "data_files": [
                    {"split": "train", "path": "train.jsonl"},
                    {"split": "test", "path": "test.jsonl"},
                ],
            }
        ],
    )
    return f"---\n{data.to_yaml()}\n---\n"


def render_card(manifest: Mapping[str, Any]) -> str:
    """The card's text, from the dataset manifest alone (so the two cannot disagree)."""
    counts = manifest["counts"]
    source = manifest["source"]
    filters = manifest["filters"]
    split = manifest["split"]
    tokens = manifest["token_stats"]
    body = f"""
# Model Lab SFT dataset

Supervised fine-tuning rows built by `modellab dataset build` from a redacted export that
was reviewed and approved (`modellab redact approve`). Each row is TRL's conversational
format: `{{"messages": [...], "tools": [...]}}`, with OpenAI-style `tool_calls` on assistant
messages and a `tool` message answering every call.

## Source

- export: `{source["path"]}`
- export manifest sha256: `{source["manifest_sha256"]}`
- redaction report sha256 (`redaction-findings.jsonl`): `{source["redaction_report_sha256"]}`
- approved at {source["approved_at"]} by {source["approved_by"]}

`manifest.json` beside this card lists the sha256 of every export file.

## Filters

- from: `{filters["from"]}`
- labels: {", ".join(filters["labels"]) or "any"}
- outcomes: {", ".join(filters["outcomes"]) or "any"}
- system prompt: {filters["system_prompt"]}

## Splits

Grouped by session and by near-duplicate task (MinHash over the first prompt and the touched
files), so no session and no near-duplicate task appears in both splits.

| split | rows | sessions | groups |
|---|---|---|---|
| train | {counts["train"]["rows"]} | {counts["train"]["sessions"]} | {split["train_groups"]} |
| test | {counts["test"]["rows"]} | {counts["test"]["sessions"]} | {split["test_groups"]} |

Seed {split["seed"]}, test fraction {split["test_fraction"]}. De-duplication dropped
{counts["dropped"]["exact"]} exact and {counts["dropped"]["near"]} near-duplicate rows
(`dedup-report.json`).

## Token lengths ({tokens["train"]["method"]})

Train: {tokens["train"]["total"]} tokens in all; test: {tokens["test"]["total"]}.
These are estimates, not tokenizer counts.

## Licence notes

The rows are transcripts of your own agent sessions, redacted. The code, tool output and
files quoted in them keep the licences of the repositories they came from, and the model
replies are subject to the terms of the provider that produced them. Check both before
publishing this dataset.
"""
    from huggingface_hub import DatasetCard

    # DatasetCard parses the text back: a card the Hub could not read fails here.
    return str(DatasetCard(_front_matter(manifest) + body))
