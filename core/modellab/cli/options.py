"""Command-line pieces every command shares, the core's and each workset's.

The selection flags and what they become (a :class:`modellab.store.Selection`), ``--since``
parsing, the ``--json`` flag and its output, and the exit-code epilog. The core's commands
use them from here; worksets reach them through :mod:`modellab.workset`, so a workset's
command line reads and fails exactly like the core's.

Start-up stays cheap: only what ``argparse`` already loaded is imported at module level
(``modellab --help`` builds its grammar with this module).
"""

from __future__ import annotations

import argparse
import re
import sys

# Not ``typing.TYPE_CHECKING``: importing typing costs start-up (see ``modellab.cli``).
from modellab.cli import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from modellab.store import Selection

__all__ = [
    "OUTCOME_CHOICES",
    "add_json_flag",
    "add_selection_flags",
    "checked_labels",
    "emit_json",
    "exit_codes_epilog",
    "parse_since",
    "selection_from_args",
]

#: The values ``--outcome`` accepts (a session's verdict, as ``modellab sessions list`` shows).
OUTCOME_CHOICES = ("success", "failure", "interrupted", "unknown")

_RELATIVE = re.compile(r"^(\d+)([dhw])$")

#: Characters JSON may carry raw but a terminal must not receive raw: DEL, C1 controls,
#: the line and paragraph separators and the bidirectional controls (JSON already escapes
#: C0 controls). They occur only inside strings, where ``\\uNNNN`` means the same. A
#: pattern text, compiled on first use (``re`` caches it): ``--help`` never pays for it.
_JSON_UNSAFE = "[\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]"

#: Where a flag is added: a parser or one of its argument groups.
_FlagTarget = argparse.ArgumentParser | argparse._ArgumentGroup


def exit_codes_epilog(codes: Mapping[int, str]) -> str:
    """The ``exit codes:`` table a command's ``--help`` ends with, one code per line.

    Use it as ``epilog=`` with a formatter that keeps line breaks (the core's does for any
    text that starts with ``exit codes:``; ``argparse.RawDescriptionHelpFormatter`` does).
    """
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in codes.items())


def add_json_flag(parser: _FlagTarget) -> None:
    """Add ``--json`` (print one JSON document with :func:`emit_json` instead of text)."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _positive(text: str) -> int:
    """``--last N``: a whole number, 1 or more (0 would select nothing on purpose)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_selection_flags(parser: _FlagTarget, *, ids: bool, last: bool = False) -> None:
    """Add the selection flags: ``--ids`` (when ``ids``), ``--last N`` (when ``last``),
    ``--since``, ``--source``, ``--label`` and ``--outcome``.

    Turn the parsed arguments into a selection with :func:`selection_from_args`, which also
    checks ``--since`` and ``--label`` (a bad value is a :class:`modellab.errors.UsageError`).
    """
    if ids:
        parser.add_argument(
            "--ids",
            nargs="+",
            metavar="ID",
            default=[],
            help="these sessions (full ids or unique prefixes)",
        )
    if last:
        parser.add_argument(
            "--last", type=_positive, metavar="N", help="the N most recent sessions"
        )
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="sessions updated on or after DATE (YYYY-MM-DD, ISO time, or 7d/24h)",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="only this agent (codewhale, claude-code, codex); repeatable",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KIND",
        help="only sessions with this label (e.g. tests_passed); repeatable",
    )
    parser.add_argument(
        "--outcome",
        action="append",
        default=[],
        choices=list(OUTCOME_CHOICES),
        help="only sessions with this outcome; repeatable",
    )


def parse_since(value: str | None) -> str | None:
    """Accept YYYY-MM-DD, an ISO 8601 time, or a relative age like 7d, 24h, 2w.

    Returns the catalog's form (a bare date stays a bare date, so that whole day is
    included; a time becomes UTC), ``None`` for ``None``; raises
    :class:`modellab.errors.UsageError` naming ``--since`` for anything else.
    """
    if value is None:
        return None
    from datetime import UTC, datetime, timedelta

    from modellab.errors import UsageError

    if match := _RELATIVE.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        units = {"d": timedelta(days=1), "h": timedelta(hours=1), "w": timedelta(weeks=1)}
        try:
            moment = datetime.now(UTC) - units[unit] * amount
        except OverflowError:
            # Ages beyond the calendar (before year 1) cannot be a time to compare with.
            raise UsageError(
                f"--since: {value!r} reaches back before year 1",
                hint="use a smaller age such as 30d, or a date such as 2024-01-01",
            ) from None
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since: {value!r} is not a date",
            hint="use YYYY-MM-DD, an ISO 8601 time, or an age such as 7d or 24h",
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    text = parsed.isoformat(timespec="seconds")
    return text[:10] if len(value) == 10 else text


def checked_labels(labels: list[str]) -> tuple[str, ...]:
    """Refuse label kinds that do not exist, so a typo is not an empty selection."""
    from typing import get_args

    from modellab.errors import UsageError
    from modellab.traces import LabelKind

    known = get_args(LabelKind)
    for label in labels:
        if label not in known:
            raise UsageError(
                f"--label: unknown label {label!r}", hint=f"choose from: {', '.join(known)}"
            )
    return tuple(labels)


def selection_from_args(args: argparse.Namespace, *, captured_only: bool = False) -> Selection:
    """A catalog selection from the flags :func:`add_selection_flags` added.

    Flags a parser did not add count as not given. Raises
    :class:`modellab.errors.UsageError` for a bad ``--since`` or an unknown ``--label``.
    """
    from modellab.store import Selection

    return Selection(
        ids=tuple(getattr(args, "ids", ()) or ()),
        captured_only=captured_only,
        since=parse_since(getattr(args, "since", None)),
        sources=tuple(getattr(args, "source", ()) or ()),
        labels=checked_labels(list(getattr(args, "label", ()) or ())),
        outcomes=tuple(getattr(args, "outcome", ()) or ()),
        last=getattr(args, "last", None),
    )


def emit_json(value: Any) -> None:
    """Print one JSON document to stdout, safe for a terminal and equal for a parser."""
    from modellab._internal import jsonio

    text = jsonio.dumps(value, indent=True).decode()
    if re.search(_JSON_UNSAFE, text) is not None:
        text = re.sub(_JSON_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")
