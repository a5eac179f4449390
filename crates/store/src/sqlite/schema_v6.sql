-- iotjobs SQLite schema, version 6: fleet safety (rollout rates, abort, retry,
-- scheduling). A job keeps its enforced configs (`policy`) and where its rollout stands
-- in its own row, so that the execution changes that already read and write the row
-- apply the rules without another lookup; a target the rollout has not reached yet waits
-- in `job_rollout_queue` (it has no execution); executions count their retries. Existing
-- jobs get the defaults: no policy, nothing waiting. Never edit after release: add a
-- new migration.
ALTER TABLE jobs ADD COLUMN policy TEXT;                              -- JSON, NULL: no rules
ALTER TABLE jobs ADD COLUMN rollout_waiting INTEGER NOT NULL DEFAULT 0;   -- targets queued
ALTER TABLE jobs ADD COLUMN rollout_notified INTEGER NOT NULL DEFAULT 0;  -- executions created
ALTER TABLE jobs ADD COLUMN rollout_started_at INTEGER;                   -- epoch milliseconds
ALTER TABLE jobs ADD COLUMN rollout_bucket INTEGER NOT NULL DEFAULT 0;    -- minutes since start
ALTER TABLE jobs ADD COLUMN rollout_in_bucket INTEGER NOT NULL DEFAULT 0; -- created this minute
ALTER TABLE jobs ADD COLUMN rollout_bucket_rate INTEGER NOT NULL DEFAULT 0; -- this minute's rate, fixed when it began
ALTER TABLE jobs ADD COLUMN rollout_ended INTEGER NOT NULL DEFAULT 0;     -- 0/1: schedule ended
ALTER TABLE jobs ADD COLUMN wake_at INTEGER;                              -- epoch ms, NULL: never
-- The sweep's due jobs, earliest first: only jobs that wait for something.
CREATE INDEX jobs_by_wake ON jobs (wake_at, job_id) WHERE wake_at IS NOT NULL;

-- `retryAttempt`, and how many of those retries followed a TIMED_OUT.
ALTER TABLE job_executions ADD COLUMN retry_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_executions ADD COLUMN retry_timed_out INTEGER NOT NULL DEFAULT 0;

-- Targets waiting for the rollout, in the order they are reached (`seq`: position in
-- the job's queue).
CREATE TABLE job_rollout_queue (
    job_id     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    thing_name TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
