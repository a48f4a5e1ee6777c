"""``modellab redact review``: decide on every value an export redacted.

Interactive by default: values are grouped by rule, shown as their placeholder in context
(masked), and revealed only on request. ``--list``, ``--json``, ``--accept-rule``,
``--accept-all``, ``--allow-hash`` and ``--add-term`` do the same from scripts.
"""

from __future__ import annotations

import argparse
import getpass
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal.term import shown
from modellab.cli._common import emit_json, settings_from_args
from modellab.errors import UsageError

if TYPE_CHECKING:
    from modellab.review import Decisions, ExportReview, ValueGroup
    from modellab.store import ObjectStore

__all__ = ["cmd_review"]

_CHOICES = (
    "Enter/k keep the redaction · f false positive (never redact this value again) · "
    "t add a term to redact everywhere · v reveal the value · r keep the rest of this rule · "
    "s skip · q save and quit"
)


def _scripted(review: ExportReview, args: argparse.Namespace) -> Decisions:
    from modellab.review import Decisions

    decisions = Decisions(terms=list(args.add_term or ()))
    rules = {group.rule for group in review.groups}
    for rule in args.accept_rule or ():
        if rule not in rules:
            present = ", ".join(sorted(rules)) or "none"
            raise UsageError(f"--accept-rule {rule}: no findings of that rule (present: {present})")
    accepted = set(args.accept_rule or ())
    decisions.keep = [g for g in review.groups if args.accept_all or g.rule in accepted]
    for wanted in args.allow_hash or ():
        decisions.allow.append(_resolve_hash(review, wanted.lower()))
    allowed = {digest for digest, _ in decisions.allow}
    decisions.keep = [g for g in decisions.keep if g.sha256 not in allowed]
    return decisions


def _resolve_hash(review: ExportReview, wanted: str) -> tuple[str, str]:
    """(value hash, rule) for a full hash or a unique prefix of one in this export."""
    if len(wanted) < 8 or any(c not in "0123456789abcdef" for c in wanted):
        raise UsageError(f"--allow-hash {wanted}: give at least 8 hex digits of a value hash")
    matches = {(g.sha256, g.rule) for g in review.groups if g.sha256.startswith(wanted)}
    if len({digest for digest, _ in matches}) > 1:
        raise UsageError(f"--allow-hash {wanted}: matches several values; give more digits")
    if matches:
        return matches.pop()
    if len(wanted) == 64:
        return wanted, "(not in this export)"
    raise UsageError(f"--allow-hash {wanted}: no value in this export has that hash")


def _ask(prompt: str) -> str | None:
    try:
        return input(prompt).strip()
    except EOFError:
        return None


#: Rules whose findings need more than the rule's name to decide on.
_RULE_HINTS = {
    "user-name-ambiguous": (
        "The session shows this name as its user, but it is also the project's, a package's "
        "or a common word, so it was redacted only where it names the user. "
        "t redacts it everywhere (code included)."
    ),
}


def _show(index: int, total: int, group: ValueGroup, review: ExportReview) -> None:
    print(
        f"\n[{index}/{total}] {group.category} · {group.rule}  "
        f"{group.replacement or '(removed)'}  {group.count}x  value {group.sha256[:12]}"
    )
    hint = _RULE_HINTS.get(group.rule)
    if hint:
        print(f"   {hint}")
    for occurrence in group.samples[:2]:
        print(f"   {shown(occurrence.session_id[:12])} {shown(occurrence.path)}")
        print(f"   {shown(review.context(occurrence))}")


def _interactive(review: ExportReview, objects: ObjectStore) -> Decisions:
    """Step through undecided values; stops at 'q' or end of input, keeping what was decided."""
    from modellab.review import Decisions

    decisions = Decisions()
    pending = review.undecided()
    print(
        f"Reviewing {shown(review.export_dir)}: {len(review.groups)} distinct value(s), "
        f"{len(pending)} to decide. Values are masked; press v to reveal one here."
    )
    print(_CHOICES)
    index = 0
    keep_rule: str | None = None
    while index < len(pending):
        group = pending[index]
        if group.rule == keep_rule:
            decisions.keep.append(group)
            index += 1
            continue
        _show(index + 1, len(pending), group, review)
        answer = _ask("keep? [k/f/t/v/r/s/q] ")
        if answer is None or answer.lower() == "q":
            break
        choice = answer.lower() or "k"
        if choice == "k":
            decisions.keep.append(group)
        elif choice == "f":
            decisions.allow.append((group.sha256, group.rule))
        elif choice == "r":
            keep_rule = group.rule
            continue
        elif choice == "s":
            pass
        elif choice == "t":
            term = _ask("term to redact everywhere (a name, project, host...): ")
            if term:
                decisions.terms.append(term)
            continue
        elif choice == "v":
            values = {review.original_value(o, objects) for o in group.samples}
            revealed = ", ".join(repr(v) for v in values if v is not None)
            print(f"   value: {revealed or '(the stored original is no longer in the catalog)'}")
            continue
        else:
            print(_CHOICES)
            continue
        index += 1
    return decisions


def _summary(review: ExportReview, rerendered: bool) -> dict[str, Any]:
    undecided = review.undecided()
    return {
        "export_dir": str(review.export_dir),
        "manifest_sha256": review.manifest_sha256,
        "redacted_again": rerendered,
        "values": len(review.groups),
        "findings": sum(g.count for g in review.groups),
        "undecided": len(undecided),
        "complete": not undecided,
        "groups": [group.as_dict() for group in review.groups],
    }


#: The number in a placeholder such as ``<EMAIL:3>``.
_NUMBERED = re.compile(r":(\d+)>$")
_CATEGORY_ORDER = {"secret": 0, "pii": 1, "identity": 2}


def _listing_order(group: ValueGroup) -> tuple[int, str, int, str]:
    """Secrets first, then by rule, then placeholders in their own numeric order."""
    number = _NUMBERED.search(group.replacement or "")
    return (
        _CATEGORY_ORDER.get(group.category, 3),
        group.rule,
        int(number.group(1)) if number else 0,
        group.sha256,
    )


def _print_list(review: ExportReview) -> None:
    from modellab._internal.term import render_table

    # Several values can share one replacement (every home folder becomes "~"): number
    # them, so each row says which one it is; the hash and count tell them apart for good.
    shared = Counter(g.replacement for g in review.groups)
    seen: Counter[str | None] = Counter()
    rows = []
    for g in sorted(review.groups, key=_listing_order):
        shown = g.replacement or "(removed)"
        if shared[g.replacement] > 1 and not _NUMBERED.search(shown):
            seen[g.replacement] += 1
            shown = f"{shown} ({seen[g.replacement]} of {shared[g.replacement]})"
        rows.append(
            (
                g.category,
                g.rule,
                shown,
                g.count,
                g.sha256[:12],
                "keep" if g.kept else "-",
                f"{g.samples[0].session_id[:8]} {g.samples[0].path}" if g.samples else "",
            )
        )
    headers = ("category", "rule", "placeholder", "count", "value hash", "decision", "first at")
    print(render_table(headers, rows, max_width=60) if rows else "No findings.")


def cmd_review(args: argparse.Namespace) -> int:
    """Review an export's findings; record decisions; redact again if the allowlist changed."""
    from modellab.gate import approved_elsewhere_note
    from modellab.review import apply_decisions, open_review
    from modellab.store import Catalog

    settings = settings_from_args(args)
    export_dir = Path(args.export).expanduser()
    scripted = bool(args.accept_rule or args.accept_all or args.allow_hash or args.add_term)
    with Catalog(settings.catalog_path) as catalog:
        review = open_review(catalog, export_dir)
        rerendered = False
        if scripted:
            decisions = _scripted(review, args)
        elif args.list or args.json:
            decisions = None
        else:
            decisions = _interactive(review, catalog.objects)
        if decisions:
            review, rerendered = apply_decisions(
                settings, catalog, review, decisions, getpass.getuser()
            )
        elsewhere = approved_elsewhere_note(catalog, review.export_dir)
    summary = _summary(review, rerendered)
    if args.json:
        emit_json(summary)
        return 0
    if args.list:
        _print_list(review)
    if rerendered:
        print("The allowlist or terms changed, so the export was redacted again.")
    for term in args.add_term or ():
        print(
            f"Added {shown(term)!r}: it is now redacted everywhere, as a new value of the rule "
            "custom-term, which needs its own decision like any other (keep it with "
            "--accept-rule custom-term)."
        )
    if elsewhere is not None:
        print(shown(elsewhere))
    if summary["complete"]:
        shown_dir = shown(review.export_dir)
        print(f"Review complete. Approve it with: modellab redact approve {shown_dir}")
    else:
        print(
            f"{summary['undecided']} of {summary['values']} value(s) still to decide. "
            f"Run 'modellab redact review {shown(review.export_dir)}' again to continue."
        )
    return 0
