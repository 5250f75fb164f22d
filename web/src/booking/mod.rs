//! Booking without passwords: the HTTP routes over the booking core.
//!
//! - [`public`]: what clients use without an account (counsellor page data, free slots, the
//!   booking and contact forms, cancel and reschedule through signed links).
//! - [`manage`]: what counsellors use (profile, availability, appointment types, their bookings,
//!   confirm/decline/cancel, contact messages and replies).
//! - [`usecases`]: book, reschedule, confirm, decline, cancel, tell about a contact message:
//!   what the handlers (and jobs) call; the handler modules do not import each other.
//! - [`store`]: rows and the database-enforced no-double-booking rule.
//! - [`notify`]: which mails go out for which event, queued in the same transaction.

pub mod address;
pub mod caldav;
pub mod feed;
pub mod mail_failures;
pub mod manage;
pub mod notify;
pub mod public;
pub mod sources;
pub mod store;
pub mod team;
pub mod usecases;

use chrono::{DateTime, Utc};

use crate::error::{AppError, FieldProblem};

/// Version of the consent text shown on the public forms. Raise it whenever the text changes;
/// bookings keep the hash of the exact text shown.
pub const CONSENT_VERSION: &str = "2026-11-22";

/// The consent text of the public forms, by language.
pub fn consent_text(lang: &str) -> &'static str {
    if lang == "en" {
        "I agree that my details (name, e-mail address and, where given, phone number, address \
         and message) are stored encrypted to arrange and hold this appointment, and used to send \
         me the confirmation, a reminder and changes. They are deleted according to the centre's \
         retention rules. I can withdraw this consent at any time by cancelling the appointment."
    } else {
        "Ich bin einverstanden, dass meine Angaben (Name, E-Mail-Adresse und, falls angegeben, \
         Telefonnummer, Adresse und Nachricht) verschlüsselt gespeichert werden, um diesen Termin \
         zu vereinbaren und durchzuführen, und dass mir Bestätigung, Erinnerung und Änderungen \
         per E-Mail geschickt werden. Sie werden nach den Aufbewahrungsregeln der Beratungsstelle \
         gelöscht. Ich kann die Einwilligung jederzeit widerrufen, indem ich den Termin absage."
    }
}

/// Hex SHA-256 of a consent text: what a booking records as "the text shown".
pub fn consent_sha256(lang: &str) -> String {
    crate::db::sha256_hex(consent_text(lang))
}

/// The consent text of the contact form, by language: a message without an appointment, so
/// nothing about "this appointment", reminders or cancelling (which the booking text says).
pub fn contact_consent_text(lang: &str) -> &'static str {
    if lang == "en" {
        "I agree that my details (name, e-mail address and message) are stored encrypted so that \
         the counsellor can read my message and answer it by e-mail. They are deleted according \
         to the centre's retention rules. I can withdraw this consent at any time by writing to \
         the centre."
    } else {
        "Ich bin einverstanden, dass meine Angaben (Name, E-Mail-Adresse und Nachricht) \
         verschlüsselt gespeichert werden, damit meine Nachricht gelesen und per E-Mail \
         beantwortet werden kann. Sie werden nach den Aufbewahrungsregeln der Beratungsstelle \
         gelöscht. Ich kann die Einwilligung jederzeit widerrufen, indem ich der Beratungsstelle \
         schreibe."
    }
}

/// Hex SHA-256 of the contact form's consent text.
pub fn contact_consent_sha256(lang: &str) -> String {
    crate::db::sha256_hex(contact_consent_text(lang))
}

/// Records the current consent texts in the ledger (idempotent; at start, so every booking's
/// reference to the text it showed is satisfied).
pub async fn ensure_consent_texts(db: &crate::db::Db) -> Result<(), AppError> {
    let mut conn = db.acquire().await?;
    for lang in ["de", "en"] {
        store::record_consent(
            &mut conn,
            CONSENT_VERSION,
            lang,
            consent_text(lang),
            &consent_sha256(lang),
        )
        .await?;
        store::record_consent(
            &mut conn,
            CONSENT_VERSION,
            lang,
            contact_consent_text(lang),
            &contact_consent_sha256(lang),
        )
        .await?;
    }
    Ok(())
}

/// `de` or `en`.
pub fn lang_of(s: Option<&str>) -> &'static str {
    match s {
        Some(l) if l.eq_ignore_ascii_case("en") => "en",
        _ => "de",
    }
}

/// The core's field errors as the HTTP error.
pub fn field_errors(errors: Vec<confidant_booking::form::FieldError>) -> AppError {
    AppError::Fields(
        errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field.to_owned(),
                code: e.code.to_owned(),
                message: e.message,
            })
            .collect(),
    )
}

/// The core's validation error as the HTTP error.
pub fn core_error(e: confidant_booking::Error) -> AppError {
    match e {
        confidant_booking::Error::Invalid { field, message } => AppError::invalid(&field, message),
        confidant_booking::Error::Form(errors) => field_errors(errors),
        confidant_booking::Error::Token(_) => {
            AppError::invalid("token", "the link is invalid, expired or replaced")
        }
        other => AppError::invalid("body", other.to_string()),
    }
}

/// Parses an RFC 3339 time from a request field.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            AppError::invalid(field, "must be an RFC 3339 time, e.g. 2026-12-07T09:00:00Z")
        })
}

/// Milliseconds as a time.
pub fn time_ms(ms: i64) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
