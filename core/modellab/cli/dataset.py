"""``modellab dataset build``: training data from an approved export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from modellab._internal.term import counted, shown
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
    from modellab.gate import open_approved
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
        export = open_approved(Path(args.export).expanduser(), catalog=catalog)
        manifest = build_dataset(export, out_dir, options, catalog=catalog)
    if args.json:
        emit_json({"out": str(out_dir), **manifest})
        return 0
    _report(out_dir, manifest)
    return 0


def _rows(count: int, sessions: int | None = None) -> str:
    text = counted(count, "row")
    return text if sessions is None else f"{text} ({counted(sessions, 'session')})"


def _report(out_dir: Path, manifest: dict[str, Any]) -> None:
    """What was written, what was left out and why (one line per reason), and token totals."""
    from modellab.datasets import describe_exclusions

    counts = manifest["counts"]
    split = manifest["split"]
    train, test = counts["train"], counts["test"]
    print(
        f"Wrote {shown(out_dir)} ({split['method']} split, seed {split['seed']}; "
        f"{manifest['primary_format']}: train {_rows(train['rows'], train['sessions'])}, "
        f"test {_rows(test['rows'], test['sessions'])})."
    )
    for name, entry in manifest["formats"].items():
        rows = entry["rows"]
        print(f"  {name}/: train {_rows(rows['train'])}, test {_rows(rows['test'])}")
    source = manifest["source"]
    used = f"{source['sessions_used']} of {counted(source['sessions'], 'session')}"
    lines = describe_exclusions(manifest)
    if lines:
        print(f"Used {used}. Left out:")
        for line in lines:
            print(f"  {shown(line)}")
    else:
        print(f"Used {used}; nothing was left out.")
    tokens = manifest["token_stats"]
    print(
        f"Tokens ({tokens['method']}): train {tokens['train']['total']}, "
        f"test {tokens['test']['total']}."
    )
