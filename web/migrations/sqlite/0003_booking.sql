-- Booking without passwords (issue 5): appointment types, availability, bookings with a consent
-- ledger, contact messages, and the mail outbox. Same tables in ../postgres/0003_booking.sql.

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
    duration_min          INTEGER NOT NULL,
    buffer_before_min     INTEGER NOT NULL DEFAULT 0,
    buffer_after_min      INTEGER NOT NULL DEFAULT 0,
    min_notice_min        INTEGER NOT NULL DEFAULT 0,
    window_days           INTEGER NOT NULL DEFAULT 60,
    slot_step_min         INTEGER NOT NULL DEFAULT 0,        -- 0: the duration
    requires_confirmation INTEGER NOT NULL DEFAULT 0,
    location              TEXT,                              -- on-site: the address shown
    active                INTEGER NOT NULL DEFAULT 1,
    created_at            INTEGER NOT NULL
);
CREATE INDEX appointment_types_by_owner ON appointment_types(counsellor_id);

-- Weekly availability in the counsellor's time zone: minutes after local midnight.
CREATE TABLE availability_rules (
    id            TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    weekday       INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),   -- 0 = Monday
    start_min     INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1440),
    end_min       INTEGER NOT NULL CHECK (end_min BETWEEN 0 AND 1440)
);
CREATE INDEX availability_rules_by_owner ON availability_rules(counsellor_id);

-- Date overrides: the day's intervals replace the weekly ones; a row without times is a day
-- off (holiday).
CREATE TABLE availability_overrides (
    id            TEXT PRIMARY KEY NOT NULL,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    day           TEXT NOT NULL,                             -- YYYY-MM-DD, local
    start_min     INTEGER,
    end_min       INTEGER
);
CREATE INDEX availability_overrides_by_owner ON availability_overrides(counsellor_id, day);

-- Consent texts shown on public forms, kept forever so the ledger can show what was agreed.
CREATE TABLE consent_texts (
    sha256     TEXT PRIMARY KEY NOT NULL,                    -- hex SHA-256 of the text
    version    TEXT NOT NULL,
    lang       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Bookings. The client's details (names, e-mail, phone, address, message) are one sealed JSON
-- document (vault purpose "booking", associated data: the booking id). `blocked_from` and
-- `blocked_until` are the appointment widened by its buffers: two active bookings of one
-- counsellor may never overlap there. The trigger below enforces it inside SQLite's single
-- writer, so concurrent requests cannot both pass (PostgreSQL: an exclusion constraint).
CREATE TABLE bookings (
    id                 TEXT PRIMARY KEY NOT NULL,            -- UUID
    counsellor_id      TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    type_id            TEXT NOT NULL REFERENCES appointment_types(id),
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'declined')),
    active             INTEGER NOT NULL,                     -- 1 while pending or confirmed
    starts_at          INTEGER NOT NULL,
    ends_at            INTEGER NOT NULL,
    blocked_from       INTEGER NOT NULL,
    blocked_until      INTEGER NOT NULL,
    client_sealed      BLOB NOT NULL,
    lang               TEXT NOT NULL,
    consent_sha256     TEXT NOT NULL REFERENCES consent_texts(sha256),
    consent_at         INTEGER NOT NULL,
    session_id         TEXT REFERENCES sessions(id) ON DELETE SET NULL,   -- video: the room
    ics_sequence       INTEGER NOT NULL DEFAULT 0,
    cancel_reason_sealed BLOB,
    cancelled_by       TEXT,                                 -- 'client' or 'counsellor'
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CHECK (blocked_from < blocked_until AND starts_at < ends_at)
);
CREATE INDEX bookings_by_owner ON bookings(counsellor_id, blocked_from);

CREATE TRIGGER bookings_no_overlap_insert BEFORE INSERT ON bookings
WHEN NEW.active = 1 AND EXISTS (
    SELECT 1 FROM bookings b
    WHERE b.counsellor_id = NEW.counsellor_id AND b.active = 1
      AND b.blocked_from < NEW.blocked_until AND NEW.blocked_from < b.blocked_until)
BEGIN
    SELECT RAISE(ABORT, 'booking_overlap');
END;

CREATE TRIGGER bookings_no_overlap_update BEFORE UPDATE OF active, blocked_from, blocked_until ON bookings
WHEN NEW.active = 1 AND EXISTS (
    SELECT 1 FROM bookings b
    WHERE b.id <> NEW.id AND b.counsellor_id = NEW.counsellor_id AND b.active = 1
      AND b.blocked_from < NEW.blocked_until AND NEW.blocked_from < b.blocked_until)
BEGIN
    SELECT RAISE(ABORT, 'booking_overlap');
END;

-- Messages through the plain contact form, sealed (purpose "contact", associated data: id).
CREATE TABLE contact_messages (
    id             TEXT PRIMARY KEY NOT NULL,
    counsellor_id  TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    sealed         BLOB NOT NULL,                            -- JSON {name, email, message}
    lang           TEXT NOT NULL,
    consent_sha256 TEXT NOT NULL REFERENCES consent_texts(sha256),
    consent_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    answered_at    INTEGER
);
CREATE INDEX contact_messages_by_owner ON contact_messages(counsellor_id, created_at);

-- Outgoing mail, queued so an SMTP outage loses nothing. The whole message (RFC 5322 bytes)
-- and its recipient are sealed (purpose "mail", associated data: id). A worker claims due
-- mails (lease), sends, and marks them sent; failures back off exponentially.
CREATE TABLE mail_outbox (
    id            TEXT PRIMARY KEY NOT NULL,
    booking_id    TEXT REFERENCES bookings(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,                             -- confirmation, reminder, …
    sealed        BLOB NOT NULL,
    due_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    leased_until  INTEGER,
    sent_at       INTEGER,
    last_error    TEXT,                                      -- no addresses, only SMTP codes
    created_at    INTEGER NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, due_at);
