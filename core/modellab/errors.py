"""Every exception Model Lab raises on purpose, in one tree.

::

    ModellabError                      root: catch this to catch everything we raise
    ├── UsageError                     a command was called wrongly (bad flag value, no match)
    ├── OutputBusyError                another command is writing the same --out right now
    ├── DiskFullError                  a disk (or quota) filled while writing; the message
    │                                  names the disk and what was kept
    ├── SourceError                    a session file could not be read
    │   ├── UnsupportedFormatError     the file is valid but of a version we refuse
    │   └── CorruptSourceError         truncated, not UTF-8, wrong types, too deep, ...
    ├── StoreError                     the SQLite catalog
    │   ├── CatalogVersionError        the catalog was written by a newer Model Lab
    │   └── SessionNotFoundError       no session matches an id (also a ``LookupError``)
    ├── ExportError                    an export could not be written (the OS error, if
    │                                  any, is chained as the cause)
    ├── RedactionError                 redaction rules or review data are unusable
    ├── GateError                      data may not leave the machine (every upload path
    │   ├── NotApprovedError           checks with gate.open_approved): no approval,
    │   ├── NotReviewedError           findings nobody decided on,
    │   ├── StaleApprovalError         an approval for other bytes than these,
    │   └── RawExportError             or an export that was never redacted
    ├── EvalError                      an eval suite, model endpoint or run cannot be used
    │   └── EvalIncompleteError        some cases could not be sent; run again to resume
    ├── PromotionError                 CodeWhale's config cannot be changed as asked, or a
    │   │                              promotion record is unusable; nothing was changed
    │   ├── PromotionRefusedError      the candidate failed the gate (``failures``)
    │   ├── ConfigFileError            config.toml unreadable or not TOML (path, line)
    │   └── ConfigChangedError         config.toml changed since the promotion undone
    └── TrustError                     a workset or registry failed a trust check; nothing
        ├── SignatureError             was installed: a bundle that does not verify, or
        │                              a signer other than the one pinned,
        ├── RegistryError              an index or TUF metadata that fails (rollback,
        │                              freeze, tampering, unknown keys, yanked),
        ├── ManifestError              a workset.toml that is invalid or not the one signed,
        ├── ConsentError               no consent for exactly this manifest and signer,
        └── InstallError               uv could not install it as pinned (hash mismatch,
                                       a core dependency would change)

Library code raises these; only ``modellab.cli`` turns them into messages and exit codes.
Each error carries structured fields (the path, field or value at fault) and a ``hint`` that
says what to do next.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CatalogVersionError",
    "ConfigChangedError",
    "ConfigFileError",
    "ConsentError",
    "CorruptSourceError",
    "DiskFullError",
    "EvalError",
    "EvalIncompleteError",
    "ExportError",
    "GateError",
    "InstallError",
    "ManifestError",
    "ModellabError",
    "NotApprovedError",
    "NotReviewedError",
    "OutputBusyError",
    "PreflightError",
    "PromotionError",
    "PromotionRefusedError",
    "RawExportError",
    "RedactionError",
    "RegistryError",
    "SessionNotFoundError",
    "SignatureError",
    "SourceError",
    "StaleApprovalError",
    "StoreError",
    "TrainingError",
    "TrustError",
    "UnsupportedFormatError",
    "UsageError",
]


class ModellabError(Exception):
    """Root of every error Model Lab raises on purpose."""

    #: One line telling the user what to do next, or ``None``.
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        """The error text without the hint."""
        return str(self.args[0]) if self.args else ""


class UsageError(ModellabError):
    """A command was called with arguments that cannot work."""


class OutputBusyError(ModellabError):
    """Another Model Lab command holds the lock of the same output folder; nothing was written."""


class DiskFullError(ModellabError):
    """The disk holding ``path`` (mounted at ``disk``) filled up, or its quota did.

    Raised for ``ENOSPC``, ``EDQUOT`` and SQLite's ``SQLITE_FULL``. Nothing half-written
    is left: ``kept`` says what is on disk now (what was kept, or that nothing was written).
    """

    def __init__(self, path: Path | str, disk: Path | str, kept: str) -> None:
        self.path = Path(path)
        self.disk = Path(disk)
        self.kept = kept
        super().__init__(
            f"disk full: no space left on {self.disk} (writing {self.path}); {kept}",
            hint=f"free space on {self.disk} (or write to another disk), then run the same "
            "command again",
        )

    def __reduce__(self) -> tuple[type[DiskFullError], tuple[Path, Path, str]]:
        # Raised in import worker processes too: it must cross back to the parent whole.
        return (type(self), (self.path, self.disk, self.kept))


class SourceError(ModellabError):
    """A session file could not be imported. ``path`` names the file, ``reason`` says why."""

    def __init__(self, path: Path | str, reason: str, *, hint: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}", hint=hint)


class UnsupportedFormatError(SourceError):
    """The file parses, but its format or version is one this parser refuses."""


class CorruptSourceError(SourceError):
    """The file is truncated, not valid UTF-8 or JSON, or has the wrong shape."""


class StoreError(ModellabError):
    """The catalog could not be opened, migrated or written."""


class CatalogVersionError(StoreError):
    """The catalog's schema is newer than this Model Lab understands."""


class SessionNotFoundError(StoreError, LookupError):
    """No session (or more than one) matches the id a user gave."""

    def __init__(
        self,
        session_ref: str,
        reason: str = "no such session",
        *,
        matches: list[str] | tuple[str, ...] = (),
        total: int = 0,
    ) -> None:
        """``matches``: for a prefix of several ids, the first of them; ``total``: how many."""
        self.session_ref = session_ref
        self.matches = tuple(matches)
        if self.matches:
            more = f", … ({total - len(self.matches)} more)" if total > len(self.matches) else ""
            super().__init__(
                f"ambiguous session id: {session_ref!r} matches {total} sessions: "
                f"{', '.join(self.matches)}{more}",
                hint="give more of the id, enough to match one session",
            )
            return
        super().__init__(
            f"{reason}: {session_ref!r}",
            hint="run 'modellab sessions list' to see the ids in the catalog",
        )


class ExportError(ModellabError):
    """An export could not be written; nothing partial is left behind."""


class EvalError(ModellabError):
    """An eval suite, a model endpoint or an eval run cannot be used as asked."""


class TrainingError(ModellabError):
    """A training job could not run, or its trainer failed (``train --resume ID`` goes on)."""


class ServingError(ModellabError):
    """A model server could not be planned, started, made ready or passed its smoke test
    (it was stopped again; ``modellab serve logs ID`` shows why)."""


class PreflightError(TrainingError):
    """Preflight found a check that fails: nothing was trained."""


class EvalIncompleteError(EvalError):
    """A run stopped with cases still unanswered; the same command resumes it."""

    def __init__(self, run_id: str, missing: int, total: int, last_error: str) -> None:
        self.run_id = run_id
        self.missing = missing
        super().__init__(
            f"eval run {run_id}: {missing} of {total} cases got no answer ({last_error})",
            hint="run the same command again: finished cases are kept and never re-sent",
        )


class RedactionError(ModellabError):
    """Redaction rules, an allowlist or a review record cannot be used."""


class GateError(ModellabError):
    """Data may not leave the machine: the export at ``path`` did not pass the gate."""

    def __init__(self, path: Path | str, reason: str, *, hint: str | None = None) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}", hint=hint)


class NotApprovedError(GateError):
    """No approval was ever recorded for this export."""


class StaleApprovalError(GateError):
    """The export's files changed after they were approved."""


class RawExportError(GateError):
    """The export was not redacted, so it can never be approved or sent."""


class NotReviewedError(GateError):
    """Some findings in the export have not been reviewed, so it cannot be approved yet."""


class PromotionError(ModellabError):
    """CodeWhale's config could not be changed as asked, or a promotion record is unusable."""


class PromotionRefusedError(PromotionError):
    """The candidate did not pass the promotion gate. ``failures`` names each failed rule."""

    def __init__(self, comparison_id: str, failures: tuple[str, ...]) -> None:
        self.comparison_id = comparison_id
        self.failures = failures
        lines = "".join(f"\n  - {failure}" for failure in failures)
        super().__init__(
            f"promotion refused for comparison {comparison_id} "
            f"({len(failures)} rule{'s' if len(failures) != 1 else ''} failed):{lines}",
            hint="nothing was changed; see 'modellab promote --help' for the thresholds",
        )


class ConfigFileError(PromotionError):
    """CodeWhale's ``config.toml`` at ``path`` cannot be read, or is not TOML (at ``line``)."""

    def __init__(
        self, path: Path | str, reason: str, *, line: int | None = None, hint: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}", hint=hint)


class ConfigChangedError(PromotionError):
    """``path`` is not the file the promotion wrote, so undoing it would lose those edits."""

    def __init__(self, path: Path | str, reason: str, *, hint: str | None = None) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {reason}", hint=hint)


class TrustError(ModellabError):
    """A workset, its signature or the registry failed a trust check; nothing was changed."""


class SignatureError(TrustError):
    """A Sigstore bundle did not verify, or was made by another signer than the pinned one."""


class RegistryError(TrustError):
    """The registry index or its TUF metadata was refused (or a release is yanked/revoked)."""


class ManifestError(TrustError):
    """A ``workset.toml`` is invalid (the message names the field) or not the one signed."""


class ConsentError(TrustError):
    """The user has not consented to exactly this manifest and signer."""


class InstallError(TrustError):
    """uv could not install the workset exactly as pinned; the environment is unchanged."""
