//! Booking without passwords (issues 4–6), server side: the HTTP routes, storage, mails and
//! calendar jobs over the `confidant-booking` core.
//!
//! [`router`] and [`jobs`] are what the binary composes; they need a state from which a
//! [`BookingState`] and the kit's `Base` can be taken (axum `FromRef`). At start the binary
//! calls [`ensure_consent_texts`] and [`seal_urls_at_rest`].
//!
//! **What it must not depend on:** the binary crate (`confidant`) or another capability except
//! rooms (a video appointment opens its room through `confidant_signaling_server::sessions`);
//! only the booking core, the kit, the vault and rooms.
//!
//! - [`public`]: what clients use without an account (counsellor page data, free slots, the
//!   booking and contact forms, cancel and reschedule through signed links).
//! - [`manage`]: what counsellors use (profile, availability, appointment types, their bookings,
//!   confirm/decline/cancel, contact messages and replies).
//! - [`profile`]: the counsellor's profile on their page (text, languages, topics, photo).
//! - [`team`]: teams, their invitations and their shared booking pages.
//! - [`usecases`]: book, reschedule, confirm, decline, cancel, tell about a contact message:
//!   what the handlers (and jobs) call; the handler modules do not import each other.
//! - [`store`]: rows and the database-enforced no-double-booking rule.
//! - [`notify`]: which mails go out for which event, queued in the same transaction.
//! - [`mail_failures`]: bookings whose client mail bounced, resending, marking them reached.
//! - [`feed`]: the counsellor's subscribable calendar feed.
//! - [`sources`]: busy times from external calendars (iCalendar URLs), and its job.
//! - [`caldav`]: two-way CalDAV sync, and its job.
//! - [`address`]: which hosts calendar sync may reach.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod caldav;
pub mod feed;
pub mod mail_failures;
pub mod manage;
pub mod notify;
pub mod profile;
pub mod public;
pub mod sources;
pub mod store;
pub mod team;
pub mod usecases;

use std::sync::{Arc, Mutex};

use axum::extract::FromRef;
use confidant_kit::ratelimit::{RateLimitConfig, RateLimiter};
use confidant_kit::scheduler::Job;
use confidant_kit::tls::Trust;
use confidant_kit::Base;
use confidant_signaling_server::{RoomsState, LINK_PURPOSE};
use confidant_vault::PurposeKey;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use caldav::seal_urls_at_rest;

/// Vault purpose of sealed booking details (associated data: booking id).
pub const BOOKING_PURPOSE: &str = "booking";
/// Vault purpose of sealed contact messages (associated data: message id).
pub const CONTACT_PURPOSE: &str = "contact";
/// Vault purpose of the key that signs cancel/reschedule links.
pub const BOOKING_LINK_PURPOSE: &str = "booking-link";
/// Vault purpose (derived secret) of the keyed digests of CalDAV URLs.
pub const CALDAV_URL_PURPOSE: &str = "caldav-url-key";

/// What the booking capability is configured with.
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// Public base URL without trailing slash (links in mails, feeds, calendar entries).
    pub public_url: String,
    /// The centre's name in client mails.
    pub centre_name: String,
    /// Trust anchors of outgoing TLS (calendar sync).
    pub trust: Trust,
    /// Whether calendar sync may fetch from non-public addresses.
    pub calendar_fetch_private: bool,
    /// Whether CalDAV accounts may use `http://`.
    pub caldav_allow_http: bool,
    /// Minutes before an appointment the reminder goes out (0: none).
    pub reminder_minutes: u32,
    /// The title of the client's calendar entry (`None`: medium and centre, "Videotermin mit …").
    pub client_calendar_title: Option<String>,
    /// Submissions of public forms (booking, contact) per anonymised network.
    pub public_form_rate_limit: RateLimitConfig,
}

/// The vault keys booking seals and signs with.
pub struct BookingKeys {
    /// Feed tokens and calendar source URLs (the vault's `link` purpose, as before the split,
    /// so existing rows open).
    pub link: PurposeKey,
    /// Booking details ([`BOOKING_PURPOSE`]).
    pub booking: PurposeKey,
    /// Contact messages ([`CONTACT_PURPOSE`]).
    pub contact: PurposeKey,
    /// HMAC key of cancel/reschedule link tokens.
    pub booking_links: [u8; 32],
    /// HMAC key of the digests that stand in for CalDAV URLs at rest.
    pub caldav_urls: [u8; 32],
}

/// Everything the booking handlers and jobs share. Cheap to clone.
#[derive(Clone)]
pub struct BookingState {
    /// The database.
    pub db: confidant_kit::db::Db,
    /// Its dialect.
    pub dialect: confidant_kit::db::Dialect,
    /// The configuration.
    pub config: Arc<BookingConfig>,
    /// Sealing and signing keys.
    pub keys: Arc<BookingKeys>,
    /// Public form submissions per anonymised network.
    pub form_limiter: Arc<Mutex<RateLimiter>>,
    /// The outgoing-mail queue.
    pub mailer: confidant_kit::mail::Mailer,
    /// Rooms, for the video room of a booking.
    pub rooms: RoomsState,
    /// The audit log: counsellors' reads of clients' booking details and messages.
    pub audit: confidant_kit::audit::AuditLog,
}

impl BookingState {
    /// The state over `base`'s database, sealing with `base`'s vault, queueing mail on
    /// `mailer` and opening rooms through `rooms`.
    pub fn new(
        base: &Base,
        config: BookingConfig,
        mailer: confidant_kit::mail::Mailer,
        rooms: RoomsState,
    ) -> Self {
        let vault = &base.vault;
        Self {
            db: base.db.clone(),
            dialect: base.dialect,
            form_limiter: Arc::new(Mutex::new(RateLimiter::new(config.public_form_rate_limit))),
            config: Arc::new(config),
            keys: Arc::new(BookingKeys {
                link: vault.purpose_key(LINK_PURPOSE),
                booking: vault.purpose_key(BOOKING_PURPOSE),
                contact: vault.purpose_key(CONTACT_PURPOSE),
                booking_links: vault.derive_secret(BOOKING_LINK_PURPOSE),
                caldav_urls: vault.derive_secret(CALDAV_URL_PURPOSE),
            }),
            mailer,
            rooms,
            audit: confidant_kit::audit::AuditLog::new(base),
        }
    }
}

/// The booking routes, each with its OpenAPI description (the booking pages themselves are the
/// binary's, with the other pages).
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    BookingState: FromRef<S>,
    Base: FromRef<S>,
{
    OpenApiRouter::new()
        // public
        .routes(routes!(public::counsellors))
        .routes(routes!(public::page))
        .routes(routes!(public::slots))
        .routes(routes!(public::book))
        .routes(routes!(public::contact))
        .routes(routes!(public::lookup))
        .routes(routes!(public::cancel))
        .routes(routes!(public::reschedule))
        .routes(routes!(public::reschedule_slots))
        .routes(routes!(public::calendar_file))
        .routes(routes!(profile::photo))
        .routes(routes!(team::public_teams))
        .routes(routes!(team::page))
        .routes(routes!(team::slots))
        .routes(routes!(team::book))
        .routes(routes!(team::my_teams, team::create))
        .routes(routes!(team::invite))
        .routes(routes!(team::withdraw))
        .routes(routes!(team::my_invitations))
        .routes(routes!(team::accept))
        .routes(routes!(team::decline))
        .routes(routes!(team::create_type))
        // counsellor
        .routes(routes!(manage::get_profile, manage::put_profile))
        .routes(routes!(profile::get_about, profile::put_about))
        .routes(routes!(profile::put_photo, profile::delete_photo))
        .routes(routes!(manage::get_availability, manage::put_availability))
        .routes(routes!(manage::list_types, manage::create_type))
        .routes(routes!(manage::update_type))
        .routes(routes!(manage::list_bookings))
        .routes(routes!(manage::confirm))
        .routes(routes!(manage::decline))
        .routes(routes!(manage::cancel))
        .routes(routes!(mail_failures::resend))
        .routes(routes!(mail_failures::reached))
        .routes(routes!(mail_failures::own_failures))
        .routes(routes!(mail_failures::acknowledge))
        .routes(routes!(manage::list_messages))
        .routes(routes!(manage::reply))
        .routes(routes!(feed::get, feed::create, feed::revoke))
        .routes(routes!(feed::calendar))
        .routes(routes!(sources::list, sources::add))
        .routes(routes!(sources::sync_now))
        .routes(routes!(sources::remove))
        .routes(routes!(caldav::http::list, caldav::http::add))
        .routes(routes!(caldav::http::change, caldav::http::remove))
        .routes(routes!(caldav::http::sync_now))
        .routes(routes!(caldav::http::resolve))
}

/// The background jobs: busy times from calendar sources, and CalDAV sync.
pub fn jobs(state: &BookingState) -> Vec<Job> {
    vec![sources::job(state.clone()), caldav::job(state.clone())]
}

use chrono::{DateTime, Utc};

use confidant_kit::error::{AppError, FieldProblem};

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
    confidant_kit::db::sha256_hex(consent_text(lang))
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
    confidant_kit::db::sha256_hex(contact_consent_text(lang))
}

/// Records the current consent texts in the ledger (idempotent; at start, so every booking's
/// reference to the text it showed is satisfied).
pub async fn ensure_consent_texts(db: &confidant_kit::db::Db) -> Result<(), AppError> {
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
