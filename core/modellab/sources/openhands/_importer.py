"""The :class:`OpenHandsImporter`: recognising and reading OpenHands ``output.jsonl`` files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.errors import CorruptSourceError
from modellab.plugins.hookspecs import hookimpl
from modellab.sources._base import (
    FileImport,
    as_str,
    fail_closed,
    files_under,
    read_head,
    read_source,
    title_from_prompt,
)
from modellab.sources._jsonl import iter_jsonl
from modellab.sources.openhands._events import Timeline, read_events, with_instruction
from modellab.sources.openhands._v1 import is_v1_history, read_v1_events
from modellab.traces import Agent, Diff, Label, Provenance, Session, Usage, derive_outcome

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.sources import Importer

__all__ = ["PARSER_VERSION", "SOURCE_FORMAT", "OpenHandsImporter", "plugin"]

#: Bump when the mapping changes, so stored sessions can be re-imported.
PARSER_VERSION = "2"
SOURCE_FORMAT = "openhands.output_jsonl"

# The first line is often far longer than the sniff window (a whole run's history), so the
# sniff looks for the two keys every evaluation row has, before the first line ends.
_INSTANCE_KEY = re.compile(rb'"instance_id"\s*:\s*"')
_HISTORY_KEY = re.compile(rb'"history"\s*:\s*\[')
# V1's ``EvalOutput`` writes ``instance_id`` first, then ``attempt`` and ``test_result``.
_V1_ROW_START = re.compile(
    rb'^\{\s*"instance_id"\s*:\s*"[^"]*"\s*,\s*"(?:attempt|test_result)"\s*:'
)
# Session facts with no neutral field, kept under ``Session.extra`` when present (V0 and V1
# ``EvalMetadata``).
_METADATA_EXTRA = (
    "agent_class",
    "agent_type",
    "dataset",
    "dataset_split",
    "max_iterations",
    "git_commit",
    "start_time",
    "openhands_sdk_version",
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(metrics: dict[str, Any]) -> Usage | None:
    tokens = _dict(metrics.get("accumulated_token_usage"))
    cost = metrics.get("accumulated_cost")
    costs = metrics.get("costs")
    # accumulated_cost is 0.0 when no price was configured; "costs" then stays empty.
    known_cost = None
    if isinstance(cost, int | float) and not isinstance(cost, bool) and costs:
        known_cost = float(cost)
    return Usage(
        input_tokens=_count(tokens.get("prompt_tokens")),
        output_tokens=_count(tokens.get("completion_tokens")),
        cached_tokens=_count(tokens.get("cache_read_tokens")),
        cost_usd=known_cost,
    )


def _resolved(row: dict[str, Any]) -> tuple[bool, str] | None:
    """``resolved`` from the graded row: ``test_result.report``, ``report`` or top level."""
    test_result = _dict(row.get("test_result"))
    for where, holder in (
        ("test_result.report", _dict(test_result.get("report"))),
        ("report", _dict(row.get("report"))),
        ("test_result", test_result),
    ):
        if isinstance(holder.get("resolved"), bool):
            return holder["resolved"], where
    return None


def _labels(row: dict[str, Any], timeline: Timeline) -> list[Label]:
    labels = list(timeline.labels)
    error = as_str(row.get("error"))
    if error:
        # e.g. "Agent reached maximum iteration in headless mode": the run was cut off.
        labels.append(Label(kind="turn_failed", source="instance_error", detail=error[:200]))
    verdict = _resolved(row)
    if verdict is not None:
        resolved, where = verdict
        labels.append(
            Label(
                kind="tests_passed" if resolved else "tests_failed",
                source=where,
                detail="resolved" if resolved else "unresolved",
            )
        )
    return labels


class OpenHandsImporter:
    """Reads OpenHands evaluation output: one session per ``output.jsonl`` line.

    A row's ``history`` is read as V1 (software-agent-sdk events with a ``kind``) or V0
    (``action``/``observation`` events); the row's ``instruction`` becomes the first user
    step when the history does not open with one.
    """

    name = "openhands"
    parser_version = PARSER_VERSION

    def default_roots(self, settings: Settings) -> list[Path]:
        """None: evaluation output lives wherever a run wrote it, so it is imported by path."""
        return []

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield every JSONL file under ``root`` that looks like evaluation output.

        Not only ``output.jsonl``: evaluation outputs are often renamed per benchmark
        (``multi_swe_bench_output.jsonl``); the sniff keeps other agents' JSONL out.
        """
        for path in files_under(root, "*.jsonl"):
            if self.sniff(path, read_head(path)):
                yield path

    def sniff(self, path: Path, head: bytes) -> bool:
        """A JSONL whose first line is an object with ``instance_id`` and a ``history`` list.

        V1 rows write ``history`` after ``test_result`` (which holds the whole git patch) and
        ``metadata``, so it may lie past the sniff window: a first line that runs past the
        window and opens as ``EvalOutput`` does (``instance_id``, then ``attempt`` or
        ``test_result``) is taken too.
        """
        first, newline, _ = head.lstrip().partition(b"\n")
        if not first.startswith(b"{") or _INSTANCE_KEY.search(first) is None:
            return False
        if _HISTORY_KEY.search(first) is not None:
            return True
        return not newline and _V1_ROW_START.match(first) is not None

    @fail_closed
    def read(self, path: Path) -> FileImport:
        """Parse every evaluation row into a session, accounting for every history event."""
        data = read_source(path)
        report = FileImport(path=path, importer=self.name)
        for line in iter_jsonl(path, data):
            row = line.value
            if line.error is not None:
                report.lines_total += 1
                report.skip(
                    line.error if line.error.startswith("truncated") else "invalid JSON line"
                )
                continue
            if not (
                isinstance(row, dict)
                and isinstance(row.get("instance_id"), str)
                and isinstance(row.get("history"), list)
            ):
                report.lines_total += 1
                report.skip("line is not an evaluation row (instance_id and history)")
                continue
            history = row["history"]
            v1 = is_v1_history(history)
            timeline = (read_v1_events if v1 else read_events)(history, report)
            report.sessions.append(self._session(path, data, row, timeline, line.lineno, v1=v1))
        if not report.sessions:
            raise CorruptSourceError(path, "no OpenHands evaluation row could be read")
        return report

    def _session(
        self,
        path: Path,
        data: bytes,
        row: dict[str, Any],
        timeline: Timeline,
        lineno: int,
        *,
        v1: bool = False,
    ) -> Session:
        metadata = _dict(row.get("metadata"))
        # V0 keeps the model under ``llm_config``, V1's ``EvalMetadata`` under ``llm``.
        llm = _dict(metadata.get("llm_config")) or _dict(metadata.get("llm"))
        instance = _dict(row.get("instance"))
        labels = _labels(row, timeline)
        extra: dict[str, Any] = {"instance_id": row["instance_id"], "line": lineno}
        extra.update({key: metadata[key] for key in _METADATA_EXTRA if key in metadata})
        if isinstance(instance.get("repo"), str):
            extra["repo"] = instance["repo"]
        verdict = _resolved(row)
        if verdict is not None:
            extra["resolved"] = verdict[0]
        if timeline.finish:
            extra["finish"] = timeline.finish
        patch = as_str(_dict(row.get("test_result")).get("git_patch"))
        artifacts = (Diff(patch=patch, origin="git_patch"),) if patch and patch.strip() else ()
        instruction = as_str(row.get("instruction"))
        if with_instruction(timeline, instruction):
            extra["instruction_from_row"] = True
        prompt = instruction or as_str(instance.get("problem_statement"))
        return Session(
            id=row["instance_id"],
            source=self.name,
            agent=Agent(name="openhands"),
            title=title_from_prompt(as_str(instance.get("problem_statement")) or prompt),
            created_at=timeline.first_timestamp,
            updated_at=timeline.last_timestamp,
            model=as_str(llm.get("model")),
            system_prompt=timeline.system_prompt,
            turns=tuple(timeline.turns),
            artifacts=artifacts,
            labels=tuple(labels),
            outcome=derive_outcome(labels),
            usage=_usage(_dict(row.get("metrics"))),
            provenance=Provenance.of_bytes(
                path,
                data,
                source_format=SOURCE_FORMAT,
                source_format_version="v1" if v1 else None,
                parser_version=PARSER_VERSION,
            ),
            extra=extra,
        )


class _Plugin:
    """Registers the built-in OpenHands importer."""

    @hookimpl
    def modellab_register_importers(self, register: Callable[[Importer], None]) -> None:
        """Register :class:`OpenHandsImporter`."""
        register(OpenHandsImporter())


plugin = _Plugin()
