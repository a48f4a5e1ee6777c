"""Eval suites: every agent decision point of an approved export becomes a replayable case.

A case holds what the agent saw (the conversation up to that point and the tools it had)
and what it did next (the recorded :class:`~modellab.evals.Action`). A suite is a folder:

* ``cases.jsonl``: one case per line, in session order;
* ``suite.json``: how it was built, and the export's hashes. The suite's id is the sha256 of
  ``cases.jsonl``, so two suites with the same id hold the same cases byte for byte.

Suites are built only from an :class:`~modellab.gate.ApprovedExport` (what
:func:`modellab.gate.open_approved` returns), never from a path: cases are sent to model
endpoints, which may be hosted, so they get the same gate as any upload. A suite records
the approval it was built from (``suite.json``'s ``approval``: the export, when it was
approved, by which catalog, and the approved files' sha256), and
:func:`verify_suite_approval` checks, at the moment of sending, that this catalog built the
suite and that this approval still stands (:func:`modellab.gate.verify_built_from`).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab._internal.files import (
    atomic_write_bytes,
    claim_output,
    private_dir,
    write_output_marker,
)
from modellab.datasets._source import iter_sessions
from modellab.datasets._stats import CHARS_PER_TOKEN
from modellab.errors import EvalError, NotApprovedError, UsageError
from modellab.evals._actions import Action
from modellab.gate import ApprovedExport, verify_built_from
from modellab.gate.layout import FINDINGS, MANIFEST
from modellab.traces import Session

__all__ = [
    "CASES_FILE",
    "SUITE_FILE",
    "EvalCase",
    "Suite",
    "SuiteOptions",
    "build_suite",
    "read_suite",
    "verify_suite_approval",
]

CASES_FILE = "cases.jsonl"
SUITE_FILE = "suite.json"
#: The slice a case falls in when its next action is a text answer, not a tool call.
ANSWER_SLICE = "(answer)"
#: Kept from the start and end of a message that alone exceeds the budget.
_CLIP_NOTE = "\n[... {n} characters cut by modellab eval build ...]\n"


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One decision point: the context the agent had and the action it took."""

    id: str
    session_id: str
    #: Index, in the session's rendered conversation, of the message this case replays.
    position: int
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...]
    expected: Action
    #: Slice keys for per-slice statistics: ``tool`` (the expected tool or ``(answer)``) and
    #: ``repo`` (the session's repository or working folder).
    slices: Mapping[str, str]

    def tool_schema(self, name: str) -> dict[str, Any] | None:
        """The JSON schema of tool ``name``'s parameters, or ``None`` if it was not offered."""
        for tool in self.tools:
            function = tool.get("function", {})
            if function.get("name") == name:
                parameters = function.get("parameters")
                return parameters if isinstance(parameters, dict) else {}
        return None

    def to_json(self) -> dict[str, Any]:
        """The case as one ``cases.jsonl`` line."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "position": self.position,
            "messages": list(self.messages),
            "tools": list(self.tools),
            "expected": self.expected.to_json(),
            "slices": dict(self.slices),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalCase:
        """Read one ``cases.jsonl`` line; a missing field raises ``KeyError``."""
        return cls(
            id=str(data["id"]),
            session_id=str(data["session_id"]),
            position=int(data["position"]),
            messages=tuple(data["messages"]),
            tools=tuple(data["tools"]),
            expected=Action.from_json(data["expected"]),
            slices={str(k): str(v) for k, v in dict(data["slices"]).items()},
        )


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    """Which sessions and decision points of the export become cases."""

    #: Only sessions with one of these outcomes (none: every session).
    outcomes: tuple[str, ...] = ()
    #: Only sessions holding a label of one of these kinds.
    labels: tuple[str, ...] = ()
    #: Drop the oldest context messages until a case fits (about 4 characters a token).
    max_context_tokens: int | None = None
    #: Keep at most this many cases, chosen evenly across sessions with ``seed``.
    max_cases: int | None = None
    seed: int = 0
    force: bool = False


@dataclass(frozen=True, slots=True)
class Suite:
    """A built suite on disk."""

    path: Path
    id: str
    manifest: dict[str, Any]
    cases: list[EvalCase] = field(repr=False)


def _repo_of(session: Session) -> str:
    repo = session.extra.get("repo")
    if isinstance(repo, str) and repo:
        return repo
    if session.cwd:
        return posixpath.basename(session.cwd.rstrip("/\\").replace("\\", "/")) or session.cwd
    return "(unknown)"


def _tools_offered(
    messages: Sequence[Mapping[str, Any]], declared: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every declared tool, plus a bare definition for each tool used but never declared."""
    tools = dict(declared)
    for message in messages:
        for call in message.get("tool_calls", ()):
            name = call["function"]["name"]
            tools.setdefault(
                name,
                {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}},
            )
    return [tools[name] for name in sorted(tools)]


def _size(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False))


def _clip(message: dict[str, Any], budget_chars: int) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, str) or len(content) <= budget_chars:
        return message
    keep = max(budget_chars // 2, 1)
    cut = len(content) - 2 * keep
    return {**message, "content": content[:keep] + _CLIP_NOTE.format(n=cut) + content[-keep:]}


def _fit(
    context: list[dict[str, Any]], max_tokens: int | None, sizes: list[int] | None = None
) -> list[dict[str, Any]]:
    """Drop the oldest exchanges (never the system prompt or first request) to fit.

    An assistant message and the tool results answering it go together, so a trimmed
    context never holds a result without its call. A message that alone is too long is cut
    in the middle, leaving a note. ``sizes`` are the messages' sizes (:func:`_size`),
    measured once per session: every case of a session fits a prefix of the same messages.
    """
    if max_tokens is None:
        return context
    if sizes is None:
        sizes = [_size(m) for m in context]
    budget = max_tokens * CHARS_PER_TOKEN
    head_len = 0
    while head_len < len(context) and context[head_len]["role"] in ("system", "user"):
        head_len += 1
        if context[head_len - 1]["role"] == "user":
            break
    # Exchanges after the head, as (first index, end index, size), oldest first.
    groups: list[list[int]] = []
    for index in range(head_len, len(context)):
        if context[index]["role"] == "tool" and groups:
            groups[-1][1] = index + 1
            groups[-1][2] += sizes[index]
        else:
            groups.append([index, index + 1, sizes[index]])
    total = sum(sizes[:head_len]) + sum(group[2] for group in groups)
    dropped = 0
    while dropped < len(groups) and total > budget:
        total -= groups[dropped][2]
        dropped += 1
    start = groups[dropped][0] if dropped < len(groups) else len(context)
    kept = context[:head_len] + context[start:]
    share = budget // max(len(kept), 1)
    return [_clip(m, share) for m in kept]


def _tool_slice(message: Mapping[str, Any], expected: Action, shown: Mapping[str, str]) -> str:
    """The ``tool`` slice: the first call's name in the shared tool vocabulary.

    Cases keep the recorded function name (what the model is offered and must call); the
    slice, like every listing, uses :attr:`ToolCall.display_name` (``bash`` -> ``exec_shell``).
    """
    if not expected.calls:
        return ANSWER_SLICE
    recorded = expected.calls[0].name
    first = message["tool_calls"][0]
    call_id = first.get("id") if isinstance(first, Mapping) else None
    return shown.get(call_id, recorded) if isinstance(call_id, str) else recorded


def cases_of_session(
    session: Session, declared: Mapping[str, dict[str, Any]], options: SuiteOptions
) -> list[EvalCase]:
    """Every assistant message of ``session`` as a case, with the conversation before it."""
    from modellab.datasets._rows import render_row

    row = render_row(session, session.turns, system_prompt=None, declared_tools=declared)
    messages: list[dict[str, Any]] = row["messages"]
    tools = tuple(_tools_offered(messages, declared))
    repo = _repo_of(session)
    shown_names = {
        call.id: call.display_name
        for turn in session.turns
        for step in turn.steps
        for call in step.tool_calls
    }
    sizes = [_size(m) for m in messages] if options.max_context_tokens is not None else []
    cases = []
    for position, message in enumerate(messages):
        if message["role"] != "assistant" or position == 0:
            continue
        expected = Action.from_message(message)
        tool_slice = _tool_slice(message, expected, shown_names)
        cases.append(
            EvalCase(
                id=f"{session.id}:{position:04d}",
                session_id=session.id,
                position=position,
                messages=tuple(_fit(messages[:position], options.max_context_tokens, sizes)),
                tools=tools,
                expected=expected,
                slices={"tool": tool_slice, "repo": repo},
            )
        )
    return cases


def _wanted(session: Session, options: SuiteOptions) -> bool:
    if options.outcomes and session.outcome not in options.outcomes:
        return False
    kinds = {label.kind for label in session.labels}
    return not options.labels or bool(kinds & set(options.labels))


def _sample(cases: list[EvalCase], limit: int | None, seed: int) -> list[EvalCase]:
    """At most ``limit`` cases, ranked by a seeded hash so the choice is stable and spread."""
    if limit is None or len(cases) <= limit:
        return cases

    def rank(case: EvalCase) -> str:
        return hashlib.sha256(f"{seed}:{case.id}".encode()).hexdigest()

    chosen = {case.id for case in sorted(cases, key=rank)[:limit]}
    return [case for case in cases if case.id in chosen]


def build_suite(
    export: ApprovedExport, out_dir: Path, options: SuiteOptions, *, catalog: Any
) -> Suite:
    """Build a suite from an approved export and record it in the catalog.

    ``export`` is what :func:`modellab.gate.open_approved` returned; every byte read through
    it is checked against the approval, and the approval must still be this catalog's when
    the suite is written.

    ``out_dir`` is claimed first (:func:`modellab._internal.files.claim_output`): never the
    lab's home, a registry or the export itself, replaced with ``--force`` only when an
    earlier suite wrote it, and locked against a second writer while the suite is built.

    :raises modellab.errors.GateError: the export changed, or its approval was replaced,
        while the suite was built.
    :raises modellab.errors.UsageError: bad options, or an ``out_dir`` that may not be used.
    :raises modellab.errors.OutputBusyError: another command is writing ``out_dir``.
    """
    with claim_output(
        out_dir,
        kind="suite",
        force=options.force,
        catalog=catalog,
        sources=[(export.path, "the export being read")],
    ):
        return _build_suite(export, out_dir, options, catalog=catalog)


def _build_suite(
    export: ApprovedExport, out_dir: Path, options: SuiteOptions, *, catalog: Any
) -> Suite:
    """Build the suite into ``out_dir``, claimed by :func:`build_suite`."""
    if options.max_context_tokens is not None and options.max_context_tokens < 64:
        raise UsageError(f"--max-context-tokens: {options.max_context_tokens} is below 64")
    if options.max_cases is not None and options.max_cases < 1:
        raise UsageError(f"--max-cases: {options.max_cases} must be at least 1")
    # One trajectory at a time, through the gate's reader: refused if the bytes are not the
    # approved ones.
    cases: list[EvalCase] = []
    sessions = skipped = 0
    for record in iter_sessions(export):
        if not _wanted(record.session, options):
            skipped += 1
            continue
        sessions += 1
        cases.extend(cases_of_session(record.session, record.declared_tools, options))
    cases = _sample(cases, options.max_cases, options.seed)
    if not cases:
        raise EvalError(
            f"{export.path}: no decision point to replay ({sessions} sessions chosen, "
            f"{skipped} left out by the filters)",
            hint="check --outcome/--label, or export sessions in which the agent acted",
        )
    body = b"".join(
        json.dumps(case.to_json(), ensure_ascii=False, sort_keys=True).encode() + b"\n"
        for case in cases
    )
    suite_id = hashlib.sha256(body).hexdigest()
    manifest = _manifest(export, suite_id, cases, sessions, skipped, options)
    manifest["approval"] = export.record()
    # The moment of writing: every byte read above was checked against the approved sha256s;
    # the approval itself must still be the one this catalog holds (not replaced since).
    export.still_standing(catalog)
    private_dir(out_dir)  # suites hold session data: private, as exports and datasets are
    write_output_marker(out_dir, "suite")  # first: a suite cut short is still ours
    atomic_write_bytes(out_dir / CASES_FILE, body)
    # suite.json last: a folder holding one is a finished suite.
    atomic_write_bytes(
        out_dir / SUITE_FILE, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    )
    _record(catalog, out_dir, manifest)
    return Suite(path=out_dir, id=suite_id, manifest=manifest, cases=cases)


def _manifest(
    export: ApprovedExport,
    suite_id: str,
    cases: Sequence[EvalCase],
    sessions: int,
    skipped: int,
    options: SuiteOptions,
) -> dict[str, Any]:
    by_tool: dict[str, int] = {}
    for case in cases:
        by_tool[case.slices["tool"]] = by_tool.get(case.slices["tool"], 0) + 1
    return {
        "suite_id": suite_id,
        "format": "modellab-eval-suite/1",
        "export": {
            "path": str(export.path),
            "manifest_sha256": export.files[MANIFEST],
            "redaction_report_sha256": export.files.get(FINDINGS),
        },
        "options": {
            "outcomes": list(options.outcomes),
            "labels": list(options.labels),
            "max_context_tokens": options.max_context_tokens,
            "max_cases": options.max_cases,
            "seed": options.seed,
        },
        "counts": {
            "cases": len(cases),
            "sessions": len({case.session_id for case in cases}),
            "sessions_chosen": sessions,
            "sessions_left_out": skipped,
            "by_tool": dict(sorted(by_tool.items())),
        },
    }


def _record(catalog: Any, out_dir: Path, manifest: Mapping[str, Any]) -> None:
    from modellab.store import utc_now

    export = manifest["export"]
    with catalog.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO eval_suites (id, path, export_dir, export_manifest_sha256, "
            "redaction_report_sha256, cases, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                manifest["suite_id"],
                str(out_dir.resolve()),
                export["path"],
                export["manifest_sha256"],
                export["redaction_report_sha256"],
                manifest["counts"]["cases"],
                utc_now(),
            ),
        )


def verify_suite_approval(suite: Suite, catalog: Any) -> ApprovedExport:
    """The gate at the moment of use: the approval ``suite`` was built from still stands.

    Checks that this catalog built the suite from the export its ``suite.json`` names (the
    catalog's record of the suite, not ``suite.json`` alone), then that the approval it
    records still stands (:func:`modellab.gate.verify_built_from`: this catalog's, the
    export redacted, approved here, unchanged, and approved for the very files the suite
    was built from).

    Returns the :class:`~modellab.gate.ApprovedExport` that stands.

    :raises modellab.errors.GateError: any of these fails; nothing may be sent.
    """
    rebuild = "build the suite again here: 'modellab eval build EXPORT --out DIR'"
    record = suite.manifest.get("approval")
    # The catalog check only for a record that names this catalog: another home's suite
    # gets the clearer "another Model Lab home" refusal from the gate.
    if isinstance(record, dict) and record.get("catalog_id") == catalog.catalog_id:
        export_dir = Path(str(record.get("export_dir")))
        rows = catalog.query(
            "SELECT export_dir, export_manifest_sha256 FROM eval_suites WHERE id = ?",
            (suite.id,),
        )
        if not rows or Path(rows[0][0]) != export_dir:
            raise NotApprovedError(
                suite.path,
                f"this catalog never built this suite from export {export_dir} (it was "
                "copied in, or its suite.json was edited), so no approval here covers it",
                hint=rebuild,
            )
        built_manifest = rows[0][1]
    else:
        built_manifest = None
    approval = verify_built_from(record, catalog, built=suite.path, kind="suite", rebuild=rebuild)
    if built_manifest is not None and approval.files.get(MANIFEST) != built_manifest:
        raise NotApprovedError(
            suite.path,
            f"this catalog built this suite from another {MANIFEST} than the one approved "
            f"now at {approval.path}",
            hint=rebuild,
        )
    return approval


def read_suite(path: Path) -> Suite:
    """Read a suite folder, checking that ``cases.jsonl`` is the one ``suite.json`` names."""
    manifest_path = path / SUITE_FILE
    cases_path = path / CASES_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        body = cases_path.read_bytes()
    except FileNotFoundError as exc:
        raise EvalError(
            f"{path}: not an eval suite (missing {Path(exc.filename or '').name})",
            hint="build one with 'modellab eval build EXPORT --out DIR'",
        ) from None
    except (OSError, ValueError) as exc:
        raise EvalError(f"{manifest_path}: cannot read the suite: {exc}") from None
    if not isinstance(manifest, dict) or "suite_id" not in manifest:
        raise EvalError(f"{manifest_path}: field 'suite_id' is missing")
    actual = hashlib.sha256(body).hexdigest()
    if actual != manifest["suite_id"]:
        raise EvalError(
            f"{cases_path}: changed since the suite was built (sha256 {actual[:12]}…, "
            f"suite.json says {str(manifest['suite_id'])[:12]}…)",
            hint="rebuild the suite; results of different cases cannot be compared",
        )
    cases = []
    for number, line in enumerate(body.splitlines(), start=1):
        try:
            cases.append(EvalCase.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{cases_path}: line {number}: not an eval case ({exc})") from None
    return Suite(path=path, id=actual, manifest=manifest, cases=cases)
