"""Exit codes, in one table, and the mapping from errors to them."""

from __future__ import annotations

__all__ = [
    "DISK_FULL",
    "EXIT_CODES",
    "PROMOTION_ERROR",
    "PROMOTION_REFUSED",
    "SERVING_ERROR",
    "TRAINING_ERROR",
    "exit_code_for",
]

#: ``promote --if-better``: the candidate failed the gate; CodeWhale's config is unchanged.
PROMOTION_REFUSED = 13
#: ``promote``: CodeWhale's config is unreadable, not TOML, or changed since the promotion
#: being rolled back; nothing was changed.
PROMOTION_ERROR = 14
#: A disk (or quota) filled while writing; the message names the disk and what was kept.
DISK_FULL = 15
#: Preflight failed (nothing was trained), or the trainer failed (``train --resume ID``).
TRAINING_ERROR = 16
#: A model server could not be planned, started or made ready, or failed its smoke test.
SERVING_ERROR = 17

#: Every exit code the CLI uses, and what it means. Documented in ``--help``.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "partial failure: some files could not be imported, or nothing in them could be "
    "mapped (the rest were imported)",
    2: "usage error: bad arguments, or a command that is not built yet",
    3: "not found: no session matches the id or selection",
    4: "bad input: a session file is corrupt or of an unsupported version, or (redact scan) "
    "a path could not be scanned",
    5: "catalog error: the SQLite catalog could not be opened or written",
    6: "export error: the export could not be written (nothing partial was left)",
    7: "redaction error: the redaction rules or review data could not be used",
    8: "sensitive data found (redact scan)",
    9: "gate refused: the export is not approved, changed since approval, or not redacted",
    10: "trust refused: a signature, registry index, manifest or consent check failed, "
    "or the install could not be done as pinned (nothing was changed)",
    11: "busy: another Model Lab command is writing the same --out folder (nothing was "
    "written; run again when it ends)",
    12: "eval error: a suite, model endpoint or run could not be used, or a run is incomplete "
    "(run the same command again to resume it)",
    PROMOTION_REFUSED: "promotion refused: the candidate did not pass the gate (nothing changed)",
    PROMOTION_ERROR: "promotion error: CodeWhale's config is unreadable, not TOML, or changed "
    "since the promotion being rolled back (nothing changed)",
    DISK_FULL: "disk full: a disk or quota filled while writing (the message names it and "
    "what was kept; nothing half-written was left)",
    TRAINING_ERROR: "training error: preflight failed (nothing was trained), or the trainer "
    "failed or was stopped (resume with 'modellab train --resume ID')",
    SERVING_ERROR: "serving error: the model server could not be planned, started or made "
    "ready, or failed its smoke test (it was stopped; 'modellab serve logs ID' says why)",
    130: "interrupted (Ctrl-C); nothing half-written was left behind",
}


def exit_code_for(error: BaseException) -> int:
    """The exit code for a library error (imports stay inside: errors.py is light)."""
    from modellab import errors

    table: list[tuple[type[BaseException], int]] = [
        (errors.SessionNotFoundError, 3),
        (errors.DiskFullError, DISK_FULL),
        (errors.UsageError, 2),
        (errors.OutputBusyError, 11),
        (errors.SourceError, 4),
        (errors.StoreError, 5),
        (errors.ExportError, 6),
        (errors.RedactionError, 7),
        (errors.GateError, 9),
        (errors.TrustError, 10),
        (errors.PromotionRefusedError, PROMOTION_REFUSED),
        (errors.PromotionError, PROMOTION_ERROR),
        (errors.EvalError, 12),
        (errors.TrainingError, TRAINING_ERROR),
        (errors.ServingError, SERVING_ERROR),
    ]
    for kind, code in table:
        if isinstance(error, kind):
            return code
    return 1
