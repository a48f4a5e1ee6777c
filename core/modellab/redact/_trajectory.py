"""Redact an ATIF trajectory: scan every content string, replace findings by span.

Content is every string in the trajectory except structural fields (ids, hashes, enums,
timestamps), which are listed here by key: ``toolu_…`` and ``msg_…`` ids and uuids would
otherwise dominate the findings (research notes §4, trap 2), and they carry no user data.
Machine identity is found in two passes: home folders first, then the user names taken from
them, and the host names the session's own metadata records, are redacted wherever else
they appear. The working folder (``cwd``, from CodeWhale's ``<turn_meta>`` block and
session metadata) is replaced whole by ``<WORKSPACE:n>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modellab.errors import RedactionError
from modellab.redact._engine import Finding, Scanner, value_hash
from modellab.redact._placeholders import Placeholders, splice

__all__ = ["FieldFinding", "content_strings", "redact_trajectory"]

#: Keys whose values are structure, not content. Never scanned, never changed.
STRUCTURAL_KEYS = frozenset(
    {
        "schema_version",
        "session_id",
        "trajectory_id",
        "step_id",
        "tool_call_id",
        "source_call_id",
        "call_id",
        "id",
        "leaf_id",
        "fork_id",
        "entry_id",
        "sha256",
        "trajectory_sha256",
        "source_sha256",
        "timestamp",
        "created_at",
        "updated_at",
        "started_at",
        "source",
        "status",
        "kind",
        "type",
        "origin",
        "reason",
        "role",
        "outcome",
        "parser_version",
        "source_format",
        "source_format_version",
        "layout",
        "canonical_name",
        "function_name",
        "error_kind",
        "model_name",
        "model",
        "model_provider",
        "execution_id",
        "message_id",
        "native_session_id",
    }
)
# Generic account names that say nothing about a person; never redacted as words.
_GENERIC_USERS = frozenset(
    {
        "root",
        "user",
        "users",
        "admin",
        "dev",
        "app",
        "home",
        "test",
        "ubuntu",
        "runner",
        "node",
        "vscode",
        "codespace",
        "shared",
        "default",
        "guest",
        "public",
        "build",
    }
)
#: Keys whose values are the working folder: replaced whole by a placeholder.
WORKSPACE_KEYS = frozenset({"cwd", "workspace"})
#: Keys under which session metadata records the machine's name.
HOST_KEYS = frozenset({"hostname", "host_name", "computer_name", "machine_name"})
_WORKSPACE_RULE, _WORKSPACE_KIND = "workspace-path", "WORKSPACE"
_HOME_PREFIX = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\+Users\\+)([^/\\]+)")
_USER_FROM_HOME = re.compile(r"(?:/home/|/Users/|\\Users\\+)([^/\\]+)$")


@dataclass(frozen=True, slots=True)
class FieldFinding:
    """A finding located in a trajectory: the JSON path of the field and the span in it."""

    path: str
    rule_id: str
    category: str
    start: int
    end: int
    value_sha256: str
    replacement: str

    def as_dict(self) -> dict[str, Any]:
        """The report entry: where, what kind, and the hash of the value (never the value)."""
        return {
            "path": self.path,
            "rule": self.rule_id,
            "category": self.category,
            "span": [self.start, self.end],
            "sha256": self.value_sha256,
            "replacement": self.replacement,
        }


# A tuple, not ``dict | list``: isinstance with a union is measurably slower here.
_CONTAINERS = (dict, list)
#: (container, key, JSON path, text) of one string in the trajectory.
_Field = tuple[Any, Any, str, str]


@dataclass(slots=True)
class _Parts:
    """What one walk over a trajectory finds: content, working folders, host names."""

    content: list[_Field]
    workspaces: list[_Field]
    hosts: set[str]


def content_strings(document: dict[str, Any] | list[Any]) -> list[str]:
    """The strings of a JSON document that redaction scans (benchmarks measure these)."""
    return [text for _, _, _, text in _walk(document).content]


def _walk(trajectory: dict[str, Any] | list[Any]) -> _Parts:
    """Sort every string of ``trajectory`` into content, working folders and host names.

    One depth-first pass in document order: placeholders are numbered in the order values
    are first seen. A plain recursive function (no generators): this runs over every
    byte of every export.
    """
    parts = _Parts([], [], set())
    content, workspaces, hosts = parts.content, parts.workspaces, parts.hosts

    def visit(node: dict[str, Any] | list[Any], path: str) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if key in STRUCTURAL_KEYS:
                continue
            if isinstance(value, str):
                if key in WORKSPACE_KEYS:
                    workspaces.append((node, key, f"{path}/{key}", value))
                    continue
                if key in HOST_KEYS and len(value) >= 3:
                    hosts.add(value)
                content.append((node, key, f"{path}/{key}", value))
            elif isinstance(value, _CONTAINERS):
                visit(value, f"{path}/{key}")

    try:
        visit(trajectory, "")
    except RecursionError:
        raise RedactionError("a trajectory is nested too deeply to redact safely") from None
    return parts


def _users_of_workspaces(paths: Iterable[str]) -> set[str]:
    """User names in working folders under a home (``/home/alex/src`` gives ``alex``)."""
    names: set[str] = set()
    for path in paths:
        match = _HOME_PREFIX.match(path)
        if match and _is_personal(match.group(1)):
            names.add(match.group(1))
    return names


def _is_personal(name: str) -> bool:
    return len(name) >= 3 and name.lower() not in _GENERIC_USERS


def _user_names(texts: list[str], found: list[list[Finding]]) -> set[str]:
    names: set[str] = set()
    for text, findings in zip(texts, found, strict=True):
        for finding in findings:
            if finding.rule_id != "home-path":
                continue
            match = _USER_FROM_HOME.search(text[finding.start : finding.end])
            if match and _is_personal(match.group(1)):
                names.add(match.group(1))
    return names


def redact_trajectory(
    trajectory: dict[str, Any], scanner: Scanner, placeholders: Placeholders
) -> list[FieldFinding]:
    """Redact ``trajectory`` in place; return what was replaced, field by field.

    ``placeholders`` numbers values; share one across an export so a value keeps its
    placeholder in every session of that export.
    """
    parts = _walk(trajectory)
    report = _replace_workspaces(parts.workspaces, scanner, placeholders)
    fields = parts.content
    texts = [text for _, _, _, text in fields]
    found = scanner.scan_many(texts)
    users = _user_names(texts, found) | _users_of_workspaces(w[3] for w in parts.workspaces)
    terms = [(user, "USER") for user in sorted(users)]
    terms += [(host, "HOST") for host in sorted(parts.hosts)]
    if terms:
        named = Scanner(
            (), allow_hashes=scanner.allow_hashes, terms=terms, hash_key=scanner.hash_key
        )
        for index, extra in enumerate(named.scan_many(texts)):
            if extra:
                found[index] = _merge(found[index], extra)
    for (container, key, path, text), findings in zip(fields, found, strict=True):
        if not findings:
            continue
        replacements = [placeholders.for_finding(f) for f in findings]
        container[key] = splice(text, findings, replacements)
        report.extend(
            FieldFinding(path, f.rule_id, f.category, f.start, f.end, f.value_sha256, r)
            for f, r in zip(findings, replacements, strict=True)
        )
    return report


def _replace_workspaces(
    workspaces: list[_Field],
    scanner: Scanner,
    placeholders: Placeholders,
) -> list[FieldFinding]:
    """Replace every working-folder field whole (it names the user's project and home)."""
    replaced: list[FieldFinding] = []
    for container, key, path, value in workspaces:
        if not value:
            continue
        digest = value_hash(value, scanner.hash_key)
        placeholder = placeholders.text_for(_WORKSPACE_KIND, _WORKSPACE_RULE, digest)
        container[key] = placeholder
        replaced.append(
            FieldFinding(path, _WORKSPACE_RULE, "identity", 0, len(value), digest, placeholder)
        )
    return replaced


def _merge(first: list[Finding], second: list[Finding]) -> list[Finding]:
    """Both lists' findings, ordered, keeping the earlier (then longer) of any overlap."""
    combined = sorted(first + second, key=lambda f: (f.start, -f.length))
    kept: list[Finding] = []
    for finding in combined:
        if kept and finding.start < kept[-1].end:
            continue
        kept.append(finding)
    return kept
