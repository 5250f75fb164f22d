-- Walk-in conversations (issue 8): what each counsellor offers walk-ins. Presence, the queue
-- and everything clients type live in memory only and are never stored. Same table in the
-- other dialect's 0010_walkin.sql.
CREATE TABLE walkin_profiles (
    counsellor_id TEXT PRIMARY KEY NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    enabled       INTEGER NOT NULL DEFAULT 0,                -- 1: takes walk-ins
    topics        TEXT NOT NULL DEFAULT '[]',              -- JSON array of strings; empty: any
    languages     TEXT NOT NULL DEFAULT '[]',              -- JSON array of strings; empty: any
    hours         TEXT NOT NULL DEFAULT '[]',              -- JSON [{weekday, start_min, end_min}]
                                                           -- in the counsellor's zone; empty: any time
    updated_at    INTEGER NOT NULL
);
