-- Calendar feeds (issue 6): one secret, revocable ICS feed URL per counsellor. The token is
-- looked up by its SHA-256 and kept sealed (vault purpose "link", associated data: the
-- counsellor id) so the dashboard can show the URL again. Same table in
-- ../postgres/0005_calendar_feed.sql.
CREATE TABLE calendar_feeds (
    counsellor_id   TEXT PRIMARY KEY NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL UNIQUE,
    token_sealed    BLOB NOT NULL,
    client_details  INTEGER NOT NULL DEFAULT 0,   -- 1: client names and contacts in the events
    created_at      INTEGER NOT NULL,
    last_fetched_at INTEGER
);
