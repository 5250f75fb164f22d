-- External calendars as busy sources (issue 6). The URL is sealed (vault purpose "link",
-- associated data: the source id): feed URLs are often secrets. busy_intervals holds what the
-- last good sync read; a failed sync leaves it as it was. Same tables in the other dialect's
-- 0006_busy_sources.sql.
CREATE TABLE busy_sources (
    id            TEXT PRIMARY KEY NOT NULL,                 -- UUID
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    url_sealed    BYTEA NOT NULL,
    label         TEXT NOT NULL,
    host          TEXT NOT NULL,                             -- shown to recognise it
    created_at    BIGINT NOT NULL,
    next_sync_at  BIGINT NOT NULL,
    last_sync_at  BIGINT,
    last_ok_at    BIGINT,
    last_error    TEXT,
    failures      BIGINT NOT NULL DEFAULT 0,
    skipped       TEXT NOT NULL DEFAULT '[]'                 -- JSON: events the last sync could not read
);
CREATE INDEX busy_sources_by_owner ON busy_sources(counsellor_id);
CREATE INDEX busy_sources_due ON busy_sources(next_sync_at);

CREATE TABLE busy_intervals (
    source_id     TEXT NOT NULL REFERENCES busy_sources(id) ON DELETE CASCADE,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    starts_at     BIGINT NOT NULL,
    ends_at       BIGINT NOT NULL
);
CREATE INDEX busy_intervals_by_owner ON busy_intervals(counsellor_id, starts_at);
CREATE INDEX busy_intervals_by_source ON busy_intervals(source_id);
