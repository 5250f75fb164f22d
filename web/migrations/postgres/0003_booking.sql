-- Booking without passwords (issue 5), PostgreSQL dialect: the same tables as
-- ../sqlite/0003_booking.sql. No double booking is an exclusion constraint over the buffered
-- interval of active bookings (btree_gist, a trusted extension since PostgreSQL 13).
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A counsellor's public booking page is /book/{slug}; times are shown and availability is
-- defined in their IANA time zone; mails to them use their language.
ALTER TABLE counsellors ADD COLUMN slug TEXT;
ALTER TABLE counsellors ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Berlin';
ALTER TABLE counsellors ADD COLUMN lang TEXT NOT NULL DEFAULT 'de';
CREATE UNIQUE INDEX counsellors_by_slug ON counsellors(slug);

-- What can be booked: video, phone or on-site, with duration, buffers and booking limits.
CREATE TABLE appointment_types (
    id                    TEXT PRIMARY KEY NOT NULL,         -- UUID
    counsellor_id         TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('video', 'phone', 'on_site')),
    duration_min          BIGINT NOT NULL,
    buffer_before_min     BIGINT NOT NULL DEFAULT 0,
    buffer_after_min      BIGINT NOT NULL DEFAULT 0,
    min_notice_min        BIGINT NOT NULL DEFAULT 0,
    window_days           BIGINT NOT NULL DEFAULT 60,
    slot_step_min         BIGINT NOT NULL DEFAULT 0,        -- 0: the duration
    requires_confirmation BIGINT NOT NULL DEFAULT 0,
    location              TEXT,                              -- on-site: the address shown
    active                BIGINT NOT NULL DEFAULT 1,
    created_at            BIGINT NOT NULL
);
CREATE INDEX appointment_types_by_owner ON appointment_types(counsellor_id);

-- Weekly availability in the counsellor's time zone: minutes after local midnight.
CREATE TABLE availability_rules (
    id            TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    weekday       BIGINT NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    start_min     BIGINT NOT NULL CHECK (start_min BETWEEN 0 AND 1440),
    end_min       BIGINT NOT NULL CHECK (end_min BETWEEN 0 AND 1440)
);
CREATE INDEX availability_rules_by_owner ON availability_rules(counsellor_id);

-- Date overrides: the day's intervals replace the weekly ones; a row without times is a day
-- off (holiday).
CREATE TABLE availability_overrides (
    id            TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,                             -- YYYY-MM-DD, local
    start_min     BIGINT,
    end_min       BIGINT
);
CREATE INDEX availability_overrides_by_owner ON availability_overrides(counsellor_id, day);

-- Consent texts shown on public forms, kept forever so the ledger can show what was agreed.
CREATE TABLE consent_texts (
    sha256     TEXT PRIMARY KEY NOT NULL,                    -- hex SHA-256 of the text
    version    TEXT NOT NULL,
    lang       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Bookings. The client's details (names, e-mail, phone, address, message) are one sealed JSON
-- document (vault purpose "booking", associated data: the booking id). `blocked_from` and
-- `blocked_until` are the appointment widened by its buffers: two active bookings of one
-- counsellor may never overlap there. The exclusion constraint below enforces it.
CREATE TABLE bookings (
    id                 TEXT PRIMARY KEY NOT NULL,            -- UUID
    counsellor_id      TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    type_id            TEXT NOT NULL REFERENCES appointment_types(id),
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'declined')),
    active             BIGINT NOT NULL,                     -- 1 while pending or confirmed
    starts_at          BIGINT NOT NULL,
    ends_at            BIGINT NOT NULL,
    blocked_from       BIGINT NOT NULL,
    blocked_until      BIGINT NOT NULL,
    client_sealed      BYTEA NOT NULL,
    lang               TEXT NOT NULL,
    consent_sha256     TEXT NOT NULL REFERENCES consent_texts(sha256),
    consent_at         BIGINT NOT NULL,
    session_id         TEXT REFERENCES sessions(id) ON DELETE SET NULL,   -- video: the room
    ics_sequence       BIGINT NOT NULL DEFAULT 0,
    cancel_reason_sealed BYTEA,
    cancelled_by       TEXT,                                 -- 'client' or 'counsellor'
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CHECK (blocked_from < blocked_until AND starts_at < ends_at)
);
CREATE INDEX bookings_by_owner ON bookings(counsellor_id, blocked_from);

ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
    counsellor_id WITH =,
    int8range(blocked_from, blocked_until) WITH &&
) WHERE (active = 1);

-- Messages through the plain contact form, sealed (purpose "contact", associated data: id).
CREATE TABLE contact_messages (
    id             TEXT PRIMARY KEY NOT NULL,
    counsellor_id  TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    sealed         BYTEA NOT NULL,                            -- JSON {name, email, message}
    lang           TEXT NOT NULL,
    consent_sha256 TEXT NOT NULL REFERENCES consent_texts(sha256),
    consent_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    answered_at    BIGINT
);
CREATE INDEX contact_messages_by_owner ON contact_messages(counsellor_id, created_at);

-- Outgoing mail, queued so an SMTP outage loses nothing. The whole message (RFC 5322 bytes)
-- and its recipient are sealed (purpose "mail", associated data: id). A worker claims due
-- mails (lease), sends, and marks them sent; failures back off exponentially.
CREATE TABLE mail_outbox (
    id            TEXT PRIMARY KEY NOT NULL,
    booking_id    TEXT REFERENCES bookings(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,                             -- confirmation, reminder, …
    sealed        BYTEA NOT NULL,
    due_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    leased_until  BIGINT,
    sent_at       BIGINT,
    last_error    TEXT,                                      -- no addresses, only SMTP codes
    created_at    BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, due_at);
