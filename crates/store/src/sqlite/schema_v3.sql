-- iotjobs SQLite schema, version 3: which account the database belongs to. Never edit
-- after release: add a new migration.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
