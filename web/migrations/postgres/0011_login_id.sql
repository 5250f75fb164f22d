-- Host join tokens are bound to the login session they were issued under (issue 25), so that
-- logging out ends them. The token names the login session by this random id, never by the
-- cookie or its hash. Rows from before this migration get an id here. Same change in the
-- other dialect's 0011_login_id.sql.
ALTER TABLE auth_sessions ADD COLUMN login_id TEXT;
UPDATE auth_sessions SET login_id = md5(random()::text || token_hash) WHERE login_id IS NULL;
CREATE UNIQUE INDEX auth_sessions_by_login_id ON auth_sessions(login_id);
