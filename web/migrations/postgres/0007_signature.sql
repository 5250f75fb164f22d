-- Signatures with stroke dynamics (issue 7), PostgreSQL dialect: the same tables as
-- ../sqlite/0007_signature.sql (form templates, signing requests sent by link, the hash-chained
-- audit trail of each signing ceremony, and the archive signed evidence moves to).
--
-- What is personal is sealed with the vault (purpose "signature", associated data
-- "<request id>/<what>"): the filled-in form values, the sealed evidence bundle (signer name,
-- capture context, the biometric envelope, itself encrypted to the escrow key), the signature
-- image and the dynamics summary. Templates and the frozen documents are the counsellor's text.

-- A counsellor's form templates: a title, a Markdown body and the fields the signer fills in.
CREATE TABLE signature_templates (
    id            TEXT PRIMARY KEY NOT NULL,                 -- UUID
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    fields_json   TEXT NOT NULL,                             -- [{"name","label","type","required"}]
    created_at    BIGINT NOT NULL
);
CREATE INDEX signature_templates_by_owner ON signature_templates(counsellor_id, created_at);

-- A template sent to a client by link (/sign/{token}). The document bytes are frozen at send
-- time; their SHA-256 is what the signature is bound to. The link token is stored as its hash
-- (for lookup) and sealed (so the counsellor can show the link again). Once signed, the sealed
-- evidence lives here until the retention job moves it to signature_archive (status 'archived';
-- the evidence columns, the document included, are then NULL here).
CREATE TABLE signature_requests (
    id              TEXT PRIMARY KEY NOT NULL,               -- UUID, also the audit chain's context
    counsellor_id   TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    template_id     TEXT REFERENCES signature_templates(id) ON DELETE SET NULL,
    title           TEXT NOT NULL,
    fields_json     TEXT NOT NULL,                           -- the template's fields, frozen
    document        BYTEA,                                    -- exact bytes shown; NULL once archived
    document_sha256 TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,                    -- hex SHA-256 of the link token
    token_sealed    BYTEA NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'signed', 'archived')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    signed_at       BIGINT,
    archived_at     BIGINT,
    key_id          TEXT,                                    -- sealing key of the bundle
    bundle_sha256   TEXT,
    form_sealed     BYTEA,                                    -- canonical form data JSON
    bundle_sealed   BYTEA,                                    -- sealed bundle JSON
    image_sealed    BYTEA,                                    -- SVG
    dynamics_sealed BYTEA                                     -- dynamics summary JSON
);
CREATE INDEX signature_requests_by_owner ON signature_requests(counsellor_id, created_at);
CREATE INDEX signature_requests_due ON signature_requests(status, signed_at);

-- The ceremony's audit trail: one row per event, hash-chained (confidant-signature's
-- audit module). The primary key makes a concurrent append of the same position fail instead of
-- forking the chain. Kept for live and archived requests alike; the archive job appends
-- 'archived'.
CREATE TABLE signature_audit (
    request_id TEXT NOT NULL REFERENCES signature_requests(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- Signed evidence after the live period (--signature-live-days): the same sealed values and the
-- frozen document, verifiable as before.
CREATE TABLE signature_archive (
    request_id      TEXT PRIMARY KEY NOT NULL REFERENCES signature_requests(id) ON DELETE CASCADE,
    counsellor_id   TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    document        BYTEA NOT NULL,
    form_sealed     BYTEA NOT NULL,
    bundle_sealed   BYTEA NOT NULL,
    image_sealed    BYTEA NOT NULL,
    dynamics_sealed BYTEA NOT NULL,
    signed_at       BIGINT NOT NULL,
    archived_at     BIGINT NOT NULL
);
