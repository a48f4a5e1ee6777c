"""The model card (``README.md``) of a training run: YAML front matter, then a summary.

Written by hand: no ``huggingface_hub`` card API (its validation calls the Hub). Every
value in the front matter is written as a JSON scalar, which YAML reads as the same value,
so a name with a colon or a quote cannot break the header.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["CARD_FILE", "write_card"]

CARD_FILE = "README.md"


def _yaml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _row(name: str, value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    # One table row: pipes and newlines in a value would break the table.
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"| {name} | {text} |"


def write_card(
    output_dir: Path,
    *,
    base_model: str,
    backend: str,
    method: str,
    dataset: dict[str, str],
    approval: dict[str, str],
    hyperparameters: dict[str, Any],
    metrics: dict[str, float],
    versions: dict[str, str],
    device: str,
    outputs: dict[str, str | None],
) -> Path:
    """Write ``output_dir/README.md`` atomically; return its path."""
    adapter = method != "sft-full"
    tags = ["modellab", backend, "dpo" if method == "dpo" else "sft", method]
    if adapter:
        tags.append("lora")
    tags = list(dict.fromkeys(tags))
    front = [
        "---",
        f"base_model: {_yaml_value(base_model)}",
        f"library_name: {_yaml_value('peft' if adapter else 'transformers')}",
        "tags:",
        *[f"- {_yaml_value(tag)}" for tag in tags],
        "datasets:",
        f"- {_yaml_value('sha256:' + dataset['sha256'])}",
        "modellab:",
        f"  backend: {_yaml_value(backend)}",
        f"  method: {_yaml_value(method)}",
        f"  dataset_file: {_yaml_value(dataset['file'])}",
        f"  dataset_sha256: {_yaml_value(dataset['sha256'])}",
        f"  approval_files_sha256: {_yaml_value(approval['files_sha256'])}",
        f"  approved_at: {_yaml_value(approval['approved_at'])}",
        f"  approval_catalog_id: {_yaml_value(approval['catalog_id'])}",
        f"  device: {_yaml_value(device)}",
        "---",
        "",
    ]
    body = [
        f"# {base_model} fine-tuned with Model Lab ({method}, {backend})",
        "",
        "Trained on the user's own sessions, from an approved export; nothing left the machine.",
        "",
        "## Data",
        "",
        "| field | value |",
        "| --- | --- |",
        _row("dataset file", dataset["file"]),
        _row("dataset sha256", dataset["sha256"]),
        _row("approval files_sha256", approval["files_sha256"]),
        _row("approved at", approval["approved_at"]),
        "",
        "## Hyper-parameters",
        "",
        "| name | value |",
        "| --- | --- |",
        *[_row(k, v) for k, v in sorted(hyperparameters.items())],
        "",
        "## Metrics",
        "",
        "| name | value |",
        "| --- | --- |",
        *[_row(k, v) for k, v in sorted(metrics.items())],
        "",
        "## Outputs",
        "",
        *[f"- {name}: `{path}`" for name, path in outputs.items() if path],
        "",
        "## Library versions",
        "",
        *[f"- {name} {version}" for name, version in sorted(versions.items())],
        "",
    ]
    path = output_dir / CARD_FILE
    temporary = output_dir / f".{CARD_FILE}.tmp"
    temporary.write_text("\n".join(front + body), encoding="utf-8")
    os.replace(temporary, path)
    return path
