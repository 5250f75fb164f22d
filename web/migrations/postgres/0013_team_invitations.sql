-- Team membership only by invitation (issue 25): a member invites a login e-mail address; the
-- counsellor with that address sees the invitation on their dashboard and accepts or declines
-- it. The answer to the inviter is the same whether or not an account has the address (no
-- account probing); an invitation for an address without an account simply waits until it
-- expires or is withdrawn. Same table in the other dialect's 0013_team_invitations.sql.
CREATE TABLE team_invitations (
    id         TEXT PRIMARY KEY NOT NULL,                    -- UUID
    team_id    TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,                                -- normalised login e-mail invited
    invited_by TEXT REFERENCES counsellors(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (team_id, email)
);
CREATE INDEX team_invitations_by_email ON team_invitations(email);
