-- The one audit log of the server (kit/src/audit.rs, docs/AUDIT.md): append-only and
-- hash-chained. Each entry's `hash` is hex SHA-256 over its canonical encoding and the previous
-- entry's hash (`prev_hash`); `mac` is hex HMAC-SHA-256 of `hash` under a key derived from the
-- vault, so that write access to the database alone cannot re-chain forged entries. Entries
-- hold ids only: no names, e-mail addresses or full IP addresses (`ip_network` is the /24 or
-- /48 network). at_ms: milliseconds since the epoch.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    object_kind TEXT,
    object_id   TEXT,
    ip_network  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    mac         TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);

-- The chain's head (one row): the last entry, and the checkpoint the remaining chain starts
-- from (base_seq: the first entry kept; base_hash: the hash before it — the genesis hash, or
-- the hash of the last entry removed by retention). Appends lock this row, so that two at
-- once cannot fork the chain. mac: HMAC over all four values ('' until the first append).
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    base_seq  BIGINT NOT NULL,
    base_hash TEXT NOT NULL,
    mac       TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash, base_seq, base_hash, mac)
VALUES (1, 0, 'c01a4bb290d80f1f9324a8a6d96e8a6fbf1cbb518a811b6df2dede4cbb6bc127', 1,
        'c01a4bb290d80f1f9324a8a6d96e8a6fbf1cbb518a811b6df2dede4cbb6bc127', '');
