-- iotjobs PostgreSQL schema, version 5 (the same model as SQLite schema v6): fleet
-- safety (rollout rates, abort, retry, scheduling). A job keeps its enforced configs
-- (`policy`) and where its rollout stands in its own row, so that the execution changes
-- that already lock and write the row apply the rules without another lookup; a target
-- the rollout has not reached yet waits in `job_rollout_queue` (it has no execution);
-- executions count their retries. Existing jobs get the defaults: no policy, nothing
-- waiting (constant defaults: no table rewrite). Never edit after release: add a new
-- migration.
ALTER TABLE jobs
    ADD COLUMN policy             TEXT,                         -- JSON, NULL: no rules
    ADD COLUMN rollout_waiting    BIGINT NOT NULL DEFAULT 0,    -- targets queued
    ADD COLUMN rollout_notified   BIGINT NOT NULL DEFAULT 0,    -- executions created
    ADD COLUMN rollout_started_at BIGINT,                       -- epoch milliseconds
    ADD COLUMN rollout_bucket     BIGINT NOT NULL DEFAULT 0,    -- minutes since start
    ADD COLUMN rollout_in_bucket  BIGINT NOT NULL DEFAULT 0,    -- created this minute
    ADD COLUMN rollout_bucket_rate BIGINT NOT NULL DEFAULT 0,   -- this minute's rate, fixed when it began
    ADD COLUMN rollout_ended      BOOLEAN NOT NULL DEFAULT false, -- the schedule's end applied
    ADD COLUMN wake_at            BIGINT;                       -- epoch ms, NULL: never
-- The sweep's due jobs, earliest first: only jobs that wait for something.
CREATE INDEX jobs_by_wake ON jobs (wake_at, job_id) WHERE wake_at IS NOT NULL;

-- `retryAttempt`, and how many of those retries followed a TIMED_OUT.
ALTER TABLE job_executions
    ADD COLUMN retry_attempt   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN retry_timed_out BIGINT NOT NULL DEFAULT 0;

-- Targets waiting for the rollout, in the order they are reached (`seq`: position in
-- the job's queue).
CREATE TABLE job_rollout_queue (
    job_id     TEXT COLLATE "C" NOT NULL,
    seq        BIGINT NOT NULL,
    thing_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (job_id, seq)
);
