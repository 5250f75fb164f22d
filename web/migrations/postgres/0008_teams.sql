-- Teams (issue 5): counsellors who share appointment types. A team type is booked with any
-- member who is free at that time; the booking belongs to that member (so the no-overlap rule
-- per counsellor keeps holding). A type with team_id belongs to the team; counsellor_id is the
-- member who created it. Same tables in the other dialect's 0008_teams.sql.
CREATE TABLE teams (
    id         TEXT PRIMARY KEY NOT NULL,                    -- UUID
    slug       TEXT NOT NULL UNIQUE,                         -- /book/team/{slug}
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id       TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    counsellor_id TEXT NOT NULL REFERENCES counsellors(id) ON DELETE CASCADE,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (team_id, counsellor_id)
);
CREATE INDEX team_members_by_counsellor ON team_members(counsellor_id);

ALTER TABLE appointment_types ADD COLUMN team_id TEXT REFERENCES teams(id) ON DELETE CASCADE;
