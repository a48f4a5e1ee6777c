"""Apply review decisions to an export, re-redacting it when the allowlist or terms change.

Keeping a redaction only records a decision. Marking a value a false positive, or adding
a term to redact everywhere, changes what the export must contain, so the export is
written again from the catalog (atomically, in place) and the decisions already made are
carried over to the new version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from modellab.errors import RedactionError, SessionNotFoundError, UsageError
from modellab.export import write_export
from modellab.redact import RedactionConfig
from modellab.review._export import ExportReview, ValueGroup
from modellab.settings import Settings
from modellab.store import Catalog, ReviewState, Selection

__all__ = ["Decisions", "apply_decisions", "open_review"]


@dataclass(slots=True)
class Decisions:
    """What the user decided in one review pass."""

    keep: list[ValueGroup] = field(default_factory=list)
    #: false positives: (value hash, rule)
    allow: list[tuple[str, str]] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keep or self.allow or self.terms)


def open_review(catalog: Catalog, export_dir: Path) -> ExportReview:
    """The export's findings with the decisions recorded for it so far."""
    first = ExportReview.load(export_dir)
    kept = ReviewState(catalog, who="").kept(first.export_dir, first.manifest_sha256)
    for group in first.groups:
        group.kept = group.key in kept
    return first


def apply_decisions(
    settings: Settings, catalog: Catalog, review: ExportReview, decisions: Decisions, who: str
) -> tuple[ExportReview, bool]:
    """Record ``decisions``; returns the review as it now stands and whether it re-redacted."""
    state = ReviewState(catalog, who)
    state.keep(review.export_dir, review.manifest_sha256, [g.key for g in decisions.keep])
    changed = state.allow(decisions.allow) + state.add_terms(_clean_terms(decisions.terms))
    if not changed:
        return open_review(catalog, review.export_dir), False
    kept_before = state.kept(review.export_dir, review.manifest_sha256)
    _redact_again(settings, catalog, review)
    after = ExportReview.load(review.export_dir)
    carried = [g.key for g in after.groups if g.key in kept_before]
    state.keep(after.export_dir, after.manifest_sha256, carried)
    return open_review(catalog, review.export_dir), True


def _clean_terms(terms: Iterable[str]) -> list[str]:
    cleaned = [term.strip() for term in terms]
    for term in cleaned:
        if len(term) < 3:
            raise UsageError(
                f"term {term!r} is too short to redact everywhere (3 characters at least)"
            )
    return cleaned


def _redact_again(settings: Settings, catalog: Catalog, review: ExportReview) -> None:
    ids = review.session_ids()
    present = {str(row[0]) for row in catalog.query("SELECT id FROM sessions")}
    missing = [i for i in ids if i not in present]
    if missing:
        raise SessionNotFoundError(
            missing[0],
            f"{review.export_dir}: cannot redact it again; {len(missing)} of its sessions "
            "are no longer in the catalog, for example",
        )
    rules = catalog.export_rules_path(review.export_dir)
    config = RedactionConfig.load(
        settings, catalog, rules_path=None if rules is None else Path(rules)
    )
    _same_rules_file(review, config)
    write_export(
        catalog,
        Selection(ids=tuple(ids)),
        review.export_dir,
        redaction=config,
        force=True,
        describe_selection=review.manifest.get("selection") or {},
    )


def _same_rules_file(review: ExportReview, config: RedactionConfig) -> None:
    """Refuse to redact again with a ``--rules`` file that changed since the export.

    Redacting again with different rules would change the findings the user has been
    deciding on; they export again instead.
    """
    recorded = [
        entry.get("sha256")
        for entry in review.manifest["redaction"].get("extra_rules") or []
        if entry.get("origin") == "--rules"
    ]
    now = config.rules_sha256("--rules")
    if recorded and recorded[0] != now:
        raise RedactionError(
            f"{config.rules_file_path('--rules')}: the rules file changed since "
            f"{review.export_dir} was exported; export again with it"
        )
