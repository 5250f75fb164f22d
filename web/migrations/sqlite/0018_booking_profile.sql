-- What clients see before and after booking (issue 18): a counsellor's profile on their booking
-- page, a description of each appointment type, and what to prepare for it.

-- The counsellor's booking profile: a short text, languages and topics (JSON arrays of short
-- strings), and an optional photo. The photo's bytes were sniffed on upload (PNG, JPEG or WebP,
-- at most 1 MiB; never SVG) and are served under their SHA-256 (photo_sha256, hex), so the
-- URL changes with the photo and can be cached for good.
CREATE TABLE booking_profiles (
    counsellor_id TEXT PRIMARY KEY NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    about         TEXT NOT NULL DEFAULT '',
    languages     TEXT NOT NULL DEFAULT '[]',
    topics        TEXT NOT NULL DEFAULT '[]',
    photo         BLOB,
    photo_type    TEXT,
    photo_sha256  TEXT,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX booking_profiles_by_photo ON booking_profiles(photo_sha256);

-- Shown to clients with the type (NULL: none).
ALTER TABLE appointment_types ADD COLUMN description TEXT;
-- "What to prepare" on the confirmation page and in the mail (NULL: the default of the medium).
ALTER TABLE appointment_types ADD COLUMN preparation TEXT;
