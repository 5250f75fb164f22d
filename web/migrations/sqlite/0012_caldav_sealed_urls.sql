-- CalDAV addresses sealed at rest (issue 25). Same columns in the other dialect's
-- 0012_caldav_sealed_urls.sql.
--
-- The discovered URLs usually contain the account's user name, so none stays in clear. Each is
-- sealed to its row (vault purpose "link"); where the code only looks a URL up, a keyed digest
-- (HMAC-SHA256 under a key derived from the DEK, hex) stands in for it:
-- - caldav_accounts.home_sealed: the calendar home (associated data "{id}/home"); home_url is ''.
-- - caldav_calendars.url_sealed: the calendar's URL (associated data: its id); url holds the
--   digest (for UNIQUE (account_id, url)).
-- - caldav_events.href_sealed: the written resource's URL (associated data: its id); href is '',
--   calendar_url holds the calendar URL's digest.
-- - caldav_items.href and caldav_busy.href hold the member href's digest ('' for a free-busy
--   answer).
-- Rows written before this migration are converted by the server on start (it holds the key,
-- SQL does not): booking::caldav::seal_urls_at_rest, one transaction per account, done when the
-- account's home_sealed is set.
ALTER TABLE caldav_accounts ADD COLUMN home_sealed BLOB;
ALTER TABLE caldav_calendars ADD COLUMN url_sealed BLOB;
ALTER TABLE caldav_events ADD COLUMN href_sealed BLOB;
