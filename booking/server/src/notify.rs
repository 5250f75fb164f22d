//! Which mails go out when a booking changes. Every function queues into the caller's
//! transaction, so the change and its mails commit together or not at all.

use chrono::Duration;
use confidant_booking::confirm;
use confidant_booking::ics::{self, IcsEvent};
use confidant_booking::mail::{render, Lang, MailData, MailKind};
use confidant_booking::slots::AppointmentKind;
use confidant_booking::token::{self, Purpose};
use lettre::message::Mailbox;

use super::store::{kind_of, BookingRow, ClientDetails, Host, TypeRow};
use crate::BookingState;
use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;
use confidant_kit::mail::{cancel_unsent, enqueue, IcsPart, OutgoingMail};

/// A booking with everything its mails need.
pub struct Ctx<'a> {
    /// The booking, after the change.
    pub row: &'a BookingRow,
    /// Its client.
    pub client: &'a ClientDetails,
    /// Its counsellor.
    pub host: &'a Host,
    /// Its type.
    pub kind: &'a TypeRow,
    /// Video: the join link.
    pub join_url: Option<String>,
}

/// The subject of link tokens: the booking and its version, so links die with a change.
pub fn token_subject(row: &BookingRow) -> String {
    format!("{}.{}", row.id, row.ics_sequence)
}

/// Cancel and reschedule links (valid until the appointment starts).
pub fn links(state: &BookingState, row: &BookingRow) -> (String, String) {
    let expires = row.starts_at / 1000;
    let key = &state.keys.booking_links;
    let subject = token_subject(row);
    let base = &state.config.public_url;
    (
        format!(
            "{base}/booking/cancel#{}",
            token::sign(key, Purpose::Cancel, &subject, expires)
        ),
        format!(
            "{base}/booking/reschedule#{}",
            token::sign(key, Purpose::Reschedule, &subject, expires)
        ),
    )
}

fn from(state: &BookingState) -> Result<Mailbox, AppError> {
    state
        .mailer
        .from
        .parse()
        .map_err(|e| AppError::Internal(format!("mail-from: {e}")))
}

fn mailbox(name: &str, email: &str) -> Result<Mailbox, AppError> {
    let address = email
        .parse()
        .map_err(|_| AppError::invalid("email", "is not a deliverable e-mail address"))?;
    // Names are free text; lettre encodes them (RFC 2047) as needed.
    Ok(Mailbox::new(Some(name.to_owned()), address))
}

fn data(state: &BookingState, c: &Ctx<'_>, with_links: bool) -> MailData {
    let (cancel_url, reschedule_url) = if with_links {
        let (c, r) = links(state, c.row);
        (Some(c), Some(r))
    } else {
        (None, None)
    };
    let kind = kind_of(&c.row.kind);
    MailData {
        client_name: c.client.full_name(),
        counsellor_name: c.host.name.clone(),
        type_name: c.kind.name.clone(),
        kind,
        start: c.row.start(),
        end: c.row.end(),
        tz: c.host.tz,
        join_url: c.join_url.clone(),
        cancel_url,
        reschedule_url,
        dashboard_url: Some(format!("{}/dashboard", state.config.public_url)),
        location: (kind == AppointmentKind::OnSite)
            .then(|| c.kind.location.clone())
            .flatten(),
        phone: c.client.phone.clone(),
        reason: None,
        message: (!c.client.message.is_empty()).then(|| c.client.message.clone()),
        needs_confirmation: c.row.status == "pending",
        centre_name: state.config.centre_name.clone(),
        booking_url: Some(booking_url(state, c.host)),
        preparation: None,
        google_url: None,
        outlook_url: None,
    }
}

/// What the client should prepare for an appointment of type `t`: the counsellor's text, else
/// the medium's default.
pub fn preparation(t: &TypeRow, lang: Lang) -> String {
    match t
        .preparation
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => p.to_owned(),
        None => confirm::default_preparation(lang, kind_of(&t.kind)).to_owned(),
    }
}

/// The signed token of the client's own view of a booking (its calendar file), valid until
/// the appointment ends and replaced by a change (like the cancel and reschedule links).
pub fn view_token(state: &BookingState, row: &BookingRow) -> String {
    token::sign(
        &state.keys.booking_links,
        Purpose::ViewBooking,
        &token_subject(row),
        row.ends_at / 1000,
    )
}

/// The client's calendar entry as a download (`METHOD:REQUEST`, the same UID and SEQUENCE as
/// the mail's invitation, so importing both gives one entry).
pub fn client_ics(state: &BookingState, c: &Ctx<'_>) -> Result<String, AppError> {
    let lang = Lang::parse(&c.row.lang);
    Ok(ics::request(&ics_event(state, c, lang)?))
}

/// "Add to calendar" links for the client: Google, Outlook.com, Outlook for work (Microsoft
/// 365), all with the client's title and the booking's times.
pub fn calendar_links(state: &BookingState, c: &Ctx<'_>) -> (String, String, String) {
    let lang = Lang::parse(&c.row.lang);
    let title = client_calendar_title(state, lang, kind_of(&c.row.kind));
    let (details, location) = entry_text(c, lang);
    let e = confirm::CalendarEntry {
        title: &title,
        start: c.row.start(),
        end: c.row.end(),
        details: &details,
        location: location.as_deref(),
    };
    (
        confirm::google_url(&e),
        confirm::outlook_url(confirm::Outlook::Live, &e),
        confirm::outlook_url(confirm::Outlook::Office, &e),
    )
}

/// The description and location of the client's calendar entry: the time in the counsellor's
/// zone, and the join link (video), the client's number (phone) or the address (on-site).
fn entry_text(c: &Ctx<'_>, lang: Lang) -> (String, Option<String>) {
    let kind = kind_of(&c.row.kind);
    let when = confidant_booking::mail::when(lang, c.row.start(), c.row.end(), c.host.tz);
    let location = match kind {
        AppointmentKind::Video => c.join_url.clone(),
        AppointmentKind::Phone => c.client.phone.clone().map(|p| match lang {
            Lang::De => format!("Anruf an {p}"),
            Lang::En => format!("Call to {p}"),
        }),
        AppointmentKind::OnSite => c.kind.location.clone(),
    };
    let details = match (&c.join_url, kind) {
        (Some(url), AppointmentKind::Video) => format!("{when}\n{url}"),
        _ => when,
    };
    (details, location)
}

/// Where a client books again: the counsellor's own page, or the centre's list when the
/// counsellor has none (a team booking).
pub fn booking_url(state: &BookingState, host: &Host) -> String {
    let base = &state.config.public_url;
    match &host.slug {
        Some(slug) => format!("{base}/book/{slug}"),
        None => format!("{base}/book"),
    }
}

/// The title of the client's calendar entry: `--client-calendar-title` (an operator who wants
/// a neutral "Termin" for shared family calendars sets it), else the appointment as the client
/// booked it, "Videotermin mit {centre}" / "Video appointment with {centre}", never the
/// counsellor's own name of the appointment type or the counsellor's name.
pub fn client_calendar_title(state: &BookingState, lang: Lang, kind: AppointmentKind) -> String {
    match &state.config.client_calendar_title {
        Some(title) => title.clone(),
        None => confirm::client_title(lang, kind, &state.config.centre_name),
    }
}

fn ics_event(state: &BookingState, c: &Ctx<'_>, lang: Lang) -> Result<IcsEvent, AppError> {
    let from = from(state)?;
    let host = state
        .config
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or("confidant")
        .split(['/', ':'])
        .next()
        .unwrap_or("confidant")
        .to_owned();
    let d = data(state, c, false);
    let (description, location) = entry_text(c, lang);
    Ok(IcsEvent {
        uid: format!("{}@{host}", c.row.id),
        sequence: u32::try_from(c.row.ics_sequence).unwrap_or(0),
        start: d.start,
        end: d.end,
        tz: c.host.tz,
        summary: client_calendar_title(state, lang, d.kind),
        description,
        location,
        url: if d.kind == AppointmentKind::Video {
            c.join_url.clone()
        } else {
            None
        },
        organizer: (c.host.name.clone(), from.email.to_string()),
        attendee: (c.client.full_name(), c.client.email.clone()),
        stamp: chrono::Utc::now(),
    })
}

async fn to_client(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
    kind: MailKind,
    reason: Option<String>,
    ics: Option<&'static str>,
    due_at: i64,
) -> Result<(), AppError> {
    let lang = Lang::parse(&c.row.lang);
    let links = matches!(
        kind,
        MailKind::Confirmation | MailKind::Rescheduled | MailKind::Pending | MailKind::Reminder
    );
    let mut d = data(state, c, links);
    d.reason = reason;
    d.message = None;
    if links {
        d.preparation = Some(preparation(c.kind, lang));
    }
    if matches!(kind, MailKind::Confirmation | MailKind::Rescheduled) {
        let (google, outlook, _) = calendar_links(state, c);
        d.google_url = Some(google);
        d.outlook_url = Some(outlook);
    }
    let rendered = render(kind, lang, &d);
    let ics = match ics {
        Some(method) => {
            let ev = ics_event(state, c, lang)?;
            Some(IcsPart {
                method,
                body: if method == "CANCEL" {
                    ics::cancel(&ev)
                } else {
                    ics::request(&ev)
                },
            })
        }
        None => None,
    };
    let mail = OutgoingMail {
        kind: mail_kind_name(kind),
        booking_id: Some(c.row.id.clone()),
        to: mailbox(&c.client.full_name(), &c.client.email)?,
        reply_to: None,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        ics,
        due_at,
        counsellor_id: None,
    };
    enqueue(conn, &state.mailer, &mail).await?;
    Ok(())
}

async fn to_counsellor(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
    kind: MailKind,
) -> Result<(), AppError> {
    let lang = Lang::parse(&c.host.lang);
    // Notifications without content: nothing the client typed (name, phone, message, a
    // cancellation's reason) reaches the counsellor's ordinary mailbox; the dashboard shows it.
    let mut d = data(state, c, false);
    d.client_name = String::new();
    d.phone = None;
    d.message = None;
    d.reason = None;
    let rendered = render(kind, lang, &d);
    let mail = OutgoingMail {
        kind: mail_kind_name(kind),
        booking_id: Some(c.row.id.clone()),
        to: mailbox(&c.host.name, &c.host.email)?,
        reply_to: None,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        ics: None,
        due_at: now_ms(),
        counsellor_id: Some(c.host.id.clone()),
    };
    enqueue(conn, &state.mailer, &mail).await?;
    Ok(())
}

/// Queues a mail of `kind` to a counsellor that belongs to no booking (a contact message, a
/// team invitation), in the counsellor's language (inside the caller's transaction).
pub async fn to_host(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    host: &Host,
    kind: MailKind,
    d: &MailData,
) -> Result<(), AppError> {
    let m = render(kind, Lang::parse(&host.lang), d);
    let mail = OutgoingMail {
        kind: mail_kind_name(kind),
        booking_id: None,
        to: mailbox(&host.name, &host.email)?,
        reply_to: None,
        subject: m.subject,
        text: m.text,
        html: m.html,
        ics: None,
        due_at: now_ms(),
        counsellor_id: Some(host.id.clone()),
    };
    enqueue(conn, &state.mailer, &mail).await?;
    Ok(())
}

fn mail_kind_name(kind: MailKind) -> &'static str {
    match kind {
        MailKind::Confirmation => "confirmation",
        MailKind::Rescheduled => "rescheduled",
        MailKind::Pending => "pending",
        MailKind::Declined => "declined",
        MailKind::Cancellation => "cancellation",
        MailKind::Reminder => "reminder",
        MailKind::CounsellorNew => "counsellor_new",
        MailKind::CounsellorCancelled => "counsellor_cancelled",
        MailKind::CounsellorRescheduled => "counsellor_rescheduled",
        MailKind::ContactMessage => "contact_message",
        MailKind::ContactReply => "contact_reply",
        MailKind::TeamInvitation => "team_invitation",
    }
}

async fn schedule_reminder(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
) -> Result<(), AppError> {
    cancel_unsent(conn, &c.row.id, "reminder").await?;
    let minutes = state.config.reminder_minutes;
    if minutes == 0 {
        return Ok(());
    }
    let due = c.row.starts_at - Duration::minutes(i64::from(minutes)).num_milliseconds();
    // No reminder when the booking itself is (almost) that close.
    if due > now_ms() + Duration::minutes(10).num_milliseconds() {
        to_client(conn, state, c, MailKind::Reminder, None, None, due).await?;
    }
    Ok(())
}

/// A new booking: the client's confirmation (or "awaiting confirmation"), the counsellor's
/// notification, and the reminder.
pub async fn created(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
) -> Result<(), AppError> {
    if c.row.status == "pending" {
        to_client(conn, state, c, MailKind::Pending, None, None, now_ms()).await?;
    } else {
        to_client(
            conn,
            state,
            c,
            MailKind::Confirmation,
            None,
            Some("REQUEST"),
            now_ms(),
        )
        .await?;
        schedule_reminder(conn, state, c).await?;
    }
    to_counsellor(conn, state, c, MailKind::CounsellorNew).await
}

/// The counsellor confirmed a pending booking.
pub async fn confirmed(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
) -> Result<(), AppError> {
    to_client(
        conn,
        state,
        c,
        MailKind::Confirmation,
        None,
        Some("REQUEST"),
        now_ms(),
    )
    .await?;
    schedule_reminder(conn, state, c).await
}

/// The counsellor declined a pending booking.
pub async fn declined(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
    reason: Option<String>,
) -> Result<(), AppError> {
    cancel_unsent(conn, &c.row.id, "reminder").await?;
    to_client(conn, state, c, MailKind::Declined, reason, None, now_ms()).await
}

/// Cancelled by the client or the counsellor. `was_confirmed`: the client had an invitation,
/// so the cancellation carries `METHOD:CANCEL`.
pub async fn cancelled(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
    by_client: bool,
    was_confirmed: bool,
    reason: Option<String>,
) -> Result<(), AppError> {
    cancel_unsent(conn, &c.row.id, "reminder").await?;
    let ics = was_confirmed.then_some("CANCEL");
    to_client(
        conn,
        state,
        c,
        MailKind::Cancellation,
        reason,
        ics,
        now_ms(),
    )
    .await?;
    if by_client {
        to_counsellor(conn, state, c, MailKind::CounsellorCancelled).await?;
    }
    Ok(())
}

/// The client moved the appointment.
pub async fn rescheduled(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
) -> Result<(), AppError> {
    if c.row.status == "pending" {
        to_client(conn, state, c, MailKind::Pending, None, None, now_ms()).await?;
    } else {
        to_client(
            conn,
            state,
            c,
            MailKind::Rescheduled,
            None,
            Some("REQUEST"),
            now_ms(),
        )
        .await?;
        schedule_reminder(conn, state, c).await?;
    }
    to_counsellor(conn, state, c, MailKind::CounsellorRescheduled).await
}

/// Queues again, to the client's current address, the client mail of `kind` that failed
/// (`confirmation`, `rescheduled`, `pending`, `reminder`, `declined`, `cancellation`). A mail
/// that no longer matches the booking (a confirmation of a booking cancelled since) is a
/// conflict: the booking's later mail says what holds now.
pub async fn resend(
    conn: &mut sqlx::AnyConnection,
    state: &BookingState,
    c: &Ctx<'_>,
    kind: &str,
) -> Result<(), AppError> {
    let status = c.row.status.as_str();
    let (mail, ics) = match (kind, status) {
        ("confirmation", "confirmed") => (MailKind::Confirmation, Some("REQUEST")),
        ("rescheduled", "confirmed") => (MailKind::Rescheduled, Some("REQUEST")),
        ("reminder", "confirmed") => (MailKind::Reminder, None),
        ("pending", "pending") => (MailKind::Pending, None),
        ("declined", "declined") => (MailKind::Declined, None),
        ("cancellation", "cancelled") => (MailKind::Cancellation, Some("CANCEL")),
        _ => {
            return Err(AppError::Conflict(
                "this mail no longer matches the booking (it has changed since)".into(),
            ))
        }
    };
    let reason = match mail {
        MailKind::Declined | MailKind::Cancellation => c.row.cancel_reason(state)?,
        _ => None,
    };
    to_client(conn, state, c, mail, reason, ics, now_ms()).await
}
