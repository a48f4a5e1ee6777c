"""Small readers for the pieces of a Codex rollout that need interpretation.

Tool names, call arguments, tool outputs (plain text or Codex's ``{"output", "metadata"}``
JSON), exec durations, token usage and ``apply_patch`` bodies each come in a few shapes
across Codex versions; these helpers turn each into one neutral value.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from modellab._internal import jsonio
from modellab.traces import GitFacts, Usage

__all__ = [
    "CANONICAL_NAMES",
    "ParsedOutput",
    "duration_ms",
    "exit_code_from_text",
    "git_facts",
    "mcp_result",
    "parse_arguments",
    "parse_output",
    "patch_end_text",
    "patch_sections",
    "posture_of",
    "shell_argv",
    "shell_command_text",
    "title_of",
    "usage_from",
]

#: Codex tool names mapped into the shared vocabulary; anything else maps to ``None``.
CANONICAL_NAMES: dict[str, str] = {
    "exec_command": "exec_shell",
    "shell": "exec_shell",
    # ``shell_command`` (one string) and ``container.exec`` are the same tool in newer and
    # older Codex releases.
    "shell_command": "exec_shell",
    "container.exec": "exec_shell",
    "local_shell_call": "exec_shell",
    "apply_patch": "apply_patch",
    "web_search": "web_search",
    "update_plan": "todo_write",
    "view_image": "read_image",
}

# Unified exec prints a header before the output: "Process exited with code 1".
_EXIT_LINE = re.compile(r"^Process exited with code (-?\d+)$", re.MULTILINE)
# Codex cuts long outputs in the middle: "…5549 chars truncated…" / "…768 tokens truncated…".
_TRUNCATED = re.compile(r"…\d+ (?:chars|tokens) truncated…")
# Codex Desktop puts attached-file notes first and the request after this heading.
_REQUEST_HEADING = "## My request for Codex:"
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$")


def parse_arguments(raw: Any) -> dict[str, Any]:
    """A call's arguments as an object; anything that is not a JSON object is wrapped."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = jsonio.loads(raw)
        except jsonio.JSONError:
            return {"_raw": raw}
        if isinstance(value, dict):
            return value
        return {"_raw": raw}
    if raw is None:
        return {}
    return {"_raw": raw}


class ParsedOutput:
    """What a ``*_call_output`` item said: the text the model saw and any exit facts."""

    __slots__ = ("content", "duration_ms", "exit_code", "success", "truncated")

    def __init__(
        self,
        content: str,
        exit_code: int | None = None,
        duration_ms: int | None = None,
        success: bool | None = None,
    ) -> None:
        self.content = content
        self.exit_code = exit_code
        self.duration_ms = duration_ms
        self.success = success
        self.truncated = _TRUNCATED.search(content) is not None


def _content_text(items: list[Any]) -> str:
    """The text of a list of content parts (``input_text``/``output_text``/``text``).

    Image parts have no text; they are shown as ``[image]`` so a result made only of
    images is not empty.
    """
    parts: list[str] = []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            text = item.get("text")
            if isinstance(text, str):
                parts.append(text)
            elif item.get("type") in {"input_image", "image"}:
                parts.append("[image]")
    return "\n".join(parts)


def _is_content_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and isinstance(item.get("type"), str) for item in value)
    )


#: Keys under which an output object holds its text, most specific first.
_OUTPUT_TEXT_KEYS = ("content", "content_items", "output", "text", "body", "Text", "ContentItems")


def _object_output(raw: dict[str, Any]) -> ParsedOutput:
    success = raw.get("success")
    ok = success if isinstance(success, bool) else None
    meta = raw.get("metadata")
    if isinstance(raw.get("output"), str) and isinstance(meta, dict):
        # The shell wrapper ``{"output", "metadata"}`` written as an object, not a string.
        code, seconds = meta.get("exit_code"), meta.get("duration_seconds")
        return ParsedOutput(
            raw["output"],
            exit_code=code if isinstance(code, int) else None,
            duration_ms=round(seconds * 1000) if isinstance(seconds, int | float) else None,
            success=ok,
        )
    for key in _OUTPUT_TEXT_KEYS:
        value = raw.get(key)
        if isinstance(value, str):
            return ParsedOutput(value, success=ok)
        if isinstance(value, list):
            return ParsedOutput(_content_text(value), success=ok)
        if isinstance(value, dict):
            inner = _object_output(value)
            return ParsedOutput(inner.content, success=ok if ok is not None else inner.success)
    return ParsedOutput(jsonio.dumps(raw).decode(), success=ok)


def parse_output(raw: Any) -> ParsedOutput:
    """Read a ``function_call_output`` / ``custom_tool_call_output`` ``output`` field.

    Codex writes plain text, a JSON string ``{"output": ..., "metadata": {"exit_code",
    "duration_seconds"}}`` (shell and apply_patch), an object ``{"content", "success"}``
    (or ``{"content_items"}``, ``{"text"}``, ``{"body"}``), or a list of content parts
    ``{"type": "input_text", "text": ...}`` (0.1xx tool results, images), sometimes itself
    written as a JSON string. Each comes back as the text the model saw.
    """
    if isinstance(raw, str):
        stripped = raw.lstrip()
        if stripped.startswith(("{", "[")):
            try:
                decoded = jsonio.loads(raw)
            except jsonio.JSONError:
                decoded = None
            if isinstance(decoded, dict) and isinstance(decoded.get("output"), str):
                meta = decoded.get("metadata")
                meta = meta if isinstance(meta, dict) else {}
                code = meta.get("exit_code")
                seconds = meta.get("duration_seconds")
                return ParsedOutput(
                    decoded["output"],
                    exit_code=code if isinstance(code, int) else None,
                    duration_ms=round(seconds * 1000) if isinstance(seconds, int | float) else None,
                )
            if _is_content_list(decoded):
                return ParsedOutput(_content_text(decoded))
        return ParsedOutput(raw)
    if isinstance(raw, dict):
        if isinstance(raw.get("type"), str) and isinstance(raw.get("text"), str):
            # A single content part.
            return ParsedOutput(raw["text"])
        return _object_output(raw)
    if isinstance(raw, list):
        return ParsedOutput(_content_text(raw))
    return ParsedOutput("" if raw is None else jsonio.dumps(raw).decode())


def mcp_result(payload: dict[str, Any]) -> tuple[str, bool]:
    """The text of an ``mcp_tool_call_end`` result, and whether the call failed.

    ``result`` is Rust's ``Result<CallToolResult, String>``: ``{"Ok": {"content": [...],
    "isError": ..., "structuredContent": ...}}`` or ``{"Err": "message"}``; some writers
    put the result object (or an ``error`` string) there directly.
    """
    result = payload.get("result")
    error = payload.get("error")
    if isinstance(result, dict) and "Err" in result:
        err = result["Err"]
        return (err if isinstance(err, str) else jsonio.dumps(err).decode()), True
    if isinstance(error, str) and result is None:
        return error, True
    ok = result.get("Ok", result) if isinstance(result, dict) else result
    if isinstance(ok, str):
        return ok, False
    if not isinstance(ok, dict):
        return ("" if ok is None else jsonio.dumps(ok).decode()), False
    failed = ok.get("isError", ok.get("is_error")) is True
    content = ok.get("content")
    text = _content_text(content) if isinstance(content, list) else ""
    if not text:
        structured = ok.get("structuredContent", ok.get("structured_content"))
        if structured is not None:
            text = jsonio.dumps(structured).decode()
    return text, failed


def patch_end_text(payload: dict[str, Any]) -> str:
    """What a ``patch_apply_end`` printed: stdout, then stderr."""
    parts = [payload.get("stdout"), payload.get("stderr")]
    return "".join(part for part in parts if isinstance(part, str))


def exit_code_from_text(content: str) -> int | None:
    """The exit code unified exec printed in its output header, if it finished."""
    match = _EXIT_LINE.search(content, 0, 400)
    return int(match.group(1)) if match else None


def shell_command_text(name: str, arguments: dict[str, Any]) -> str | None:
    """The command line a shell-like call ran, as one string (``None`` if not shell-like)."""
    command = arguments.get("cmd", arguments.get("command"))
    if command is None and name == "local_shell_call":
        command = arguments.get("command")
    if isinstance(command, str):
        return command
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        # ["bash", "-lc", script] runs the script; show the script, not the wrapper.
        if len(command) == 3 and command[1] in {"-lc", "-c"}:
            return str(command[2])
        return shlex.join(command)
    return None


def shell_argv(arguments: dict[str, Any]) -> list[str] | None:
    """The argv of a shell call given as a list (``shell`` / ``local_shell_call``)."""
    command = arguments.get("command")
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        return command
    return None


def duration_ms(raw: Any) -> int | None:
    """An exec duration in milliseconds: ``{"secs", "nanos"}``, seconds, or ``"1.5s"``."""
    if isinstance(raw, dict):
        secs, nanos = raw.get("secs"), raw.get("nanos", 0)
        if isinstance(secs, int) and isinstance(nanos, int):
            return secs * 1000 + nanos // 1_000_000
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return round(raw * 1000)
    if isinstance(raw, str):
        text = raw.strip()
        for suffix, scale in (("ms", 1.0), ("s", 1000.0)):
            if text.endswith(suffix):
                try:
                    return round(float(text[: -len(suffix)]) * scale)
                except ValueError:
                    return None
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(raw: Any) -> Usage | None:
    """A ``token_count`` usage object (``last_token_usage`` / ``total_token_usage``)."""
    if not isinstance(raw, dict):
        return None
    usage = Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cached_tokens=_int(raw.get("cached_input_tokens")),
        reasoning_tokens=_int(raw.get("reasoning_output_tokens")),
    )
    # An all-empty usage would not survive the ATIF round trip as a session total.
    if usage == Usage():
        return None
    return usage


def patch_sections(patch: str) -> list[tuple[str, str]]:
    """Split an ``apply_patch`` body into ``(path, patch)`` pieces, one per file.

    A single-file patch comes back whole. With several files, each piece is wrapped in its
    own ``*** Begin Patch`` / ``*** End Patch`` so it stays a valid patch on its own.
    """
    sections: list[tuple[str, list[str]]] = []
    for line in patch.splitlines(keepends=True):
        match = _PATCH_FILE.match(line.rstrip("\r\n"))
        if match:
            sections.append((match.group(1).strip(), [line]))
        elif line.startswith("*** End Patch") or line.startswith("*** Begin Patch"):
            continue
        elif sections:
            sections[-1][1].append(line)
    if len(sections) <= 1:
        return [(sections[0][0] if sections else "", patch)]
    return [
        (path, "*** Begin Patch\n" + "".join(lines) + "*** End Patch\n") for path, lines in sections
    ]


def title_of(prompt: str) -> str | None:
    """A session title: the first line of what the user asked, at most 80 characters."""
    _, marker, request = prompt.partition(_REQUEST_HEADING)
    text = (request if marker else prompt).strip()
    return text.splitlines()[0][:80] if text else None


def git_facts(raw: Any) -> GitFacts | None:
    """``session_meta.git`` as :class:`GitFacts` (``None`` when it says nothing)."""
    if not isinstance(raw, dict):
        return None

    def text(key: str) -> str | None:
        value = raw.get(key)
        return value if isinstance(value, str) else None

    facts = GitFacts(
        branch=text("branch"),
        commit=text("commit_hash") or text("commit"),
        remote=text("repository_url"),
    )
    return None if facts == GitFacts() else facts


def posture_of(payload: dict[str, Any]) -> dict[str, str]:
    """Approval and sandbox policy from a ``turn_context``, as names."""
    posture: dict[str, str] = {}
    approval = payload.get("approval_policy")
    if isinstance(approval, str):
        posture["approval_policy"] = approval
    sandbox = payload.get("sandbox_policy")
    if isinstance(sandbox, str):
        posture["sandbox_policy"] = sandbox
    elif isinstance(sandbox, dict):
        if isinstance(sandbox.get("type"), str):
            posture["sandbox_policy"] = sandbox["type"]
        if isinstance(sandbox.get("network_access"), bool):
            posture["network_access"] = "true" if sandbox["network_access"] else "false"
    return posture
