//! The public side: no account, no password. Forms are rate limited per anonymised network and
//! carry a honeypot field; links in mails carry signed, expiring, single-purpose tokens.

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use confidant_booking::form::{validate, validate_contact, BookingForm, ContactForm};
use confidant_booking::slots::{blocked_interval, free_slots, is_bookable};
use confidant_booking::token::{self, Purpose, TokenError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::notify::{self, Ctx};
use super::store::{self, ClientDetails, Host};
use super::{
    consent_sha256, consent_text, contact_consent_sha256, contact_consent_text, field_errors,
    lang_of, parse_time, CONSENT_VERSION,
};
use crate::db::{now_ms, sha256_hex};
use crate::error::{AppError, ErrorBody};
use crate::extract::{ClientIp, Json};
use crate::ratelimit::Network;
use crate::AppState;

/// Longest range of one slots query.
const MAX_SLOT_RANGE_DAYS: i64 = 62;
/// How long after its end a booked video session's join link keeps working.
const VIDEO_LINK_GRACE_MIN: i64 = 60;

/// Refuses a public form submission when the network used up its budget.
pub(crate) fn rate_limit(state: &AppState, ip: std::net::IpAddr) -> Result<(), AppError> {
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
    State(state): State<AppState>,
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
    State(state): State<AppState>,
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
    state: &AppState,
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
    State(state): State<AppState>,
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
    State(state): State<AppState>,
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

/// The booking form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    /// Appointment type.
    pub type_id: String,
    /// Chosen start (RFC 3339), one of the free slots.
    pub start: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address (for the confirmation, reminder and links only).
    pub email: String,
    /// Optional message.
    #[serde(default)]
    pub message: String,
    /// Required for phone appointments.
    #[serde(default)]
    pub phone: Option<String>,
    /// Required for on-site appointments.
    #[serde(default)]
    pub address: Option<String>,
    /// Language of the mails (`de`, `en`).
    #[serde(default)]
    pub lang: Option<String>,
    /// SHA-256 of the consent text that was shown (from the page data).
    pub consent_sha256: String,
    /// Honeypot: must be empty (hidden from people, filled by bots).
    #[serde(default)]
    pub website: Option<String>,
}

/// The booking, as the client may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicBooking {
    /// Id.
    pub id: String,
    /// `pending` (awaiting the counsellor), `confirmed`, `cancelled`, `declined`.
    pub status: String,
    /// Start.
    pub start: chrono::DateTime<Utc>,
    /// End.
    pub end: chrono::DateTime<Utc>,
    /// `video`, `phone`, `on_site`.
    pub kind: String,
    /// Appointment type id (to list slots for a reschedule).
    pub type_id: String,
    /// Appointment type name.
    pub type_name: String,
    /// Counsellor's name.
    pub counsellor_name: String,
    /// Counsellor page slug.
    pub slug: String,
    /// Zone for display.
    pub time_zone: String,
}

fn public_view(row: &store::BookingRow, host: &Host, t: &store::TypeRow) -> PublicBooking {
    PublicBooking {
        id: row.id.clone(),
        status: row.status.clone(),
        start: row.start(),
        end: row.end(),
        kind: row.kind.clone(),
        type_id: t.id.clone(),
        type_name: t.name.clone(),
        counsellor_name: host.name.clone(),
        slug: host.slug.clone().unwrap_or_default(),
        time_zone: host.tz.name().to_owned(),
    }
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
    State(state): State<AppState>,
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

/// Books `req` with `host` for type `t` (checked by the caller): validates the form, checks the
/// time against the host's hours and external calendars, and inserts; the database refuses an
/// overlap with another booking (`SlotTaken`).
pub(crate) async fn book_with(
    state: &AppState,
    host: &Host,
    t: &store::TypeRow,
    req: &BookingRequest,
) -> Result<PublicBooking, AppError> {
    let lang = lang_of(req.lang.as_deref());
    let form = BookingForm {
        first_name: req.first_name.clone(),
        last_name: req.last_name.clone(),
        email: req.email.clone(),
        message: req.message.clone(),
        phone: req.phone.clone(),
        address: req.address.clone(),
    };
    let core = t.core();
    let valid = validate(&form, core.kind).map_err(field_errors)?;
    if req.consent_sha256 != consent_sha256(lang) {
        return Err(AppError::invalid(
            "consent_sha256",
            "does not match the current consent text; reload the page",
        ));
    }
    let start = parse_time("start", &req.start)?;
    let av = store::availability_of(&state.db, host).await?;
    // Other bookings are left to the database (a taken slot is a 409 from the constraint, also
    // under a race); this checks hours, grid, notice and window.
    // Other bookings are the database's business (a race ends in 409 from the constraint);
    // busy times from external calendars are checked here.
    let blocked_probe = blocked_interval(&core, start);
    let external =
        store::external_busy_of(&state.db, &host.id, blocked_probe.start, blocked_probe.end)
            .await?;
    if !external.is_empty() {
        return Err(AppError::SlotTaken);
    }
    if !is_bookable(&av, &core, &[], Utc::now(), start) {
        return Err(AppError::invalid(
            "start",
            "is not an available time; choose one of the offered slots",
        ));
    }
    let end = start + Duration::minutes(i64::from(core.duration_min));
    let blocked = blocked_interval(&core, start);
    let client = ClientDetails {
        first_name: valid.first_name,
        last_name: valid.last_name,
        email: valid.email,
        phone: valid.phone,
        address: valid.address,
        message: valid.message,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let status = if core.requires_confirmation {
        "pending"
    } else {
        "confirmed"
    };
    let sealed = state.keys.booking.seal(
        &serde_json::to_vec(&client).map_err(|e| AppError::Internal(e.to_string()))?,
        id.as_bytes(),
    );

    let mut tx = state.db.begin().await?;
    // The booking first: under SQLite its INSERT takes the write lock (the trigger checks
    // overlaps there); under PostgreSQL the exclusion constraint makes a concurrent twin wait
    // and then fail.
    sqlx::query(
        "INSERT INTO bookings (id, counsellor_id, type_id, kind, status, active, starts_at, ends_at,
            blocked_from, blocked_until, client_sealed, lang, consent_sha256, consent_at,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&id)
    .bind(&host.id)
    .bind(&t.id)
    .bind(&t.kind)
    .bind(status)
    .bind(start.timestamp_millis())
    .bind(end.timestamp_millis())
    .bind(blocked.start.timestamp_millis())
    .bind(blocked.end.timestamp_millis())
    .bind(&sealed)
    .bind(lang)
    .bind(consent_sha256(lang))
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(store::overlap_to_conflict)?;
    let join_url = if t.kind == "video" {
        let (session_id, link) = create_room(&mut tx, state, host, t, &client, end).await?;
        sqlx::query("UPDATE bookings SET session_id = $1 WHERE id = $2")
            .bind(&session_id)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        Some(state.config.join_url(&link))
    } else {
        None
    };
    let row = store::BookingRow {
        id: id.clone(),
        counsellor_id: host.id.clone(),
        type_id: t.id.clone(),
        kind: t.kind.clone(),
        status: status.into(),
        starts_at: start.timestamp_millis(),
        ends_at: end.timestamp_millis(),
        client_sealed: sealed,
        lang: lang.into(),
        session_id: None,
        ics_sequence: 0,
        cancel_reason_sealed: None,
        cancelled_by: None,
        created_at: now,
    };
    let ctx = Ctx {
        row: &row,
        client: &client,
        host,
        kind: t,
        join_url,
    };
    notify::created(&mut tx, state, &ctx).await?;
    tx.commit().await.map_err(store::overlap_to_conflict)?;
    tracing::info!(booking_id = %id, counsellor_id = %host.id, status, "booking created");
    Ok(public_view(&row, host, t))
}

/// Creates the instant-session room of a video booking; returns `(session id, link token)`.
async fn create_room(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    host: &Host,
    t: &store::TypeRow,
    client: &ClientDetails,
    end: chrono::DateTime<Utc>,
) -> Result<(String, String), AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let link = confidant_vault::random_token(crate::sessions::LINK_TOKEN_BYTES);
    let aad = id.as_bytes();
    let title = format!("{} – {}", t.name, client.full_name());
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id, counsellor_id, title_sealed, link_hash, link_sealed, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&host.id)
    .bind(state.keys.title.seal(title.as_bytes(), aad))
    .bind(sha256_hex(&link))
    .bind(state.keys.link.seal(link.as_bytes(), aad))
    .bind(now)
    .bind(end.timestamp_millis() + VIDEO_LINK_GRACE_MIN * 60_000)
    .execute(&mut *conn)
    .await?;
    Ok((id, link))
}

/// The join link of a booking's room, if it has one.
pub async fn join_url_of(
    state: &AppState,
    row: &store::BookingRow,
) -> Result<Option<String>, AppError> {
    let Some(session_id) = &row.session_id else {
        return Ok(None);
    };
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT link_sealed FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(&state.db)
            .await?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let link = String::from_utf8(state.keys.link.open(&sealed, session_id.as_bytes())?)
        .map_err(|_| AppError::Internal("sealed link is not UTF-8".into()))?;
    Ok(Some(state.config.join_url(&link)))
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
    State(state): State<AppState>,
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
    super::manage::notify_contact(&mut tx, &state, &host).await?;
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
    state: &AppState,
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
    State(state): State<AppState>,
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

/// Validates an optional free-text reason.
pub fn reason_of(raw: &Option<String>) -> Result<Option<String>, AppError> {
    let reason = raw.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason {
        if r.chars().count() > 1000 || r.chars().any(|c| c.is_control() && c != '\n') {
            return Err(AppError::invalid(
                "reason",
                "must be at most 1000 characters without control characters",
            ));
        }
    }
    Ok(reason.map(str::to_owned))
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
    State(state): State<AppState>,
    Json(req): Json<CancelRequest>,
) -> Result<axum::Json<PublicBooking>, AppError> {
    let reason = reason_of(&req.reason)?;
    let (_, row) = by_token(&state, &req.token, Some(Purpose::Cancel)).await?;
    let row = super::manage::cancel_booking(&state, row, true, reason).await?;
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
    State(state): State<AppState>,
    Json(req): Json<RescheduleRequest>,
) -> Result<axum::Json<PublicBooking>, AppError> {
    let (_, row) = by_token(&state, &req.token, Some(Purpose::Reschedule)).await?;
    if !row.is_active() {
        return Err(AppError::Conflict(
            "this booking is no longer active".into(),
        ));
    }
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    let core = t.core();
    let start = parse_time("start", &req.start)?;
    let av = store::availability_of(&state.db, &host).await?;
    // Other bookings are the database's business (a race ends in 409 from the constraint);
    // busy times from external calendars are checked here.
    let blocked_probe = blocked_interval(&core, start);
    let external =
        store::external_busy_of(&state.db, &host.id, blocked_probe.start, blocked_probe.end)
            .await?;
    if !external.is_empty() {
        return Err(AppError::SlotTaken);
    }
    if !is_bookable(&av, &core, &[], Utc::now(), start) {
        return Err(AppError::invalid(
            "start",
            "is not an available time; choose one of the offered slots",
        ));
    }
    let end = start + Duration::minutes(i64::from(core.duration_min));
    let blocked = blocked_interval(&core, start);
    let mut tx = state.db.begin().await?;
    let changed = sqlx::query(
        "UPDATE bookings SET starts_at = $1, ends_at = $2, blocked_from = $3, blocked_until = $4,
            ics_sequence = ics_sequence + 1, updated_at = $5
         WHERE id = $6 AND active = 1 AND ics_sequence = $7",
    )
    .bind(start.timestamp_millis())
    .bind(end.timestamp_millis())
    .bind(blocked.start.timestamp_millis())
    .bind(blocked.end.timestamp_millis())
    .bind(now_ms())
    .bind(&row.id)
    .bind(row.ics_sequence)
    .execute(&mut *tx)
    .await
    .map_err(store::overlap_to_conflict)?
    .rows_affected();
    if changed != 1 {
        return Err(AppError::Conflict(
            "this booking changed meanwhile; use the link from the latest e-mail".into(),
        ));
    }
    if let Some(session_id) = &row.session_id {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
            .bind(end.timestamp_millis() + VIDEO_LINK_GRACE_MIN * 60_000)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
    }
    let updated = store::BookingRow {
        starts_at: start.timestamp_millis(),
        ends_at: end.timestamp_millis(),
        ics_sequence: row.ics_sequence + 1,
        ..row
    };
    let client = updated.client(&state)?;
    let join_url = join_url_of(&state, &updated).await?;
    let ctx = Ctx {
        row: &updated,
        client: &client,
        host: &host,
        kind: &t,
        join_url,
    };
    notify::rescheduled(&mut tx, &state, &ctx).await?;
    tx.commit().await.map_err(store::overlap_to_conflict)?;
    tracing::info!(booking_id = %updated.id, "booking rescheduled by the client");
    Ok(axum::Json(public_view(&updated, &host, &t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(reason_of(&Some("  ".into())).unwrap(), None);
        assert_eq!(
            reason_of(&Some(" krank ".into())).unwrap().as_deref(),
            Some("krank")
        );
        assert!(reason_of(&Some("x".repeat(1001))).is_err());
        assert!(reason_of(&Some("a\u{7}".into())).is_err());
    }
}
