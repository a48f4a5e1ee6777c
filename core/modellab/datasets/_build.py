"""``modellab dataset build``: from an approved export to train/test SFT files and a card.

The export must pass :func:`modellab.plugins.require_approved` before anything is read:
training data is data leaving the review, so it gets the same gate as an upload. Every
output file is written atomically, and ``manifest.json`` is written last, so a folder with
a manifest is a finished build. Nothing in the output depends on the time or the output
path, so the same export, filters and seed give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal.files import atomic_write_bytes
from modellab.datasets._card import render_card
from modellab.datasets._dedup import NEAR_THRESHOLD, deduplicate
from modellab.datasets._select import Example, Filters, select_examples
from modellab.datasets._source import read_export
from modellab.datasets._split import TASK_THRESHOLD, split_examples
from modellab.datasets._stats import token_stats
from modellab.errors import ExportError, UsageError
from modellab.plugins import require_approved
from modellab.store import Catalog

__all__ = ["OUTPUT_FILES", "BuildOptions", "build_dataset"]

#: What a build writes, in the order it writes them (the manifest last).
OUTPUT_FILES = ("train.jsonl", "test.jsonl", "dedup-report.json", "README.md", "manifest.json")
DATASET_FORMAT = "trl-conversational-sft"


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Everything a build depends on besides the export."""

    filters: Filters = field(default_factory=Filters)
    test_fraction: float = 0.1
    seed: int = 0
    #: A file whose text replaces every session's system prompt.
    system_prompt_file: Path | None = None
    #: Replace a non-empty output folder.
    force: bool = False


def _check(options: BuildOptions, out_dir: Path) -> str | None:
    if not 0.0 <= options.test_fraction < 1.0:
        raise UsageError(
            f"--test-fraction: {options.test_fraction} is not in [0, 1)",
            hint="use a fraction such as 0.1",
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not options.force:
        raise UsageError(
            f"--out {out_dir}: folder is not empty", hint="choose another folder or add --force"
        )
    if options.system_prompt_file is None:
        return None
    try:
        return options.system_prompt_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--system-prompt {options.system_prompt_file}: {exc}") from None


def _jsonl(examples: Sequence[Example]) -> bytes:
    return b"".join(
        json.dumps(e.row, ensure_ascii=False, sort_keys=True).encode() + b"\n" for e in examples
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _prompt_note(system_prompt: str | None) -> str:
    if system_prompt is None:
        return "from the sessions"
    return f"replaced by --system-prompt (sha256 {_sha256(system_prompt.encode())})"


def _side(examples: Sequence[Example]) -> dict[str, Any]:
    return {"rows": len(examples), "sessions": len({e.session_id for e in examples})}


def build_dataset(
    export_dir: Path, out_dir: Path, options: BuildOptions, *, catalog: Catalog
) -> dict[str, Any]:
    """Build the dataset into ``out_dir`` and return its manifest.

    :raises GateError: the export is not approved, changed since, or not redacted.
    :raises UsageError: bad options, an output folder in the way, or no row selected.
    :raises CorruptSourceError: an export file cannot be read.
    :raises ExportError: an output file could not be written.
    """
    approval = require_approved(export_dir, catalog=catalog)
    system_prompt = _check(options, out_dir)
    source = read_export(export_dir)
    examples = select_examples(
        source.sessions,
        options.filters,
        system_prompt=system_prompt,
        declared_tools=source.declared_tools,
    )
    if not examples:
        raise UsageError(
            f"{export_dir}: no rows match --from {options.filters.mode} and the filters",
            hint="try --from all, or fewer --label/--outcome filters",
        )
    deduped = deduplicate(examples)
    split = split_examples(deduped.kept, test_fraction=options.test_fraction, seed=options.seed)
    train = [deduped.kept[i] for i in split.train]
    test = [deduped.kept[i] for i in split.test]
    dropped_exact = sum(1 for d in deduped.dropped if d["reason"] == "exact")
    report = {
        "near_duplicate_threshold": NEAR_THRESHOLD,
        "near_duplicate_method": "MinHash LSH candidates, exact Jaccard of word 5-shingles "
        "of the rendered conversation",
        "rows_selected": len(examples),
        "rows_kept": len(deduped.kept),
        "dropped": deduped.dropped,
    }
    manifest: dict[str, Any] = {
        "format": DATASET_FORMAT,
        "source": {
            "path": str(export_dir.resolve()),
            "manifest_sha256": source.manifest_sha256,
            "files": source.file_sha256,
            "redaction_report_sha256": source.redaction_report_sha256,
            "approved_at": approval.approved_at,
            "approved_by": approval.approved_by,
            "sessions": len(source.sessions),
        },
        "filters": {
            "from": options.filters.mode,
            "labels": list(options.filters.labels),
            "outcomes": list(options.filters.outcomes),
            "system_prompt": _prompt_note(system_prompt),
        },
        "split": {
            "seed": options.seed,
            "test_fraction": options.test_fraction,
            "grouping": "session id; near-duplicate task (MinHash of first prompt + touched "
            f"files, estimated Jaccard >= {TASK_THRESHOLD})",
            "groups": split.groups,
            "train_groups": split.train_groups,
            "test_groups": split.test_groups,
            "session_ids": {
                "train": sorted({e.session_id for e in train}),
                "test": sorted({e.session_id for e in test}),
            },
        },
        "counts": {
            "selected": len(examples),
            "dropped": {"exact": dropped_exact, "near": len(deduped.dropped) - dropped_exact},
            "train": _side(train),
            "test": _side(test),
        },
        "token_stats": {"train": token_stats(train), "test": token_stats(test)},
    }
    contents = {
        "train.jsonl": _jsonl(train),
        "test.jsonl": _jsonl(test),
        "dedup-report.json": _json(report),
        "README.md": render_card(manifest).encode(),
    }
    # The manifest ties the outputs to their hashes, so it is rendered after them.
    manifest["files"] = {name: _sha256(data) for name, data in contents.items()}
    contents["manifest.json"] = _json(manifest)
    try:
        # A manifest left by an earlier build (--force) would vouch for files this build is
        # about to replace; it goes first and comes back last.
        (out_dir / "manifest.json").unlink(missing_ok=True)
        for name in OUTPUT_FILES:
            atomic_write_bytes(out_dir / name, contents[name])
    except OSError as exc:
        raise ExportError(f"{out_dir}: could not write the dataset ({exc})") from exc
    return manifest
