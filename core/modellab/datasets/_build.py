"""``modellab dataset build``: from an approved export to train/test files and a card.

The caller opens the export through the gate (:func:`modellab.gate.open_approved`) and
hands over the :class:`~modellab.gate.ApprovedExport`, never a path: training data is data
leaving the review, so it gets the same gate as an upload. The manifest records the
approval the dataset was built from (``approval``), and the catalog records the build, so
that whatever uses the dataset later checks that approval still stands
(:func:`modellab.datasets.verify_dataset`).

The export is read twice and never held: a planning pass keeps small per-row facts
(hashes, MinHash signatures, start times) from which de-duplication and the split are
decided, then a writing pass renders the rows again and streams them out. Every output file is
written atomically, and ``manifest.json`` is written last, so a folder with a manifest is
a finished build. Nothing in the output depends on the time or the output path, so the
same export, options and seed give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal import jsonio
from modellab._internal.files import (
    atomic_write_bytes,
    claim_output,
    private_dir,
    write_output_marker,
)
from modellab.datasets._card import render_card
from modellab.datasets._dedup import NEAR_METHOD, NEAR_THRESHOLD, DedupResult, deduplicate
from modellab.datasets._excluded import describe_exclusions, exclusions
from modellab.datasets._formats import (
    FORMATS,
    SFT_FORMATS,
    Format,
    format_files,
    llama_factory_info,
)
from modellab.datasets._plan import Plan, plan_build
from modellab.datasets._preference import SKIP_REASONS
from modellab.datasets._select import Filters
from modellab.datasets._source import iter_sessions
from modellab.datasets._split import TASK_THRESHOLD, SplitMethod, group_sessions, split_sessions
from modellab.datasets._stats import TokenCounter
from modellab.datasets._write import FormatOutput, Wanted, write_rows
from modellab.errors import ExportError, UsageError
from modellab.gate import ApprovedExport
from modellab.gate.layout import FINDINGS
from modellab.gate.layout import MANIFEST as EXPORT_MANIFEST
from modellab.store import Catalog

__all__ = ["BUILD_ACTION", "DATASET_MANIFEST", "OUTPUT_FILES", "BuildOptions", "build_dataset"]

#: The dataset's own manifest (not the export's): written last, so its presence means done.
DATASET_MANIFEST = "manifest.json"
#: The catalog's audit-log action recording a build: which manifest, from which approval.
BUILD_ACTION = "dataset_build"

#: The files every build writes at the top of its folder, beside one folder per format
#: (``<format>/train.jsonl``, ``<format>/test.jsonl``); the manifest is written last.
OUTPUT_FILES = ("dedup-report.json", "README.md", DATASET_MANIFEST)
LLAMA_FACTORY_INFO = "llama-factory/dataset_info.json"
#: Where ``trl-sft`` rows were written before every format had its own folder: a
#: ``--force`` build over such a folder removes them.
_OLD_LAYOUT = ("train.jsonl", "test.jsonl")
#: What ``formats`` in the manifest says each format's rows are.
LAYOUTS: dict[Format, str] = {
    "trl-sft": "TRL conversational language modeling: messages (OpenAI-style tool_calls and "
    "tool messages) + tools",
    "preference": "TRL conversational preference: prompt (messages), chosen and rejected "
    "(one assistant message each) + tools",
    "unpaired": "TRL conversational unpaired preference (KTO): prompt, completion (one "
    "assistant message), label + tools",
    "nemo": "NeMo SFT chat: system, conversations [{from: User|Assistant, value}], mask: "
    "User, type: VALUE_TO_TEXT; tool calls in <tool_call> tags, results as User turns in "
    "<tool_response> tags; tools as a JSON string",
    "llama-factory": "LLaMA-Factory sharegpt: conversations [{from: human|gpt|function_call|"
    "observation, value}], system, tools (JSON string); see dataset_info.json",
}
SAME_STEP = (
    "a failed tool call and the first call of the next agent step in the same turn, same "
    "tool (canonical name) and same target: the path argument, else the command family "
    "(first program, python -m X and uv run X as X, a multiplexer with its sub-command), "
    "else the tool alone; the retry succeeded and its arguments differ"
)


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Everything a build depends on besides the export."""

    filters: Filters = field(default_factory=Filters)
    #: Output formats, each written to its own files; the first one weighs the split.
    formats: tuple[Format, ...] = ("trl-sft",)
    split: SplitMethod = "grouped"
    test_fraction: float = 0.1
    seed: int = 0
    #: A file whose text replaces every session's system prompt.
    system_prompt_file: Path | None = None
    #: A ``tokenizer.json`` to count tokens with (else lengths are estimated).
    tokenizer_file: Path | None = None
    #: Replace a non-empty output folder.
    force: bool = False


def _check(options: BuildOptions, out_dir: Path) -> str | None:
    if not 0.0 <= options.test_fraction < 1.0:
        raise UsageError(
            f"--test-fraction: {options.test_fraction} is not in [0, 1)",
            hint="use a fraction such as 0.1",
        )
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown or not options.formats:
        raise UsageError(
            f"--format: {', '.join(unknown) or 'none given'} is not one of {', '.join(FORMATS)}"
        )
    if options.system_prompt_file is None:
        return None
    try:
        return options.system_prompt_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--system-prompt {options.system_prompt_file}: {exc}") from None


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _prompt_note(system_prompt: str | None) -> str:
    if system_prompt is None:
        return "from the sessions"
    return f"replaced by --system-prompt (sha256 {_sha256(system_prompt.encode())})"


def _filters(options: BuildOptions, system_prompt: str | None) -> dict[str, Any]:
    return {
        "from": options.filters.mode,
        "labels": list(options.filters.labels),
        "outcomes": list(options.filters.outcomes),
        "system_prompt": _prompt_note(system_prompt),
    }


def _weights(plan: Plan, kept: Mapping[int, list[int]], primary: Format) -> list[int]:
    """Rows of the primary format per planned session."""
    if primary in SFT_FORMATS:
        return [len(kept.get(i, ())) for i in range(len(plan.sessions))]
    if primary == "preference":
        return [s.pairs for s in plan.sessions]
    return [s.unpaired for s in plan.sessions]


def _active(plan: Plan, kept: Mapping[int, list[int]], formats: tuple[Format, ...]) -> list[int]:
    """Planned sessions that give any requested format a row."""
    sft = bool(SFT_FORMATS & set(formats))
    return [
        i
        for i, s in enumerate(plan.sessions)
        if (sft and kept.get(i))
        or ("preference" in formats and s.pairs)
        or ("unpaired" in formats and s.unpaired)
    ]


def _previous_files(out_dir: Path) -> set[str]:
    """The output files an earlier build's manifest lists (inside ``out_dir`` only)."""
    try:
        listed = jsonio.loads((out_dir / DATASET_MANIFEST).read_bytes()).get("files", {})
    except (OSError, jsonio.JSONError, AttributeError):
        return set()
    if not isinstance(listed, dict):
        return set()
    return {
        name
        for name in listed
        if isinstance(name, str) and not Path(name).is_absolute() and ".." not in Path(name).parts
    }


def _clear_stale(out_dir: Path, formats: tuple[Format, ...]) -> None:
    """Remove output a previous build (``--force``) left that this build will not replace:
    what its manifest listed, every format's files, the old top-level ``trl-sft`` files.

    A manifest left by an earlier build would vouch for files this build is about to
    replace; it goes first (once read) and comes back last.
    """
    stale = _previous_files(out_dir) | set(_OLD_LAYOUT) | {LLAMA_FACTORY_INFO}
    stale |= {relative for name in FORMATS for relative in format_files(name).values()}
    (out_dir / DATASET_MANIFEST).unlink(missing_ok=True)
    keep = {relative for name in formats for relative in format_files(name).values()}
    keep |= set(OUTPUT_FILES) | ({LLAMA_FACTORY_INFO} if "llama-factory" in formats else set())
    for relative in sorted(stale - keep):
        path = out_dir / relative
        if path.is_file() or path.is_symlink():
            path.unlink()
    for name in FORMATS:
        folder = out_dir / name
        if name not in formats and folder.is_dir() and not any(folder.iterdir()):
            shutil.rmtree(folder)


def _format_entry(name: Format, output: FormatOutput, plan: Plan, method: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "layout": LAYOUTS[name],
        "files": format_files(name),
        "rows": output.rows,
        "skipped": dict(sorted(output.skipped.items())),
        "token_stats": output.stats(method),
    }
    if name == "preference":
        entry["same_step"] = SAME_STEP
        entry["pairs_found"] = sum(s.pairs for s in plan.sessions)
        entry["failed_calls_without_pair"] = {
            reason: plan.pair_skips.get(reason, 0) for reason in SKIP_REASONS
        }
    if name == "unpaired":
        entry["labels"] = {"true": output.labels["true"], "false": output.labels["false"]}
        entry["steps_without_label"] = dict(plan.unpaired_skips)
    if name == "llama-factory":
        entry["adjusted"] = dict(sorted(output.adjusted.items()))
        entry["dataset_info"] = LLAMA_FACTORY_INFO
    return entry


def build_dataset(
    export: ApprovedExport, out_dir: Path, options: BuildOptions, *, catalog: Catalog
) -> dict[str, Any]:
    """Build the dataset from ``export`` into ``out_dir`` and return its manifest.

    ``export`` is what :func:`modellab.gate.open_approved` returned; every byte read through
    it is checked against the approval, and the approval must still be this catalog's when
    the manifest is written.

    ``out_dir`` is claimed first (:func:`modellab._internal.files.claim_output`): never the
    lab's home, a registry or the export itself, replaced with ``--force`` only when an
    earlier dataset wrote it, and locked against a second writer during the build.

    :raises GateError: the export changed, or its approval was replaced, during the build.
    :raises UsageError: bad options, an output folder in the way, or no row selected.
    :raises OutputBusyError: another command is writing ``out_dir``.
    :raises CorruptSourceError: an export file cannot be read.
    :raises ExportError: an output file could not be written.
    """
    with claim_output(
        out_dir,
        kind="dataset",
        force=options.force,
        catalog=catalog,
        sources=[(export.path, "the export being read")],
    ):
        return _build_dataset(export, out_dir, options, catalog=catalog)


def _build_dataset(
    export: ApprovedExport, out_dir: Path, options: BuildOptions, *, catalog: Catalog
) -> dict[str, Any]:
    """Build the dataset into ``out_dir``, claimed by :func:`build_dataset`."""
    system_prompt = _check(options, out_dir)
    counter = TokenCounter(options.tokenizer_file)
    formats = options.formats
    plan = plan_build(
        iter_sessions(export), options.filters, formats=formats, system_prompt=system_prompt
    )
    ids = [s.id for s in plan.sessions]
    deduped = deduplicate(plan.rows, ids) if plan.rows else DedupResult([])
    kept: dict[int, list[int]] = {}
    ordinal = Counter[int]()
    kept_set = set(deduped.kept)
    for k, row in enumerate(plan.rows):
        if k in kept_set:
            kept.setdefault(row.session, []).append(ordinal[row.session])
        ordinal[row.session] += 1
    dropped_exact = sum(1 for d in deduped.dropped if d["reason"] == "exact")
    dropped = {"exact": dropped_exact, "near": len(deduped.dropped) - dropped_exact}
    active = _active(plan, kept, formats)
    if not active:
        excluded = exclusions(plan, kept, (), formats, options.filters.mode, dropped=dropped)
        why = describe_exclusions(
            {"excluded": excluded, "filters": _filters(options, system_prompt), "formats": {}}
        )
        raise UsageError(
            f"{export.path}: no rows match --from {options.filters.mode}, the filters and "
            f"--format {','.join(formats)}" + (f" ({'; '.join(why)})" if why else ""),
            hint="try --from all, or fewer --label/--outcome filters",
        )
    groups = group_sessions(plan.sessions, [plan.rows[k] for k in deduped.kept], active)
    split = split_sessions(
        plan.sessions,
        groups,
        _weights(plan, kept, formats[0]),
        method=options.split,
        test_fraction=options.test_fraction,
        seed=options.seed,
    )
    try:
        # Session data stays private: the folders are 0700, every file 0600.
        private_dir(out_dir)
        write_output_marker(out_dir, "dataset")  # first: a build cut short is still ours
        _clear_stale(out_dir, formats)
        for folder in formats:
            private_dir(out_dir / folder)
        rows_kept = {k: frozenset(v) for k, v in kept.items()}
        wanted = Wanted(options.filters, formats, system_prompt, rows_kept, split.test)
        outputs = write_rows(iter_sessions(export), out_dir, wanted, counter)
    except OSError as exc:
        raise ExportError(f"{out_dir}: could not write the dataset ({exc})") from exc

    primary = outputs[formats[0]]
    sides = {
        side: sorted({s for o in outputs.values() for s in o.sessions[side]})
        for side in ("train", "test")
    }
    written = set().union(*(o.indexes for o in outputs.values()))
    report = {
        "near_duplicate_threshold": NEAR_THRESHOLD,
        "near_duplicate_method": NEAR_METHOD,
        "rows_selected": len(plan.rows),
        "rows_kept": len(deduped.kept),
        "dropped": deduped.dropped,
    }
    sft_output = next((outputs[f] for f in formats if f in SFT_FORMATS), None)
    manifest: dict[str, Any] = {
        "formats": {
            name: _format_entry(name, outputs[name], plan, counter.method) for name in formats
        },
        "primary_format": formats[0],
        "source": {
            "path": str(export.path),
            "manifest_sha256": export.files[EXPORT_MANIFEST],
            "files": dict(sorted(export.files.items())),
            "redaction_report_sha256": export.files.get(FINDINGS),
            "approved_at": export.approved_at,
            "approved_by": export.approved_by,
            "catalog_id": export.catalog_id,
            "sessions": plan.sessions_in_export,
            "sessions_passing_filters": len(plan.sessions),
            "sessions_used": len(written),
        },
        # The approval this dataset was built from: whatever uses the dataset (training,
        # an upload) must find it standing in its own catalog (verify_dataset).
        "approval": export.record(),
        "filters": _filters(options, system_prompt),
        "excluded": exclusions(plan, kept, written, formats, options.filters.mode, dropped=dropped),
        "split": {
            "method": options.split,
            "seed": options.seed,
            "test_fraction": options.test_fraction,
            "weighted_by": f"{formats[0]} rows",
            "grouping": "session; near-duplicate task (MinHash of first prompt + touched "
            f"files, estimated Jaccard >= {TASK_THRESHOLD})",
            "groups": split.groups,
            "train_groups": split.train_groups,
            "test_groups": split.test_groups,
            **split.details,
            "session_ids": sides,
        },
        "counts": {
            "selected": len(plan.rows),
            "dropped": dropped,
            **{
                side: {"rows": primary.rows[side], "sessions": len(primary.sessions[side])}
                for side in ("train", "test")
            },
        },
        "token_stats": {
            "method": counter.method,
            "counted": "estimate" if counter.is_estimate else "tokenizer",
            "tokenizer_sha256": counter.tokenizer_sha256,
            **(sft_output or primary).stats(counter.method),
        },
    }
    contents: dict[str, bytes] = {"dedup-report.json": _json(report)}
    if "llama-factory" in formats:
        contents[LLAMA_FACTORY_INFO] = _json(llama_factory_info())
    contents["README.md"] = render_card(manifest).encode()
    # The manifest ties the outputs to their hashes, so it is rendered after them.
    files = {name: sha for o in outputs.values() for name, sha in o.files.items()}
    files.update({name: _sha256(data) for name, data in contents.items()})
    manifest["files"] = dict(sorted(files.items()))
    contents[DATASET_MANIFEST] = _json(manifest)
    # The moment of writing: every byte read above was checked against the approved sha256s;
    # the approval itself must still be the one this catalog holds (not replaced since).
    export.still_standing(catalog)
    try:
        for name, data in contents.items():
            atomic_write_bytes(out_dir / name, data)
    except OSError as exc:
        raise ExportError(f"{out_dir}: could not write the dataset ({exc})") from exc
    _record_build(catalog, out_dir, export, contents[DATASET_MANIFEST])
    return manifest


def _record_build(catalog: Catalog, out_dir: Path, export: ApprovedExport, manifest: bytes) -> None:
    """Remember in the catalog which manifest this build wrote, from which approval.

    The dataset folder can be edited by anyone; this record cannot be from there, so a
    manifest edited to name another approved export is not one this catalog built.
    """
    with catalog.transaction() as db:
        catalog.audit(
            db,
            BUILD_ACTION,
            {
                "out_dir": str(out_dir.resolve()),
                "manifest_sha256": _sha256(manifest),
                "export_dir": str(export.path),
                "files_sha256": export.fingerprint,
            },
        )
