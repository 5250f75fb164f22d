-- Chat honesty (signaling/PROTOCOL.md § chat_share_history): a guest sees a room's chat from
-- its admission on, and what was sent until the counsellor last shared the history with the
-- guests. That moment (RFC 3339 UTC with milliseconds, as chat_messages.sent_at, so the two
-- compare as text) is kept here so it outlives the hub's memory. NULL: never shared.
ALTER TABLE sessions ADD COLUMN chat_shared_until TEXT;
