"""``modellab dataset build``: training data from an approved export."""

from __future__ import annotations

import argparse
from pathlib import Path

from modellab._internal.term import shown
from modellab.cli._common import checked_labels, emit_json

__all__ = ["cmd_build"]


def _formats(values: list[str]) -> tuple[str, ...]:
    """``--format`` values, repeated or comma-separated, in order and without repeats."""
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(names)) or ("trl-sft",)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def cmd_build(args: argparse.Namespace) -> int:
    """Build each format's train/test files, a de-duplication report, a manifest and a card."""
    from modellab.cli._common import settings_from_args
    from modellab.datasets import BuildOptions, Filters, build_dataset
    from modellab.store import Catalog

    settings = settings_from_args(args)
    options = BuildOptions(
        filters=Filters(
            mode=args.source_kind,
            labels=checked_labels(args.label),
            outcomes=tuple(args.outcome),
        ),
        formats=_formats(args.formats),  # type: ignore[arg-type]  # checked by the library
        split=args.split,
        test_fraction=args.test_fraction,
        seed=args.seed,
        system_prompt_file=_path(args.system_prompt),
        tokenizer_file=_path(args.tokenizer),
        force=args.force,
    )
    out_dir = Path(args.out).expanduser()
    with Catalog(settings.catalog_path) as catalog:
        manifest = build_dataset(Path(args.export).expanduser(), out_dir, options, catalog=catalog)
    if args.json:
        emit_json({"out": str(out_dir), **manifest})
        return 0
    counts = manifest["counts"]
    split = manifest["split"]
    print(
        f"Wrote {shown(out_dir)} ({split['method']} split, seed {split['seed']}; "
        f"{manifest['primary_format']}: train {counts['train']['rows']} rows "
        f"({counts['train']['sessions']} sessions), test {counts['test']['rows']} rows "
        f"({counts['test']['sessions']} sessions))."
    )
    for name, entry in manifest["formats"].items():
        skipped = sum(entry["skipped"].values())
        note = f", {skipped} left out (see manifest.json)" if skipped else ""
        rows = entry["rows"]
        print(f"  {name}: train {rows['train']}, test {rows['test']} rows{note}")
    print(
        f"Dropped {counts['dropped']['exact']} exact and {counts['dropped']['near']} "
        "near-duplicate SFT rows (dedup-report.json)."
    )
    tokens = manifest["token_stats"]
    print(
        f"Tokens ({tokens['method']}): train {tokens['train']['total']}, "
        f"test {tokens['test']['total']}."
    )
    return 0
