-- iotjobs SQLite schema, version 7: custom job templates (CreateJobTemplate). A template
-- is written once and read whole (it has no status and no update); jobs made from it
-- copy what they take, so nothing refers to this table. Never edit after release: add a
-- new migration.
CREATE TABLE job_templates (
    job_template_id TEXT PRIMARY KEY,      -- ListJobTemplates pages in id order
    description     TEXT NOT NULL,
    document        TEXT,
    document_source TEXT,
    configs         TEXT NOT NULL,         -- JSON object: member name -> JSON text
    created_at      INTEGER NOT NULL       -- epoch milliseconds
);
