-- iotjobs SQLite schema, version 1. Never edit after release: add a new migration.
CREATE TABLE things (
    thing_name         TEXT PRIMARY KEY,
    thing_id           TEXT NOT NULL,
    thing_type_name    TEXT,
    attributes         TEXT NOT NULL,          -- JSON object
    billing_group_name TEXT,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL        -- epoch milliseconds
);

CREATE TABLE jobs (
    job_id                      TEXT PRIMARY KEY,
    -- progress: what execution changes touch (the hot path)
    status                      TEXT NOT NULL,
    target_selection            TEXT NOT NULL,
    in_progress_timeout_minutes INTEGER,
    n_queued                    INTEGER NOT NULL,
    n_in_progress               INTEGER NOT NULL,
    n_succeeded                 INTEGER NOT NULL,
    n_failed                    INTEGER NOT NULL,
    n_timed_out                 INTEGER NOT NULL,
    n_rejected                  INTEGER NOT NULL,
    n_removed                   INTEGER NOT NULL,
    n_canceled                  INTEGER NOT NULL,
    last_updated_at             INTEGER NOT NULL,
    completed_at                INTEGER,
    -- description: written at creation, read by DescribeJob
    targets                     TEXT NOT NULL,  -- JSON array of ARNs
    document                    TEXT,
    document_source             TEXT,
    description                 TEXT,
    force_canceled              INTEGER NOT NULL,
    reason_code                 TEXT,
    comment                     TEXT,
    created_at                  INTEGER NOT NULL,
    configs                     TEXT NOT NULL   -- JSON object: member name -> JSON text
);

CREATE TABLE job_executions (
    thing_name           TEXT NOT NULL,
    job_id               TEXT NOT NULL,
    execution_number     INTEGER NOT NULL,
    status               TEXT NOT NULL,
    force_canceled       INTEGER NOT NULL,
    status_details       TEXT NOT NULL,         -- JSON object
    queued_at            INTEGER NOT NULL,
    started_at           INTEGER,
    last_updated_at      INTEGER NOT NULL,
    version_number       INTEGER NOT NULL,
    in_progress_deadline INTEGER,
    step_deadline        INTEGER,
    PRIMARY KEY (thing_name, job_id, execution_number)
) WITHOUT ROWID;

-- ListJobExecutionsForJob and job-wide operations.
CREATE INDEX job_executions_by_job ON job_executions (job_id, thing_name);
-- A device's pending work (GetPendingJobExecutions, StartNext, $next): only pending rows.
CREATE INDEX job_executions_pending ON job_executions (thing_name, queued_at)
    WHERE status IN ('QUEUED', 'IN_PROGRESS');
