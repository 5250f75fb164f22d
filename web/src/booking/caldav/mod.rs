//! Two-way CalDAV sync (issue 6): a counsellor connects a calendar account (server URL, user
//! name, app password); busy times from the calendars they choose block booking slots, and
//! their bookings are written into the calendar they choose.
//!
//! - **Reading** ([`sync_calendar`]): `REPORT sync-collection` from the last sync token
//!   (RFC 6578), or, where the server has none, the members' etags compared with the last
//!   sync's; only changed members are fetched (`calendar-multiget`) and their busy times
//!   replaced (recurrences expanded in the counsellor's zone by `confidant_booking::busy`).
//!   Calendars the account may only see as free/busy are read with `free-busy-query`. Once a
//!   day everything is read again, so recurring events are expanded over the moving window.
//! - **Writing** ([`reconcile`]): every active booking is a resource `{booking id}.ics` in the
//!   chosen calendar, created with `If-None-Match: *`, changed with `If-Match` on the etag we
//!   wrote, deleted with `If-Match` when the booking is cancelled. Nothing else in the calendar
//!   is ever written or deleted.
//! - **Noticing** changes made in the calendar: a booking's event that was moved, freed or
//!   deleted there is marked (`external`) and shown on the dashboard; it is not written back
//!   until the counsellor decides (put it back, or keep the calendar's version). A later change
//!   of the booking itself (a reschedule, a cancellation) is written again.
//! - **Failures** (server unreachable, refused login) are recorded on the account and shown;
//!   the busy times of the last good sync stay, bookings not yet written stay pending, and the
//!   sync is retried with backoff (one minute doubling to an hour).
//!
//! **At rest** nothing names the server or the account in clear: the server URL, user name and
//! password are one sealed document; the discovered calendar home, each calendar's URL and each
//! written event's URL are sealed to their row; where a URL is only looked up (a calendar's
//! URL in its unique key, an event's calendar, the members' hrefs), a keyed digest
//! ([`url_key`]) stands in for it. [`seal_urls_at_rest`] brings rows from before that into this
//! form on start. The address rules of [`super::sources`] apply: only public hosts unless
//! `--calendar-fetch-private`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, TimeZone, Utc};
use confidant_booking::busy::{busy_from_freebusy, busy_from_ics, event_span};
use confidant_booking::caldav::{self as dav, Entry};
use confidant_booking::ics;
use confidant_kit::scheduler::{Job, Pace};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sources::{
    backoff_ms, parse_url, pinned_client, without_url, FetchError, HORIZON_DAYS, SYNC_EVERY_MS,
};
use super::store::{self, BookingRow};
use crate::auth::Counsellor;
use crate::db::now_ms;
use crate::error::{AppError, ErrorBody};
use crate::AppState;

/// Most accounts per counsellor.
const MAX_ACCOUNTS: i64 = 5;
/// Longest user name and app password.
const MAX_SECRET: usize = 500;
/// Redirects followed during discovery (each target is checked again).
const MAX_REDIRECTS: usize = 3;
/// Largest answer read, in bytes.
const MAX_BODY: usize = confidant_booking::busy::MAX_BYTES;
/// Everything is read again after this long (recurring events move with the window).
const FULL_EVERY_MS: i64 = 24 * 3_600_000;
/// Bookings that ended longer ago than this are left alone.
const PAST_MS: i64 = 24 * 3_600_000;

/// Why a sync step failed, in words for the counsellor (no URLs, no secrets).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Connection, address or transport problem.
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// 401: the user name or app password is wrong.
    #[error("the calendar server refused the user name and app password")]
    Auth,
    /// Another unexpected status.
    #[error("the calendar server answered {0} to {1}")]
    Status(u16, &'static str),
    /// An answer that could not be read.
    #[error("{0}")]
    Answer(String),
    /// The server has no calendar home for this login.
    #[error("no calendars were found at this address for this user")]
    NoCalendars,
    /// The server redirected (or pointed discovery) to another scheme, host or port; the
    /// user name and app password are only ever sent to the origin the counsellor entered.
    #[error(
        "the calendar server sent Confidant to another server{}; the app password is only sent \
         to the address you entered, so enter the address of that server instead",
        target.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
    )]
    CrossOrigin {
        /// The other server's origin (`https://host:port`), where it is shown at once (not
        /// where the text is stored).
        target: Option<String>,
    },
    /// `http://` without `--caldav-allow-http`: the app password would cross the network
    /// unencrypted.
    #[error(
        "the address must start with https:// (http:// would send the app password unencrypted)"
    )]
    Insecure,
    /// Our own database.
    #[error("internal error")]
    Internal(#[from] AppError),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Internal(e.into())
    }
}

/// The sealed part of an account.
#[derive(Serialize, Deserialize)]
struct Secret {
    url: String,
    username: String,
    password: String,
}

/// An answer from the calendar server.
struct Reply {
    status: u16,
    etag: Option<String>,
    location: Option<String>,
    body: String,
}

/// Where one account's requests may go.
#[derive(Debug, Clone, Copy)]
struct Reach {
    /// `--calendar-fetch-private`: loopback and private addresses too.
    allow_private: bool,
    /// `--caldav-allow-http`: `http://` too.
    allow_http: bool,
}

impl Reach {
    fn of(state: &AppState) -> Self {
        Reach {
            allow_private: state.config.calendar_fetch_private,
            allow_http: state.config.caldav_allow_http,
        }
    }
}

/// HTTP for one account during one sync: basic auth, one pinned client. Every request goes to
/// the origin (scheme, host and port) of the URL the counsellor entered, and nowhere else: a
/// redirect or a discovered address elsewhere is refused before anything is sent there.
struct Dav {
    username: String,
    password: String,
    /// `scheme://host:port` of the entered URL.
    origin: String,
    reach: Reach,
    /// Trust anchors for TLS (bundled, system, `--ca-file`).
    trust: crate::tls::Trust,
    client: Option<reqwest::Client>,
}

impl Dav {
    /// A session for `secret`; refuses `http://` unless allowed.
    fn new(secret: &Secret, reach: Reach, trust: &crate::tls::Trust) -> Result<Self, SyncError> {
        let entered =
            Url::parse(&secret.url).map_err(|_| SyncError::Answer("bad server URL".into()))?;
        if entered.scheme() != "https" && !reach.allow_http {
            return Err(SyncError::Insecure);
        }
        Ok(Dav {
            username: secret.username.clone(),
            password: secret.password.clone(),
            origin: entered.origin().ascii_serialization(),
            reach,
            trust: trust.clone(),
            client: None,
        })
    }

    /// Refuses a URL outside the entered origin.
    fn check_origin(&self, url: &Url) -> Result<(), SyncError> {
        let origin = url.origin().ascii_serialization();
        if origin == self.origin {
            Ok(())
        } else {
            Err(SyncError::CrossOrigin {
                target: Some(origin),
            })
        }
    }

    async fn send(
        &mut self,
        method: &'static str,
        url: &Url,
        depth: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, SyncError> {
        // The one place credentials leave: only ever to the entered origin.
        self.check_origin(url)?;
        let client = match &self.client {
            Some(c) => c.clone(),
            None => {
                let c = pinned_client(url, self.reach.allow_private, &self.trust).await?;
                self.client = Some(c.clone());
                c
            }
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SyncError::Answer(e.to_string()))?;
        let mut req = client
            .request(m, url.clone())
            .basic_auth(&self.username, Some(&self.password));
        if let Some(d) = depth {
            req = req.header("Depth", d);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            let ct = if method == "PUT" {
                "text/calendar; charset=utf-8"
            } else {
                "application/xml; charset=utf-8"
            };
            req = req.header("Content-Type", ct).body(b);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(SyncError::Auth);
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, location) = (header("etag"), header("location"));
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(FetchError::TooLarge.into());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            etag,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// A PROPFIND that must answer 207; follows redirects (discovery goes through
    /// `/.well-known/caldav`). Returns the entries and the URL that answered.
    async fn propfind(
        &mut self,
        url: &Url,
        depth: &str,
        body: &str,
    ) -> Result<(dav::Multistatus, Url), SyncError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let r = self
                .send("PROPFIND", &url, Some(depth), Some(body.to_owned()), &[])
                .await?;
            if (300..400).contains(&r.status) {
                let next = r
                    .location
                    .as_deref()
                    .and_then(|l| url.join(l).ok())
                    .ok_or(SyncError::Status(r.status, "PROPFIND"))?;
                url = parse_url(next.as_str())?;
                self.check_origin(&url)?;
                continue;
            }
            if r.status != 207 {
                return Err(SyncError::Status(r.status, "PROPFIND"));
            }
            let ms =
                dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
            return Ok((ms, url));
        }
        Err(FetchError::Network("too many redirects".into()).into())
    }

    async fn report(&mut self, url: &Url, depth: &str, body: String) -> Result<Reply, SyncError> {
        self.send("REPORT", url, Some(depth), Some(body), &[]).await
    }
}

/// A calendar as discovered.
#[derive(Debug, Clone)]
struct Found {
    url: Url,
    name: String,
    color: Option<String>,
    can_read: bool,
    can_write: bool,
    sync_supported: bool,
    free_busy: bool,
}

fn found_of(home: &Url, e: &Entry) -> Option<Found> {
    if !e.holds_events() {
        return None;
    }
    let url = home.join(&e.href).ok()?;
    // Servers that do not report privileges let their users read and write their own calendars.
    let p = e.privileges.unwrap_or(dav::Privileges {
        read: true,
        write: true,
        read_free_busy: true,
    });
    if !p.read && !p.read_free_busy {
        return None;
    }
    let name = e
        .display_name
        .clone()
        .unwrap_or_else(|| percent_decoded(dav::last_segment(&e.href)));
    Some(Found {
        url,
        name: name.chars().filter(|c| !c.is_control()).take(100).collect(),
        color: e
            .color
            .clone()
            .filter(|c| c.len() <= 20 && c.starts_with('#')),
        can_read: p.read,
        can_write: p.write,
        sync_supported: e.sync_supported,
        free_busy: e.free_busy_supported || (!p.read && p.read_free_busy),
    })
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calendars at `home`: the collection itself when it is a calendar (an account given by
/// one calendar's URL, perhaps one it may only see as free/busy, where listing its members is
/// not allowed), else its member calendars.
async fn list_calendars(d: &mut Dav, home: &Url) -> Result<(Url, Vec<Found>), SyncError> {
    let (ms, at) = d.propfind(home, "0", dav::PROPFIND_CALENDARS).await?;
    if let Some(one) = ms.entries.first().and_then(|e| found_of(&at, e)) {
        return Ok((at, vec![one]));
    }
    let (ms, at) = d.propfind(&at, "1", dav::PROPFIND_CALENDARS).await?;
    let found = ms.entries.iter().filter_map(|e| found_of(&at, e)).collect();
    Ok((at, found))
}

/// Finds the calendar home from the URL the counsellor gave (a server root, a principal, a
/// home or a calendar) and lists its calendars.
async fn discover(d: &mut Dav, start: &Url) -> Result<(Url, Vec<Found>), SyncError> {
    // 0. One calendar's own URL.
    match d.propfind(start, "0", dav::PROPFIND_CALENDARS).await {
        Ok((ms, at)) => {
            if let Some(one) = ms.entries.first().and_then(|e| found_of(&at, e)) {
                return Ok((at, vec![one]));
            }
        }
        Err(SyncError::Status(..) | SyncError::Answer(_)) => {}
        Err(e) => return Err(e),
    }
    // 1. The principal, from the URL given or the well-known address.
    let principal = match d.propfind(start, "0", dav::PROPFIND_PRINCIPAL).await {
        Ok((ms, at)) => ms
            .entries
            .iter()
            .find_map(|e| e.principal.clone())
            .and_then(|p| at.join(&p).ok()),
        Err(SyncError::Status(..)) => None,
        Err(e) => return Err(e),
    };
    let principal = match principal {
        Some(p) => Some(p),
        None => {
            let wk = start
                .join("/.well-known/caldav")
                .map_err(|_| SyncError::NoCalendars)?;
            match d.propfind(&wk, "0", dav::PROPFIND_PRINCIPAL).await {
                Ok((ms, at)) => ms
                    .entries
                    .iter()
                    .find_map(|e| e.principal.clone())
                    .and_then(|p| at.join(&p).ok()),
                Err(SyncError::Status(..)) => None,
                Err(e) => return Err(e),
            }
        }
    };
    // 2. Its calendar home; without a principal, the URL given is taken as the home.
    let home = match &principal {
        Some(p) => {
            let (ms, at) = d.propfind(p, "0", dav::PROPFIND_HOME).await?;
            ms.entries
                .iter()
                .find_map(|e| e.home.clone())
                .and_then(|h| at.join(&h).ok())
        }
        None => None,
    }
    .unwrap_or_else(|| start.clone());
    // 3. Its calendars.
    let (at, found) = list_calendars(d, &home).await?;
    if found.is_empty() {
        return Err(SyncError::NoCalendars);
    }
    Ok((at, found))
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(sqlx::FromRow, Clone)]
struct AccountRow {
    id: String,
    counsellor_id: String,
    label: String,
    host: String,
    secret_sealed: Vec<u8>,
    /// The discovered calendar home, sealed to `{id}/home` (NULL only before
    /// [`seal_urls_at_rest`]).
    home_sealed: Option<Vec<u8>>,
    write_calendar_id: Option<String>,
    client_details: i64,
    last_sync_at: Option<i64>,
    last_ok_at: Option<i64>,
    last_error: Option<String>,
    failures: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, counsellor_id, label, host, secret_sealed, home_sealed, write_calendar_id, \
     client_details, last_sync_at, last_ok_at, last_error, failures";

#[derive(sqlx::FromRow, Clone)]
struct CalendarRow {
    id: String,
    /// The calendar's URL, sealed to the calendar id.
    url_sealed: Option<Vec<u8>>,
    /// `url_sealed` opened (by [`calendars_of`]).
    #[sqlx(skip)]
    url: String,
    name: String,
    color: Option<String>,
    can_read: i64,
    can_write: i64,
    sync_supported: i64,
    free_busy: i64,
    blocks: i64,
    sync_token: Option<String>,
    ctag: Option<String>,
    last_full_at: Option<i64>,
}

const CALENDAR_COLUMNS: &str =
    "id, url_sealed, name, color, can_read, can_write, sync_supported, free_busy, \
     blocks, sync_token, ctag, last_full_at";

#[derive(sqlx::FromRow, Clone)]
struct EventRow {
    id: String,
    booking_id: String,
    /// [`url_key`] of the calendar's URL.
    calendar_key: String,
    /// The resource's absolute URL, sealed to the event id.
    href_sealed: Option<Vec<u8>>,
    /// `href_sealed` opened (by [`events_where`]).
    #[sqlx(skip)]
    href: String,
    etag: Option<String>,
    written_version: i64,
    written_start: i64,
    written_end: i64,
    external: Option<String>,
}

const EVENT_COLUMNS: &str =
    "id, booking_id, calendar_url AS calendar_key, href_sealed, etag, written_version, \
     written_start, written_end, external";

#[derive(sqlx::FromRow)]
struct BookingWithVersion {
    #[sqlx(flatten)]
    row: BookingRow,
    updated_at: i64,
    active: i64,
}

impl AccountRow {
    fn secret(&self, state: &AppState) -> Result<Secret, AppError> {
        let plain = state
            .keys
            .link
            .open(&self.secret_sealed, self.id.as_bytes())?;
        serde_json::from_slice(&plain)
            .map_err(|e| AppError::Internal(format!("sealed CalDAV account: {e}")))
    }

    /// The discovered calendar home.
    fn home(&self, state: &AppState) -> Result<String, AppError> {
        open_text(state, self.home_sealed.as_deref(), &home_aad(&self.id))
    }
}

/// Associated data of an account's sealed home URL (not the account id alone: that one seals
/// the credentials).
fn home_aad(account_id: &str) -> String {
    format!("{account_id}/home")
}

/// Opens a sealed text column.
fn open_text(state: &AppState, sealed: Option<&[u8]>, aad: &str) -> Result<String, AppError> {
    let sealed = sealed.ok_or_else(|| AppError::Internal("CalDAV address not sealed".into()))?;
    String::from_utf8(state.keys.link.open(sealed, aad.as_bytes())?)
        .map_err(|e| AppError::Internal(format!("sealed CalDAV address: {e}")))
}

/// Seals a URL to its row.
fn seal_text(state: &AppState, plain: &str, aad: &str) -> Vec<u8> {
    state.keys.link.seal(plain.as_bytes(), aad.as_bytes())
}

/// The keyed digest (HMAC-SHA256 under a key derived from the DEK, hex) that stands in for a
/// URL or href where it is only compared: equal URLs give equal digests, and without the key
/// the digest tells nothing about the URL (not even a guessed one can be confirmed).
pub fn url_key(state: &AppState, url: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &state.keys.caldav_urls);
    hex::encode(ring::hmac::sign(&key, url.as_bytes()).as_ref())
}

async fn calendars_of(state: &AppState, account_id: &str) -> Result<Vec<CalendarRow>, AppError> {
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
    state: &AppState,
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
async fn store_calendars(
    state: &AppState,
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
pub async fn seal_urls_at_rest(state: &AppState) -> Result<usize, AppError> {
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
// Reading

fn ical_utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_default()
}

/// What a calendar read gives for one member.
enum Member {
    Changed {
        href: String,
        etag: Option<String>,
    },
    Removed {
        href: String,
    },
    /// Known from an earlier read (by its [`url_key`]) and no longer listed.
    Gone {
        key: String,
    },
}

/// Reads one calendar: busy times where it blocks, and changes to the bookings we wrote there.
async fn sync_calendar(
    state: &AppState,
    d: &mut Dav,
    acc: &AccountRow,
    cal: &CalendarRow,
    now: i64,
    notes: &mut Vec<String>,
) -> Result<(), SyncError> {
    let host = store::host_by_id(&state.db, &acc.counsellor_id).await?;
    let url = Url::parse(&cal.url).map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let from = ms(now) - Duration::days(1);
    let to = from + Duration::days(HORIZON_DAYS);
    let blocks = cal.blocks != 0;

    if cal.can_read == 0 {
        // Free/busy only: one query gives every busy period.
        if !blocks {
            return Ok(());
        }
        if cal.free_busy == 0 {
            notes.push(format!(
                "{}: neither events nor free/busy can be read",
                cal.name
            ));
            return Ok(());
        }
        let r = d
            .report(
                &url,
                "1",
                dav::free_busy_query(&ical_utc(from), &ical_utc(to)),
            )
            .await?;
        if r.status != 200 {
            return Err(SyncError::Status(r.status, "free-busy-query"));
        }
        let busy =
            busy_from_freebusy(&r.body, from, to).map_err(|e| SyncError::Answer(e.to_string()))?;
        let mut tx = state.db.begin().await?;
        sqlx::query("DELETE FROM caldav_busy WHERE calendar_id = $1")
            .bind(&cal.id)
            .execute(&mut *tx)
            .await?;
        for iv in &busy.intervals {
            insert_busy(
                &mut tx,
                cal,
                &acc.counsellor_id,
                "",
                iv.start.timestamp_millis(),
                iv.end.timestamp_millis(),
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(());
    }

    if !blocks {
        // Read only for our own events: it blocks nothing.
        sqlx::query("DELETE FROM caldav_busy WHERE calendar_id = $1")
            .bind(&cal.id)
            .execute(&state.db)
            .await?;
        sqlx::query("DELETE FROM caldav_items WHERE calendar_id = $1")
            .bind(&cal.id)
            .execute(&state.db)
            .await?;
    }
    let full = cal.last_full_at.is_none_or(|t| now - t >= FULL_EVERY_MS);
    // Members by the keyed digest of their href.
    let known: HashMap<String, Option<String>> = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT href, etag FROM caldav_items WHERE calendar_id = $1",
    )
    .bind(&cal.id)
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .collect();
    let ours = events_where(
        state,
        &acc.id,
        " AND calendar_url = $2",
        Some(&url_key(state, &cal.url)),
    )
    .await?;
    let ours_by_href: HashMap<&str, &EventRow> =
        ours.iter().map(|e| (e.href.as_str(), e)).collect();

    // 1. Which members changed.
    let mut members = Vec::new();
    let mut new_token = None;
    let mut new_ctag = None;
    let listed_all;
    if cal.sync_supported != 0 {
        let mut token = if full { None } else { cal.sync_token.clone() };
        let mut r = d
            .report(&url, "0", dav::sync_collection(token.as_deref()))
            .await?;
        if token.is_some()
            && matches!(r.status, 403 | 409 | 400)
            && dav::is_invalid_sync_token(&r.body)
        {
            token = None;
            r = d.report(&url, "0", dav::sync_collection(None)).await?;
        }
        if r.status != 207 {
            return Err(SyncError::Status(r.status, "sync-collection"));
        }
        let ms = dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
        new_token = ms.sync_token;
        listed_all = token.is_none();
        for e in ms.entries {
            if e.href.is_empty() || url.join(&e.href).is_ok_and(|u| u == url) {
                continue;
            }
            if e.status.is_some_and(|s| s == 404 || s == 410) {
                members.push(Member::Removed { href: e.href });
            } else {
                members.push(Member::Changed {
                    href: e.href,
                    etag: e.etag,
                });
            }
        }
    } else {
        if !full {
            let (ms, _) = d.propfind(&url, "0", dav::PROPFIND_CTAG).await?;
            let ctag = ms
                .entries
                .first()
                .and_then(|e| e.ctag.clone().or(e.sync_token.clone()));
            if ctag.is_some() && ctag == cal.ctag {
                return Ok(());
            }
        }
        let (ms, _) = d.propfind(&url, "1", dav::PROPFIND_ETAGS).await?;
        listed_all = true;
        for e in ms.entries {
            if e.collection || e.href.is_empty() {
                new_ctag = e.ctag.or(e.sync_token).or(new_ctag);
                continue;
            }
            members.push(Member::Changed {
                href: e.href,
                etag: e.etag,
            });
        }
    }
    if listed_all {
        let seen: HashSet<String> = members
            .iter()
            .filter_map(|m| match m {
                Member::Changed { href, .. } | Member::Removed { href } => {
                    Some(url_key(state, href))
                }
                Member::Gone { .. } => None,
            })
            .collect();
        let gone: Vec<String> = known
            .keys()
            .filter(|k| !seen.contains(k.as_str()))
            .cloned()
            .collect();
        let ours_gone: Vec<String> = ours
            .iter()
            .filter(|e| {
                !members.iter().any(|m| matches!(m, Member::Changed { href, .. } if url.join(href).is_ok_and(|u| u.as_str() == e.href)))
            })
            .map(|e| e.href.clone())
            .collect();
        members.extend(gone.into_iter().map(|key| Member::Gone { key }));
        members.extend(ours_gone.into_iter().map(|href| Member::Removed { href }));
    }

    // 2. Fetch what changed (all of it on a full read).
    let mut wanted = Vec::new();
    for m in &members {
        if let Member::Changed { href, etag } = m {
            let abs = url.join(href).map(|u| u.to_string()).unwrap_or_default();
            let stale = match ours_by_href.get(abs.as_str()) {
                Some(ev) => ev.etag.is_none() || ev.etag != *etag,
                None => full || known.get(&url_key(state, href)) != Some(etag) || etag.is_none(),
            };
            if stale && (blocks || ours_by_href.contains_key(abs.as_str())) {
                wanted.push(href.clone());
            }
        }
    }
    let mut data: HashMap<String, (Option<String>, String)> = HashMap::new();
    for batch in wanted.chunks(dav::MULTIGET_BATCH) {
        let r = d.report(&url, "1", dav::multiget(batch)).await?;
        if r.status != 207 {
            return Err(SyncError::Status(r.status, "calendar-multiget"));
        }
        let ms = dav::parse_multistatus(&r.body).map_err(|e| SyncError::Answer(e.to_string()))?;
        for e in ms.entries {
            if let Some(text) = e.calendar_data {
                let abs = url.join(&e.href).map(|u| u.to_string()).unwrap_or_default();
                data.insert(abs, (e.etag, text));
            }
        }
    }

    // 3. Apply.
    let mut tx = state.db.begin().await?;
    for m in &members {
        match m {
            Member::Removed { href } => {
                let abs = url
                    .join(href)
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| href.clone());
                if let Some(ev) = ours_by_href.get(abs.as_str()) {
                    if ev.external.as_deref() != Some("deleted") {
                        mark_external(&mut tx, ev, "deleted", None, now).await?;
                        notes.push("a booked appointment was deleted in the calendar".into());
                    }
                    continue;
                }
                forget_member(&mut tx, cal, &url_key(state, href)).await?;
            }
            Member::Gone { key } => forget_member(&mut tx, cal, key).await?,
            Member::Changed { href, etag } => {
                let abs = url.join(href).map(|u| u.to_string()).unwrap_or_default();
                if let Some(ev) = ours_by_href.get(abs.as_str()) {
                    let Some((got_etag, text)) = data.get(&abs) else {
                        continue;
                    };
                    let etag = got_etag.clone().or(etag.clone());
                    let span = event_span(text, host.tz);
                    let moved = match &span {
                        Some(s) if s.blocks => {
                            (
                                s.span.start.timestamp_millis(),
                                s.span.end.timestamp_millis(),
                            ) != (ev.written_start, ev.written_end)
                        }
                        _ => true,
                    };
                    if !moved {
                        sqlx::query("UPDATE caldav_events SET etag = $1 WHERE id = $2")
                            .bind(&etag)
                            .bind(&ev.id)
                            .execute(&mut *tx)
                            .await?;
                        continue;
                    }
                    sqlx::query("UPDATE caldav_events SET etag = $1 WHERE id = $2")
                        .bind(&etag)
                        .bind(&ev.id)
                        .execute(&mut *tx)
                        .await?;
                    match span.filter(|s| s.blocks) {
                        Some(s) => {
                            mark_external(
                                &mut tx,
                                ev,
                                "moved",
                                Some((
                                    s.span.start.timestamp_millis(),
                                    s.span.end.timestamp_millis(),
                                )),
                                now,
                            )
                            .await?;
                            notes.push("a booked appointment was moved in the calendar".into());
                        }
                        None => {
                            mark_external(&mut tx, ev, "deleted", None, now).await?;
                            notes.push(
                                "a booked appointment was freed or cancelled in the calendar"
                                    .into(),
                            );
                        }
                    }
                    continue;
                }
                if !blocks {
                    continue;
                }
                let Some((got_etag, text)) = data.get(&abs) else {
                    // Unchanged (same etag): keep what we have.
                    continue;
                };
                let etag = got_etag.clone().or(etag.clone());
                let key = url_key(state, href);
                forget_member(&mut tx, cal, &key).await?;
                sqlx::query(
                    "INSERT INTO caldav_items (calendar_id, href, etag) VALUES ($1, $2, $3)",
                )
                .bind(&cal.id)
                .bind(&key)
                .bind(&etag)
                .execute(&mut *tx)
                .await?;
                // A booking of ours that we lost track of (written, but not recorded) blocks
                // nothing: its booking already does.
                if is_our_uid(state, text, host.tz) {
                    continue;
                }
                match busy_from_ics(text, host.tz, from, to) {
                    Ok(busy) => {
                        for iv in &busy.intervals {
                            insert_busy(
                                &mut tx,
                                cal,
                                &acc.counsellor_id,
                                &key,
                                iv.start.timestamp_millis(),
                                iv.end.timestamp_millis(),
                            )
                            .await?;
                        }
                        notes.extend(busy.skipped.into_iter().take(5));
                    }
                    Err(e) => notes.push(format!("{}: {e}", dav::last_segment(href))),
                }
            }
        }
    }
    sqlx::query(
        "UPDATE caldav_calendars SET sync_token = COALESCE($1, sync_token), ctag = COALESCE($2, ctag),
            last_full_at = CASE WHEN $3 = 1 THEN $4 ELSE last_full_at END WHERE id = $5",
    )
    .bind(&new_token)
    .bind(&new_ctag)
    .bind(i64::from(full))
    .bind(now)
    .bind(&cal.id)
    .execute(&mut *tx)
    .await
    ?;
    tx.commit().await?;
    Ok(())
}

fn is_our_uid(state: &AppState, text: &str, tz: chrono_tz::Tz) -> bool {
    let suffix = format!("@{}", super::feed::uid_host(state));
    event_span(text, tz).is_some_and(|s| {
        s.uid.ends_with(&suffix) && uuid::Uuid::parse_str(s.uid.trim_end_matches(&suffix)).is_ok()
    })
}

/// Drops what is stored of one member (by its [`url_key`]): its etag and busy times.
async fn forget_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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
async fn insert_busy(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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

async fn mark_external(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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

// ---------------------------------------------------------------------------------------------
// Writing

/// Makes the chosen calendar hold exactly the account's active bookings (those not yet over),
/// as far as they are not waiting for the counsellor's decision. A write the server refuses
/// (a status, not a lost connection) does not stop the others: the refusals are returned.
async fn reconcile(
    state: &AppState,
    d: &mut Dav,
    acc: &AccountRow,
    now: i64,
) -> Result<Vec<SyncError>, SyncError> {
    let mut refused = Vec::new();
    let write_cal = match &acc.write_calendar_id {
        Some(id) => calendars_of(state, &acc.id)
            .await?
            .into_iter()
            .find(|c| &c.id == id)
            .map(|c| c.url),
        None => None,
    };
    let write_key = write_cal.as_deref().map(|u| url_key(state, u));
    let events = events_where(state, &acc.id, "", None).await?;
    let bookings: Vec<BookingWithVersion> = sqlx::query_as::<_, BookingWithVersion>(&format!(
        "SELECT {}, updated_at, active FROM bookings
         WHERE counsellor_id = $1 AND ends_at > $2 AND (active = 1 OR id IN (SELECT booking_id FROM caldav_events WHERE account_id = $3))
         ORDER BY starts_at",
        store::BOOKING_COLUMNS
    ))
    .bind(&acc.counsellor_id)
    .bind(now - PAST_MS)
    .bind(&acc.id)
    .fetch_all(&state.db)
    .await
    ?;
    let by_booking: HashMap<&str, &EventRow> =
        events.iter().map(|e| (e.booking_id.as_str(), e)).collect();
    let mut host_types = None;
    for b in &bookings {
        let ev = by_booking.get(b.row.id.as_str()).copied();
        let want = b.active != 0;
        // An event in a calendar that is no longer the chosen one moves to the new one.
        if let Some(e) = ev {
            if write_key.as_deref() != Some(e.calendar_key.as_str()) || !want {
                if e.external.as_deref() != Some("deleted") {
                    if let Err(err) = delete_event(d, e).await {
                        refused.push(refusal(err)?);
                        continue;
                    }
                }
                sqlx::query("DELETE FROM caldav_events WHERE id = $1")
                    .bind(&e.id)
                    .execute(&state.db)
                    .await?;
                if want {
                    if let Some(cal) = &write_cal {
                        if let Err(err) = put_new(state, d, acc, &mut host_types, b, cal, now).await
                        {
                            refused.push(refusal(err)?);
                        }
                    }
                }
                continue;
            }
            // Written as it is now (an event changed in the calendar stays as it is there
            // until the counsellor decides, which sets the version to -1, or the booking
            // itself changes).
            if e.written_version == b.updated_at {
                continue;
            }
            if let Err(err) = put_existing(state, d, acc, &mut host_types, b, e, now).await {
                refused.push(refusal(err)?);
            }
        } else if want {
            if let Some(cal) = &write_cal {
                if let Err(err) = put_new(state, d, acc, &mut host_types, b, cal, now).await {
                    refused.push(refusal(err)?);
                }
            }
        }
    }
    Ok(refused)
}

/// A refused write is collected; anything else (connection, login, database) ends the round.
fn refusal(e: SyncError) -> Result<SyncError, SyncError> {
    match e {
        SyncError::Status(..) | SyncError::Answer(_) => Ok(e),
        other => Err(other),
    }
}

type HostTypes = Option<(store::Host, Vec<store::TypeRow>)>;

async fn body_of(
    state: &AppState,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    now: i64,
) -> Result<String, AppError> {
    if cache.is_none() {
        let host = store::host_by_id(&state.db, &acc.counsellor_id).await?;
        let types = store::types_visible_to(&state.db, &acc.counsellor_id).await?;
        *cache = Some((host, types));
    }
    // Filled just above.
    let (host, types) = cache.as_ref().expect("host and types loaded");
    let mut ev = super::feed::event_of(state, &b.row, types, host, acc.client_details != 0)?;
    ev.modified = Some(ms(b.updated_at));
    Ok(ics::resource(&ev, ms(now)))
}

async fn put_new(
    state: &AppState,
    d: &mut Dav,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    cal_url: &str,
    now: i64,
) -> Result<(), SyncError> {
    let cal = Url::parse(cal_url).map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let href = cal
        .join(&format!("{}.ics", b.row.id))
        .map_err(|_| SyncError::Answer("bad calendar URL".into()))?;
    let body = body_of(state, acc, cache, b, now).await?;
    let mut r = d
        .send(
            "PUT",
            &href,
            None,
            Some(body.clone()),
            &[("If-None-Match", "*")],
        )
        .await?;
    if r.status == 412 {
        // Already there (written before, but not recorded): ours by name; replace it.
        let g = d.send("GET", &href, None, None, &[]).await?;
        let etag = g.etag.unwrap_or_default();
        r = d
            .send(
                "PUT",
                &href,
                None,
                Some(body),
                &[("If-Match", etag.as_str())],
            )
            .await?;
    }
    if !(200..300).contains(&r.status) {
        return Err(SyncError::Status(r.status, "PUT"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO caldav_events (id, booking_id, account_id, calendar_url, href, href_sealed, etag, written_version,
            written_start, written_end)
         VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(&b.row.id)
    .bind(&acc.id)
    .bind(url_key(state, cal_url))
    .bind(seal_text(state, href.as_str(), &id))
    .bind(&r.etag)
    .bind(b.updated_at)
    .bind(b.row.starts_at)
    .bind(b.row.ends_at)
    .execute(&state.db)
    .await
    ?;
    tracing::info!(account_id = %acc.id, booking_id = %b.row.id, "booking written to CalDAV");
    Ok(())
}

async fn put_existing(
    state: &AppState,
    d: &mut Dav,
    acc: &AccountRow,
    cache: &mut HostTypes,
    b: &BookingWithVersion,
    e: &EventRow,
    now: i64,
) -> Result<(), SyncError> {
    let href = Url::parse(&e.href).map_err(|_| SyncError::Answer("bad event URL".into()))?;
    let body = body_of(state, acc, cache, b, now).await?;
    let cond = match (&e.external, &e.etag) {
        (Some(x), _) if x == "deleted" => ("If-None-Match", "*".to_owned()),
        (_, Some(etag)) => ("If-Match", etag.clone()),
        (_, None) => ("If-Match", "*".to_owned()),
    };
    let mut r = d
        .send(
            "PUT",
            &href,
            None,
            Some(body.clone()),
            &[(cond.0, cond.1.as_str())],
        )
        .await?;
    if r.status == 412 {
        // Changed in the calendar since we last looked: this change of the booking wins
        // (the counsellor was shown the calendar's change, or it happened just now).
        let g = d.send("GET", &href, None, None, &[]).await?;
        r = match g.etag {
            Some(etag) if g.status == 200 => {
                d.send(
                    "PUT",
                    &href,
                    None,
                    Some(body),
                    &[("If-Match", etag.as_str())],
                )
                .await?
            }
            _ => {
                d.send("PUT", &href, None, Some(body), &[("If-None-Match", "*")])
                    .await?
            }
        };
    }
    if !(200..300).contains(&r.status) {
        return Err(SyncError::Status(r.status, "PUT"));
    }
    sqlx::query(
        "UPDATE caldav_events SET etag = $1, written_version = $2, written_start = $3, written_end = $4, external = NULL,
            external_start = NULL, external_end = NULL, detected_at = NULL, kept = 0, last_error = NULL WHERE id = $5",
    )
    .bind(&r.etag)
    .bind(b.updated_at)
    .bind(b.row.starts_at)
    .bind(b.row.ends_at)
    .bind(&e.id)
    .execute(&state.db)
    .await
    ?;
    tracing::info!(account_id = %acc.id, booking_id = %b.row.id, "booking rewritten in CalDAV");
    Ok(())
}

/// Deletes an event we wrote. Already gone is fine; changed since is still ours to delete.
async fn delete_event(d: &mut Dav, e: &EventRow) -> Result<(), SyncError> {
    let href = Url::parse(&e.href).map_err(|_| SyncError::Answer("bad event URL".into()))?;
    let etag = e.etag.clone().unwrap_or_else(|| "*".into());
    let mut r = d
        .send("DELETE", &href, None, None, &[("If-Match", etag.as_str())])
        .await?;
    if r.status == 412 {
        let g = d.send("GET", &href, None, None, &[]).await?;
        if g.status == 404 || g.status == 410 {
            return Ok(());
        }
        let etag = g.etag.unwrap_or_else(|| "*".into());
        r = d
            .send("DELETE", &href, None, None, &[("If-Match", etag.as_str())])
            .await?;
    }
    if (200..300).contains(&r.status) || r.status == 404 || r.status == 410 {
        Ok(())
    } else {
        Err(SyncError::Status(r.status, "DELETE"))
    }
}

// ---------------------------------------------------------------------------------------------
// Driving

/// One sync of an account at a time (the worker and "sync now" may meet).
static RUNNING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn lock_of(id: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut map = RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(id.to_owned()).or_default().clone()
}

/// Syncs an account: writes pending bookings, then (unless `writes_only`) refreshes the list
/// of calendars and reads those that block or hold our bookings. Records the outcome.
async fn sync_account(
    state: &AppState,
    acc_id: &str,
    now: i64,
    writes_only: bool,
) -> Result<(), AppError> {
    let lock = lock_of(acc_id);
    let _guard = lock.lock().await;
    let Some(acc) = sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE id = $1"
    ))
    .bind(acc_id)
    .fetch_optional(&state.db)
    .await?
    else {
        return Ok(());
    };
    let secret = acc.secret(state)?;
    let mut notes = Vec::new();
    let result: Result<(), SyncError> = async {
        let mut d = Dav::new(&secret, Reach::of(state), &state.config.trust)?;
        let d = &mut d;
        let refused = reconcile(state, d, &acc, now).await?;
        let refused = || match refused.first() {
            Some(first) => Err(SyncError::Answer(format!(
                "{} booking(s) could not be written to the calendar: {first}",
                refused.len()
            ))),
            None => Ok(()),
        };
        if writes_only {
            return refused();
        }
        let home =
            Url::parse(&acc.home(state)?).map_err(|_| SyncError::Answer("bad home URL".into()))?;
        let (_, found) = list_calendars(d, &home).await?;
        store_calendars(state, &acc.id, &found).await?;
        let acc = sqlx::query_as::<_, AccountRow>(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE id = $1"
        ))
        .bind(&acc.id)
        .fetch_one(&state.db)
        .await?;
        for cal in calendars_of(state, &acc.id).await? {
            let is_write = acc.write_calendar_id.as_deref() == Some(cal.id.as_str());
            if cal.blocks != 0 || is_write {
                sync_calendar(state, d, &acc, &cal, now, &mut notes).await?;
            } else {
                // Not chosen (any more): it blocks nothing.
                sqlx::query("DELETE FROM caldav_busy WHERE calendar_id = $1")
                    .bind(&cal.id)
                    .execute(&state.db)
                    .await?;
            }
        }
        refused()
    }
    .await;
    match result {
        Ok(()) => {
            if writes_only {
                if acc.last_error.is_some() {
                    sqlx::query("UPDATE caldav_accounts SET last_error = NULL WHERE id = $1")
                        .bind(&acc.id)
                        .execute(&state.db)
                        .await?;
                }
                return Ok(());
            }
            sqlx::query(
                "UPDATE caldav_accounts SET last_sync_at = $1, last_ok_at = $1, last_error = NULL, failures = 0, next_sync_at = $2
                 WHERE id = $3",
            )
            .bind(now)
            .bind(now + SYNC_EVERY_MS)
            .bind(&acc.id)
            .execute(&state.db)
            .await?;
            tracing::info!(account_id = %acc.id, notes = notes.len(), "CalDAV account synced");
        }
        Err(SyncError::Internal(e)) => return Err(e),
        Err(e) => {
            let failures = acc.failures + 1;
            // Stored text names no server (the other server's address is shown only at once).
            let e = match e {
                SyncError::CrossOrigin { .. } => SyncError::CrossOrigin { target: None },
                e => e,
            };
            sqlx::query(
                "UPDATE caldav_accounts SET last_sync_at = $1, last_error = $2, failures = $3, next_sync_at = $4 WHERE id = $5",
            )
            .bind(now)
            .bind(e.to_string())
            .bind(failures)
            .bind(now + backoff_ms(failures))
            .bind(&acc.id)
            .execute(&state.db)
            .await?;
            tracing::warn!(account_id = %acc.id, failures, "CalDAV sync failed");
        }
    }
    Ok(())
}

/// [`sync_account`] on its own task, so a client that goes away (a reload) does not cancel a
/// sync halfway; the caller still waits for it.
async fn sync_detached(
    state: &AppState,
    acc_id: &str,
    now: i64,
    writes_only: bool,
) -> Result<(), AppError> {
    let (state, acc_id) = (state.clone(), acc_id.to_owned());
    tokio::spawn(async move { sync_account(&state, &acc_id, now, writes_only).await })
        .await
        .map_err(|e| AppError::Internal(format!("calendar sync task: {e}")))?
}

/// Syncs every account that is due at `now`, and writes pending bookings of the healthy ones.
pub async fn sync_due(state: &AppState, now: i64) -> Result<usize, AppError> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM caldav_accounts WHERE next_sync_at <= $1 ORDER BY next_sync_at LIMIT 50",
    )
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    for id in &due {
        sync_account(state, id, now, false).await?;
    }
    let writers: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM caldav_accounts WHERE write_calendar_id IS NOT NULL AND failures = 0 AND next_sync_at > $1",
    )
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    for id in writers.iter().filter(|w| !due.contains(w)) {
        sync_account(state, id, now, true).await?;
    }
    Ok(due.len())
}

/// The background job that runs [`sync_due`] every [`super::sources::WORKER_INTERVAL`].
pub fn job(state: AppState) -> Job {
    Job::new("caldav-sync", super::sources::WORKER_INTERVAL, move || {
        let state = state.clone();
        async move {
            if let Err(e) = sync_due(&state, now_ms()).await {
                tracing::warn!(error = %e, "CalDAV sync round failed");
            }
            Pace::OnSchedule
        }
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP

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

async fn view(state: &AppState, a: AccountRow) -> Result<Account, AppError> {
    let mut calendars = Vec::new();
    for c in calendars_of(state, &a.id).await? {
        let busy_count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM caldav_busy WHERE calendar_id = $1")
                .bind(&c.id)
                .fetch_one(&state.db)
                .await?;
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
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM bookings b WHERE b.counsellor_id = $1 AND b.active = 1 AND b.ends_at > $2
               AND NOT EXISTS (SELECT 1 FROM caldav_events e WHERE e.booking_id = b.id AND e.account_id = $3
                               AND e.written_version = b.updated_at)",
        )
        .bind(&a.counsellor_id)
        .bind(now - PAST_MS)
        .bind(&a.id)
        .fetch_one(&state.db)
        .await?
    } else {
        0
    };
    #[derive(sqlx::FromRow)]
    struct Changed {
        id: String,
        booking_id: String,
        starts_at: i64,
        ends_at: i64,
        external: String,
        external_start: Option<i64>,
        external_end: Option<i64>,
        detected_at: i64,
    }
    let rows: Vec<Changed> = sqlx::query_as(
        "SELECT e.id, e.booking_id, b.starts_at, b.ends_at, e.external, e.external_start, e.external_end, e.detected_at
         FROM caldav_events e JOIN bookings b ON b.id = e.booking_id
         WHERE e.account_id = $1 AND e.external IS NOT NULL AND e.kept = 0 AND b.active = 1
         ORDER BY b.starts_at",
    )
    .bind(&a.id)
    .fetch_all(&state.db)
    .await?;
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

async fn own(state: &AppState, me: &Counsellor, id: &str) -> Result<AccountRow, AppError> {
    sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(&me.id)
    .fetch_optional(&state.db)
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

/// The counsellor's CalDAV accounts, their calendars, sync state and changed bookings.
#[utoipa::path(get, path = "/api/calendar/caldav", tag = "booking-admin",
    responses(
        (status = 200, description = "Accounts", body = [Account]),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    me: Counsellor,
) -> Result<Json<Vec<Account>>, AppError> {
    let rows = sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM caldav_accounts WHERE counsellor_id = $1 ORDER BY created_at"
    ))
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(view(&state, r).await?);
    }
    Ok(Json(out))
}

/// Connects an account: finds its calendars (they all block booking times at first; no
/// calendar is written until one is chosen) and syncs it.
#[utoipa::path(post, path = "/api/calendar/caldav", tag = "booking-admin",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Connected and synced (`last_error` says if the first sync failed)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 409, description = "`conflict`: already five accounts", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `url` (unusable or unreachable, no calendars), `password` (refused) or `username`/`label`", body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<AppState>,
    me: Counsellor,
    Json(req): Json<NewAccount>,
) -> Result<(StatusCode, Json<Account>), AppError> {
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
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM caldav_accounts WHERE counsellor_id = $1")
            .bind(&me.id)
            .fetch_one(&state.db)
            .await?;
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
    let mut d = Dav::new(&secret, Reach::of(&state), &state.config.trust)
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
    sqlx::query(
        "INSERT INTO caldav_accounts (id, counsellor_id, label, host, secret_sealed, home_url, home_sealed, created_at,
            next_sync_at, failures)
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7, 0)",
    )
    .bind(&id)
    .bind(&me.id)
    .bind(&label)
    .bind(&host)
    .bind(&sealed)
    .bind(seal_text(&state, home.as_str(), &home_aad(&id)))
    .bind(now)
    .execute(&state.db)
    .await?;
    store_calendars(&state, &id, &found).await?;
    tracing::info!(counsellor_id = %me.id, account_id = %id, calendars = found.len(), "CalDAV account connected");
    sync_detached(&state, &id, now, false).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, own(&state, &me, &id).await?).await?),
    ))
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

/// Changes which calendars block and which is written; syncs at once.
#[utoipa::path(patch, path = "/api/calendar/caldav/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    request_body = AccountChange,
    responses(
        (status = 200, description = "Changed and synced", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `write_calendar_id` (unknown or read-only), `calendars` or `label`", body = ErrorBody),
    ))]
pub async fn change(
    State(state): State<AppState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(req): Json<AccountChange>,
) -> Result<Json<Account>, AppError> {
    let acc = own(&state, &me, &id).await?;
    let cals = calendars_of(&state, &id).await?;
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
    let mut tx = state.db.begin().await?;
    if let Some(label) = &req.label {
        sqlx::query("UPDATE caldav_accounts SET label = $1 WHERE id = $2")
            .bind(label.trim())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(w) = &req.write_calendar_id {
        sqlx::query("UPDATE caldav_accounts SET write_calendar_id = $1 WHERE id = $2")
            .bind(w)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(details) = req.client_details {
        if details != (acc.client_details != 0) {
            sqlx::query("UPDATE caldav_accounts SET client_details = $1 WHERE id = $2")
                .bind(i64::from(details))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            // Every written event gets the new content.
            sqlx::query("UPDATE caldav_events SET written_version = -1 WHERE account_id = $1 AND external IS NULL AND kept = 0")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
    }
    for c in req.calendars.iter().flatten() {
        sqlx::query("UPDATE caldav_calendars SET blocks = $1, last_full_at = NULL WHERE id = $2 AND account_id = $3")
            .bind(i64::from(c.blocks))
            .bind(&c.id)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sync_detached(&state, &id, now_ms(), false).await?;
    Ok(Json(view(&state, own(&state, &me, &id).await?).await?))
}

/// Syncs an account now (writes, then reads).
#[utoipa::path(post, path = "/api/calendar/caldav/{id}/sync", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, description = "Synced (or `last_error` says why not)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn sync_now(
    State(state): State<AppState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<Json<Account>, AppError> {
    own(&state, &me, &id).await?;
    sync_detached(&state, &id, now_ms(), false).await?;
    Ok(Json(view(&state, own(&state, &me, &id).await?).await?))
}

/// Disconnects an account: its busy times stop blocking; events it wrote stay in the calendar.
#[utoipa::path(delete, path = "/api/calendar/caldav/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    own(&state, &me, &id).await?;
    let lock = lock_of(&id);
    let _guard = lock.lock().await;
    let mut tx = state.db.begin().await?;
    for table in [
        "caldav_events WHERE account_id",
        "caldav_busy WHERE calendar_id IN (SELECT id FROM caldav_calendars WHERE account_id",
        "caldav_items WHERE calendar_id IN (SELECT id FROM caldav_calendars WHERE account_id",
    ] {
        let close = if table.contains("IN (") { ")" } else { "" };
        sqlx::query(&format!("DELETE FROM {table} = $1{close}"))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM caldav_calendars WHERE account_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM caldav_accounts WHERE id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(counsellor_id = %me.id, account_id = %id, "CalDAV account disconnected");
    Ok(StatusCode::NO_CONTENT)
}

/// What to do about a booking changed in the calendar.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `restore`: write the booking back as it is; `keep`: leave the calendar as it is (the
    /// booking itself is not changed; reschedule or cancel it separately if needed).
    pub action: String,
}

/// Decides about a booking whose event was changed in the calendar.
#[utoipa::path(post, path = "/api/calendar/caldav/{id}/changes/{change_id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id"), ("change_id" = String, Path, description = "Changed event id")),
    request_body = Resolution,
    responses(
        (status = 200, description = "Decided (and written, for `restore`)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `action`", body = ErrorBody),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    me: Counsellor,
    Path((id, change_id)): Path<(String, String)>,
    Json(req): Json<Resolution>,
) -> Result<Json<Account>, AppError> {
    own(&state, &me, &id).await?;
    let sql = match req.action.as_str() {
        "restore" => "UPDATE caldav_events SET written_version = -1, kept = 0 WHERE id = $1 AND account_id = $2 AND external IS NOT NULL",
        "keep" => "UPDATE caldav_events SET kept = 1 WHERE id = $1 AND account_id = $2 AND external IS NOT NULL",
        _ => return Err(AppError::invalid("action", "must be `restore` or `keep`")),
    };
    let done = sqlx::query(sql)
        .bind(&change_id)
        .bind(&id)
        .execute(&state.db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    if req.action == "restore" {
        sync_detached(&state, &id, now_ms(), true).await?;
    }
    Ok(Json(view(&state, own(&state, &me, &id).await?).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_names_fall_back_to_the_decoded_path() {
        assert_eq!(percent_decoded("Work%20Cal"), "Work Cal");
        assert_eq!(percent_decoded("50%"), "50%");
        assert_eq!(percent_decoded("%zz"), "%zz");
        assert_eq!(percent_decoded("%C3%A4"), "ä");
    }

    #[test]
    fn only_event_calendars_that_can_be_read_are_offered() {
        let home = Url::parse("https://cal.example/alice/").unwrap();
        let mut e = Entry {
            href: "/alice/work/".into(),
            calendar: true,
            collection: true,
            ..Default::default()
        };
        let f = found_of(&home, &e).unwrap();
        assert_eq!(f.url.as_str(), "https://cal.example/alice/work/");
        assert_eq!(f.name, "work");
        assert!(f.can_read && f.can_write);
        e.components = vec!["VTODO".into()];
        assert!(found_of(&home, &e).is_none());
        e.components = vec!["VEVENT".into()];
        e.privileges = Some(dav::Privileges {
            read: false,
            write: false,
            read_free_busy: true,
        });
        let f = found_of(&home, &e).unwrap();
        assert!(!f.can_read && f.free_busy);
        e.privileges = Some(dav::Privileges::default());
        assert!(found_of(&home, &e).is_none());
    }
}
