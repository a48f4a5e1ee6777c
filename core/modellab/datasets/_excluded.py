"""What a build left out, and why: every session of the export that gave no row is counted
under exactly one reason, and so is every turn and row left out of the sessions used.

The manifest's ``excluded`` section holds the counts by reason; :func:`describe_exclusions`
turns them (from the manifest alone) into the lines the command and the card show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from modellab._internal.term import counted
from modellab.datasets._formats import SFT_FORMATS, Format
from modellab.datasets._plan import Plan
from modellab.datasets._select import Mode

__all__ = ["SESSION_REASONS", "describe_exclusions", "exclusions"]

#: Why a session gave no row, in the order they are decided and shown.
SESSION_REASONS = (
    "empty",
    "outcome-filter",
    "label-filter",
    "no-successful-turn",
    "not-successful",
    "no-failed-turn",
    "no-preference-pair",
    "no-labelled-step",
    "duplicate",
    "format-skipped",
)
_NO_ROWS_FOR_MODE: dict[Mode, str] = {
    "successful-turns": "no-successful-turn",
    "successful-sessions": "not-successful",
    "failed-turns": "no-failed-turn",
    "all": "empty",  # a session with a step always gives a row
}


def _no_rows(formats: tuple[Format, ...], mode: Mode) -> str:
    """Why a session had nothing to offer: the first format's reason."""
    first = formats[0]
    if first in SFT_FORMATS:
        return _NO_ROWS_FOR_MODE[mode]
    return "no-preference-pair" if first == "preference" else "no-labelled-step"


def exclusions(
    plan: Plan,
    kept: Mapping[int, Collection[int]],
    written: Collection[int],
    formats: tuple[Format, ...],
    mode: Mode,
    *,
    dropped: Mapping[str, int],
) -> dict[str, Any]:
    """The manifest's ``excluded`` section.

    :param kept: per planned session, its SFT rows that survived de-duplication.
    :param written: planned sessions that gave any format a row.
    :param dropped: SFT rows dropped by de-duplication, ``exact`` and ``near``.
    """
    sft = bool(SFT_FORMATS & set(formats))
    sessions = Counter(plan.filtered)
    turns: Counter[str] = Counter()
    for index, session in enumerate(plan.sessions):
        if index in written:
            turns.update(session.turns_not_taken)
            continue
        offered = (
            (sft and session.sft_rows)
            or ("preference" in formats and session.pairs)
            or ("unpaired" in formats and session.unpaired)
        )
        if session.empty:
            reason = "empty"
        elif not offered:
            reason = _no_rows(formats, mode)
        elif sft and session.sft_rows and not kept.get(index):
            reason = "duplicate"
        else:
            reason = "format-skipped"
        sessions[reason] += 1
    return {
        "sessions": {r: sessions[r] for r in SESSION_REASONS if sessions[r]},
        "turns": dict(sorted(turns.items())),
        "sft_rows": {
            k: v
            for k, v in (
                ("exact-duplicate", dropped.get("exact", 0)),
                ("near-duplicate", dropped.get("near", 0)),
            )
            if v
        },
    }


def _session_text(reason: str, filters: Mapping[str, Any]) -> str:
    outcomes = " or ".join(filters.get("outcomes", ()))
    labels = " or ".join(filters.get("labels", ()))
    return {
        "empty": "with no messages",
        "outcome-filter": f"whose outcome is not {outcomes} (--outcome)",
        "label-filter": f"without a {labels} label (--label)",
        "no-successful-turn": "without a successful turn (--from successful-turns)",
        "not-successful": "that did not succeed (--from successful-sessions)",
        "no-failed-turn": "without a failed turn (--from failed-turns)",
        "no-preference-pair": "without a failed tool call retried successfully at the same "
        "step (preference)",
        "no-labelled-step": "without an agent step in a turn with an outcome (unpaired)",
        "duplicate": "whose every SFT row duplicates a kept row (dedup-report.json)",
        "format-skipped": "whose rows no requested format could hold (formats.*.skipped)",
    }.get(reason, reason)


def describe_exclusions(manifest: Mapping[str, Any]) -> list[str]:
    """One line per reason, from the manifest alone: sessions, turns, SFT rows, and rows
    or steps each format left out. Empty when nothing was left out."""
    excluded = manifest["excluded"]
    filters = manifest["filters"]
    lines = [
        f"{counted(n, 'session')} {_session_text(reason, filters)}"
        for reason, n in excluded["sessions"].items()
    ]
    lines += [
        f"{counted(n, 'turn')} with outcome {outcome} in the sessions used (--from "
        f"{filters['from']})"
        for outcome, n in excluded["turns"].items()
    ]
    words = {"exact-duplicate": "exact duplicate", "near-duplicate": "near-duplicate"}
    lines += [
        f"{counted(n, 'SFT row')}: {words.get(kind, kind)} of a kept row (dedup-report.json)"
        for kind, n in excluded["sft_rows"].items()
    ]
    for name, entry in manifest["formats"].items():
        lines += [
            f"{name}: {counted(n, 'row')} left out ({reason})"
            for reason, n in entry["skipped"].items()
        ]
        if name == "unpaired":
            lines += [
                f"unpaired: {counted(n, 'agent step')} left out ({reason})"
                for reason, n in entry["steps_without_label"].items()
                if n
            ]
    return lines
