-- Mail delivery that counsellors can see (issue 28). A queued mail is in one of three states:
-- `queued` (waiting or being retried), `sent`, or `failed` (a permanent SMTP rejection, or
-- temporary failures for longer than --mail-retry-hours). A failed mail stays visible on its
-- booking (or, for notifications to a counsellor, in their workspace) until someone resolves
-- it: resent to a corrected address, or the client was reached another way. Who resolved it
-- and when is recorded on the row (the audit of that action); no addresses, only SMTP codes.
ALTER TABLE mail_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'queued';
ALTER TABLE mail_outbox ADD COLUMN last_failure TEXT;      -- connection, timeout, transient, permanent
ALTER TABLE mail_outbox ADD COLUMN first_failed_at BIGINT;
ALTER TABLE mail_outbox ADD COLUMN failed_at BIGINT;
ALTER TABLE mail_outbox ADD COLUMN counsellor_id TEXT;     -- the recipient, when a counsellor
ALTER TABLE mail_outbox ADD COLUMN resolved_at BIGINT;
ALTER TABLE mail_outbox ADD COLUMN resolution TEXT;        -- resent, reached_otherwise, acknowledged
ALTER TABLE mail_outbox ADD COLUMN resolved_by TEXT;       -- the counsellor's id
UPDATE mail_outbox SET state = 'sent' WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_state_due ON mail_outbox(state, due_at);
CREATE INDEX mail_outbox_booking ON mail_outbox(booking_id);
