//! What a counsellor does with a CalDAV account, whoever asks (the HTTP handlers in
//! [`super::http`] parse the request, call one of these and map the result): list, connect
//! (discover its calendars, store it, sync it), change, sync now, disconnect, and decide about
//! a booking changed in the calendar. The views returned are what the API shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::sources::parse_url;
use super::client::{Dav, Reach, Secret};
use super::discovery::discover;
use super::store::{self, AccountRow};
use super::sync::{lock_of, sync_detached};
use super::{ms, SyncError, PAST_MS};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;

/// Most accounts per counsellor.
const MAX_ACCOUNTS: i64 = 5;
/// Longest user name and app password.
const MAX_SECRET: usize = 500;

/// One calendar of a connected account.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    /// Id.
    pub id: String,
    /// Its name on the server.
    pub name: String,
    /// Its colour on the server (`#rrggbb…`), if any.
    pub color: Option<String>,
    /// Busy times here block booking slots.
    pub blocks: bool,
    /// Bookings can be written here.
    pub writable: bool,
    /// Only free/busy can be read (no event details).
    pub free_busy_only: bool,
    /// Busy intervals currently held from it.
    pub busy_count: i64,
}

/// A booking whose event was changed in the counsellor's calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedEvent {
    /// Id (for [`resolve`]).
    pub id: String,
    /// The booking.
    pub booking_id: String,
    /// The booking's time.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: DateTime<Utc>,
    /// `moved` (see the new times) or `deleted` (deleted, cancelled or set free there).
    pub change: String,
    /// Where the calendar has it now (`moved`).
    pub calendar_starts_at: Option<DateTime<Utc>>,
    /// Its end there.
    pub calendar_ends_at: Option<DateTime<Utc>>,
    /// When it was noticed.
    pub detected_at: DateTime<Utc>,
}

/// A connected CalDAV account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Account {
    /// Id.
    pub id: String,
    /// The counsellor's name for it.
    pub label: String,
    /// The server's host (the URL, user name and password are not shown again).
    pub host: String,
    /// The calendar bookings are written to, if any.
    pub write_calendar_id: Option<String>,
    /// Written events carry the client's name and details (otherwise only type and kind).
    pub client_details: bool,
    /// Its calendars.
    pub calendars: Vec<CalendarView>,
    /// Last attempt.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last success.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (`null` after a success).
    pub last_error: Option<String>,
    /// Active bookings not (yet) in the chosen calendar.
    pub pending_writes: i64,
    /// Bookings changed in the calendar, waiting for a decision.
    pub changed_events: Vec<ChangedEvent>,
}

/// An account as the API shows it: its calendars, sync state and changed bookings.
async fn view(state: &BookingState, a: AccountRow) -> Result<Account, AppError> {
    let mut calendars = Vec::new();
    for c in store::calendars_of(state, &a.id).await? {
        let busy_count = store::busy_count(&state.db, &c.id).await?;
        calendars.push(CalendarView {
            id: c.id,
            name: c.name,
            color: c.color,
            blocks: c.blocks != 0,
            writable: c.can_write != 0,
            free_busy_only: c.can_read == 0,
            busy_count,
        });
    }
    let now = now_ms();
    let pending_writes: i64 = if a.write_calendar_id.is_some() {
        store::pending_writes(&state.db, &a.counsellor_id, now - PAST_MS, &a.id).await?
    } else {
        0
    };
    let rows = store::changed_events(&state.db, &a.id).await?;
    let changed_events = rows
        .into_iter()
        .map(|c| ChangedEvent {
            id: c.id,
            booking_id: c.booking_id,
            starts_at: ms(c.starts_at),
            ends_at: ms(c.ends_at),
            change: c.external,
            calendar_starts_at: c.external_start.map(ms),
            calendar_ends_at: c.external_end.map(ms),
            detected_at: ms(c.detected_at),
        })
        .collect();
    Ok(Account {
        id: a.id,
        label: a.label,
        host: a.host,
        write_calendar_id: a.write_calendar_id,
        client_details: a.client_details != 0,
        calendars,
        last_sync_at: a.last_sync_at.map(ms),
        last_ok_at: a.last_ok_at.map(ms),
        last_error: a.last_error,
        pending_writes,
        changed_events,
    })
}

/// One of the counsellor's accounts, or `not_found`.
async fn own(state: &BookingState, me: &Counsellor, id: &str) -> Result<AccountRow, AppError> {
    store::own_account(&state.db, &me.id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A CalDAV account to connect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The server's address: its root, the principal, the calendar home or one calendar
    /// (`https://…`; `http://` only for servers on the same network).
    pub url: String,
    /// The user name.
    pub username: String,
    /// An app password (not the main password where the provider offers app passwords).
    pub password: String,
    /// A name for it (1–100 characters) [default: the host].
    #[serde(default)]
    pub label: Option<String>,
}

/// A field that must be given, at most `max` characters, without control characters.
fn check_text(field: &str, v: &str, max: usize) -> Result<(), AppError> {
    if v.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// The counsellor's accounts, oldest first.
pub async fn list(state: &BookingState, me: &Counsellor) -> Result<Vec<Account>, AppError> {
    let rows = store::accounts_of(&state.db, &me.id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(view(state, r).await?);
    }
    Ok(out)
}

/// Connects an account: finds its calendars (they all block booking times at first; no
/// calendar is written until one is chosen), stores it and syncs it.
pub async fn connect(
    state: &BookingState,
    me: &Counsellor,
    req: NewAccount,
) -> Result<Account, AppError> {
    let url = parse_url(&req.url).map_err(|e| AppError::invalid("url", e.to_string()))?;
    check_text("username", &req.username, MAX_SECRET)?;
    check_text("password", &req.password, MAX_SECRET)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let label = req
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(&host)
        .to_owned();
    check_text("label", &label, 100)?;
    let count = store::account_count(&state.db, &me.id).await?;
    if count >= MAX_ACCOUNTS {
        return Err(AppError::Conflict(format!(
            "at most {MAX_ACCOUNTS} calendar accounts"
        )));
    }
    let secret = Secret {
        url: url.to_string(),
        username: req.username.clone(),
        password: req.password.clone(),
    };
    let mut d = Dav::new(&secret, Reach::of(state), &state.config.trust)
        .map_err(|e| AppError::invalid("url", e.to_string()))?;
    let (home, found) = match discover(&mut d, &url).await {
        Ok(x) => x,
        Err(SyncError::Auth) => {
            return Err(AppError::invalid("password", SyncError::Auth.to_string()))
        }
        Err(SyncError::Internal(e)) => return Err(e),
        Err(e) => return Err(AppError::invalid("url", e.to_string())),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let sealed = state.keys.link.seal(
        &serde_json::to_vec(&secret).map_err(|e| AppError::Internal(e.to_string()))?,
        id.as_bytes(),
    );
    store::insert_account(
        state,
        store::NewAccountRow {
            id: &id,
            counsellor_id: &me.id,
            label: &label,
            host: &host,
            secret_sealed: &sealed,
            home: home.as_str(),
            now,
        },
    )
    .await?;
    store::store_calendars(state, &id, &found).await?;
    tracing::info!(counsellor_id = %me.id, account_id = %id, calendars = found.len(), "CalDAV account connected");
    sync_detached(state, &id, now, false).await?;
    view(state, own(state, me, &id).await?).await
}

/// A calendar's choice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarChoice {
    /// Calendar id.
    pub id: String,
    /// Whether its busy times block booking slots.
    pub blocks: bool,
}

/// Changes to an account. Absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    /// A new name.
    #[serde(default)]
    pub label: Option<String>,
    /// The calendar to write bookings to; `null` stops writing (events already written are
    /// removed from the calendar).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub write_calendar_id: Option<Option<String>>,
    /// Whether written events carry the client's name and details.
    #[serde(default)]
    pub client_details: Option<bool>,
    /// Which calendars block booking slots.
    #[serde(default)]
    pub calendars: Option<Vec<CalendarChoice>>,
}

/// A field that is present, `null` included (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes which calendars block and which is written, then syncs at once.
pub async fn change(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
    req: AccountChange,
) -> Result<Account, AppError> {
    let acc = own(state, me, id).await?;
    let cals = store::calendars_of(state, id).await?;
    if let Some(label) = &req.label {
        check_text("label", label.trim(), 100)?;
    }
    if let Some(Some(w)) = &req.write_calendar_id {
        match cals.iter().find(|c| &c.id == w) {
            None => {
                return Err(AppError::invalid(
                    "write_calendar_id",
                    "not a calendar of this account",
                ))
            }
            Some(c) if c.can_write == 0 => {
                return Err(AppError::invalid(
                    "write_calendar_id",
                    "this calendar is read-only",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(list) = &req.calendars {
        if let Some(bad) = list.iter().find(|c| !cals.iter().any(|k| k.id == c.id)) {
            return Err(AppError::invalid(
                "calendars",
                format!("{} is not a calendar of this account", bad.id),
            ));
        }
    }
    let update = store::AccountUpdate {
        label: req.label.as_deref().map(str::trim),
        write_calendar_id: req.write_calendar_id.as_ref().map(Option::as_deref),
        client_details: req
            .client_details
            .filter(|details| *details != (acc.client_details != 0)),
        blocks: req
            .calendars
            .iter()
            .flatten()
            .map(|c| (c.id.as_str(), c.blocks))
            .collect(),
    };
    store::update_account(&state.db, id, &update).await?;
    sync_detached(state, id, now_ms(), false).await?;
    view(state, own(state, me, id).await?).await
}

/// Syncs an account now (writes, then reads).
pub async fn sync_now(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
) -> Result<Account, AppError> {
    own(state, me, id).await?;
    sync_detached(state, id, now_ms(), false).await?;
    view(state, own(state, me, id).await?).await
}

/// Disconnects an account (waiting for a sync of it that is under way): its busy times stop
/// blocking; events it wrote stay in the calendar.
pub async fn disconnect(state: &BookingState, me: &Counsellor, id: &str) -> Result<(), AppError> {
    own(state, me, id).await?;
    let lock = lock_of(id);
    let _guard = lock.lock().await;
    store::delete_account(&state.db, id).await?;
    tracing::info!(counsellor_id = %me.id, account_id = %id, "CalDAV account disconnected");
    Ok(())
}

/// What to do about a booking changed in the calendar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `restore`: write the booking back as it is; `keep`: leave the calendar as it is (the
    /// booking itself is not changed; reschedule or cancel it separately if needed).
    pub action: String,
}

/// Decides about a booking whose event was changed in the calendar; `restore` writes it back
/// at once.
pub async fn resolve(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
    change_id: &str,
    req: Resolution,
) -> Result<Account, AppError> {
    own(state, me, id).await?;
    let restore = match req.action.as_str() {
        "restore" => true,
        "keep" => false,
        _ => return Err(AppError::invalid("action", "must be `restore` or `keep`")),
    };
    if !store::resolve_change(&state.db, id, change_id, restore).await? {
        return Err(AppError::NotFound);
    }
    if restore {
        sync_detached(state, id, now_ms(), true).await?;
    }
    view(state, own(state, me, id).await?).await
}
