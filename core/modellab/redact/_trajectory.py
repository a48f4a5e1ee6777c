"""Redact an ATIF trajectory: scan every content string, replace findings by span.

Content is every string in the trajectory except structural fields (ids, hashes, enums,
timestamps), which are listed here by key: ``toolu_…`` and ``msg_…`` ids and uuids would
otherwise dominate the findings (research notes §4, trap 2), and they carry no user data.
The working folder (``cwd``, from CodeWhale's ``<turn_meta>`` block and session metadata)
is replaced whole by ``<WORKSPACE:n>``.

Machine identity: home folders found by the first scan, and who the session shows its user
to be (``_identity.py``); those names, and the host names the session's metadata records,
are then redacted wherever else they appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modellab.errors import RedactionError
from modellab.redact._engine import Finding, Scanner, value_hash
from modellab.redact._identity import Field, SessionIdentity
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


#: Keys whose values are the working folder: replaced whole by a placeholder.
WORKSPACE_KEYS = frozenset({"cwd", "workspace"})
#: Keys under which session metadata records the machine's name.
HOST_KEYS = frozenset({"hostname", "host_name", "computer_name", "machine_name"})
_WORKSPACE_RULE, _WORKSPACE_KIND = "workspace-path", "WORKSPACE"
_CATEGORY_RANK = {"secret": 0, "pii": 1, "identity": 2}


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


@dataclass(slots=True)
class _Parts:
    """What one walk over a trajectory finds: content, working folders, host names."""

    content: list[Field]
    workspaces: list[Field]
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
    identity = SessionIdentity(trajectory, fields, texts, found, [w[3] for w in parts.workspaces])
    extra = identity.resolve(scanner)
    terms = [(user, "USER") for user in sorted(identity.names)]
    terms += [(host, "HOST") for host in sorted(parts.hosts)]
    # A working folder also shows up inside text (Codex's <environment_context><cwd>, a
    # "cd" in a command): there it becomes the same <WORKSPACE:n> as the field itself.
    terms += [(path, "WORKSPACE") for path in _workspace_paths(parts.workspaces)]
    if terms:
        named = Scanner(
            (), allow_hashes=scanner.allow_hashes, terms=terms, hash_key=scanner.hash_key
        )
        for index, more in enumerate(named.scan_many(texts)):
            if more:
                extra.setdefault(index, []).extend(more)
    for index, more in extra.items():
        found[index] = _merge(texts[index], found[index], more, scanner.hash_key)
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


#: Working folders on a person's machine: under a home folder.
_PERSONAL_FOLDER = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\+Users\\+)[^/\\]+")


def _workspace_paths(workspaces: list[Field]) -> list[str]:
    """The session's working folders worth finding in text, longest first.

    Only folders under a home: they name the user's machine and project. A container's
    conventional folder (``/testbed``, ``/workspace/repo``) names nobody, and the code and
    commands that use it are worth keeping as they are.
    """
    paths = {value.rstrip("/\\") for _, _, _, value in workspaces}
    personal = [p for p in paths if _PERSONAL_FOLDER.match(p)]
    return sorted(personal, key=lambda p: (-len(p), p))


def _replace_workspaces(
    workspaces: list[Field],
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


def _merge(
    text: str, first: list[Finding], second: list[Finding], hash_key: bytes | None
) -> list[Finding]:
    """Both lists' findings, ordered; overlapping findings merge into one span.

    As in the scanner: dropping the later of two overlapping findings could leave the tail
    of a secret in clear, so the merged span covers both, named by the first (the one that
    starts first; at the same start, secrets before personal data before identity, then
    the longer) unless only a later one is a secret, and its value hash is the merged
    span's. Adjacent findings stay apart.
    """
    combined = sorted(
        first + second, key=lambda f: (f.start, _CATEGORY_RANK.get(f.category, 9), -f.length)
    )
    kept: list[Finding] = []
    for finding in combined:
        if kept and finding.start < kept[-1].end:
            last = kept[-1]
            if finding.end > last.end:
                # A secret anywhere in the merged span names it.
                named = finding if finding.category == "secret" != last.category else last
                kept[-1] = Finding(
                    named.rule_id,
                    named.category,
                    named.placeholder,
                    last.start,
                    finding.end,
                    value_hash(text[last.start : finding.end], hash_key),
                )
            continue
        kept.append(finding)
    return kept
