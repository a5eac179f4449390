-- iotjobs PostgreSQL schema, version 3: the certificate registry and thing principals.
-- Never edit after release: add a new migration.
CREATE TABLE certificates (
    certificate_id   TEXT COLLATE "C" PRIMARY KEY, -- lowercase hex SHA-256 of the DER
    certificate_pem  TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    last_modified_at BIGINT NOT NULL,
    customer_version BIGINT NOT NULL,
    generation_id    TEXT NOT NULL,
    not_before       BIGINT,
    not_after        BIGINT
);
-- ListCertificates pages by creation date.
CREATE INDEX certificates_by_creation ON certificates (created_at, certificate_id);

CREATE TABLE thing_principals (
    thing_name     TEXT COLLATE "C" NOT NULL,
    certificate_id TEXT COLLATE "C" NOT NULL,
    principal_type TEXT NOT NULL,                  -- EXCLUSIVE_THING or NON_EXCLUSIVE_THING
    PRIMARY KEY (thing_name, certificate_id)
);
CREATE INDEX thing_principals_by_certificate ON thing_principals (certificate_id);
