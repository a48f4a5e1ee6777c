"""Helpers every command shares: settings, selections, dates and output."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.store import Selection

__all__ = ["emit_json", "parse_since", "selection_from_args", "settings_from_args", "warn"]

_RELATIVE = re.compile(r"^(\d+)([dhw])$")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "w": timedelta(weeks=1)}


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Resolve settings once: flags, then environment, then defaults."""
    from modellab.settings import Settings

    return Settings.from_env(no_worksets=True if args.no_worksets else None)


def parse_since(value: str | None) -> str | None:
    """Accept YYYY-MM-DD, an ISO 8601 time, or a relative age like 7d, 24h, 2w."""
    if value is None:
        return None
    from modellab.errors import UsageError

    if match := _RELATIVE.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        try:
            moment = datetime.now(UTC) - _UNITS[unit] * amount
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
    """A catalog selection from the shared selection flags."""
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


#: Characters JSON may carry raw but a terminal must not receive raw: DEL, C1 controls,
#: the line and paragraph separators and the bidirectional controls (JSON already escapes
#: C0 controls). They occur only inside strings, where ``\\uNNNN`` means the same.
_JSON_UNSAFE = re.compile("[\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]")


def emit_json(value: Any) -> None:
    """Print one JSON document to stdout, safe for a terminal and equal for a parser."""
    from modellab._internal import jsonio

    text = jsonio.dumps(value, indent=True).decode()
    if _JSON_UNSAFE.search(text) is not None:
        text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")


def warn(message: str) -> None:
    """A warning on stderr (never on stdout, which may carry JSON)."""
    from modellab._internal.term import shown

    # Warnings quote file names and what a file held: shown escaped.
    print(f"modellab: warning: {shown(message, lines=True)}", file=sys.stderr)
