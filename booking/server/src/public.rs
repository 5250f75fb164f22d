//! The public side: no account, no password. Forms are rate limited per anonymised network and
//! carry a honeypot field; links in mails carry signed, expiring, single-purpose tokens.

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use confidant_booking::form::{validate_contact, ContactForm};
use confidant_booking::slots::free_slots;
use confidant_booking::token::{self, Purpose, TokenError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::store::{self, Host};
use super::usecases::{self, book_with, public_view, BookingRequest, PublicBooking};
use super::{
    consent_sha256, consent_text, contact_consent_sha256, contact_consent_text, field_errors,
    lang_of, parse_time, CONSENT_VERSION,
};
use crate::BookingState;
use confidant_kit::db::now_ms;
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::{ClientIp, Json};
use confidant_kit::ratelimit::Network;

/// Longest range of one slots query.
const MAX_SLOT_RANGE_DAYS: i64 = 62;

/// Refuses a public form submission when the network used up its budget.
pub(crate) fn rate_limit(state: &BookingState, ip: std::net::IpAddr) -> Result<(), AppError> {
    let limited = state
        .form_limiter
        .lock()
        .map_err(|_| AppError::Internal("form limiter poisoned".into()))?
        .check(ip, Instant::now());
    if let Err(wait) = limited {
        tracing::warn!(network = %Network::of(ip), "public form rate limited");
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil() as u64,
        });
    }
    Ok(())
}

/// A counsellor on the centre's booking page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicCounsellor {
    /// Page slug: `/book/{slug}`.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// Counsellors who take bookings (the centre's page).
#[utoipa::path(get, path = "/api/public/counsellors", tag = "booking",
    responses((status = 200, description = "Counsellors with a booking page, by name", body = Vec<PublicCounsellor>)))]
pub async fn counsellors(
    State(state): State<BookingState>,
) -> Result<axum::Json<Vec<PublicCounsellor>>, AppError> {
    Ok(axum::Json(
        store::public_hosts(&state.db)
            .await?
            .into_iter()
            .filter_map(|h| {
                Some(PublicCounsellor {
                    slug: h.slug?,
                    name: h.name,
                })
            })
            .collect(),
    ))
}

/// An appointment type as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicType {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `video`, `phone` or `on_site`.
    pub kind: String,
    /// Minutes.
    pub duration_min: i64,
    /// The counsellor confirms each booking.
    pub requires_confirmation: bool,
    /// On-site: where.
    pub location: Option<String>,
    /// What the counsellor says about this kind of appointment (`null`: nothing).
    pub description: Option<String>,
}

/// What a counsellor's page shows about them.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProfile {
    /// A short text.
    pub about: String,
    /// Languages spoken.
    pub languages: Vec<String>,
    /// Topics.
    pub topics: Vec<String>,
    /// The photo's cacheable address (`null`: none); it changes with the photo.
    pub photo_url: Option<String>,
}

impl PublicProfile {
    /// What clients see of a stored profile.
    pub(crate) fn of(p: store::ProfileRow) -> Self {
        Self {
            about: p.about,
            languages: p.languages,
            topics: p.topics,
            photo_url: p.photo_sha256.map(|d| format!("/api/public/photos/{d}")),
        }
    }
}

/// The consent text shown with the forms.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consent {
    /// Version.
    pub version: String,
    /// Hex SHA-256 of `text`; sent back with a booking as proof of what was shown.
    pub sha256: String,
    /// The text.
    pub text: String,
}

impl PublicType {
    /// What clients see of a stored type.
    pub(crate) fn of(t: store::TypeRow) -> Self {
        PublicType {
            id: t.id,
            name: t.name,
            kind: t.kind,
            duration_min: t.duration_min,
            requires_confirmation: t.requires_confirmation != 0,
            location: t.location,
            description: t.description,
        }
    }
}

impl Consent {
    /// The consent text a public form shows in `lang`, with its version and hash.
    pub(crate) fn shown(lang: &str) -> Self {
        Consent {
            version: CONSENT_VERSION.into(),
            sha256: consent_sha256(lang),
            text: consent_text(lang).into(),
        }
    }

    /// The contact form's consent text in `lang` (no appointment in it).
    pub(crate) fn contact(lang: &str) -> Self {
        Consent {
            version: CONSENT_VERSION.into(),
            sha256: contact_consent_sha256(lang),
            text: contact_consent_text(lang).into(),
        }
    }
}

/// A counsellor's booking page data.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// IANA zone in which the counsellor's hours are defined.
    pub time_zone: String,
    /// What can be booked.
    pub types: Vec<PublicType>,
    /// The booking form's consent text in the requested language.
    pub consent: Consent,
    /// The contact form's consent text (a message, no appointment); `null` on a team page,
    /// which has no contact form.
    pub contact_consent: Option<Consent>,
    /// The counsellor's profile (photo, languages, topics, a short text); `null` on a team
    /// page.
    pub profile: Option<PublicProfile>,
}

/// `?lang=de|en`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LangQuery {
    /// Language of the consent text (`de` default, `en`).
    pub lang: Option<String>,
}

/// A counsellor's page data: name, zone, appointment types, consent text.
#[utoipa::path(get, path = "/api/public/counsellors/{slug}", tag = "booking",
    params(("slug" = String, Path, description = "Counsellor page slug"), LangQuery),
    responses(
        (status = 200, description = "Page data", body = BookingPage),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn page(
    State(state): State<BookingState>,
    Path(slug): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<axum::Json<BookingPage>, AppError> {
    let host = store::host_by_slug(&state.db, &slug).await?;
    let lang = lang_of(q.lang.as_deref());
    let types = store::types_of(&state.db, &host.id, true)
        .await?
        .into_iter()
        .map(PublicType::of)
        .collect();
    Ok(axum::Json(BookingPage {
        slug: host.slug.clone().unwrap_or_default(),
        name: host.name,
        time_zone: host.tz.name().to_owned(),
        types,
        consent: Consent::shown(lang),
        contact_consent: Some(Consent::contact(lang)),
        profile: Some(PublicProfile::of(
            store::profile_of(&state.db, &host.id).await?,
        )),
    }))
}

/// `?type_id=…&from=…&to=…`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SlotQuery {
    /// Appointment type.
    pub type_id: String,
    /// Start of the range (RFC 3339) [default: now].
    pub from: Option<String>,
    /// End of the range (RFC 3339) [default: from + 14 days; at most 62 days].
    pub to: Option<String>,
}

/// A free slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    /// Start (UTC, RFC 3339).
    pub start: chrono::DateTime<Utc>,
    /// End.
    pub end: chrono::DateTime<Utc>,
}

/// Free slots.
#[derive(Debug, Serialize, ToSchema)]
pub struct Slots {
    /// The counsellor's zone (for display).
    pub time_zone: String,
    /// Sorted free slots.
    pub slots: Vec<SlotView>,
}

pub(crate) async fn slots_for(
    state: &BookingState,
    host: &Host,
    t: &store::TypeRow,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    except_booking: &str,
) -> Result<Vec<SlotView>, AppError> {
    let core = t.core();
    let av = store::availability_of(&state.db, host).await?;
    // Busy times reach a buffer's length beyond the range.
    let margin = Duration::hours(5);
    let busy = store::busy_except(
        &state.db,
        &host.id,
        from - margin,
        to + margin,
        except_booking,
    )
    .await?;
    Ok(free_slots(&av, &core, &busy, Utc::now(), from, to)
        .into_iter()
        .map(|s| SlotView {
            start: s.start,
            end: s.end,
        })
        .collect())
}

/// Free slots of one appointment type: availability minus bookings (with buffers), notice and
/// window applied.
#[utoipa::path(get, path = "/api/public/counsellors/{slug}/slots", tag = "booking",
    params(("slug" = String, Path, description = "Counsellor page slug"), SlotQuery),
    responses(
        (status = 200, description = "Free slots", body = Slots),
        (status = 404, description = "`not_found`: no such counsellor or type", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `from`, `to` or `type_id`", body = ErrorBody),
    ))]
pub async fn slots(
    State(state): State<BookingState>,
    Path(slug): Path<String>,
    Query(q): Query<SlotQuery>,
) -> Result<axum::Json<Slots>, AppError> {
    let host = store::host_by_slug(&state.db, &slug).await?;
    let t = store::type_of(&state.db, &host.id, &q.type_id).await?;
    if t.active == 0 {
        return Err(AppError::NotFound);
    }
    let (from, to) = slot_range(q.from.as_deref(), q.to.as_deref())?;
    Ok(axum::Json(Slots {
        time_zone: host.tz.name().to_owned(),
        slots: slots_for(&state, &host, &t, from, to, "").await?,
    }))
}

/// `from` (default now) and `to` (default 14 days later, at most 62 days after `from`).
pub(crate) fn slot_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), AppError> {
    let from = match from {
        Some(s) => parse_time("from", s)?,
        None => Utc::now(),
    };
    let to = match to {
        Some(s) => parse_time("to", s)?,
        None => from + Duration::days(14),
    };
    if to <= from || to - from > Duration::days(MAX_SLOT_RANGE_DAYS) {
        return Err(AppError::invalid(
            "to",
            format!("must be after from and at most {MAX_SLOT_RANGE_DAYS} days later"),
        ));
    }
    Ok((from, to))
}

/// Free times a booking may move to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleSlotsRequest {
    /// The token from the reschedule link.
    pub token: String,
    /// Start of the range (RFC 3339) [default: now].
    #[serde(default)]
    pub from: Option<String>,
    /// End of the range [default: 14 days after `from`; at most 62].
    #[serde(default)]
    pub to: Option<String>,
}

/// The times a booking may move to: its counsellor's free slots of its type, the booking's own
/// time not counting as busy (so it can move by less than its length). Works whether or not
/// the counsellor still has a public page.
#[utoipa::path(post, path = "/api/public/bookings/slots", tag = "booking",
    request_body = RescheduleSlotsRequest,
    responses(
        (status = 200, description = "Free slots", body = Slots),
        (status = 409, description = "`conflict`: the booking is no longer active", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `token`, `from` or `to`", body = ErrorBody),
    ))]
pub async fn reschedule_slots(
    State(state): State<BookingState>,
    Json(req): Json<RescheduleSlotsRequest>,
) -> Result<axum::Json<Slots>, AppError> {
    let (_, row) = by_token(&state, &req.token, Some(Purpose::Reschedule)).await?;
    if !row.is_active() {
        return Err(AppError::Conflict(
            "this booking is no longer active".into(),
        ));
    }
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    let (from, to) = slot_range(req.from.as_deref(), req.to.as_deref())?;
    Ok(axum::Json(Slots {
        time_zone: host.tz.name().to_owned(),
        slots: slots_for(&state, &host, &t, from, to, &row.id).await?,
    }))
}

pub(crate) fn check_honeypot(website: &Option<String>) -> Result<(), AppError> {
    if website.as_deref().is_some_and(|w| !w.trim().is_empty()) {
        return Err(AppError::invalid("website", "must be empty"));
    }
    Ok(())
}

/// Books an appointment. Exactly one of any number of concurrent requests for overlapping times
/// succeeds: the database refuses the others (`409 slot_taken`).
#[utoipa::path(post, path = "/api/public/counsellors/{slug}/bookings", tag = "booking",
    params(("slug" = String, Path, description = "Counsellor page slug")),
    request_body = BookingRequest,
    responses(
        (status = 201, description = "Booked (`confirmed`) or requested (`pending`); mails are queued", body = PublicBooking),
        (status = 404, description = "`not_found`: no such counsellor or type", body = ErrorBody),
        (status = 409, description = "`slot_taken`: someone booked this time first", body = ErrorBody),
        (status = 422, description = "`validation_failed` with `fields`: every field at fault", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    ))]
pub async fn book(
    State(state): State<BookingState>,
    ClientIp(ip): ClientIp,
    Path(slug): Path<String>,
    Json(req): Json<BookingRequest>,
) -> Result<(StatusCode, axum::Json<PublicBooking>), AppError> {
    rate_limit(&state, ip)?;
    check_honeypot(&req.website)?;
    let host = store::host_by_slug(&state.db, &slug).await?;
    let t = store::type_of(&state.db, &host.id, &req.type_id)
        .await
        .map_err(|_| {
            AppError::invalid("type_id", "is not an appointment type of this counsellor")
        })?;
    if t.active == 0 {
        return Err(AppError::invalid("type_id", "is no longer offered"));
    }
    let booking = book_with(&state, &host, &t, &req).await?;
    Ok((StatusCode::CREATED, axum::Json(booking)))
}

/// The contact form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    /// Name or nickname.
    pub name: String,
    /// Where the answer goes (used for that only).
    pub email: String,
    /// The message.
    pub message: String,
    /// Language of the answer mail.
    #[serde(default)]
    pub lang: Option<String>,
    /// SHA-256 of the consent text shown.
    pub consent_sha256: String,
    /// Honeypot: must be empty.
    #[serde(default)]
    pub website: Option<String>,
}

/// Accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Id of the stored message.
    pub id: String,
}

/// Writes to a counsellor without booking; the counsellor answers through the platform.
#[utoipa::path(post, path = "/api/public/counsellors/{slug}/contact", tag = "booking",
    params(("slug" = String, Path, description = "Counsellor page slug")),
    request_body = ContactRequest,
    responses(
        (status = 202, description = "Stored; the counsellor is notified", body = Accepted),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` with `fields`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    ))]
pub async fn contact(
    State(state): State<BookingState>,
    ClientIp(ip): ClientIp,
    Path(slug): Path<String>,
    Json(req): Json<ContactRequest>,
) -> Result<(StatusCode, axum::Json<Accepted>), AppError> {
    rate_limit(&state, ip)?;
    check_honeypot(&req.website)?;
    let host = store::host_by_slug(&state.db, &slug).await?;
    let valid = validate_contact(&ContactForm {
        name: req.name.clone(),
        email: req.email.clone(),
        message: req.message.clone(),
    })
    .map_err(field_errors)?;
    let lang = lang_of(req.lang.as_deref());
    if req.consent_sha256 != contact_consent_sha256(lang) {
        return Err(AppError::invalid(
            "consent_sha256",
            "does not match the contact form's current consent text; reload the page",
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let doc =
        serde_json::json!({"name": valid.name, "email": valid.email, "message": valid.message});
    let sealed = state
        .keys
        .contact
        .seal(doc.to_string().as_bytes(), id.as_bytes());
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO contact_messages (id, counsellor_id, sealed, lang, consent_sha256, consent_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&host.id)
    .bind(&sealed)
    .bind(lang)
    .bind(contact_consent_sha256(lang))
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    usecases::notify_contact(&mut tx, &state, &host).await?;
    tx.commit().await?;
    tracing::info!(contact_id = %id, counsellor_id = %host.id, "contact message stored");
    Ok((StatusCode::ACCEPTED, axum::Json(Accepted { id })))
}

/// A link token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the link (after `#`).
    pub token: String,
}

/// Opens a link token: the booking it names, if the token is valid for it now.
async fn by_token(
    state: &BookingState,
    token_str: &str,
    purpose: Option<Purpose>,
) -> Result<(Purpose, store::BookingRow), AppError> {
    let opened = token::open(&state.keys.booking_links, token_str, Utc::now().timestamp());
    let (p, subject) = opened.map_err(|e| {
        AppError::invalid(
            "token",
            match e {
                TokenError::Expired => "this link has expired",
                _ => "this link is not valid",
            },
        )
    })?;
    if purpose.is_some_and(|want| want != p) {
        return Err(AppError::invalid(
            "token",
            "this link is for another action",
        ));
    }
    let (id, seq) = subject
        .rsplit_once('.')
        .ok_or_else(|| AppError::invalid("token", "this link is not valid"))?;
    let row = store::booking(&state.db, id).await?;
    if seq != row.ics_sequence.to_string() {
        return Err(AppError::invalid(
            "token",
            "this link was replaced by a newer one; use the link from the latest e-mail",
        ));
    }
    Ok((p, row))
}

/// The booking behind a link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedBooking {
    /// `cancel` or `reschedule`: what the link allows.
    pub purpose: String,
    /// The booking.
    pub booking: PublicBooking,
}

/// What a cancel or reschedule link refers to (the page shows it before the client acts).
#[utoipa::path(post, path = "/api/public/bookings/lookup", tag = "booking",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The booking and what the link allows", body = LinkedBooking),
        (status = 422, description = "`validation_failed` naming `token`: invalid, expired or replaced", body = ErrorBody),
    ))]
pub async fn lookup(
    State(state): State<BookingState>,
    Json(req): Json<TokenRequest>,
) -> Result<axum::Json<LinkedBooking>, AppError> {
    let (purpose, row) = by_token(&state, &req.token, None).await?;
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    Ok(axum::Json(LinkedBooking {
        purpose: purpose.name().into(),
        booking: public_view(&row, &host, &t),
    }))
}

/// Cancel through the link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The token from the cancel link.
    pub token: String,
    /// Optional reason for the counsellor.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancels a booking through the cancel link; the slot is free again at once.
#[utoipa::path(post, path = "/api/public/bookings/cancel", tag = "booking",
    request_body = CancelRequest,
    responses(
        (status = 200, description = "Cancelled; client and counsellor are told", body = PublicBooking),
        (status = 409, description = "`conflict`: already cancelled or declined", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `token` or `reason`", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<BookingState>,
    Json(req): Json<CancelRequest>,
) -> Result<axum::Json<PublicBooking>, AppError> {
    let reason = usecases::reason_of(&req.reason)?;
    let (_, row) = by_token(&state, &req.token, Some(Purpose::Cancel)).await?;
    let row = usecases::cancel_booking(&state, row, true, reason).await?;
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    Ok(axum::Json(public_view(&row, &host, &t)))
}

/// Reschedule through the link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// The token from the reschedule link.
    pub token: String,
    /// The new start, one of the free slots of the same type.
    pub start: String,
}

/// Moves a booking to another free slot of the same type (same UID, higher SEQUENCE).
#[utoipa::path(post, path = "/api/public/bookings/reschedule", tag = "booking",
    request_body = RescheduleRequest,
    responses(
        (status = 200, description = "Moved; client and counsellor are told", body = PublicBooking),
        (status = 409, description = "`slot_taken`, or `conflict` when the booking is no longer active", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `token` or `start`", body = ErrorBody),
    ))]
pub async fn reschedule(
    State(state): State<BookingState>,
    Json(req): Json<RescheduleRequest>,
) -> Result<axum::Json<PublicBooking>, AppError> {
    let (_, row) = by_token(&state, &req.token, Some(Purpose::Reschedule)).await?;
    Ok(axum::Json(
        usecases::reschedule(&state, row, &req.start).await?,
    ))
}

/// `?token=…`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CalendarQuery {
    /// The view token from the confirmation (`confirmation.ics_url`).
    pub token: Option<String>,
}

/// The client's calendar file of a confirmed booking: the entry titled as the client booked it
/// ("Videotermin mit …" in the booking's language), the booking's times in UTC, the same UID
/// and SEQUENCE as the mail's invitation.
#[utoipa::path(get, path = "/api/public/bookings/calendar.ics", tag = "booking",
    params(CalendarQuery),
    responses(
        (status = 200, description = "`text/calendar` attachment (`METHOD:REQUEST`)", content_type = "text/calendar", body = String),
        (status = 404, description = "`not_found`: the booking is gone", body = ErrorBody),
        (status = 409, description = "`conflict`: the booking is not (or no longer) confirmed", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `token`: missing, invalid, expired or replaced", body = ErrorBody),
    ))]
pub async fn calendar_file(
    State(state): State<BookingState>,
    Query(q): Query<CalendarQuery>,
) -> Result<axum::response::Response, AppError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let token = q
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::invalid("token", "is required"))?;
    let (_, row) = by_token(&state, &token, Some(Purpose::ViewBooking)).await?;
    if row.status != "confirmed" {
        return Err(AppError::Conflict(
            "only a confirmed appointment has a calendar entry".into(),
        ));
    }
    let (host, t, client, join_url) = usecases::context_parts(&state, &row).await?;
    let ctx = super::notify::Ctx {
        row: &row,
        client: &client,
        host: &host,
        kind: &t,
        join_url,
    };
    let body = super::notify::client_ics(&state, &ctx)?;
    let name = if row.lang == "en" {
        "appointment"
    } else {
        "termin"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.ics\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
