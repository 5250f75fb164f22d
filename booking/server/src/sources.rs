//! External calendars as busy sources (issue 6): a counsellor subscribes to ICS URLs (their
//! work or private calendar's published feed); every event there that blocks time removes the
//! overlapping booking slots.
//!
//! Sync runs in the background ([`job`]: every source when due, 15 minutes after a
//! success, with exponential backoff from one minute to an hour after failures) and on demand.
//! A failed sync keeps the busy times of the last good one (nothing is lost) and shows the
//! error on the dashboard. URLs are sealed at rest (they are often secrets). The server only
//! fetches public addresses: a URL whose host resolves to loopback, private, link-local or
//! other non-global addresses is refused unless `--calendar-fetch-private` says otherwise, and
//! the connection is pinned to the address that was checked.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration as StdDuration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, TimeZone, Utc};
use confidant_booking::busy::{busy_from_ics, MAX_BYTES};
use confidant_kit::scheduler::{Job, Pace};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store;
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::now_ms;
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::tls::Trust;

/// Most sources per counsellor.
const MAX_SOURCES: i64 = 10;
/// Longest URL.
const MAX_URL: usize = 2000;
/// Time allowed for one fetch.
const FETCH_TIMEOUT: StdDuration = StdDuration::from_secs(20);
/// Redirects followed (each target is checked again).
const MAX_REDIRECTS: usize = 3;
/// Busy times are kept from a day ago to this far ahead.
pub(crate) const HORIZON_DAYS: i64 = 400;
/// After a successful sync.
pub(crate) const SYNC_EVERY_MS: i64 = 15 * 60_000;
/// How often the worker looks for due sources.
pub const WORKER_INTERVAL: StdDuration = StdDuration::from_secs(30);

/// A busy source as the counsellor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Source {
    /// Id.
    pub id: String,
    /// The counsellor's name for it.
    pub label: String,
    /// The URL's host, for recognising it (the full URL is not shown again).
    pub host: String,
    /// Last attempt.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last success.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (`null` after a success).
    pub last_error: Option<String>,
    /// Busy intervals currently held from it.
    pub busy_count: i64,
    /// Events the last sync could not read (UID and reason).
    pub skipped: Vec<String>,
}

/// A new source.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// `https://…`, `http://…` or `webcal://…` (read as https).
    pub url: String,
    /// A name for it (1–100 characters) [default: the host].
    #[serde(default)]
    pub label: Option<String>,
}

/// Why a fetch failed, in words for the counsellor (never the URL itself).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not usable.
    #[error("{0}")]
    Url(String),
    /// The host resolves to an address the server does not fetch from.
    #[error("the address {0} is not public; the server only fetches calendars from public hosts")]
    NotPublic(IpAddr),
    /// DNS, connection, TLS or timeout.
    #[error("could not reach the calendar: {0}")]
    Network(String),
    /// Not a 2xx answer.
    #[error("the calendar server answered {0}")]
    Status(u16),
    /// More than [`MAX_BYTES`].
    #[error("the calendar is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// Not iCalendar.
    #[error("{0}")]
    Calendar(String),
}

pub use super::address::is_public;

pub(crate) fn parse_url(raw: &str) -> Result<reqwest::Url, FetchError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(FetchError::Url(format!(
            "the URL is longer than {MAX_URL} characters"
        )));
    }
    let fixed = match raw.get(..9) {
        Some(p) if p.eq_ignore_ascii_case("webcal://") => format!("https://{}", &raw[9..]),
        _ => raw.to_owned(),
    };
    let url = reqwest::Url::parse(&fixed).map_err(|_| FetchError::Url("not a URL".into()))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(FetchError::Url(
            "the URL must start with https://, http:// or webcal://".into(),
        ));
    }
    if url.host_str().is_none() {
        return Err(FetchError::Url("the URL has no host".into()));
    }
    Ok(url)
}

/// A client for `url`'s host: resolves it, refuses non-public addresses unless
/// `allow_private`, and pins the connection to the address that was checked (no redirects
/// followed by itself; callers check each target again).
pub(crate) async fn pinned_client(
    url: &reqwest::Url,
    allow_private: bool,
    trust: &Trust,
) -> Result<reqwest::Client, FetchError> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| FetchError::Network(format!("cannot resolve the host ({e})")))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(FetchError::Network("the host has no address".into()));
    };
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(FetchError::NotPublic(bad.ip()));
        }
    }
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, first)
        .use_preconfigured_tls(trust.rustls_config())
        .user_agent(concat!(
            "Confidant/",
            env!("CARGO_PKG_VERSION"),
            " (calendar sync)"
        ))
        .build()
        .map_err(|e| FetchError::Network(e.to_string()))
}

/// Fetches a calendar: checks and pins the address, follows a few redirects (checking each),
/// stops at [`MAX_BYTES`].
pub async fn fetch(raw: &str, allow_private: bool, trust: &Trust) -> Result<String, FetchError> {
    let mut url = parse_url(raw)?;
    for _ in 0..=MAX_REDIRECTS {
        let client = pinned_client(&url, allow_private, trust).await?;
        let mut resp = client
            .get(url.clone())
            .header("Accept", "text/calendar, */*;q=0.5")
            .send()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?;
        let status = resp.status();
        if status.is_redirection() {
            let next = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            url = parse_url(next.as_str())?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Network(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        return String::from_utf8(body)
            .map_err(|_| FetchError::Calendar("the calendar is not UTF-8 text".into()));
    }
    Err(FetchError::Network("too many redirects".into()))
}

/// reqwest's error text without the URL (which may carry a secret token).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return confidant_kit::tls::certificate_refused(e)
            .unwrap_or_else(|| "connection failed".into());
    }
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    s
}

fn ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_default()
}

/// Backoff after `failures` failed attempts in a row: 1, 2, 4 … minutes, at most an hour.
pub fn backoff_ms(failures: i64) -> i64 {
    let exp = failures.clamp(1, 7) - 1;
    (60_000_i64 << exp).min(3_600_000)
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: String,
    counsellor_id: String,
    url_sealed: Vec<u8>,
    label: String,
    host: String,
    last_sync_at: Option<i64>,
    last_ok_at: Option<i64>,
    last_error: Option<String>,
    skipped: String,
    failures: i64,
}

const SOURCE_COLUMNS: &str =
    "id, counsellor_id, url_sealed, label, host, last_sync_at, last_ok_at, last_error, skipped, failures";

/// Fetches one source and replaces its busy times; records the outcome. Returns the error text
/// on failure (the old busy times stay).
async fn sync_row(state: &BookingState, row: &SourceRow, now: i64) -> Result<(), AppError> {
    let url = String::from_utf8(state.keys.link.open(&row.url_sealed, row.id.as_bytes())?)
        .map_err(|_| AppError::Internal("sealed calendar URL is not UTF-8".into()))?;
    let host = store::host_by_id(&state.db, &row.counsellor_id).await?;
    let result = match fetch(
        &url,
        state.config.calendar_fetch_private,
        &state.config.trust,
    )
    .await
    {
        Ok(text) => {
            let from = ms(now) - Duration::days(1);
            busy_from_ics(&text, host.tz, from, from + Duration::days(HORIZON_DAYS))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(busy) => {
            let mut tx = state.db.begin().await?;
            sqlx::query("DELETE FROM busy_intervals WHERE source_id = $1")
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
            for iv in &busy.intervals {
                sqlx::query(
                    "INSERT INTO busy_intervals (source_id, counsellor_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&row.id)
                .bind(&row.counsellor_id)
                .bind(iv.start.timestamp_millis())
                .bind(iv.end.timestamp_millis())
                .execute(&mut *tx)
                .await?;
            }
            let skipped: Vec<String> = busy.skipped.iter().take(20).cloned().collect();
            sqlx::query(
                "UPDATE busy_sources SET last_sync_at = $1, last_ok_at = $1, last_error = NULL, failures = 0,
                    next_sync_at = $2, skipped = $3 WHERE id = $4",
            )
            .bind(now)
            .bind(now + SYNC_EVERY_MS)
            .bind(serde_json::to_string(&skipped).unwrap_or_else(|_| "[]".into()))
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(source_id = %row.id, busy = busy.intervals.len(), skipped = busy.skipped.len(), "calendar source synced");
        }
        Err(why) => {
            let failures = row.failures + 1;
            sqlx::query(
                "UPDATE busy_sources SET last_sync_at = $1, last_error = $2, failures = $3, next_sync_at = $4 WHERE id = $5",
            )
            .bind(now)
            .bind(&why)
            .bind(failures)
            .bind(now + backoff_ms(failures))
            .bind(&row.id)
            .execute(&state.db)
            .await?;
            tracing::warn!(source_id = %row.id, failures, "calendar source sync failed");
        }
    }
    Ok(())
}

/// Syncs every source that is due at `now`; returns how many were tried.
pub async fn sync_due(state: &BookingState, now: i64) -> Result<usize, AppError> {
    let rows = sqlx::query_as::<_, SourceRow>(&format!(
        "SELECT {SOURCE_COLUMNS} FROM busy_sources WHERE next_sync_at <= $1 ORDER BY next_sync_at LIMIT 50"
    ))
    .bind(now)
    .fetch_all(&state.db)
    .await?;
    for row in &rows {
        sync_row(state, row, now).await?;
    }
    Ok(rows.len())
}

/// The background job that runs [`sync_due`] every [`WORKER_INTERVAL`].
pub fn job(state: BookingState) -> Job {
    Job::new("calendar-sources-sync", WORKER_INTERVAL, move || {
        let state = state.clone();
        async move {
            if let Err(e) = sync_due(&state, now_ms()).await {
                tracing::warn!(error = %e, "calendar sync round failed");
            }
            Pace::OnSchedule
        }
    })
}

async fn view(state: &BookingState, row: SourceRow) -> Result<Source, AppError> {
    let busy_count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM busy_intervals WHERE source_id = $1")
            .bind(&row.id)
            .fetch_one(&state.db)
            .await?;
    Ok(Source {
        id: row.id,
        label: row.label,
        host: row.host,
        last_sync_at: row.last_sync_at.map(ms),
        last_ok_at: row.last_ok_at.map(ms),
        last_error: row.last_error,
        busy_count,
        skipped: serde_json::from_str(&row.skipped).unwrap_or_default(),
    })
}

async fn own(state: &BookingState, me: &Counsellor, id: &str) -> Result<SourceRow, AppError> {
    sqlx::query_as::<_, SourceRow>(&format!(
        "SELECT {SOURCE_COLUMNS} FROM busy_sources WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(&me.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)
}

/// The counsellor's external calendars.
#[utoipa::path(get, path = "/api/calendar/sources", tag = "booking-admin",
    responses(
        (status = 200, description = "Sources with their sync state", body = [Source]),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<Json<Vec<Source>>, AppError> {
    let rows = sqlx::query_as::<_, SourceRow>(&format!(
        "SELECT {SOURCE_COLUMNS} FROM busy_sources WHERE counsellor_id = $1 ORDER BY created_at"
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

/// Adds an external calendar and syncs it at once (the answer shows whether that worked).
#[utoipa::path(post, path = "/api/calendar/sources", tag = "booking-admin",
    request_body = NewSource,
    responses(
        (status = 201, description = "Added; `last_error` says if the first sync failed", body = Source),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 409, description = "`conflict`: already ten sources", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `url` or `label`", body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(req): Json<NewSource>,
) -> Result<(StatusCode, Json<Source>), AppError> {
    let url = parse_url(&req.url).map_err(|e| AppError::invalid("url", e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let label = req
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or(&host)
        .to_owned();
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "label",
            "must be at most 100 characters without control characters",
        ));
    }
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM busy_sources WHERE counsellor_id = $1")
            .bind(&me.id)
            .fetch_one(&state.db)
            .await?;
    if count >= MAX_SOURCES {
        return Err(AppError::Conflict(format!(
            "at most {MAX_SOURCES} calendars"
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO busy_sources (id, counsellor_id, url_sealed, label, host, created_at, next_sync_at, failures, skipped)
         VALUES ($1, $2, $3, $4, $5, $6, $6, 0, '[]')",
    )
    .bind(&id)
    .bind(&me.id)
    .bind(state.keys.link.seal(req.url.trim().as_bytes(), id.as_bytes()))
    .bind(&label)
    .bind(&host)
    .bind(now)
    .execute(&state.db)
    .await?;
    let row = own(&state, &me, &id).await?;
    sync_row(&state, &row, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&state, own(&state, &me, &id).await?).await?),
    ))
}

/// Syncs one calendar now.
#[utoipa::path(post, path = "/api/calendar/sources/{id}/sync", tag = "booking-admin",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 200, description = "Synced (or `last_error` says why not)", body = Source),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn sync_now(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<Json<Source>, AppError> {
    let row = own(&state, &me, &id).await?;
    sync_row(&state, &row, now_ms()).await?;
    Ok(Json(view(&state, own(&state, &me, &id).await?).await?))
}

/// Removes a calendar and its busy times.
#[utoipa::path(delete, path = "/api/calendar/sources/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Source id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    own(&state, &me, &id).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM busy_intervals WHERE source_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM busy_sources WHERE id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_webcal_means_https() {
        assert_eq!(
            parse_url("webcal://cal.example/x.ics").unwrap().as_str(),
            "https://cal.example/x.ics"
        );
        assert_eq!(
            parse_url("WEBCAL://cal.example/x").unwrap().scheme(),
            "https"
        );
        assert!(parse_url("ftp://cal.example/x").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url(&format!("https://a.example/{}", "x".repeat(MAX_URL))).is_err());
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(2), 120_000);
        assert_eq!(backoff_ms(6), 1_920_000);
        assert_eq!(backoff_ms(7), 3_600_000);
        assert_eq!(backoff_ms(100), 3_600_000);
    }
}
