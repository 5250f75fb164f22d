-- RFC 3161 time-stamps of seals (signature/FORMAT.md §10), when --signature-tsa-url is set.
-- One row per signed request, written in the sealing transaction as 'pending'; the time-stamp
-- job asks the TSA and stores the checked token ('stamped'), or gives up 24 hours after
-- sealing ('failed'). No personal data: the imprint is SHA-256 of the seal's signature.
CREATE TABLE signature_timestamps (
    request_id      TEXT PRIMARY KEY NOT NULL REFERENCES signature_requests(id) ON DELETE CASCADE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'stamped', 'failed')),
    imprint_sha256  TEXT NOT NULL,                           -- hex SHA-256 of the seal signature
    sealed_at       INTEGER NOT NULL,                          -- the bundle's sealed_at_ms
    token           BLOB,                                    -- DER TimeStampToken once stamped
    gen_time        INTEGER,                                   -- its genTime, Unix ms
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,                          -- Unix ms
    last_error      TEXT                                     -- fault code and detail, no PII
);
CREATE INDEX signature_timestamps_due ON signature_timestamps (state, next_attempt_at);
