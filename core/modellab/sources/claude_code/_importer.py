"""The Claude Code importer: ``~/.claude/projects/<project>/<sessionId>.jsonl``.

A session file may have sub-agent transcripts beside it, in
``<sessionId>/subagents/agent-<id>.jsonl``; they are read with their parent and become
``Session.subagents``, each with its own provenance, and are listed as sidecars of the
parent. Sidechain lines written inline (older CLIs) and sub-agent messages that survive only
as ``agent_progress`` echoes become sub-agent sessions too. Each Task/Agent result that ran a
sub-agent carries ATIF's ``subagent_trajectory_ref`` (``ToolResult.subagent_trajectory_ref``)
naming that sub-agent's session, and the sub-agent names the call in
``extra["parent_tool_call_id"]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal import jsonio
from modellab.errors import CorruptSourceError
from modellab.plugins.hookspecs import hookimpl
from modellab.sources._base import FileImport, fail_closed, read_head, read_source
from modellab.sources.claude_code._builder import Thread, build_thread, prompt_kind
from modellab.sources.claude_code._lines import (
    KNOWN_TYPES,
    MESSAGE_TYPES,
    ParsedFile,
    parse_lines,
)
from modellab.traces import (
    Agent,
    Branch,
    Provenance,
    Session,
    SidecarFile,
    derive_outcome,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from modellab.settings import Settings
    from modellab.sources._base import Importer

__all__ = ["PARSER_VERSION", "ClaudeCodeImporter", "plugin"]

#: Bump when the mapping from Claude Code lines to sessions changes.
PARSER_VERSION = "2"
SOURCE_FORMAT = "claude_code.jsonl"
_TITLE_LENGTH = 80
_SNIFF_LINES = 64


def _shorten(text: str | None) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= _TITLE_LENGTH else flat[: _TITLE_LENGTH - 1].rstrip() + "…"


def _agent_extra(agent_id: str) -> dict[str, str]:
    # The CLI names the agent that writes a compaction summary "acompact-<hex>".
    if agent_id.startswith("acompact"):
        return {"agent_id": agent_id, "role": "compaction"}
    return {"agent_id": agent_id}


def _subagent_refs(
    subagents: list[Session], sub_sources: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Sub-agent id -> its ATIF ``SubagentTrajectoryRef`` (``session_id``, plus the file).

    The first session recorded for an id wins: sub-agent files are read after inline
    sidechains and progress echoes, which never share an id with a file.
    """
    refs: dict[str, dict[str, Any]] = {}
    for sub in subagents:
        agent = sub.extra.get("agent_id")
        if not isinstance(agent, str) or agent in refs:
            continue
        ref: dict[str, Any] = {"session_id": sub.id}
        source = sub_sources.get(sub.id)
        if source is not None:
            ref["extra"] = {"source_file": source}
        refs[agent] = ref
    return refs


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    sha256: str
    size: int
    version: str | None


def _read(path: Path) -> tuple[bytes, str]:
    data = read_source(path)
    return data, hashlib.sha256(data).hexdigest()


def _entry_facts(entries: list[dict[str, Any]]) -> tuple[str | None, str | None, str | None]:
    """First timestamp, last timestamp and first cwd of a thread."""
    stamps = [e["timestamp"] for e in entries if isinstance(e.get("timestamp"), str)]
    cwd = next((e["cwd"] for e in entries if isinstance(e.get("cwd"), str)), None)
    return (stamps[0] if stamps else None, stamps[-1] if stamps else None, cwd)


def _split_abandoned(
    entries: list[dict[str, Any]], parents: dict[str, str | None]
) -> tuple[list[dict[str, Any]], list[tuple[str | None, list[dict[str, Any]]]]]:
    """Separate the active path from branches the user abandoned by rewinding.

    The active path is the ancestry of the newest message. A rewind shows up as a typed
    prompt whose parent is on that path but which is not itself on it; that prompt and
    everything under it is abandoned. Parallel tool results and progress echoes also sit
    off the ancestry chain, which is why only prompts may open a branch.
    """
    leaf = next((e["uuid"] for e in reversed(entries) if isinstance(e.get("uuid"), str)), None)
    if leaf is None:
        return entries, []
    ancestors: set[str] = set()
    node: str | None = leaf
    while node is not None and node not in ancestors:
        ancestors.add(node)
        node = parents.get(node)
    roots: list[str] = []
    for entry in entries:
        uuid = entry.get("uuid")
        if entry["type"] != "user" or not isinstance(uuid, str) or uuid in ancestors:
            continue
        if parents.get(uuid) not in ancestors:
            continue
        content = entry["message"]["content"]
        text = content if isinstance(content, str) else ""
        if isinstance(content, list):
            if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
                continue
            text = "".join(
                b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
            )
        if prompt_kind(entry, text)[1]:
            roots.append(uuid)
    if not roots:
        return entries, []
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    owner: dict[str, str] = {}
    for root in roots:
        stack = [root]
        while stack:
            current = stack.pop()
            if current in owner:
                continue
            owner[current] = root
            stack.extend(children.get(current, ()))
    active: list[dict[str, Any]] = []
    branches: dict[str, list[dict[str, Any]]] = {root: [] for root in roots}
    for entry in entries:
        uuid = entry.get("uuid")
        owned_by = owner.get(uuid) if isinstance(uuid, str) else None
        (active if owned_by is None else branches[owned_by]).append(entry)
    return active, [(parents.get(root), branch) for root, branch in branches.items()]


class ClaudeCodeImporter:
    """Reads Claude Code session transcripts (JSONL, one record per line)."""

    name = "claude-code"
    #: Stored with each imported file, so a parser change re-imports unchanged files.
    parser_version = PARSER_VERSION

    def default_roots(self, settings: Settings) -> list[Path]:
        """``$CLAUDE_CONFIG_DIR/projects`` (default ``~/.claude/projects``)."""
        return [settings.claude_home / "projects"]

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield main session files under ``root``; sub-agent files are read with them."""
        if not root.is_dir():
            return
        for path in sorted(root.rglob("*.jsonl")):
            if path.parent.name == "subagents" or not path.is_file():
                continue
            try:
                head = read_head(path)
            except OSError:
                continue
            if self.sniff(path, head):
                yield path

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when the first lines are Claude Code records (``sessionId`` + known type)."""
        lines = head.split(b"\n", _SNIFF_LINES)
        for raw in lines[:_SNIFF_LINES]:
            if not raw.strip():
                continue
            try:
                obj = jsonio.loads(raw)
            except jsonio.JSONError:
                continue  # the last line of a head is usually cut short
            if not isinstance(obj, dict):
                return False
            kind = obj.get("type")
            if kind not in KNOWN_TYPES:
                return False
            if isinstance(obj.get("sessionId"), str) and (
                kind not in MESSAGE_TYPES or "uuid" in obj
            ):
                return True
            if kind == "summary" and "leafUuid" in obj:
                return True
        # A first line longer than the head: fall back to the envelope's field names.
        return head.startswith(b"{") and b'"sessionId"' in head and b'"parentUuid"' in head

    @fail_closed
    def read(self, path: Path) -> FileImport:
        """Parse one session file (and its sub-agent files) into one session."""
        report = FileImport(path=path, importer=self.name)
        sub_dir = path.parent / path.stem / "subagents"
        sub_files = (
            sorted(p for p in sub_dir.glob("*.jsonl") if p.is_file())
            if path.parent.name != "subagents" and sub_dir.is_dir()
            else []
        )
        known = frozenset(p.stem.removeprefix("agent-") for p in sub_files)
        session = self._read_file(path, report, known, sub_files)
        if session is not None:
            report.sessions.append(session)
        return report

    def _read_file(
        self,
        path: Path,
        report: FileImport,
        known_agents: frozenset[str],
        sub_files: list[Path],
    ) -> Session | None:
        data, digest = _read(path)
        parsed = parse_lines(path, data, report, known_agents)
        version = parsed.versions.most_common(1)[0][0] if parsed.versions else None
        source = _Source(path, digest, len(data), version)
        main = parsed.main
        sidechains = dict(parsed.sidechains)
        if not main and sidechains:
            # A sub-agent file on its own: its sidechain is the whole conversation.
            main = [entry for group in sidechains.values() for entry in group]
            sidechains = {}
        if not main:
            report.warnings.append("no conversation lines: nothing to import")
            return None
        session_id = parsed.session_ids.most_common(1)[0][0] if parsed.session_ids else path.stem
        agent_id = main[0].get("agentId") if main[0].get("isSidechain") is True else None
        if isinstance(agent_id, str):
            session_id = f"{session_id}-agent-{agent_id}"

        subagents: list[Session] = []
        sidecars: list[SidecarFile] = []
        #: Sub-agent session id -> the file it came from (relative to the parent's folder).
        sub_sources: dict[str, str] = {}
        for key, entries in sidechains.items():
            subagents.append(
                self._subagent(session_id, key, entries, source, parsed, "sidechain", report)
            )
        for key, entries in parsed.progress_agents.items():
            subagents.append(
                self._subagent(session_id, key, entries, source, parsed, "agent_progress", report)
            )
        for sub_path in sub_files:
            sub_report = FileImport(path=sub_path, importer=self.name)
            try:
                sub = self._read_file(sub_path, sub_report, frozenset(), [])
            except CorruptSourceError as exc:
                report.warnings.append(f"subagent file skipped: {exc}")
                continue
            finally:
                # Sub-agent lines count towards the parent's report: they were read with it.
                report.lines_total += sub_report.lines_total
                report.lines_mapped += sub_report.lines_mapped
                report.skipped.update(sub_report.skipped)
                report.warnings.extend(f"{sub_path.name}: {w}" for w in sub_report.warnings)
            if sub is None:
                continue
            relative = sub_path.relative_to(path.parent).as_posix()
            sub_sources[sub.id] = relative
            sidecars.append(
                SidecarFile(path=relative, sha256=sub.provenance.sha256, role="subagent")
            )
            subagents.append(self._link_parent(sub, parsed))

        refs = _subagent_refs(subagents, sub_sources)
        call_agents = {call: agent for agent, call in parsed.agent_parents.items()}
        active, abandoned = _split_abandoned(main, parsed.parents)
        thread = build_thread(active, refs, call_agents)
        report.warnings.extend(thread.warnings)
        branches = []
        for fork, entries in abandoned:
            branch_thread = build_thread(entries, refs, call_agents)
            leaf = next(
                (e["uuid"] for e in reversed(entries) if isinstance(e.get("uuid"), str)), ""
            )
            branches.append(
                Branch(
                    reason="abandoned",
                    leaf_id=leaf,
                    fork_id=fork,
                    steps=tuple(s for t in branch_thread.turns for s in t.steps),
                )
            )
        if thread.agent_ids:
            # Task results name the agent they ran; link sub-agents back to their call.
            by_agent = {agent: call for call, agent in thread.agent_ids.items()}
            subagents = [
                s.model_copy(update={"extra": {**s.extra, "parent_tool_call_id": by_agent[a]}})
                if (a := s.extra.get("agent_id")) in by_agent
                and "parent_tool_call_id" not in s.extra
                else s
                for s in subagents
            ]
        extra: dict[str, Any] = {}
        if parsed.slug:
            extra["slug"] = parsed.slug
        if parsed.summaries:
            extra["summaries"] = parsed.summaries
        if isinstance(agent_id, str):
            extra.update(_agent_extra(agent_id))
        title = parsed.custom_title or parsed.ai_title
        if title is None and parsed.summaries:
            in_file = [s for s in parsed.summaries if s["leaf_uuid"] in parsed.parents]
            title = (in_file or parsed.summaries)[-1]["summary"]
        provenance = Provenance(
            source_path=str(path),
            source_format=SOURCE_FORMAT,
            source_format_version=source.version,
            parser_version=PARSER_VERSION,
            sha256=source.sha256,
            size_bytes=source.size,
            sidecars=tuple(sidecars),
        )
        return self._session(
            session_id,
            thread,
            active,
            provenance,
            source.version,
            title,
            extra,
            subagents=tuple(subagents),
            branches=tuple(branches),
        )

    def _subagent(
        self,
        parent_id: str,
        key: str,
        entries: list[dict[str, Any]],
        source: _Source,
        parsed: ParsedFile,
        origin: str,
        report: FileImport,
    ) -> Session:
        thread = build_thread(entries)
        report.warnings.extend(f"subagent {key}: {w}" for w in thread.warnings)
        extra: dict[str, Any] = {**_agent_extra(key), "recorded_as": origin}
        provenance = Provenance(
            source_path=str(source.path),
            source_format=SOURCE_FORMAT,
            source_format_version=source.version,
            parser_version=PARSER_VERSION,
            sha256=source.sha256,
            size_bytes=source.size,
        )
        session = self._session(
            f"{parent_id}-agent-{key}", thread, entries, provenance, source.version, None, extra
        )
        return self._link_parent(session, parsed)

    @staticmethod
    def _link_parent(session: Session, parsed: ParsedFile) -> Session:
        agent = session.extra.get("agent_id")
        call = parsed.agent_parents.get(agent) if isinstance(agent, str) else None
        if call is None:
            return session
        return session.model_copy(update={"extra": {**session.extra, "parent_tool_call_id": call}})

    def _session(
        self,
        session_id: str,
        thread: Thread,
        entries: list[dict[str, Any]],
        provenance: Provenance,
        version: str | None,
        title: str | None,
        extra: dict[str, Any],
        *,
        subagents: tuple[Session, ...] = (),
        branches: tuple[Branch, ...] = (),
    ) -> Session:
        first, last, cwd = _entry_facts(entries)
        model = thread.models.most_common(1)[0][0] if thread.models else None
        return Session(
            id=session_id,
            source=self.name,
            agent=Agent(name="claude-code", version=version),
            title=title or _shorten(thread.first_prompt),
            created_at=first,
            updated_at=last,
            model=model,
            model_provider="anthropic",
            cwd=cwd,
            turns=thread.turns,
            artifacts=thread.artifacts,
            labels=thread.labels,
            outcome=derive_outcome(thread.labels),
            usage=thread.usage,
            branches=branches,
            subagents=subagents,
            provenance=provenance,
            extra=extra,
        )


class _Plugin:
    """Registers the built-in Claude Code importer."""

    @hookimpl
    def modellab_register_importers(self, register: Callable[[Importer], None]) -> None:
        """Register :class:`ClaudeCodeImporter`."""
        register(ClaudeCodeImporter())


plugin = _Plugin()
