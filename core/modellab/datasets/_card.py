"""The dataset card: ``README.md`` with Hugging Face dataset-card metadata.

The metadata is YAML front matter in the Hub's dataset-card layout (the keys
``huggingface_hub.DatasetCardData`` writes, in its order), emitted by the core's own small
emitter (:mod:`modellab.datasets._yaml`) so the core needs no vendor SDK. A test reads every
card back with ``huggingface_hub``'s ``DatasetCard`` and with a YAML parser. Everything in
the card comes from the dataset manifest, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modellab._internal.term import counted
from modellab.datasets._excluded import describe_exclusions
from modellab.datasets._yaml import Value, dump_block

__all__ = ["render_card"]


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def _front_matter(manifest: Mapping[str, Any]) -> str:
    rows = sum(manifest["counts"][split]["rows"] for split in ("train", "test"))
    primary = manifest["primary_format"]
    configs: list[Value] = [
        {
            "config_name": name,
            "data_files": [
                {"split": split, "path": path} for split, path in entry["files"].items()
            ],
            **({"default": True} if name == primary else {}),
        }
        for name, entry in sorted(manifest["formats"].items(), key=lambda item: item[0] != primary)
    ]
    # The keys, and their order, that DatasetCardData.to_yaml() writes for these fields.
    data: dict[str, Value] = {
        "license": "other",
        "size_categories": [_size_category(rows)],
        "task_categories": ["text-generation"],
        "pretty_name": "Model Lab agent-trajectory dataset",
        "license_name": "see-licence-notes",
        "tags": ["modellab", "agent-trajectories", "tool-calling", *manifest["formats"]],
        "configs": configs,
    }
    return f"---\n{dump_block(data)}\n---\n"


def _stats_line(stats: Mapping[str, Any]) -> str:
    if not stats.get("rows"):
        return "no rows"
    return (
        f"{counted(stats['rows'], 'row')}, {counted(stats['total'], 'token')}; "
        f"min {stats['min']}, median {stats['median']}, p95 {stats['p95']}, max {stats['max']}"
    )


def _formats_section(manifest: Mapping[str, Any]) -> str:
    lines = ["| format | files | train rows | test rows | layout |", "|---|---|---|---|---|"]
    for name, entry in manifest["formats"].items():
        files = ", ".join(f"`{path}`" for path in entry["files"].values())
        rows = entry["rows"]
        lines.append(f"| {name} | {files} | {rows['train']} | {rows['test']} | {entry['layout']} |")
    notes = []
    for name, entry in manifest["formats"].items():
        if entry["skipped"]:
            listed = ", ".join(f"{k} {v}" for k, v in entry["skipped"].items())
            notes.append(f"- {name}: rows left out: {listed}.")
        if name == "preference":
            missing = ", ".join(
                f"{k} {v}" for k, v in entry["failed_calls_without_pair"].items() if v
            )
            notes.append(
                f"- preference: {counted(entry['pairs_found'], 'pair')} found. Same step: "
                f"{entry['same_step']}. Failed calls without a pair: {missing or 'none'}."
            )
        if name == "unpaired":
            labels = entry["labels"]
            notes.append(
                f"- unpaired: {counted(labels['true'], 'row')} labelled true, "
                f"{labels['false']} false."
            )
        if name == "llama-factory":
            adjusted = ", ".join(f"{k} {v}" for k, v in entry["adjusted"].items())
            notes.append(
                f"- llama-factory: `{entry['dataset_info']}` describes the columns and tags; "
                f"changes made to alternate roles: {adjusted or 'none'}."
            )
        stats = entry["token_stats"]
        notes.append(
            f"- {name} tokens: train {_stats_line(stats['train'])}; "
            f"test {_stats_line(stats['test'])}."
        )
    return "\n".join([*lines, "", *notes])


def _split_text(split: Mapping[str, Any]) -> str:
    if split["method"] == "time":
        return (
            "Time-ordered hold-out: groups are ordered by their newest session's start time "
            "and the newest go to test, so test holds sessions that started on or after "
            f"{split['cut']} plus {counted(split['older_in_test'], 'older session')} whose task "
            "is a near-duplicate of a test session's (a group moves whole). "
            f"{counted(split['sessions_without_start_time'], 'session')} without a start time "
            f"count as the oldest. The seed ({split['seed']}) is not used by this method."
        )
    return (
        f"Seeded split: whole groups, shuffled with seed {split['seed']}, go to test until "
        "the test fraction is met."
    )


def _excluded_section(manifest: Mapping[str, Any]) -> str:
    source = manifest["source"]
    used = f"{source['sessions_used']} of the export's {counted(source['sessions'], 'session')}"
    lines = describe_exclusions(manifest)
    if not lines:
        return f"{used} gave rows; nothing was left out."
    head = f"{used} gave rows. Left out, by reason (`excluded` in `manifest.json`):"
    return "\n".join([head, "", *(f"- {line}" for line in lines)])


def render_card(manifest: Mapping[str, Any]) -> str:
    """The card's text, from the dataset manifest alone (so the two cannot disagree)."""
    counts = manifest["counts"]
    source = manifest["source"]
    filters = manifest["filters"]
    split = manifest["split"]
    tokens = manifest["token_stats"]
    body = f"""
# Model Lab agent-trajectory dataset

Training rows built by `modellab dataset build` from a redacted export that was reviewed
and approved (`modellab redact approve`). Each format below is written to its own folder
(`<format>/train.jsonl`, `<format>/test.jsonl`); the SFT layouts (`trl-sft`, `nemo`,
`llama-factory`) hold the same conversations.

## Formats

{_formats_section(manifest)}

## Left out

{_excluded_section(manifest)}

## Source

- export: `{source["path"]}`
- export manifest sha256: `{source["manifest_sha256"]}`
- redaction report sha256 (`redaction-findings.jsonl`): `{source["redaction_report_sha256"]}`
- approved at {source["approved_at"]} by {source["approved_by"]}; approval fingerprint
  `{manifest["approval"]["files_sha256"]}` (catalog `{manifest["approval"]["catalog_id"][:12]}`),
  checked again before the dataset is used

`manifest.json` beside this card lists the sha256 of every export file.

## Filters

- from: `{filters["from"]}`
- labels: {", ".join(filters["labels"]) or "any"}
- outcomes: {", ".join(filters["outcomes"]) or "any"}
- system prompt: {filters["system_prompt"]}

## Splits

Split method `{split["method"]}`. Grouped by session and by near-duplicate task (MinHash over
the first prompt and the touched files), so no session and no near-duplicate task appears
in both splits, in any format. {_split_text(split)}

| split | {manifest["primary_format"]} rows | sessions | groups |
|---|---|---|---|
| train | {counts["train"]["rows"]} | {counts["train"]["sessions"]} | {split["train_groups"]} |
| test | {counts["test"]["rows"]} | {counts["test"]["sessions"]} | {split["test_groups"]} |

Seed {split["seed"]}, test fraction {split["test_fraction"]} (of {split["weighted_by"]}).
De-duplication dropped {counts["dropped"]["exact"]} exact and {counts["dropped"]["near"]}
near-duplicate SFT rows (`dedup-report.json`).

## Token lengths

Counted with {tokens["method"]}, over each row's rendered text (no chat template). Train:
{_stats_line(tokens["train"])}. Test: {_stats_line(tokens["test"])}.
{"These are estimates, not tokenizer counts." if tokens["counted"] == "estimate" else ""}

## Licence notes

The rows are transcripts of your own agent sessions, redacted. The code, tool output and
files quoted in them keep the licences of the repositories they came from, and the model
replies are subject to the terms of the provider that produced them. Check both before
publishing this dataset.
"""
    return _front_matter(manifest) + body
