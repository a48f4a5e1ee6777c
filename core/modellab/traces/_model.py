"""The neutral trace model: what every importer produces and every exporter consumes.

A :class:`Session` holds :class:`Turn` objects; a turn starts at a user prompt and holds the
:class:`Step` objects that followed it. Agent steps carry their tool calls and the results
that came back for them (as ATIF does), so a step is self-contained. Beside the turns a
session keeps artifacts (diffs, test runs), labels (each with the place it was read from) and
provenance (which bytes, parsed by which parser version).

All models are frozen and forbid unknown fields: an object in hand is valid.
"""

from __future__ import annotations

import hashlib
from os import PathLike
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Agent",
    "Artifact",
    "Branch",
    "Diff",
    "GitFacts",
    "Label",
    "LabelKind",
    "Outcome",
    "Provenance",
    "Session",
    "SidecarFile",
    "Step",
    "StepSource",
    "SubagentRef",
    "TestRun",
    "ToolCall",
    "ToolCallStatus",
    "ToolResult",
    "Turn",
    "Usage",
]

#: Who produced a step, in ATIF's vocabulary.
StepSource = Literal["user", "agent", "system"]

#: What became of a tool call.
ToolCallStatus = Literal["ok", "error", "denied", "cancelled", "not_executed", "dangling"]

#: The kinds of label an importer may attach. ``source`` on the label says where it came from.
LabelKind = Literal[
    "approved",
    "denied",
    "approval_cancelled",
    "approval_pending",
    "interrupted",
    "tests_passed",
    "tests_failed",
    "goal_complete",
    "goal_blocked",
    "goal_not_achieved",
    "goal_active",
    "goal_paused",
    "turn_failed",
    "tool_error",
    "provider_error",
]

#: The session-level verdict shown in ``sessions list``.
Outcome = Literal["success", "failure", "interrupted", "unknown"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Usage(_Frozen):
    """Token counts and cost for one model call, a step, or a whole session.

    Counted the OpenAI way, which ATIF's ``prompt_tokens`` follows: ``input_tokens`` is the
    whole prompt, cache reads and writes included, and ``cached_tokens`` is the part of it
    read from a cache. Anthropic-style sources add their cache fields into the input.
    """

    #: Every prompt token, cached or not.
    input_tokens: int | None = None
    #: Generated tokens, reasoning included.
    output_tokens: int | None = None
    #: The part of ``input_tokens`` read from a prompt cache.
    cached_tokens: int | None = None
    #: The part of ``output_tokens`` spent on reasoning, when the provider says.
    reasoning_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def is_empty(self) -> bool:
        """No figure is known."""
        return all(getattr(self, name) is None for name in type(self).model_fields)


def _known_usage(usage: Usage | None) -> Usage | None:
    # An all-unknown Usage says nothing that ``None`` does not; keeping one form makes the
    # ATIF round trip exact.
    return None if usage is None or usage.is_empty else usage


class ToolCall(_Frozen):
    """One call the agent asked for.

    A call has two names. ``name`` is the function name the agent called, exactly as
    recorded: it is what a model is offered and must call, so SFT rows, eval cases, tool
    definitions and graders use it. ``canonical_name`` places the call in Model Lab's one
    tool vocabulary, the same for every agent and version, which importers fill in:

    ``exec_shell`` (``exec_shell_wait``, ``_interact``, ``_cancel``), ``read_file``,
    ``read_image``, ``write_file``, ``edit_file``, ``edit_notebook``, ``apply_patch``,
    ``list_dir``, ``file_search``, ``grep_files``, ``web_search``, ``fetch_url``, ``agent``,
    ``todo_write``, ``tool_search``, ``run_tests``, ``run_verifiers``,
    ``wait_for_dev_server``, ``create_goal``, ``get_goal``, ``update_goal``, ``load_skill``,
    and the families ``git_*``, ``task_*``, ``automation_*`` and ``mcp_*``.

    Every listing, count and slice shown to a user (``eval build``'s tool slices and
    ``Next actions``, ``observability stats``, dataset statistics) names a call by
    :attr:`display_name`: its vocabulary name, or the recorded name for a tool outside the
    vocabulary. So Claude Code's ``Bash``, CodeWhale's ``bash`` and Codex's ``shell`` are all
    ``exec_shell`` wherever they are counted.
    """

    #: The id the agent gave the call (``tool_use.id``, ``call_id``, ...).
    id: str
    #: The tool name exactly as recorded.
    name: str
    #: The name in the shared vocabulary (``Bash`` -> ``exec_shell``), or ``None``.
    canonical_name: str | None = None
    #: The call's input. Non-object inputs are wrapped as ``{"_raw": ...}``.
    arguments: dict[str, Any] = Field(default_factory=dict)
    #: What became of the call. ``dangling``: no result was ever recorded.
    status: ToolCallStatus = "ok"

    @property
    def display_name(self) -> str:
        """The name every user-facing listing shows: ``canonical_name``, else ``name``."""
        return self.canonical_name or self.name


class SubagentRef(_Frozen):
    """A pointer from a tool result to the sub-agent trajectory it produced.

    ATIF's ``SubagentTrajectoryRef``: the sub-agent's session id (a :class:`Session` in the
    parent's ``subagents`` when it was imported with it), optionally the path of its own
    trajectory file, and free-form source facts under ``extra`` (``source_file``, ...).
    """

    session_id: str
    trajectory_path: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ToolResult(_Frozen):
    """What came back for a tool call."""

    #: The call this answers, or ``None`` when the source did not say.
    call_id: str | None
    content: str = ""
    is_error: bool = False
    #: Why it failed: ``exit_code``, ``timeout``, ``aborted``, ``denied``, ``tool_error``, ...
    error_kind: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    #: The output was cut short by the agent (head/tail truncation markers).
    truncated: bool = False
    #: Full output was rehydrated from this spilled artifact (relative to the session).
    rehydrated_from: str | None = None
    #: The sub-agent trajectories this result produced (a Task/Agent call that ran one).
    subagent_trajectory_ref: tuple[SubagentRef, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)


class Step(_Frozen):
    """One message in the conversation: a user prompt, an agent reply, or a system note."""

    source: StepSource
    #: RFC 3339 text exactly as the source wrote it.
    timestamp: str | None = None
    model_name: str | None = None
    text: str = ""
    #: Readable reasoning. Opaque or encrypted reasoning is never kept.
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    usage: Usage | None = None

    @field_validator("usage")
    @classmethod
    def _drop_empty_usage(cls, usage: Usage | None) -> Usage | None:
        return _known_usage(usage)

    #: The step was cut off (CodeWhale's ``assistant_interrupted``, a cancelled stream).
    interrupted: bool = False
    #: What kind of message this is when it is not plain conversation:
    #: ``steering``, ``compaction_summary``, ``branch_summary``, ``subagent_handoff``,
    #: ``context``, ``slash_command``, ``orphan_tool_results`` ...
    kind: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class GitFacts(_Frozen):
    """What the agent knew about the repository at a turn's start."""

    branch: str | None = None
    commit: str | None = None
    status: str | None = None
    remote: str | None = None


class Turn(_Frozen):
    """A user prompt and everything that happened until the next one."""

    index: int
    started_at: str | None = None
    cwd: str | None = None
    git: GitFacts | None = None
    #: Permission and sandbox posture the agent ran under, by name.
    posture: dict[str, str] = Field(default_factory=dict)
    steps: tuple[Step, ...] = ()


class Diff(_Frozen):
    """A change to a file, rebuilt from a tool call's input or result."""

    type: Literal["diff"] = "diff"
    tool_call_id: str | None = None
    path: str | None = None
    #: Unified diff text (``---``/``+++``/``@@`` hunks), or the patch as the agent wrote it.
    patch: str
    #: Which tool shape it was rebuilt from: ``edit``, ``write``, ``apply_patch``, ...
    origin: str
    #: The call that made it succeeded (``None`` when unknown).
    applied: bool | None = None


class TestRun(_Frozen):
    """A test command and what it reported."""

    __test__ = False  # not a pytest test class, despite the name

    type: Literal["test_run"] = "test_run"
    tool_call_id: str | None = None
    command: str | None = None
    exit_code: int | None = None
    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None
    errors: int | None = None
    success: bool | None = None
    origin: str


#: An artifact is a diff or a test run, told apart by ``type``.
Artifact = Annotated[Diff | TestRun, Field(discriminator="type")]


class Label(_Frozen):
    """A fact about how (part of) a session went, with where it was read from."""

    kind: LabelKind
    #: Where the label came from, e.g. ``approval_receipts``, ``tool_result_text``,
    #: ``update_goal``, ``goal_file``, ``turn_status``, ``exec_command_end``.
    source: str
    tool_call_id: str | None = None
    turn_index: int | None = None
    detail: str | None = None


class SidecarFile(_Frozen):
    """A file read beside the main session file (receipts, spilled artifacts, goals)."""

    path: str
    sha256: str
    role: str


class Provenance(_Frozen):
    """Which bytes a session came from and which parser read them."""

    source_path: str
    #: e.g. ``codewhale.saved_session``, ``claude_code.jsonl``, ``codex.rollout``.
    source_format: str
    source_format_version: str | None = None
    parser_version: str
    sha256: str
    size_bytes: int
    sidecars: tuple[SidecarFile, ...] = ()

    @classmethod
    def of_bytes(
        cls,
        path: str | PathLike[str],
        data: bytes,
        *,
        source_format: str,
        source_format_version: str | None,
        parser_version: str,
        sidecars: tuple[SidecarFile, ...] = (),
    ) -> Provenance:
        """Provenance for a session parsed from ``data``, the bytes read from ``path``."""
        return cls(
            source_path=str(path),
            source_format=source_format,
            source_format_version=source_format_version,
            parser_version=parser_version,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            sidecars=sidecars,
        )


class Agent(_Frozen):
    """The agent program that recorded the session."""

    name: str
    version: str | None = None

    @field_validator("version")
    @classmethod
    def _empty_version_is_unknown(cls, version: str | None) -> str | None:
        # ATIF requires a version string and writes "" for an unknown one.
        return version or None


class Branch(_Frozen):
    """History that is not on the active path: abandoned edits or compacted turns."""

    #: ``compacted`` (replaced by a summary) or ``abandoned`` (edited, re-branched).
    reason: Literal["compacted", "abandoned"]
    leaf_id: str
    #: The last entry this branch shares with the active path (``None``: from the root).
    fork_id: str | None = None
    steps: tuple[Step, ...] = ()


class Session(_Frozen):
    """One agent session in neutral form."""

    #: The agent's own session id.
    id: str
    #: Which importer produced it: ``codewhale``, ``claude-code``, ``codex``, ...
    source: str
    agent: Agent
    title: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    model: str | None = None
    model_provider: str | None = None
    cwd: str | None = None
    system_prompt: str | None = None
    turns: tuple[Turn, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    labels: tuple[Label, ...] = ()
    outcome: Outcome = "unknown"
    usage: Usage | None = None

    @field_validator("usage")
    @classmethod
    def _drop_empty_usage(cls, usage: Usage | None) -> Usage | None:
        return _known_usage(usage)

    branches: tuple[Branch, ...] = ()
    #: Sub-agent sessions (Claude Code sidechains, spawned agents).
    subagents: tuple[Session, ...] = ()
    provenance: Provenance
    #: Source facts with no neutral home yet (work state, cost breakdown, ...).
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def tool_call_count(self) -> int:
        """How many tool calls the session's turns hold."""
        return sum(len(step.tool_calls) for turn in self.turns for step in turn.steps)

    @property
    def error_count(self) -> int:
        """How many tool results were errors."""
        return sum(
            1
            for turn in self.turns
            for step in turn.steps
            for result in step.tool_results
            if result.is_error
        )
