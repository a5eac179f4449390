-- iotjobs PostgreSQL schema, version 2: which account the schema belongs to. Never
-- edit after release: add a new migration.
CREATE TABLE store_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
