"""``modellab dataset build``: training data from an approved export."""

from __future__ import annotations

import argparse
from pathlib import Path

from modellab.cli._common import checked_labels, emit_json

__all__ = ["cmd_build"]


def cmd_build(args: argparse.Namespace) -> int:
    """Build train/test SFT files, a de-duplication report, a manifest and a card."""
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
        test_fraction=args.test_fraction,
        seed=args.seed,
        system_prompt_file=Path(args.system_prompt).expanduser() if args.system_prompt else None,
        force=args.force,
    )
    out_dir = Path(args.out).expanduser()
    with Catalog(settings.catalog_path) as catalog:
        manifest = build_dataset(Path(args.export).expanduser(), out_dir, options, catalog=catalog)
    if args.json:
        emit_json({"out": str(out_dir), **manifest})
        return 0
    counts = manifest["counts"]
    tokens = manifest["token_stats"]
    print(
        f"Wrote {out_dir}: train {counts['train']['rows']} rows "
        f"({counts['train']['sessions']} sessions), test {counts['test']['rows']} rows "
        f"({counts['test']['sessions']} sessions), seed {manifest['split']['seed']}."
    )
    print(
        f"Dropped {counts['dropped']['exact']} exact and {counts['dropped']['near']} "
        "near-duplicate rows (dedup-report.json)."
    )
    print(
        f"Tokens ({tokens['train']['method']}): train {tokens['train']['total']}, "
        f"test {tokens['test']['total']}."
    )
    return 0
