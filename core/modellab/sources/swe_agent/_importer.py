"""The :class:`SweAgentImporter`: recognising and reading SWE-agent ``.traj`` files."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal import jsonio
from modellab.errors import CorruptSourceError
from modellab.plugins.hookspecs import hookimpl
from modellab.sources._base import (
    FileImport,
    as_str,
    fail_closed,
    files_under,
    read_source,
    title_from_prompt,
)
from modellab.sources.swe_agent._report import find_verdict
from modellab.sources.swe_agent._steps import (
    Conversation,
    read_conversation,
    trajectory_from_history,
)
from modellab.traces import (
    Agent,
    Diff,
    Label,
    Provenance,
    Session,
    SidecarFile,
    Step,
    Turn,
    Usage,
    derive_outcome,
)

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.sources import Importer

__all__ = ["PARSER_VERSION", "SOURCE_FORMAT", "SweAgentImporter", "plugin"]

#: Bump when the mapping changes, so stored sessions can be re-imported.
PARSER_VERSION = "1"
SOURCE_FORMAT = "swe_agent.traj"

# A .traj is one JSON object whose top-level keys include "trajectory" (a list), or only
# "history" (SWE-agent's own demonstrations); the sniff window may end long before the
# object does, so the key is looked for in the head.
_TRAJECTORY_KEY = re.compile(rb'"(?:trajectory|history)"\s*:\s*\[')


def _replay_config(doc: dict[str, Any]) -> dict[str, Any]:
    # SWE-agent 1.x stores the run configuration as a JSON string; demonstrations as an object.
    value = doc.get("replay_config")
    if isinstance(value, str):
        try:
            value = jsonio.loads(value)
        except jsonio.JSONError:
            return {}
    return value if isinstance(value, dict) else {}


def _model_name(config: dict[str, Any]) -> str | None:
    agent = config.get("agent")
    model = agent.get("model") if isinstance(agent, dict) else None
    return as_str(model.get("name")) if isinstance(model, dict) else None


def _problem_statement(config: dict[str, Any]) -> str | None:
    statement = config.get("problem_statement")
    return as_str(statement.get("text")) if isinstance(statement, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _usage(info: dict[str, Any], report: FileImport) -> Usage | None:
    stats = info.get("model_stats")
    if not isinstance(stats, dict):
        return None
    sent, received = _number(stats.get("tokens_sent")), _number(stats.get("tokens_received"))
    cost = _number(stats.get("instance_cost"))
    if not sent and not received and not cost:
        # Replayed demonstrations record zeros: no model was called, nothing was counted.
        report.warnings.append("model_stats are all zero (a replay): usage not recorded")
        return None
    return Usage(
        input_tokens=int(sent) if sent is not None and sent >= 0 else None,
        output_tokens=int(received) if received is not None and received >= 0 else None,
        cost_usd=cost,
    )


def _outcome_labels(info: dict[str, Any]) -> list[Label]:
    status = as_str(info.get("exit_status"))
    if status is None or status == "submitted":
        return []
    # exit_cost, exit_context, exit_format, "submitted (exit_cost)": the run did not end by
    # the agent's own choice of submitting.
    return [Label(kind="turn_failed", source="exit_status", detail=status)]


class SweAgentImporter:
    """Reads SWE-agent trajectories: one session per ``.traj`` file."""

    name = "swe-agent"
    parser_version = PARSER_VERSION

    def default_roots(self, settings: Settings) -> list[Path]:
        """None: trajectories live wherever a run wrote them, so they are imported by path."""
        return []

    def discover(self, root: Path) -> Iterator[Path]:
        """Yield every ``*.traj`` under ``root`` (SWE-agent writes ``<id>/<id>.traj``)."""
        yield from files_under(root, "*.traj")

    def sniff(self, path: Path, head: bytes) -> bool:
        """A ``.traj`` file holding a JSON object with a ``trajectory`` or ``history`` list."""
        return (
            path.suffix == ".traj"
            and head.lstrip().startswith(b"{")
            and _TRAJECTORY_KEY.search(head) is not None
        )

    @fail_closed
    def read(self, path: Path) -> FileImport:
        """Parse one trajectory into one session, accounting for every step and message."""
        data = read_source(path)
        try:
            doc = jsonio.loads(data)
        except jsonio.JSONError as exc:
            raise CorruptSourceError(path, jsonio.describe_json_error(data, exc)) from exc
        if not isinstance(doc, dict):
            raise CorruptSourceError(path, "not a SWE-agent trajectory (not a JSON object)")
        trajectory, history = doc.get("trajectory"), doc.get("history", [])
        if not isinstance(history, list):
            raise CorruptSourceError(path, "'history' is not a list")
        history_only = trajectory is None and "history" in doc
        if history_only:
            # Demonstrations (trajectories/demonstrations/) keep only the conversation.
            trajectory = trajectory_from_history(history)
        elif trajectory is None:
            raise CorruptSourceError(
                path, "neither a 'trajectory' list nor a 'history' list: not a SWE-agent trajectory"
            )
        elif not isinstance(trajectory, list):
            raise CorruptSourceError(path, "'trajectory' is missing or not a list")
        info = doc.get("info")
        info = info if isinstance(info, dict) else {}
        config = _replay_config(doc)
        report = FileImport(path=path, importer=self.name)
        conv = read_conversation(
            trajectory, history, _model_name(config), report, from_history=history_only
        )
        if history_only:
            report.warnings.append("no 'trajectory': steps read from 'history' (a demonstration)")
        if conv.prompt is None:
            conv.prompt = _problem_statement(config)
        report.sessions.append(self._session(path, data, info, config, conv, report))
        return report

    def _session(
        self,
        path: Path,
        data: bytes,
        info: dict[str, Any],
        config: dict[str, Any],
        conv: Conversation,
        report: FileImport,
    ) -> Session:
        instance_id = path.name.removesuffix(".traj")
        labels = _outcome_labels(info)
        extra: dict[str, Any] = {"instance_id": instance_id}
        sidecars: tuple[SidecarFile, ...] = ()
        verdict = find_verdict(path, instance_id, report.warnings)
        if verdict is not None:
            labels.append(verdict.label)
            extra["resolved"] = verdict.resolved
            sidecars = (verdict.sidecar,)
        if isinstance(info.get("exit_status"), str):
            extra["exit_status"] = info["exit_status"]
        submission = as_str(info.get("submission"))
        artifacts: tuple[Diff, ...] = ()
        if submission and submission.strip():
            artifacts = (
                Diff(
                    tool_call_id=conv.submit_call_id,
                    patch=submission,
                    origin="submission",
                ),
            )
        steps: list[Step] = [*conv.context]
        if conv.prompt is not None:
            steps.append(Step(source="user", text=conv.prompt))
        steps.extend(conv.steps)
        model = _model_name(config)
        version = as_str(info.get("swe_agent_version"))
        return Session(
            id=instance_id,
            source=self.name,
            agent=Agent(name="swe-agent", version=version),
            title=title_from_prompt(_problem_statement(config) or conv.prompt),
            model=model,
            cwd=conv.cwd,
            system_prompt=conv.system_prompt,
            turns=(Turn(index=0, cwd=conv.cwd, steps=tuple(steps)),) if steps else (),
            artifacts=artifacts,
            labels=tuple(labels),
            outcome=derive_outcome(labels),
            usage=_usage(info, report),
            provenance=Provenance.of_bytes(
                path,
                data,
                source_format=SOURCE_FORMAT,
                source_format_version=version,
                parser_version=PARSER_VERSION,
                sidecars=sidecars,
            ),
            extra=extra,
        )


class _Plugin:
    """Registers the built-in SWE-agent importer."""

    @hookimpl
    def modellab_register_importers(self, register: Callable[[Importer], None]) -> None:
        """Register :class:`SweAgentImporter`."""
        register(SweAgentImporter())


plugin = _Plugin()
