-- Signature accessibility and the counsellor's view of pending requests (issue 18). Same
-- columns in ../postgres/0019_signature_typed_name_recipient.sql.
--
-- allow_typed_name: the request's owner allowed a typed name with a declaration instead of a
--   handwritten signature (1) or not (0, the default and what every older request is). The
--   permission is also sealed into a typed-name evidence bundle (signature/FORMAT.md §6.4).
-- recipient_sealed: whom the counsellor sent the link to, as entered ({"name", "email"} JSON),
--   sealed with the vault (purpose "signature", associated data "<request id>/recipient") like
--   the other personal values of a request; NULL when none was entered.
-- opened_at: when the signer first opened the link (the first document_shown), Unix ms; the
--   list shows a pending request as "opened" from then on.
ALTER TABLE signature_requests ADD COLUMN allow_typed_name INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signature_requests ADD COLUMN recipient_sealed BLOB;
ALTER TABLE signature_requests ADD COLUMN opened_at INTEGER;
