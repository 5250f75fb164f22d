-- Per-counsellor settings (see ../sqlite/0002_counsellor_settings.sql).
ALTER TABLE counsellors ADD COLUMN allow_unencrypted_join INTEGER NOT NULL DEFAULT 0;
