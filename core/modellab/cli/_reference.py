"""Generate ``docs/cli.md`` from the parser's own ``--help``, so the reference cannot drift.

``python -m modellab.cli._reference --write`` regenerates it; a test fails when it is stale.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

__all__ = ["COMMANDS", "REFERENCE_PATH", "render_reference"]

REFERENCE_PATH = Path("docs") / "cli.md"

#: Every command path documented, in order.
COMMANDS: tuple[tuple[str, ...], ...] = (
    (),
    ("sessions",),
    ("sessions", "import"),
    ("sessions", "list"),
    ("sessions", "show"),
    ("capture",),
    ("uncapture",),
    ("export",),
    ("redact",),
    ("redact", "scan"),
    ("redact", "review"),
    ("redact", "approve"),
    ("dataset",),
    ("dataset", "build"),
    ("eval",),
    ("eval", "build"),
    ("eval", "run"),
    ("eval", "compare"),
    ("eval", "runs"),
    ("worksets",),
    ("worksets", "list"),
    ("worksets", "info"),
    ("worksets", "install"),
    ("worksets", "upgrade"),
    ("worksets", "enable"),
    ("worksets", "disable"),
    ("worksets", "remove"),
    ("worksets", "verify"),
    ("worksets", "audit"),
    ("worksets", "backends"),
    ("worksets", "check"),
    ("worksets", "new"),
    ("worksets", "dev"),
    ("worksets", "add-registry"),
    ("models",),
    ("models", "install"),
    ("models", "list"),
    ("models", "info"),
    ("models", "remove"),
    ("train",),
    ("registry",),
    ("registry", "keys"),
    ("registry", "init"),
    ("registry", "build"),
    ("registry", "sign"),
    ("registry", "add"),
    ("registry", "yank"),
    ("registry", "resign"),
    ("registry", "verify"),
    ("promote",),
)
_WIDTH = "100"


def _help_text(path: tuple[str, ...]) -> str:
    from modellab.cli._app import build_parser

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser({}).parse_args([*path, "--help"])  # core commands only
    return out.getvalue().rstrip() + "\n"


def render_reference() -> str:
    """The whole reference page, rendered at a fixed width."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH
    try:
        parts = [
            "# `modellab` command reference\n\n",
            "Generated from `--help` by `python3 dev.py docs`; a test fails when it is stale.\n",
        ]
        for path in COMMANDS:
            title = " ".join(("modellab", *path))
            parts.append(f"\n## `{title}`\n\n```text\n{_help_text(path)}```\n")
        return "".join(parts)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def main(argv: list[str] | None = None) -> int:
    """Write (``--write``) or check the reference; exit 1 when it is stale."""
    args = sys.argv[1:] if argv is None else argv
    text = render_reference()
    if "--write" in args:
        REFERENCE_PATH.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {REFERENCE_PATH}")
        return 0
    if not REFERENCE_PATH.exists() or REFERENCE_PATH.read_text(encoding="utf-8") != text:
        print(f"{REFERENCE_PATH} is stale: run 'python3 dev.py docs'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
