-- Confidant schema, version 1, PostgreSQL dialect. Mirrors ../sqlite/0001_initial.sql: the same
-- tables, columns and meaning, so the application runs the same SQL on both. Conventions that
-- keep the two interchangeable: times are BIGINT milliseconds since the Unix epoch (UTC), flags
-- are INTEGER 0/1, ids are TEXT UUIDs, sealed data is BYTEA.
-- Never edit a migration once it has run; add a new one (to both dialects).

CREATE TABLE counsellors (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,                      -- stored lower-cased
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE auth_sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX auth_sessions_by_expiry ON auth_sessions(expires_at);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    title_sealed  BYTEA,
    link_hash     TEXT NOT NULL UNIQUE,
    link_sealed   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    ended_at      BIGINT,
    seq           BIGSERIAL NOT NULL                         -- insertion order (SQLite: rowid)
);
CREATE INDEX sessions_by_owner ON sessions(counsellor_id, created_at);

CREATE TABLE chat_messages (
    id      TEXT PRIMARY KEY NOT NULL,
    room    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sealed  BYTEA NOT NULL,
    sent_at TEXT NOT NULL,
    seq     BIGSERIAL NOT NULL                               -- insertion order (SQLite: rowid)
);
CREATE INDEX chat_messages_by_room ON chat_messages(room);
