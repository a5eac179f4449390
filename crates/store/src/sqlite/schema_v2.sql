-- iotjobs SQLite schema, version 2: thing groups, job targets, timeouts. Never edit
-- after release: add a new migration.
CREATE TABLE thing_groups (
    group_name        TEXT PRIMARY KEY,
    group_id          TEXT NOT NULL,
    parent_group_name TEXT,
    description       TEXT,
    attributes        TEXT NOT NULL,            -- JSON object
    tags              TEXT,                     -- JSON text, kept verbatim
    version           INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX thing_groups_by_parent ON thing_groups (parent_group_name);

CREATE TABLE thing_group_members (
    group_name TEXT NOT NULL,
    thing_name TEXT NOT NULL,
    PRIMARY KEY (group_name, thing_name)
) WITHOUT ROWID;
CREATE INDEX thing_group_members_by_thing ON thing_group_members (thing_name);

-- What a job targets, by kind: CONTINUOUS jobs look groups up here when a thing joins
-- or leaves one, and ListJobs filters by group.
CREATE TABLE job_targets (
    job_id      TEXT NOT NULL,
    target_type TEXT NOT NULL,                  -- 'thing' or 'group'
    target_name TEXT NOT NULL,
    PRIMARY KEY (job_id, target_type, target_name)
) WITHOUT ROWID;
CREATE INDEX job_targets_by_target ON job_targets (target_type, target_name);
INSERT INTO job_targets (job_id, target_type, target_name)
    SELECT jobs.job_id, 'thing', substr(value, instr(value, ':thing/') + 7)
    FROM jobs, json_each(jobs.targets) WHERE value LIKE '%:thing/%';

-- When an IN_PROGRESS execution times out: the earlier of its two timers.
ALTER TABLE job_executions ADD COLUMN timeout_at INTEGER;
UPDATE job_executions SET timeout_at = min(coalesce(in_progress_deadline, step_deadline),
                                           coalesce(step_deadline, in_progress_deadline));
CREATE INDEX job_executions_timeouts ON job_executions (timeout_at)
    WHERE status = 'IN_PROGRESS' AND timeout_at IS NOT NULL;

-- Keyset pagination of ListJobExecutionsForJob needs the execution number too.
DROP INDEX job_executions_by_job;
CREATE INDEX job_executions_by_job ON job_executions (job_id, thing_name, execution_number);

CREATE INDEX jobs_by_status ON jobs (status);
