-- Two-way CalDAV sync (issue 6). Same tables in the other dialect's 0009_caldav.sql.
--
-- An account is one CalDAV login of a counsellor. Server URL, user name and app password are
-- one sealed JSON document (vault purpose "link", associated data: the account id).
CREATE TABLE caldav_accounts (
    id                TEXT PRIMARY KEY NOT NULL,             -- UUID
    counsellor_id     TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    label             TEXT NOT NULL,
    host              TEXT NOT NULL,                         -- shown to recognise it
    secret_sealed     BLOB NOT NULL,
    home_url          TEXT NOT NULL,                         -- the discovered calendar home
    write_calendar_id TEXT,                                  -- where bookings are written (none: not written)
    client_details    INTEGER NOT NULL DEFAULT 0,            -- 1: written events carry the client's name and details
    created_at        INTEGER NOT NULL,
    next_sync_at      INTEGER NOT NULL,
    last_sync_at      INTEGER,
    last_ok_at        INTEGER,
    last_error        TEXT,                                  -- never a URL or a secret
    failures          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX caldav_accounts_by_owner ON caldav_accounts(counsellor_id);
CREATE INDEX caldav_accounts_due ON caldav_accounts(next_sync_at);

-- The calendars of an account's home, as last discovered. `blocks`: the counsellor's choice
-- whether its busy times block booking slots. `can_read` 0 with `free_busy` 1: read as
-- free/busy only.
CREATE TABLE caldav_calendars (
    id             TEXT PRIMARY KEY NOT NULL,
    account_id     TEXT NOT NULL REFERENCES caldav_accounts(id) ON DELETE CASCADE,
    url            TEXT NOT NULL,                            -- absolute
    name           TEXT NOT NULL,
    color          TEXT,
    can_read       INTEGER NOT NULL,
    can_write      INTEGER NOT NULL,
    sync_supported INTEGER NOT NULL,
    free_busy      INTEGER NOT NULL,
    blocks         INTEGER NOT NULL DEFAULT 1,
    sync_token     TEXT,
    ctag           TEXT,
    last_full_at   INTEGER,
    UNIQUE (account_id, url)
);

-- Members of a calendar as last read (href as the server writes it, etag), so an incremental
-- sync knows what changed.
CREATE TABLE caldav_items (
    calendar_id TEXT NOT NULL REFERENCES caldav_calendars(id) ON DELETE CASCADE,
    href        TEXT NOT NULL,
    etag        TEXT,
    PRIMARY KEY (calendar_id, href)
);

-- Busy times read from CalDAV calendars, per member (href; '' for a free-busy answer).
CREATE TABLE caldav_busy (
    calendar_id   TEXT NOT NULL REFERENCES caldav_calendars(id) ON DELETE CASCADE,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    href          TEXT NOT NULL,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL
);
CREATE INDEX caldav_busy_by_owner ON caldav_busy(counsellor_id, starts_at);
CREATE INDEX caldav_busy_by_item ON caldav_busy(calendar_id, href);

-- Bookings Confidant wrote into a calendar: where (absolute URL), with which etag, which
-- version of the booking (its updated_at) and which times. `external` records what the
-- counsellor's calendar did to it since: 'moved' (with the new times) or 'deleted'; such an
-- event is not written again until the counsellor decides (put back, or keep as it is).
CREATE TABLE caldav_events (
    id              TEXT PRIMARY KEY NOT NULL,
    booking_id      TEXT NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES caldav_accounts(id) ON DELETE CASCADE,
    calendar_url    TEXT NOT NULL,
    href            TEXT NOT NULL,                           -- absolute URL of the resource
    etag            TEXT,
    written_version INTEGER NOT NULL,                        -- bookings.updated_at when written; -1: rewrite
    written_start   INTEGER NOT NULL,
    written_end     INTEGER NOT NULL,
    external        TEXT CHECK (external IN ('moved', 'deleted')),
    external_start  INTEGER,
    external_end    INTEGER,
    detected_at     INTEGER,
    kept            INTEGER NOT NULL DEFAULT 0,              -- 1: the counsellor keeps the calendar's version
    last_error      TEXT,
    UNIQUE (booking_id, account_id)
);
CREATE INDEX caldav_events_by_account ON caldav_events(account_id);
