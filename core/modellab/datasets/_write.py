"""The writing pass: render each planned row again and stream it to its format's files.

Every file is written through :func:`modellab._internal.files.atomic_writer` and hashed as
it is written; all are renamed into place together at the end, or none is if anything
fails (the export changed, a disk filled up). Only one session is in memory at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modellab._internal.files import atomic_writer
from modellab.datasets._formats import (
    SFT_FORMATS,
    Format,
    format_files,
    to_llama_factory,
    to_nemo,
)
from modellab.datasets._plan import row_sha256
from modellab.datasets._preference import find_pairs, find_unpaired, render_pairs, render_unpaired
from modellab.datasets._rows import conversation_text
from modellab.datasets._select import Filters, session_examples, wanted
from modellab.datasets._source import SessionRecord
from modellab.datasets._stats import TokenCounter, token_stats

__all__ = ["FormatOutput", "Wanted", "write_rows"]

SIDES = ("train", "test")


class _Sink:
    """One output file: rows go in as JSON lines, hashed and counted on the way."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.rows = 0

    def write(self, row: Mapping[str, Any]) -> None:
        data = json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n"
        self.handle.write(data)
        self.digest.update(data)
        self.rows += 1


@dataclass(slots=True)
class FormatOutput:
    """What one format wrote: rows and token lengths per side, and what it left out."""

    rows: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SIDES})
    #: Planned session indexes that gave this format a row.
    indexes: set[int] = field(default_factory=set)
    lengths: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SIDES})
    #: Rows not written, by reason (a layout that cannot hold them, exact duplicates).
    skipped: Counter[str] = field(default_factory=Counter)
    #: Changes made to fit a layout, by kind.
    adjusted: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    files: dict[str, str] = field(default_factory=dict)

    def stats(self, method: str) -> dict[str, Any]:
        """Token statistics per side."""
        return {side: token_stats(self.lengths[side], method) for side in SIDES}


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the plan decided: which sessions, which of their SFT rows, and their sides."""

    filters: Filters
    formats: tuple[Format, ...]
    system_prompt: str | None
    #: Per planned session index, the positions of its SFT rows that survived de-duplication.
    kept_rows: Mapping[int, Collection[int]]
    #: Planned session indexes that go to test.
    test: Collection[int]


def _write_session(
    record: SessionRecord,
    index: int,
    wanted_: Wanted,
    sinks: dict[tuple[Format, str], _Sink],
    outputs: dict[Format, FormatOutput],
    seen: dict[Format, set[bytes]],
    counter: TokenCounter,
) -> None:
    session = record.session
    side = "test" if index in wanted_.test else "train"
    prompt, tools = wanted_.system_prompt, record.declared_tools

    def emit(name: Format, row: Mapping[str, Any], text: str) -> None:
        sinks[name, side].write(row)
        outputs[name].sessions[side].add(session.id)
        outputs[name].indexes.add(index)
        outputs[name].lengths[side].append(counter.count(text))

    sft = [f for f in wanted_.formats if f in SFT_FORMATS]
    kept = wanted_.kept_rows.get(index, ())
    if sft and kept:
        examples = session_examples(
            session, wanted_.filters.mode, system_prompt=prompt, declared_tools=tools
        )
        for position, example in enumerate(examples):
            if position not in kept:
                continue
            row = example.row
            text = conversation_text(row)
            for name in sft:
                laid_out: Mapping[str, Any] | str = row
                if name == "nemo":
                    laid_out = to_nemo(row)
                elif name == "llama-factory":
                    laid_out = to_llama_factory(row, outputs[name].adjusted)
                if isinstance(laid_out, str):
                    outputs[name].skipped[laid_out] += 1
                else:
                    emit(name, laid_out, text)
    own: list[tuple[Format, Iterator[dict[str, Any]], str]] = []
    if "preference" in wanted_.formats:
        pairs = find_pairs(session)[0]
        rows = render_pairs(session, pairs, system_prompt=prompt, declared_tools=tools)
        own.append(("preference", rows, "chosen"))
    if "unpaired" in wanted_.formats:
        steps = find_unpaired(session)[0]
        rows = render_unpaired(session, steps, system_prompt=prompt, declared_tools=tools)
        own.append(("unpaired", rows, "completion"))
    for name, rendered, answer in own:
        for row in rendered:
            digest = row_sha256(row)
            if digest in seen[name]:
                outputs[name].skipped["exact-duplicate"] += 1
                continue
            seen[name].add(digest)
            if "label" in row:
                outputs[name].labels[str(row["label"]).lower()] += 1
            emit(name, row, conversation_text({"messages": [*row["prompt"], *row[answer]]}))


def write_rows(
    records: Iterable[SessionRecord],
    out_dir: Path,
    wanted_: Wanted,
    counter: TokenCounter,
) -> dict[Format, FormatOutput]:
    """Stream every format's rows into ``out_dir``; return what was written.

    The files are in place only when this returns.
    """
    outputs = {name: FormatOutput() for name in wanted_.formats}
    seen: dict[Format, set[bytes]] = {name: set() for name in wanted_.formats}
    with contextlib.ExitStack() as stack:
        sinks: dict[tuple[Format, str], _Sink] = {}
        for name in wanted_.formats:
            for side, relative in format_files(name).items():
                sinks[name, side] = _Sink(stack.enter_context(atomic_writer(out_dir / relative)))
        index = -1
        for record in records:
            if not wanted(record.session, wanted_.filters):
                continue
            index += 1
            _write_session(record, index, wanted_, sinks, outputs, seen, counter)
        for (name, side), sink in sinks.items():
            outputs[name].rows[side] = sink.rows
            outputs[name].files[format_files(name)[side]] = sink.digest.hexdigest()
    return outputs
