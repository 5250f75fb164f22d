-- The centre's profile (kit/src/centre.rs): values set with `confidant admin centre set` (later
-- the organisation's admin area), overriding the --centre-* flags field by field. One row per
-- field that is set; the keys are kit::centre::Field::key(). Values are checked before they are
-- stored. updated_at: milliseconds since the epoch.
CREATE TABLE centre_profile (
    field      TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The centre's logo (at most one row): PNG, JPEG or SVG as checked by kit::centre::check_logo,
-- served from /centre/logo/{digest} (hex SHA-256 of bytes).
CREATE TABLE centre_logo (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    content_type TEXT NOT NULL,
    bytes        BYTEA NOT NULL,
    digest       TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
