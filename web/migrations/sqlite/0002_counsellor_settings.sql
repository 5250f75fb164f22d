-- Per-counsellor settings. Whether clients whose browser cannot encrypt media end to end may
-- still join this counsellor's sessions (unencrypted, shown as such to everyone). Off by default.
ALTER TABLE counsellors ADD COLUMN allow_unencrypted_join INTEGER NOT NULL DEFAULT 0;
