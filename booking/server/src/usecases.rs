//! The use cases of a booking's life, whoever asks: the public handlers ([`super::public`],
//! [`super::team`]), the counsellor's ([`super::manage`], [`super::mail_failures`]) and jobs
//! call these; the handlers parse the request, call one, and map the result.
//!
//! - [`book_with`]: book (form, consent, hours, external calendars; the database refuses an
//!   overlap), creating the video room where the type is a video appointment;
//! - [`reschedule`], [`confirm`], [`decline`], [`cancel_booking`]: change a booking, with the
//!   mails queued in the same transaction;
//! - [`notify_contact`]: tell the counsellor a contact message arrived.
//!
//! Nothing here imports a handler module, so the handler modules need not import each other.

use chrono::{DateTime, Duration, Utc};
use confidant_booking::form::{validate, BookingForm};
use confidant_booking::mail::{MailData, MailKind};
use confidant_booking::slots::{
    blocked_interval, is_bookable, AppointmentKind, AppointmentType, Interval,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::notify::{self, Ctx};
use super::store::{self, BookingRow, ClientDetails, Host};
use super::{consent_sha256, field_errors, lang_of, parse_time};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;

/// How long after its end a booked video session's join link keeps working.
const VIDEO_LINK_GRACE_MIN: i64 = 60;

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
    /// What the client is given right after booking or moving it (the confirmation page):
    /// present in the answers of booking and rescheduling only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
}

/// The confirmation page's content: add to calendar, manage, how to take part, what to prepare.
#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmation {
    /// The title of the client's calendar entry, in the booking's language: the medium and
    /// the centre ("Videotermin mit …"), never the counsellor's name of the type.
    pub calendar_title: String,
    /// The calendar file (`text/calendar`), served through a signed view token valid until
    /// the appointment ends; `null` while the booking waits for confirmation.
    pub ics_url: Option<String>,
    /// Google Calendar's "add event" link; `null` while pending.
    pub google_url: Option<String>,
    /// Outlook.com's "add event" link; `null` while pending.
    pub outlook_url: Option<String>,
    /// Outlook for work or school (Microsoft 365); `null` while pending.
    pub office_url: Option<String>,
    /// Cancel link (withdraws a pending request).
    pub cancel_url: String,
    /// Reschedule link.
    pub reschedule_url: String,
    /// Video, once confirmed: the join link.
    pub join_url: Option<String>,
    /// Phone: the number the counsellor calls.
    pub phone: Option<String>,
    /// On-site: the address.
    pub location: Option<String>,
    /// What to prepare: the counsellor's text for the type, else the medium's default.
    pub preparation: String,
}

/// The confirmation page's content for the booking in `c`.
pub fn confirmation(state: &BookingState, c: &Ctx<'_>) -> Confirmation {
    let lang = confidant_booking::mail::Lang::parse(&c.row.lang);
    let confirmed = c.row.status == "confirmed";
    let kind = store::kind_of(&c.row.kind);
    let (cancel_url, reschedule_url) = notify::links(state, c.row);
    let (google, outlook, office) = notify::calendar_links(state, c);
    Confirmation {
        calendar_title: notify::client_calendar_title(state, lang, kind),
        ics_url: confirmed.then(|| {
            format!(
                "{}/api/public/bookings/calendar.ics?token={}",
                state.config.public_url,
                notify::view_token(state, c.row)
            )
        }),
        google_url: confirmed.then_some(google),
        outlook_url: confirmed.then_some(outlook),
        office_url: confirmed.then_some(office),
        cancel_url,
        reschedule_url,
        join_url: if confirmed && kind == AppointmentKind::Video {
            c.join_url.clone()
        } else {
            None
        },
        phone: (kind == AppointmentKind::Phone)
            .then(|| c.client.phone.clone())
            .flatten(),
        location: (kind == AppointmentKind::OnSite)
            .then(|| c.kind.location.clone())
            .flatten(),
        preparation: notify::preparation(c.kind, lang),
    }
}

/// The booking as the client may see it.
pub fn public_view(row: &store::BookingRow, host: &Host, t: &store::TypeRow) -> PublicBooking {
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
        confirmation: None,
    }
}

/// Checks that `start` is a time `host` offers for type `core` (hours, grid, notice, window)
/// and that no busy time from their external calendars covers what it would block. Other
/// bookings are the database's business: a race ends in 409 from its constraint. Returns the
/// appointment's end and the interval it blocks.
async fn check_free(
    state: &BookingState,
    host: &Host,
    core: &AppointmentType,
    start: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Interval), AppError> {
    let av = store::availability_of(&state.db, host).await?;
    let blocked = blocked_interval(core, start);
    let external = store::external_busy_of(&state.db, &host.id, blocked.start, blocked.end).await?;
    if !external.is_empty() {
        return Err(AppError::SlotTaken);
    }
    if !is_bookable(&av, core, &[], Utc::now(), start) {
        return Err(AppError::invalid(
            "start",
            "is not an available time; choose one of the offered slots",
        ));
    }
    Ok((
        start + Duration::minutes(i64::from(core.duration_min)),
        blocked,
    ))
}

/// Books `req` with `host` for type `t` (checked by the caller): validates the form, checks the
/// time against the host's hours and external calendars, and inserts; the database refuses an
/// overlap with another booking (`SlotTaken`).
pub async fn book_with(
    state: &BookingState,
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
    let (end, blocked) = check_free(state, host, &core, start).await?;
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

    let mut tx = state.db.begin().await?;
    // The booking first: under SQLite its INSERT takes the write lock (the trigger checks
    // overlaps there); under PostgreSQL the exclusion constraint makes a concurrent twin wait
    // and then fail.
    store::insert_booking(&mut tx, &row, blocked, &consent_sha256(lang)).await?;
    let join_url = if t.kind == "video" {
        let (session_id, link) = create_room(&mut tx, state, host, t, &client, end).await?;
        store::set_booking_session(&mut tx, &id, &session_id).await?;
        Some(state.rooms.config.join_url(&link))
    } else {
        None
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
    Ok(PublicBooking {
        confirmation: Some(confirmation(state, &ctx)),
        ..public_view(&row, host, t)
    })
}

/// Opens the room of a video booking (through rooms, in the booking's transaction); returns
/// `(session id, link token)`.
async fn create_room(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    host: &Host,
    t: &store::TypeRow,
    client: &ClientDetails,
    end: chrono::DateTime<Utc>,
) -> Result<(String, String), AppError> {
    let title = format!("{} – {}", t.name, client.full_name());
    confidant_signaling_server::sessions::insert_room(
        conn,
        &state.rooms.keys,
        &confidant_signaling_server::sessions::NewRoom {
            counsellor_id: &host.id,
            title: Some(&title),
            created_at: now_ms(),
            expires_at: end.timestamp_millis() + VIDEO_LINK_GRACE_MIN * 60_000,
        },
    )
    .await
}

/// The join link of a booking's room, if it has one.
pub async fn join_url_of(
    state: &BookingState,
    row: &store::BookingRow,
) -> Result<Option<String>, AppError> {
    let Some(session_id) = &row.session_id else {
        return Ok(None);
    };
    let sealed = store::room_link_sealed(&state.db, session_id).await?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let link = String::from_utf8(state.keys.link.open(&sealed, session_id.as_bytes())?)
        .map_err(|_| AppError::Internal("sealed link is not UTF-8".into()))?;
    Ok(Some(state.rooms.config.join_url(&link)))
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

/// A booking of the counsellor, or `not_found`.
pub async fn own_booking(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
) -> Result<BookingRow, AppError> {
    let row = store::booking(&state.db, id).await?;
    if row.counsellor_id != me.id {
        return Err(AppError::NotFound);
    }
    Ok(row)
}

/// What a mail about a booking needs: its counsellor, type, client and join link.
pub async fn context_parts(
    state: &BookingState,
    row: &BookingRow,
) -> Result<(Host, store::TypeRow, store::ClientDetails, Option<String>), AppError> {
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    let client = row.client(state)?;
    let join = join_url_of(state, row).await?;
    Ok((host, t, client, join))
}

/// Confirms a booking of the counsellor that waits for confirmation; the client gets the
/// invitation. Returns the booking and its type.
pub async fn confirm(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
) -> Result<(BookingRow, store::TypeRow), AppError> {
    let row = own_booking(state, me, id).await?;
    let mut tx = state.db.begin().await?;
    let changed = store::confirm_pending(&mut tx, id, now_ms()).await?;
    if changed != 1 {
        return Err(AppError::Conflict(
            "only a pending booking can be confirmed".into(),
        ));
    }
    let row = BookingRow {
        status: "confirmed".into(),
        ..row
    };
    let (host, t, client, join_url) = context_parts(state, &row).await?;
    notify::confirmed(
        &mut tx,
        state,
        &Ctx {
            row: &row,
            client: &client,
            host: &host,
            kind: &t,
            join_url,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((row, t))
}

/// Declines a booking of the counsellor that waits for confirmation; the slot is free again
/// and the client is told (with the reason, if any).
pub async fn decline(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
    reason: Option<String>,
) -> Result<BookingRow, AppError> {
    let row = own_booking(state, me, id).await?;
    if row.status != "pending" {
        return Err(AppError::Conflict(
            "only a pending booking can be declined".into(),
        ));
    }
    let row = end_booking(state, row, "declined", "counsellor", reason).await?;
    Ok(row)
}

/// Moves an active booking to `start` (RFC 3339), one of the free slots of the same type (same
/// UID, higher SEQUENCE); client and counsellor are told. Returns the moved booking as the
/// client sees it, with its new confirmation (links and calendar file of the new version).
pub async fn reschedule(
    state: &BookingState,
    row: BookingRow,
    start: &str,
) -> Result<PublicBooking, AppError> {
    if !row.is_active() {
        return Err(AppError::Conflict(
            "this booking is no longer active".into(),
        ));
    }
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let t = store::type_of(&state.db, &host.id, &row.type_id).await?;
    let core = t.core();
    let start = parse_time("start", start)?;
    let (end, blocked) = check_free(state, &host, &core, start).await?;
    let mut tx = state.db.begin().await?;
    let slot = Interval { start, end };
    let changed = store::move_booking(&mut tx, &row, slot, blocked, now_ms()).await?;
    if changed != 1 {
        return Err(AppError::Conflict(
            "this booking changed meanwhile; use the link from the latest e-mail".into(),
        ));
    }
    if let Some(session_id) = &row.session_id {
        let expires_at = end.timestamp_millis() + VIDEO_LINK_GRACE_MIN * 60_000;
        store::extend_room(&mut tx, session_id, expires_at).await?;
    }
    let updated = store::BookingRow {
        starts_at: start.timestamp_millis(),
        ends_at: end.timestamp_millis(),
        ics_sequence: row.ics_sequence + 1,
        ..row
    };
    let client = updated.client(state)?;
    let join_url = join_url_of(state, &updated).await?;
    let ctx = Ctx {
        row: &updated,
        client: &client,
        host: &host,
        kind: &t,
        join_url,
    };
    notify::rescheduled(&mut tx, state, &ctx).await?;
    tx.commit().await.map_err(store::overlap_to_conflict)?;
    tracing::info!(booking_id = %updated.id, "booking rescheduled by the client");
    let view = PublicBooking {
        confirmation: Some(confirmation(state, &ctx)),
        ..public_view(&updated, &host, &t)
    };
    Ok(view)
}

/// Cancels an active booking (by the client through the link, or by the counsellor).
pub async fn cancel_booking(
    state: &BookingState,
    row: BookingRow,
    by_client: bool,
    reason: Option<String>,
) -> Result<BookingRow, AppError> {
    if !row.is_active() {
        return Err(AppError::Conflict(
            "this booking is already cancelled or declined".into(),
        ));
    }
    end_booking(
        state,
        row,
        "cancelled",
        if by_client { "client" } else { "counsellor" },
        reason,
    )
    .await
}

async fn end_booking(
    state: &BookingState,
    row: BookingRow,
    status: &str,
    by: &str,
    reason: Option<String>,
) -> Result<BookingRow, AppError> {
    let was_confirmed = row.status == "confirmed";
    let sealed_reason = reason.as_ref().map(|r| {
        state
            .keys
            .booking
            .seal(r.as_bytes(), format!("{}/reason", row.id).as_bytes())
    });
    let mut tx = state.db.begin().await?;
    let changed = store::end_booking(&mut tx, &row, status, by, &sealed_reason, now_ms()).await?;
    if changed != 1 {
        return Err(AppError::Conflict("this booking changed meanwhile".into()));
    }
    if let Some(session_id) = &row.session_id {
        store::revoke_room(&mut tx, session_id, now_ms()).await?;
    }
    let row = BookingRow {
        status: status.into(),
        cancelled_by: Some(by.into()),
        cancel_reason_sealed: sealed_reason,
        ics_sequence: row.ics_sequence + 1,
        ..row
    };
    let (host, t, client, join_url) = context_parts(state, &row).await?;
    let ctx = Ctx {
        row: &row,
        client: &client,
        host: &host,
        kind: &t,
        join_url,
    };
    if status == "declined" {
        notify::declined(&mut tx, state, &ctx, reason).await?;
    } else {
        notify::cancelled(&mut tx, state, &ctx, by == "client", was_confirmed, reason).await?;
    }
    tx.commit().await?;
    tracing::info!(booking_id = %row.id, status, by, "booking ended");
    Ok(row)
}

/// Tells the counsellor that a contact message arrived (inside the caller's transaction). The
/// mail carries neither the writer's name nor the message: both are read on the dashboard.
pub async fn notify_contact(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    host: &Host,
) -> Result<(), AppError> {
    let d = host_mail_data(state, host, "", None);
    notify::to_host(conn, state, host, MailKind::ContactMessage, &d).await
}

/// The mail data of a mail to the counsellor (not about one booking).
pub fn host_mail_data(
    state: &BookingState,
    host: &Host,
    name: &str,
    message: Option<String>,
) -> MailData {
    let now = Utc::now();
    MailData {
        client_name: name.to_owned(),
        counsellor_name: host.name.clone(),
        type_name: String::new(),
        kind: AppointmentKind::Video,
        start: now,
        end: now,
        tz: host.tz,
        join_url: None,
        cancel_url: None,
        reschedule_url: None,
        dashboard_url: Some(format!("{}/dashboard", state.config.public_url)),
        location: None,
        phone: None,
        reason: None,
        message,
        needs_confirmation: false,
        centre_name: state.config.centre_name.clone(),
        booking_url: Some(super::notify::booking_url(state, host)),
        preparation: None,
        google_url: None,
        outlook_url: None,
    }
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
