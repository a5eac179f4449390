-- iotjobs SQLite schema, version 5: the audit log (who changed what, from where, when,
-- old and new status), written in the transaction of the change. Never edit after
-- release: add a new migration.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, increasing in commit order
    at          INTEGER NOT NULL,                  -- epoch milliseconds
    principal   TEXT NOT NULL,                     -- access key id, thing/<name>, or iotjobs
    source      TEXT,                              -- peer address
    operation   TEXT NOT NULL,
    request_id  TEXT,
    subject     TEXT NOT NULL,                     -- JOB, JOB_EXECUTION, THING, ...
    job_id      TEXT,
    name        TEXT,                              -- thing, group or certificate id
    old_status  TEXT,
    new_status  TEXT,
    detail      TEXT                               -- e.g. group=g1, certificate=ID, executions=10
);
-- `iotjobs audit --job-id` / `--thing-name`: one job's or one thing's history.
CREATE INDEX audit_log_by_job ON audit_log (job_id, seq) WHERE job_id IS NOT NULL;
CREATE INDEX audit_log_by_name ON audit_log (name, seq) WHERE name IS NOT NULL;
