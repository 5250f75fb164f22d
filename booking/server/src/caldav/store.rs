//! Every query on the CalDAV tables (`caldav_accounts`, `caldav_calendars`, `caldav_items`,
//! `caldav_busy`, `caldav_events`) and the one on the bookings a calendar should hold, behind
//! named functions; and the sealing of URLs at rest (the keyed digest [`url_key`] stands in
//! for a URL where it is only compared).

use std::collections::HashMap;

use super::super::store::{self as booking_store, BookingRow};
use super::discovery::Found;
use crate::BookingState;
use confidant_kit::db::Db;
use confidant_kit::error::AppError;

/// One side of a transaction on the database.
type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

#[derive(sqlx::FromRow, Clone)]
pub(super) struct AccountRow {
    pub(super) id: String,
    pub(super) counsellor_id: String,
    pub(super) label: String,
    pub(super) host: String,
    pub(super) secret_sealed: Vec<u8>,
    /// The discovered calendar home, sealed to `{id}/home` (NULL only before
    /// [`seal_urls_at_rest`]).
    pub(super) home_sealed: Option<Vec<u8>>,
    pub(super) write_calendar_id: Option<String>,
    pub(super) client_details: i64,
    pub(super) last_sync_at: Option<i64>,
    pub(super) last_ok_at: Option<i64>,
    pub(super) last_error: Option<String>,
    pub(super) failures: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, counsellor_id, label, host, secret_sealed, home_sealed, write_calendar_id, \
     client_details, last_sync_at, last_ok_at, last_error, failures";

#[derive(sqlx::FromRow, Clone)]
pub(super) struct CalendarRow {
    pub(super) id: String,
    /// The calendar's URL, sealed to the calendar id.
    pub(super) url_sealed: Option<Vec<u8>>,
    /// `url_sealed` opened (by [`calendars_of`]).
    #[sqlx(skip)]
    pub(super) url: String,
    pub(super) name: String,
    pub(super) color: Option<String>,
    pub(super) can_read: i64,
    pub(super) can_write: i64,
    pub(super) sync_supported: i64,
    pub(super) free_busy: i64,
    pub(super) blocks: i64,
    pub(super) sync_token: Option<String>,
    pub(super) ctag: Option<String>,
    pub(super) last_full_at: Option<i64>,
}

const CALENDAR_COLUMNS: &str =
    "id, url_sealed, name, color, can_read, can_write, sync_supported, free_busy, \
     blocks, sync_token, ctag, last_full_at";

#[derive(sqlx::FromRow, Clone)]
pub(super) struct EventRow {
    pub(super) id: String,
    pub(super) booking_id: String,
    /// [`url_key`] of the calendar's URL.
    pub(super) calendar_key: String,
    /// The resource's absolute URL, sealed to the event id.
    pub(super) href_sealed: Option<Vec<u8>>,
    /// `href_sealed` opened (by [`events_where`]).
    #[sqlx(skip)]
    pub(super) href: String,
    pub(super) etag: Option<String>,
    pub(super) written_version: i64,
    pub(super) written_start: i64,
    pub(super) written_end: i64,
    pub(super) external: Option<String>,
}

const EVENT_COLUMNS: &str =
    "id, booking_id, calendar_url AS calendar_key, href_sealed, etag, written_version, \
     written_start, written_end, external";

#[derive(sqlx::FromRow)]
pub(super) struct BookingWithVersion {
    #[sqlx(flatten)]
    pub(super) row: BookingRow,
    pub(super) updated_at: i64,
    pub(super) active: i64,
}

impl AccountRow {
    pub(super) fn secret(&self, state: &BookingState) -> Result<super::client::Secret, AppError> {
        let plain = state
            .keys
            .link
            .open(&self.secret_sealed, self.id.as_bytes())?;
        serde_json::from_slice(&plain)
            .map_err(|e| AppError::Internal(format!("sealed CalDAV account: {e}")))
    }

    /// The discovered calendar home.
    pub(super) fn home(&self, state: &BookingState) -> Result<String, AppError> {
        open_text(state, self.home_sealed.as_deref(), &home_aad(&self.id))
    }
}

/// Associated data of an account's sealed home URL (not the account id alone: that one seals
/// the credentials).
pub(super) fn home_aad(account_id: &str) -> String {
    format!("{account_id}/home")
}

/// Opens a sealed text column.
fn open_text(state: &BookingState, sealed: Option<&[u8]>, aad: &str) -> Result<String, AppError> {
    let sealed = sealed.ok_or_else(|| AppError::Internal("CalDAV address not sealed".into()))?;
    String::from_utf8(state.keys.link.open(sealed, aad.as_bytes())?)
        .map_err(|e| AppError::Internal(format!("sealed CalDAV address: {e}")))
}

/// Seals a URL to its row.
pub(super) fn seal_text(state: &BookingState, plain: &str, aad: &str) -> Vec<u8> {
    state.keys.link.seal(plain.as_bytes(), aad.as_bytes())
}

/// The keyed digest (HMAC-SHA256 under a key derived from the DEK, hex) that stands in for a
/// URL or href where it is only compared: equal URLs give equal digests, and without the key
/// the digest tells nothing about the URL (not even a guessed one can be confirmed).
pub fn url_key(state: &BookingState, url: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &state.keys.caldav_urls);
    hex::encode(ring::hmac::sign(&key, url.as_bytes()).as_ref())
}

pub(super) async fn calendars_of(
    state: &BookingState,
    account_id: &str,
) -> Result<Vec<CalendarRow>, AppError> {
    let mut rows = sqlx::query_as::<_, CalendarRow>(&format!(
        "SELECT {CALENDAR_COLUMNS} FROM caldav_calendars WHERE account_id = $1 ORDER BY name, id"
    ))
    .bind(account_id)
    .fetch_all(&state.db)
    .await?;
    for r in &mut rows {
        r.url = open_text(state, r.url_sealed.as_deref(), &r.id)?;
    }
    Ok(rows)
}

/// The events of an account (`AND` whatever `filter` adds, with `$2` bound to `arg`), their
/// URLs opened.
async fn events_where(
    state: &BookingState,
    account_id: &str,
    filter: &str,
    arg: Option<&str>,
) -> Result<Vec<EventRow>, AppError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM caldav_events WHERE account_id = $1{filter}");
    let mut q = sqlx::query_as::<_, EventRow>(&sql).bind(account_id);
    if let Some(a) = arg {
        q = q.bind(a);
    }
    let mut rows = q.fetch_all(&state.db).await?;
    for r in &mut rows {
        r.href = open_text(state, r.href_sealed.as_deref(), &r.id)?;
    }
    Ok(rows)
}

/// Stores what discovery found: new calendars are added (blocking by default when they can
/// be read), known ones updated, vanished ones removed with their busy times.
pub(super) async fn store_calendars(
    state: &BookingState,
    account_id: &str,
    found: &[Found],
) -> Result<(), AppError> {
    let known = calendars_of(state, account_id).await?;
    let mut tx = state.db.begin().await?;
    for f in found {
        if let Some(k) = known.iter().find(|k| k.url == f.url.as_str()) {
            sqlx::query(
                "UPDATE caldav_calendars SET name = $1, color = $2, can_read = $3, can_write = $4, sync_supported = $5,
                    free_busy = $6 WHERE id = $7",
            )
            .bind(&f.name)
            .bind(&f.color)
            .bind(i64::from(f.can_read))
            .bind(i64::from(f.can_write))
            .bind(i64::from(f.sync_supported))
            .bind(i64::from(f.free_busy))
            .bind(&k.id)
            .execute(&mut *tx)
            .await?;
        } else {
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO caldav_calendars (id, account_id, url, url_sealed, name, color, can_read, can_write, sync_supported,
                    free_busy, blocks)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)",
            )
            .bind(&id)
            .bind(account_id)
            .bind(url_key(state, f.url.as_str()))
            .bind(seal_text(state, f.url.as_str(), &id))
            .bind(&f.name)
            .bind(&f.color)
            .bind(i64::from(f.can_read))
            .bind(i64::from(f.can_write))
            .bind(i64::from(f.sync_supported))
            .bind(i64::from(f.free_busy))
            .execute(&mut *tx)
            .await?;
        }
    }
    for k in known
        .iter()
        .filter(|k| !found.iter().any(|f| f.url.as_str() == k.url))
    {
        sqlx::query("DELETE FROM caldav_calendars WHERE id = $1")
            .bind(&k.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE caldav_accounts SET write_calendar_id = NULL WHERE id = $1 AND write_calendar_id = $2")
            .bind(account_id)
            .bind(&k.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Brings the CalDAV rows of accounts connected before the addresses were sealed (migration
/// 0012) into the sealed form: the home, calendar and event URLs sealed to their rows, the
/// looked-up ones (calendar URLs, events' calendars, members' hrefs) replaced by their
/// [`url_key`], and the clear columns emptied. Runs on every start; an account whose home is
/// sealed is done, and each account is done in one transaction, so an interrupted start
/// leaves nothing half-converted. Returns how many accounts it converted.
pub async fn seal_urls_at_rest(state: &BookingState) -> Result<usize, AppError> {
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT id, home_url FROM caldav_accounts WHERE home_sealed IS NULL")
            .fetch_all(&state.db)
            .await?;
    for (account_id, home) in &pending {
        let mut tx = state.db.begin().await?;
        let calendars: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, url FROM caldav_calendars WHERE account_id = $1 AND url_sealed IS NULL",
        )
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await?;
        for (id, url) in &calendars {
            sqlx::query("UPDATE caldav_calendars SET url = $1, url_sealed = $2 WHERE id = $3")
                .bind(url_key(state, url))
                .bind(seal_text(state, url, id))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let events: Vec<(String, String, String)> =
            sqlx::query_as("SELECT id, calendar_url, href FROM caldav_events WHERE account_id = $1 AND href_sealed IS NULL")
                .bind(account_id)
                .fetch_all(&mut *tx)
                .await?;
        for (id, calendar_url, href) in &events {
            sqlx::query("UPDATE caldav_events SET calendar_url = $1, href = '', href_sealed = $2 WHERE id = $3")
                .bind(url_key(state, calendar_url))
                .bind(seal_text(state, href, id))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for table in ["caldav_items", "caldav_busy"] {
            let members: Vec<(String, String)> = sqlx::query_as(&format!(
                "SELECT DISTINCT calendar_id, href FROM {table}
                 WHERE href <> '' AND calendar_id IN (SELECT id FROM caldav_calendars WHERE account_id = $1)"
            ))
            .bind(account_id)
            .fetch_all(&mut *tx)
            .await?;
            for (calendar_id, href) in &members {
                sqlx::query(&format!(
                    "UPDATE {table} SET href = $1 WHERE calendar_id = $2 AND href = $3"
                ))
                .bind(url_key(state, href))
                .bind(calendar_id)
                .bind(href)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE caldav_accounts SET home_url = '', home_sealed = $1 WHERE id = $2")
            .bind(seal_text(state, home, &home_aad(account_id)))
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(pending.len())
}

// ---------------------------------------------------------------------------------------------
// What a read stores

/// Drops what is stored of one member (by its [`url_key`]): its etag and busy times.
pub(super) async fn forget_member(
    tx: &mut Tx<'_>,
    cal: &CalendarRow,
    key: &str,
) -> Result<(), AppError> {
    for table in ["caldav_busy", "caldav_items"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE calendar_id = $1 AND href = $2"
        ))
        .bind(&cal.id)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stores a busy interval; `key` is the member's [`url_key`] ('' for a free-busy answer).
pub(super) async fn insert_busy(
    tx: &mut Tx<'_>,
    cal: &CalendarRow,
    counsellor_id: &str,
    key: &str,
    start: i64,
    end: i64,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO caldav_busy (calendar_id, counsellor_id, href, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&cal.id)
        .bind(counsellor_id)
        .bind(key)
        .bind(start)
        .bind(end)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks one of our events as changed in the calendar (`moved` to `times`, or `deleted`).
pub(super) async fn mark_external(
    tx: &mut Tx<'_>,
    ev: &EventRow,
    what: &str,
    times: Option<(i64, i64)>,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE caldav_events SET external = $1, external_start = $2, external_end = $3, detected_at = $4, kept = 0 WHERE id = $5",
    )
    .bind(what)
    .bind(times.map(|t| t.0))
    .bind(times.map(|t| t.1))
    .bind(now)
    .bind(&ev.id)
    .execute(&mut **tx)
    .await?;
    tracing::info!(event_id = %ev.id, change = what, "booked event changed in the counsellor's calendar");
    Ok(())
}

/// Every event we wrote for an account, URLs opened.
pub(super) async fn events_of(
    state: &BookingState,
    account_id: &str,
) -> Result<Vec<EventRow>, AppError> {
    events_where(state, account_id, "", None).await
}

/// The events we wrote into one calendar (by its [`url_key`]), URLs opened.
pub(super) async fn events_in(
    state: &BookingState,
    account_id: &str,
    calendar_key: &str,
) -> Result<Vec<EventRow>, AppError> {
    events_where(
        state,
        account_id,
        " AND calendar_url = $2",
        Some(calendar_key),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Accounts

/// One account by id.
pub(super) async fn account(db: &Db, id: &str) -> Result<Option<AccountRow>, AppError> {
    Ok(sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// One account of a counsellor (`None` if it is not theirs or does not exist).
pub(super) async fn own_account(
    db: &Db,
    counsellor_id: &str,
    id: &str,
) -> Result<Option<AccountRow>, AppError> {
    Ok(sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(counsellor_id)
    .fetch_optional(db)
    .await?)
}

/// A counsellor's accounts, oldest first.
pub(super) async fn accounts_of(db: &Db, counsellor_id: &str) -> Result<Vec<AccountRow>, AppError> {
    Ok(sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE counsellor_id = $1 ORDER BY created_at"
    ))
    .bind(counsellor_id)
    .fetch_all(db)
    .await?)
}

/// How many accounts a counsellor has.
pub(super) async fn account_count(db: &Db, counsellor_id: &str) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM caldav_accounts WHERE counsellor_id = $1")
            .bind(counsellor_id)
            .fetch_one(db)
            .await?,
    )
}

/// A new account, due for its first sync at `now`.
pub(super) struct NewAccountRow<'a> {
    pub(super) id: &'a str,
    pub(super) counsellor_id: &'a str,
    pub(super) label: &'a str,
    pub(super) host: &'a str,
    /// The server URL, user name and password, sealed to the account id.
    pub(super) secret_sealed: &'a [u8],
    /// The discovered calendar home (sealed here).
    pub(super) home: &'a str,
    pub(super) now: i64,
}

/// Stores a new account.
pub(super) async fn insert_account(
    state: &BookingState,
    a: NewAccountRow<'_>,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO caldav_accounts (id, counsellor_id, label, host, secret_sealed, home_url, home_sealed, created_at,
            next_sync_at, failures)
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7, 0)",
    )
    .bind(a.id)
    .bind(a.counsellor_id)
    .bind(a.label)
    .bind(a.host)
    .bind(a.secret_sealed)
    .bind(seal_text(state, a.home, &home_aad(a.id)))
    .bind(a.now)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// What a counsellor changes on an account; `None` leaves a field as it is.
pub(super) struct AccountUpdate<'a> {
    pub(super) label: Option<&'a str>,
    /// `Some(None)` stops writing.
    pub(super) write_calendar_id: Option<Option<&'a str>>,
    /// A new value for "events carry the client's details" (only when it differs).
    pub(super) client_details: Option<bool>,
    /// `(calendar id, blocks)` for the calendars named.
    pub(super) blocks: Vec<(&'a str, bool)>,
}

/// Applies an [`AccountUpdate`] in one transaction. A change of `client_details` marks every
/// written event (not changed in the calendar) to be written again with the new content; a
/// calendar whose blocking changes is read in full next time.
pub(super) async fn update_account(
    db: &Db,
    id: &str,
    u: &AccountUpdate<'_>,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    if let Some(label) = u.label {
        sqlx::query("UPDATE caldav_accounts SET label = $1 WHERE id = $2")
            .bind(label)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(w) = &u.write_calendar_id {
        sqlx::query("UPDATE caldav_accounts SET write_calendar_id = $1 WHERE id = $2")
            .bind(*w)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(details) = u.client_details {
        sqlx::query("UPDATE caldav_accounts SET client_details = $1 WHERE id = $2")
            .bind(i64::from(details))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Every written event gets the new content.
        sqlx::query("UPDATE caldav_events SET written_version = -1 WHERE account_id = $1 AND external IS NULL AND kept = 0")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    for (calendar_id, blocks) in &u.blocks {
        sqlx::query("UPDATE caldav_calendars SET blocks = $1, last_full_at = NULL WHERE id = $2 AND account_id = $3")
            .bind(i64::from(*blocks))
            .bind(*calendar_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes an account with its calendars, members, busy times and event records (the events
/// themselves stay in the calendar).
pub(super) async fn delete_account(db: &Db, id: &str) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    for table in [
        "caldav_events WHERE account_id",
        "caldav_busy WHERE calendar_id IN (SELECT id FROM caldav_calendars WHERE account_id",
        "caldav_items WHERE calendar_id IN (SELECT id FROM caldav_calendars WHERE account_id",
    ] {
        let close = if table.contains("IN (") { ")" } else { "" };
        sqlx::query(&format!("DELETE FROM {table} = $1{close}"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM caldav_calendars WHERE account_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM caldav_accounts WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a good sync: the next one is due at `next`.
pub(super) async fn record_success(db: &Db, id: &str, now: i64, next: i64) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE caldav_accounts SET last_sync_at = $1, last_ok_at = $1, last_error = NULL, failures = 0, next_sync_at = $2
         WHERE id = $3",
    )
    .bind(now)
    .bind(next)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed sync (its `failures`th in a row): the error text, and the retry at `next`.
pub(super) async fn record_failure(
    db: &Db,
    id: &str,
    now: i64,
    error: &str,
    failures: i64,
    next: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE caldav_accounts SET last_sync_at = $1, last_error = $2, failures = $3, next_sync_at = $4 WHERE id = $5",
    )
    .bind(now)
    .bind(error)
    .bind(failures)
    .bind(next)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Clears an account's error after a round of writes went through.
pub(super) async fn clear_error(db: &Db, id: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE caldav_accounts SET last_error = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The accounts due for a sync at `now`, longest waiting first (at most 50 a round).
pub(super) async fn due_accounts(db: &Db, now: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM caldav_accounts WHERE next_sync_at <= $1 ORDER BY next_sync_at LIMIT 50",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

/// Healthy accounts that write bookings and are not due yet (their pending writes go out
/// between reads).
pub(super) async fn healthy_writers(db: &Db, now: i64) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM caldav_accounts WHERE write_calendar_id IS NOT NULL AND failures = 0 AND next_sync_at > $1",
    )
    .bind(now)
    .fetch_all(db)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Calendars, members and busy times

/// Busy intervals currently held from a calendar.
pub(super) async fn busy_count(db: &Db, calendar_id: &str) -> Result<i64, AppError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM caldav_busy WHERE calendar_id = $1")
            .bind(calendar_id)
            .fetch_one(db)
            .await?,
    )
}

/// Drops a calendar's busy times (it blocks nothing any more).
pub(super) async fn clear_busy(db: &Db, calendar_id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM caldav_busy WHERE calendar_id = $1")
        .bind(calendar_id)
        .execute(db)
        .await?;
    Ok(())
}

/// [`clear_busy`] inside a transaction (a free/busy answer replaces them all).
pub(super) async fn clear_busy_in(tx: &mut Tx<'_>, calendar_id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM caldav_busy WHERE calendar_id = $1")
        .bind(calendar_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops the members known of a calendar (all of it is read again).
pub(super) async fn clear_items(db: &Db, calendar_id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM caldav_items WHERE calendar_id = $1")
        .bind(calendar_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The members known of a calendar: their [`url_key`] and the etag last read.
pub(super) async fn items_of(
    db: &Db,
    calendar_id: &str,
) -> Result<HashMap<String, Option<String>>, AppError> {
    Ok(sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT href, etag FROM caldav_items WHERE calendar_id = $1",
    )
    .bind(calendar_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect())
}

/// Records a member read (by its [`url_key`]) with its etag.
pub(super) async fn insert_item(
    tx: &mut Tx<'_>,
    calendar_id: &str,
    key: &str,
    etag: &Option<String>,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO caldav_items (calendar_id, href, etag) VALUES ($1, $2, $3)")
        .bind(calendar_id)
        .bind(key)
        .bind(etag)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a calendar read: the new sync token or ctag where the server gave one, and the time
/// of a full read.
pub(super) async fn record_read(
    tx: &mut Tx<'_>,
    calendar_id: &str,
    sync_token: &Option<String>,
    ctag: &Option<String>,
    full: bool,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE caldav_calendars SET sync_token = COALESCE($1, sync_token), ctag = COALESCE($2, ctag),
            last_full_at = CASE WHEN $3 = 1 THEN $4 ELSE last_full_at END WHERE id = $5",
    )
    .bind(sync_token)
    .bind(ctag)
    .bind(i64::from(full))
    .bind(now)
    .bind(calendar_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Our events in the calendar

/// Records the etag the calendar now has for one of our events.
pub(super) async fn set_event_etag(
    tx: &mut Tx<'_>,
    event_id: &str,
    etag: &Option<String>,
) -> Result<(), AppError> {
    sqlx::query("UPDATE caldav_events SET etag = $1 WHERE id = $2")
        .bind(etag)
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The bookings of a counsellor that a calendar may hold: not over longer than until `since`,
/// active or written before (so a cancellation is deleted there), by start.
pub(super) async fn bookings_to_write(
    db: &Db,
    counsellor_id: &str,
    since: i64,
    account_id: &str,
) -> Result<Vec<BookingWithVersion>, AppError> {
    Ok(sqlx::query_as::<_, BookingWithVersion>(&format!(
        "SELECT {}, updated_at, active FROM bookings
         WHERE counsellor_id = $1 AND ends_at > $2 AND (active = 1 OR id IN (SELECT booking_id FROM caldav_events WHERE account_id = $3))
         ORDER BY starts_at",
        booking_store::BOOKING_COLUMNS
    ))
    .bind(counsellor_id)
    .bind(since)
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Forgets one of our events (deleted in the calendar, or moved to another calendar).
pub(super) async fn delete_event(db: &Db, event_id: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM caldav_events WHERE id = $1")
        .bind(event_id)
        .execute(db)
        .await?;
    Ok(())
}

/// A booking as written to the calendar.
pub(super) struct Written<'a> {
    pub(super) booking: &'a BookingWithVersion,
    pub(super) etag: &'a Option<String>,
}

/// Records a booking newly written to the calendar `calendar_url` at `href`.
pub(super) async fn insert_event(
    state: &BookingState,
    account_id: &str,
    calendar_url: &str,
    href: &str,
    w: Written<'_>,
) -> Result<(), AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO caldav_events (id, booking_id, account_id, calendar_url, href, href_sealed, etag, written_version,
            written_start, written_end)
         VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&w.booking.row.id)
    .bind(account_id)
    .bind(url_key(state, calendar_url))
    .bind(seal_text(state, href, &id))
    .bind(w.etag)
    .bind(w.booking.updated_at)
    .bind(w.booking.row.starts_at)
    .bind(w.booking.row.ends_at)
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Records a booking written again over its event: any change noticed in the calendar is
/// settled.
pub(super) async fn update_event(db: &Db, event_id: &str, w: Written<'_>) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE caldav_events SET etag = $1, written_version = $2, written_start = $3, written_end = $4, external = NULL,
            external_start = NULL, external_end = NULL, detected_at = NULL, kept = 0, last_error = NULL WHERE id = $5",
    )
    .bind(w.etag)
    .bind(w.booking.updated_at)
    .bind(w.booking.row.starts_at)
    .bind(w.booking.row.ends_at)
    .bind(event_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Active bookings of the counsellor not over before `since` that are not (yet) in the
/// calendar as they are now.
pub(super) async fn pending_writes(
    db: &Db,
    counsellor_id: &str,
    since: i64,
    account_id: &str,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM bookings b WHERE b.counsellor_id = $1 AND b.active = 1 AND b.ends_at > $2
           AND NOT EXISTS (SELECT 1 FROM caldav_events e WHERE e.booking_id = b.id AND e.account_id = $3
                           AND e.written_version = b.updated_at)",
    )
    .bind(counsellor_id)
    .bind(since)
    .bind(account_id)
    .fetch_one(db)
    .await?)
}

/// An active booking whose event was changed in the calendar and not yet decided about.
#[derive(sqlx::FromRow)]
pub(super) struct ChangedRow {
    pub(super) id: String,
    pub(super) booking_id: String,
    pub(super) starts_at: i64,
    pub(super) ends_at: i64,
    pub(super) external: String,
    pub(super) external_start: Option<i64>,
    pub(super) external_end: Option<i64>,
    pub(super) detected_at: i64,
}

/// An account's [`ChangedRow`]s, by the booking's start.
pub(super) async fn changed_events(db: &Db, account_id: &str) -> Result<Vec<ChangedRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.booking_id, b.starts_at, b.ends_at, e.external, e.external_start, e.external_end, e.detected_at
         FROM caldav_events e JOIN bookings b ON b.id = e.booking_id
         WHERE e.account_id = $1 AND e.external IS NOT NULL AND e.kept = 0 AND b.active = 1
         ORDER BY b.starts_at",
    )
    .bind(account_id)
    .fetch_all(db)
    .await?)
}

/// Decides about a changed event: `restore` (write the booking back: its version is reset) or
/// keep the calendar's version. False if there is no such changed event in the account.
pub(super) async fn resolve_change(
    db: &Db,
    account_id: &str,
    change_id: &str,
    restore: bool,
) -> Result<bool, AppError> {
    let sql = if restore {
        "UPDATE caldav_events SET written_version = -1, kept = 0 WHERE id = $1 AND account_id = $2 AND external IS NOT NULL"
    } else {
        "UPDATE caldav_events SET kept = 1 WHERE id = $1 AND account_id = $2 AND external IS NOT NULL"
    };
    let done = sqlx::query(sql)
        .bind(change_id)
        .bind(account_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() != 0)
}
