"""The catalog's schema, as an ordered list of migrations keyed by ``PRAGMA user_version``.

Never edit a released migration: append a new one. Statements are split on ``;``, so
comments must not contain one. Each runs inside the same write
transaction that bumps ``user_version``, so a crash mid-migration leaves the old schema.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, the files they came from, captures, exports, import runs, audit log.
    """
    CREATE TABLE sessions (
        id                    TEXT PRIMARY KEY,
        source                TEXT NOT NULL,
        title                 TEXT,
        created_at            TEXT,
        updated_at            TEXT,
        model                 TEXT,
        turns                 INTEGER NOT NULL,
        tool_calls            INTEGER NOT NULL,
        errors                INTEGER NOT NULL,
        outcome               TEXT NOT NULL,
        source_path           TEXT NOT NULL,
        source_format         TEXT NOT NULL,
        source_format_version TEXT,
        parser_version        TEXT NOT NULL,
        source_sha256         TEXT NOT NULL,
        trajectory_sha256     TEXT NOT NULL,  -- the object under objects/ holding its ATIF
        trajectory_size       INTEGER NOT NULL,
        imported_at           TEXT NOT NULL
    );
    CREATE INDEX sessions_by_created ON sessions (created_at);
    CREATE INDEX sessions_by_source ON sessions (source);
    CREATE INDEX sessions_by_trajectory ON sessions (trajectory_sha256);

    CREATE TABLE session_labels (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        kind       TEXT NOT NULL,
        PRIMARY KEY (session_id, kind)
    ) WITHOUT ROWID;

    CREATE TABLE source_files (
        path           TEXT PRIMARY KEY,
        importer       TEXT NOT NULL,
        size_bytes     INTEGER NOT NULL,
        mtime_ns       INTEGER NOT NULL,
        sha256         TEXT NOT NULL,
        parser_version TEXT NOT NULL,
        session_ids    TEXT NOT NULL,
        sidecars       TEXT NOT NULL,  -- [[path, size, mtime_ns], ...] read with the file
        imported_at    TEXT NOT NULL
    );

    CREATE TABLE captures (
        session_id  TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        captured_at TEXT NOT NULL
    );

    CREATE TABLE exports (
        id               INTEGER PRIMARY KEY,
        created_at       TEXT NOT NULL,
        out_dir          TEXT NOT NULL,
        sessions         INTEGER NOT NULL,
        manifest_sha256  TEXT NOT NULL,
        redaction_status TEXT NOT NULL
    );

    CREATE TABLE import_runs (
        id          INTEGER PRIMARY KEY,
        started_at  TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        summary     TEXT NOT NULL
    );

    CREATE TABLE audit_log (
        id      INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        action  TEXT NOT NULL,
        details TEXT NOT NULL
    );
    """,
    # 2: approvals of reviewed exports, bound to the sha256 of every file reviewed.
    """
    CREATE TABLE approvals (
        id           INTEGER PRIMARY KEY,
        export_dir   TEXT NOT NULL,
        files        TEXT NOT NULL,  -- {"name": "sha256", ...} of every file in the export
        approved_at  TEXT NOT NULL,
        approved_by  TEXT NOT NULL
    );
    CREATE INDEX approvals_by_dir ON approvals (export_dir);
    """,
    # 3: the redaction review: reviewed false positives, custom terms, decisions per export.
    """
    CREATE TABLE redaction_allowlist (
        value_sha256 TEXT PRIMARY KEY,  -- keyed with the installation's redaction.key
        rule         TEXT NOT NULL,     -- the rule that flagged it when it was allowed
        added_at     TEXT NOT NULL,
        added_by     TEXT NOT NULL
    );
    CREATE TABLE redaction_terms (
        term       TEXT PRIMARY KEY,    -- redacted everywhere as <TERM:n>
        added_at   TEXT NOT NULL,
        added_by   TEXT NOT NULL
    );
    CREATE TABLE redaction_decisions (
        export_dir      TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL,  -- the export exactly as it was reviewed
        rule            TEXT NOT NULL,
        value_sha256    TEXT NOT NULL,
        decision        TEXT NOT NULL,  -- 'keep': the redaction stays
        decided_at      TEXT NOT NULL,
        PRIMARY KEY (export_dir, manifest_sha256, rule, value_sha256)
    );
    """,
    # 4: worksets: the registries the user trusts, what is installed, and every consent.
    """
    CREATE TABLE registries (
        name        TEXT PRIMARY KEY,
        location    TEXT NOT NULL,      -- a directory or an http(s) URL
        root_sha256 TEXT NOT NULL,      -- of the TUF root the user pinned (kept on disk)
        added_at    TEXT NOT NULL
    );
    CREATE TABLE workset_installs (
        name            TEXT PRIMARY KEY,
        version         TEXT NOT NULL,
        state           TEXT NOT NULL,  -- 'installing' | 'installed' | 'removing'
        enabled         INTEGER NOT NULL DEFAULT 0,
        isolation       TEXT NOT NULL,  -- 'shared' | 'venv'
        location        TEXT NOT NULL,  -- the folder the workset was installed into
        registry        TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL,
        signer          TEXT NOT NULL,  -- JSON: the signer that was verified
        updated_at      TEXT NOT NULL
    );
    CREATE TABLE workset_consents (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL,
        version         TEXT NOT NULL,
        manifest_sha256 TEXT NOT NULL,
        signer          TEXT NOT NULL,  -- JSON, as in workset_installs
        consented_at    TEXT NOT NULL,
        consented_by    TEXT NOT NULL
    );
    CREATE INDEX workset_consents_by_name ON workset_consents (name);
    """,
    # 5: eval suites, runs (one row per model run), per-case results, comparisons, promotions.
    """
    CREATE TABLE eval_suites (
        id                      TEXT PRIMARY KEY,   -- sha256 of the suite's cases.jsonl
        path                    TEXT NOT NULL,
        export_dir              TEXT NOT NULL,
        export_manifest_sha256  TEXT NOT NULL,
        redaction_report_sha256 TEXT,
        cases                   INTEGER NOT NULL,
        created_at              TEXT NOT NULL
    );
    CREATE TABLE eval_runs (
        id          TEXT PRIMARY KEY,
        suite_id    TEXT NOT NULL REFERENCES eval_suites (id),
        label       TEXT NOT NULL,      -- what the user called the model: 'recorded', a provider
        model       TEXT NOT NULL,      -- the model name sent to the endpoint
        endpoint    TEXT,               -- base URL (NULL for 'recorded'). Never holds a key.
        settings    TEXT NOT NULL,      -- JSON: temperature, max_tokens, concurrency, timeouts
        status      TEXT NOT NULL,      -- 'running' | 'finished' | 'incomplete'
        started_at  TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE eval_results (
        run_id            TEXT NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
        case_id           TEXT NOT NULL,
        session_id        TEXT NOT NULL,
        status            TEXT NOT NULL,  -- 'answered' | 'refused' (the endpoint said no, 4xx)
        action            TEXT,           -- JSON: the model's next action, as graded
        error             TEXT,
        attempts          INTEGER NOT NULL,
        latency_ms        REAL,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        score             REAL NOT NULL,  -- 0..1, the mean of the graders' scores
        passed            INTEGER NOT NULL,
        grades            TEXT NOT NULL,  -- JSON: each grader's score and reason
        finished_at       TEXT NOT NULL,
        PRIMARY KEY (run_id, case_id)
    );
    CREATE TABLE eval_comparisons (
        id            TEXT PRIMARY KEY,
        candidate_run TEXT NOT NULL REFERENCES eval_runs (id),
        baseline_run  TEXT NOT NULL REFERENCES eval_runs (id),
        statistics    TEXT NOT NULL,    -- JSON: the comparison, as `eval compare --json` prints
        created_at    TEXT NOT NULL
    );
    CREATE TABLE promotions (
        id          INTEGER PRIMARY KEY,
        action      TEXT NOT NULL,      -- 'promote' | 'rollback'
        config_path TEXT NOT NULL,
        backup_path TEXT,               -- the config as it was before, kept beside it
        provider    TEXT,
        model       TEXT,
        base_url    TEXT,
        provenance  TEXT NOT NULL,      -- JSON: model, dataset, export, redaction, runs, stats
        created_at  TEXT NOT NULL
    );
    """,
    # 6: the --rules file an export was redacted with, kept here (on this machine only) so
    # that review can redact it again; the manifest, which travels, names no folder.
    """
    ALTER TABLE exports ADD COLUMN rules_path TEXT
    """,
    # 7: facts about the catalog itself. 'catalog_id' is random, made once: an export's
    # approval marker names it, so an approval given under another MODELLAB_HOME can be
    # recognised (and never honoured) without writing any path into the export.
    """
    CREATE TABLE catalog_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO catalog_meta (key, value) VALUES ('catalog_id', lower(hex(randomblob(16))))
    """,
    # 8: what each workset installed, file by file (JSON: {path: [sha256, size, mtime_ns]}),
    # recorded at install and checked at every load; NULL for installs made before this.
    """
    ALTER TABLE workset_installs ADD COLUMN files TEXT
    """,
    # 9: installed models, each with its passport and the sha256 of every file (checked at
    # every use), and the licence the user accepted. A candidate is a model a training run
    # made: it names its parent (the base model) and the run.
    """
    CREATE TABLE models (
        name             TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,   -- 'base' or 'candidate'
        format           TEXT NOT NULL,   -- 'hf' (safetensors folder) or 'gguf'
        path             TEXT NOT NULL,   -- its folder, under the lab's home
        passport         TEXT NOT NULL,   -- JSON
        files            TEXT NOT NULL,   -- JSON: {relative path: sha256}
        source           TEXT NOT NULL,   -- JSON: {kind, location, ...}
        license_accepted TEXT,            -- the licence id the user accepted
        accepted_at      TEXT,
        parent           TEXT,            -- a candidate's base model
        train_run        TEXT,            -- the run that made a candidate
        installed_at     TEXT NOT NULL
    )
    """,
    # 10: training runs: the job, its config, its lineage (approval, dataset, base model
    # hashes, backend and library versions, seed), preflight verdicts and the outcome.
    """
    CREATE TABLE train_runs (
        id          TEXT PRIMARY KEY,
        status      TEXT NOT NULL,  -- running, interrupted, failed, cancelled, succeeded
        backend     TEXT NOT NULL,
        method      TEXT NOT NULL,
        base_model  TEXT NOT NULL,
        dataset_dir TEXT NOT NULL,
        output_dir  TEXT NOT NULL,
        config      TEXT NOT NULL,  -- JSON: the hyper-parameters
        lineage     TEXT NOT NULL,  -- JSON
        preflight   TEXT,           -- JSON: [{check, verdict, reason}]
        metrics     TEXT,           -- JSON
        result      TEXT,           -- JSON: the trainer's result
        error       TEXT,
        process     TEXT,           -- the process running it: "PID:START_TICKS"
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    )
    """,
    # 11: model servers started by `modellab serve`: what runs where, the process that runs
    # it, the launch plan and the smoke test. A server whose process is gone without a stop
    # reads as 'exited' and is marked so by the next serve command.
    """
    CREATE TABLE servers (
        id           TEXT PRIMARY KEY,
        status       TEXT NOT NULL,  -- starting, running, stopped, failed, exited
        model        TEXT NOT NULL,  -- what the user named (an installed model)
        backend      TEXT NOT NULL,
        workset      TEXT NOT NULL,
        host         TEXT NOT NULL,
        port         INTEGER NOT NULL,
        base_url     TEXT NOT NULL,
        served_model TEXT NOT NULL,
        folder       TEXT NOT NULL,  -- its log and private files, under the lab's home
        plan         TEXT NOT NULL,  -- JSON: the launch plan the workset answered
        smoke        TEXT,           -- JSON: the smoke test's report
        context_window INTEGER NOT NULL,
        started_by   TEXT,           -- 'serve', or 'eval:<run>' for a server an eval started
        error        TEXT,
        process      TEXT,           -- the server process: "PID:START_TICKS"
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    )
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
