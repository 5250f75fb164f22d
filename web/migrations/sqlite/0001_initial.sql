-- Confidant schema, version 1. Never edit a migration once it has run; add a new one.
-- Times are INTEGER milliseconds since the Unix epoch (UTC) unless named otherwise.

-- Counsellors: the only accounts. Clients never have one.
CREATE TABLE counsellors (
    id            TEXT PRIMARY KEY NOT NULL,                 -- UUID
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,       -- login, stored lower-cased
    name          TEXT NOT NULL,                             -- display name in calls
    password_hash TEXT NOT NULL,                             -- argon2id PHC string
    created_at    INTEGER NOT NULL
);

-- Login sessions of counsellors. Only the SHA-256 of the cookie token is stored.
CREATE TABLE auth_sessions (
    token_hash    TEXT PRIMARY KEY NOT NULL,                 -- hex SHA-256 of the cookie value
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX auth_sessions_by_expiry ON auth_sessions(expires_at);

-- Counselling sessions (rooms). The join-link token is kept as its SHA-256 (for lookup) and
-- sealed with the vault purpose key "link" (associated data: the session id) so the dashboard
-- can show the link again. The optional title may name a client, so it is sealed too
-- (purpose "title", associated data: the session id).
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,                 -- UUID, also the signalling room id
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    title_sealed  BLOB,
    link_hash     TEXT NOT NULL UNIQUE,                      -- hex SHA-256 of the link token
    link_sealed   BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    ended_at      INTEGER
);
CREATE INDEX sessions_by_owner ON sessions(counsellor_id, created_at);

-- Chat, sealed by signalling (purpose "chat", associated data "room/id").
CREATE TABLE chat_messages (
    id      TEXT PRIMARY KEY NOT NULL,                       -- UUID
    room    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sealed  BLOB NOT NULL,
    sent_at TEXT NOT NULL                                    -- RFC 3339, as signalling gives it
);
CREATE INDEX chat_messages_by_room ON chat_messages(room);
