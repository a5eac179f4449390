-- iotjobs PostgreSQL schema, version 1 (the same model as SQLite schema v2). Never edit
-- after release: add a new migration. Text columns use the "C" collation so that keyset
-- pagination orders exactly as the SQLite backend does (byte order).
CREATE TABLE things (
    thing_name         TEXT COLLATE "C" PRIMARY KEY,
    thing_id           TEXT NOT NULL,
    thing_type_name    TEXT,
    attributes         JSONB NOT NULL,
    billing_group_name TEXT,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE jobs (
    job_id                      TEXT COLLATE "C" PRIMARY KEY,
    status                      TEXT NOT NULL,
    target_selection            TEXT NOT NULL,
    in_progress_timeout_minutes BIGINT,
    n_queued                    BIGINT NOT NULL,
    n_in_progress               BIGINT NOT NULL,
    n_succeeded                 BIGINT NOT NULL,
    n_failed                    BIGINT NOT NULL,
    n_timed_out                 BIGINT NOT NULL,
    n_rejected                  BIGINT NOT NULL,
    n_removed                   BIGINT NOT NULL,
    n_canceled                  BIGINT NOT NULL,
    last_updated_at             BIGINT NOT NULL,
    completed_at                BIGINT,
    targets                     TEXT NOT NULL,
    document                    TEXT,
    document_source             TEXT,
    description                 TEXT,
    force_canceled              BOOLEAN NOT NULL,
    reason_code                 TEXT,
    comment                     TEXT,
    created_at                  BIGINT NOT NULL,
    configs                     TEXT NOT NULL
);
CREATE INDEX jobs_by_status ON jobs (status);

CREATE TABLE job_executions (
    thing_name           TEXT COLLATE "C" NOT NULL,
    job_id               TEXT COLLATE "C" NOT NULL,
    execution_number     BIGINT NOT NULL,
    status               TEXT NOT NULL,
    force_canceled       BOOLEAN NOT NULL,
    status_details       TEXT NOT NULL,
    queued_at            BIGINT NOT NULL,
    started_at           BIGINT,
    last_updated_at      BIGINT NOT NULL,
    version_number       BIGINT NOT NULL,
    in_progress_deadline BIGINT,
    step_deadline        BIGINT,
    timeout_at           BIGINT,
    PRIMARY KEY (thing_name, job_id, execution_number)
);
CREATE INDEX job_executions_by_job ON job_executions (job_id, thing_name, execution_number);
CREATE INDEX job_executions_pending ON job_executions (thing_name, queued_at)
    WHERE status IN ('QUEUED', 'IN_PROGRESS');
CREATE INDEX job_executions_timeouts ON job_executions (timeout_at)
    WHERE status = 'IN_PROGRESS' AND timeout_at IS NOT NULL;

CREATE TABLE thing_groups (
    group_name        TEXT COLLATE "C" PRIMARY KEY,
    group_id          TEXT NOT NULL,
    parent_group_name TEXT COLLATE "C",
    description       TEXT,
    attributes        JSONB NOT NULL,
    tags              TEXT,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX thing_groups_by_parent ON thing_groups (parent_group_name);

CREATE TABLE thing_group_members (
    group_name TEXT COLLATE "C" NOT NULL,
    thing_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (group_name, thing_name)
);
CREATE INDEX thing_group_members_by_thing ON thing_group_members (thing_name);

CREATE TABLE job_targets (
    job_id      TEXT COLLATE "C" NOT NULL,
    target_type TEXT NOT NULL,
    target_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (job_id, target_type, target_name)
);
CREATE INDEX job_targets_by_target ON job_targets (target_type, target_name);
