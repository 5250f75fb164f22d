//! The counsellor's calendar feed (issue 6): a secret, revocable URL of an ICS calendar with
//! their bookings, for any calendar program to subscribe to (https and webcal).
//!
//! The URL is the only credential, so it is a 256-bit random token; the database keeps its
//! SHA-256 for the lookup and the token itself sealed, so the dashboard can show the URL again.
//! Creating a new feed replaces the old one (the old URL stops working at once); deleting it
//! revokes it. By default the events name the appointment type and kind only: a calendar
//! provider that fetches the feed learns no client's name. The counsellor may opt in to client
//! names and contact details.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, TimeZone, Utc};
use confidant_booking::ics::{self, FeedEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, BookingRow};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::{now_ms, sha256_hex};
use confidant_kit::error::{AppError, ErrorBody};

/// Bookings older than this are left out of the feed.
const PAST_DAYS: i64 = 30;
/// Bookings further ahead than this are left out of the feed.
const FUTURE_DAYS: i64 = 400;
/// Random bytes in a feed token (base64url: 43 characters).
const TOKEN_BYTES: usize = 32;

/// The feed's URLs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    /// `https://…/calendar/feed/TOKEN.ics` (or `http://` when the public URL is).
    pub url: String,
    /// The same as `webcal://…`, which calendar programs open as a subscription.
    pub webcal_url: String,
    /// Whether events carry the client's name and contact details.
    pub client_details: bool,
    /// When this URL was made.
    pub created_at: DateTime<Utc>,
    /// When a calendar program last fetched it.
    pub last_fetched_at: Option<DateTime<Utc>>,
}

/// Options for a new feed URL.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedRequest {
    /// Put the client's name and contact details into the events [default: false]. Whoever
    /// holds the URL (and the calendar provider that fetches it) then sees them.
    #[serde(default)]
    pub client_details: bool,
}

fn ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_default()
}

fn urls(state: &BookingState, token: &str) -> (String, String) {
    let url = format!("{}/calendar/feed/{token}.ics", state.config.public_url);
    let webcal = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    (url, webcal)
}

type FeedRow = (Vec<u8>, i64, i64, Option<i64>);

async fn feed_of(state: &BookingState, me: &Counsellor) -> Result<Option<Feed>, AppError> {
    let row: Option<FeedRow> = sqlx::query_as(
        "SELECT token_sealed, client_details, created_at, last_fetched_at FROM calendar_feeds WHERE counsellor_id = $1",
    )
    .bind(&me.id)
    .fetch_optional(&state.db)
    .await?;
    let Some((sealed, details, created, fetched)) = row else {
        return Ok(None);
    };
    let token = String::from_utf8(state.keys.link.open(&sealed, me.id.as_bytes())?)
        .map_err(|_| AppError::Internal("sealed feed token is not UTF-8".into()))?;
    let (url, webcal_url) = urls(state, &token);
    Ok(Some(Feed {
        url,
        webcal_url,
        client_details: details != 0,
        created_at: ms(created),
        last_fetched_at: fetched.map(ms),
    }))
}

/// The counsellor's feed, or none yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedState {
    /// The feed; `null` until the counsellor makes one.
    pub feed: Option<Feed>,
}

/// The counsellor's feed URL.
///
/// `{"feed": null}` while there is none: an empty state, not an error, so the dashboard can ask
/// on every load.
#[utoipa::path(get, path = "/api/calendar/feed", tag = "booking-admin",
    responses(
        (status = 200, description = "The feed, or `null` when there is none yet", body = FeedState),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<Json<FeedState>, AppError> {
    Ok(Json(FeedState {
        feed: feed_of(&state, &me).await?,
    }))
}

/// Makes a new feed URL; an existing one stops working at once.
#[utoipa::path(post, path = "/api/calendar/feed", tag = "booking-admin",
    request_body = FeedRequest,
    responses(
        (status = 201, description = "The new feed", body = Feed),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<BookingState>,
    me: Counsellor,
    body: Option<Json<FeedRequest>>,
) -> Result<(StatusCode, Json<Feed>), AppError> {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let token = confidant_vault::random_token(TOKEN_BYTES);
    let sealed = state.keys.link.seal(token.as_bytes(), me.id.as_bytes());
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM calendar_feeds WHERE counsellor_id = $1")
        .bind(&me.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO calendar_feeds (counsellor_id, token_hash, token_sealed, client_details, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&me.id)
    .bind(sha256_hex(&token))
    .bind(&sealed)
    .bind(i64::from(req.client_details))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(counsellor_id = %me.id, client_details = req.client_details, "calendar feed created");
    let feed = feed_of(&state, &me)
        .await?
        .ok_or_else(|| AppError::Internal("feed vanished".into()))?;
    Ok((StatusCode::CREATED, Json(feed)))
}

/// Revokes the feed URL.
#[utoipa::path(delete, path = "/api/calendar/feed", tag = "booking-admin",
    responses(
        (status = 204, description = "Revoked (also when there was none)"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<StatusCode, AppError> {
    sqlx::query("DELETE FROM calendar_feeds WHERE counsellor_id = $1")
        .bind(&me.id)
        .execute(&state.db)
        .await?;
    tracing::info!(counsellor_id = %me.id, "calendar feed revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The calendar itself. Unknown and revoked tokens are a plain 404.
#[utoipa::path(get, path = "/calendar/feed/{token}", tag = "booking",
    params(("token" = String, Path, description = "Feed token, optionally followed by `.ics`")),
    responses(
        (status = 200, description = "The counsellor's bookings from 30 days ago on", content_type = "text/calendar", body = String),
        (status = 404, description = "`not_found`: unknown or revoked feed", body = ErrorBody),
    ))]
pub async fn calendar(
    State(state): State<BookingState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let token = token.strip_suffix(".ics").unwrap_or(&token);
    if token.is_empty()
        || token.len() > 128
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::NotFound);
    }
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT counsellor_id, client_details FROM calendar_feeds WHERE token_hash = $1",
    )
    .bind(sha256_hex(token))
    .fetch_optional(&state.db)
    .await?;
    let Some((counsellor_id, details)) = row else {
        return Err(AppError::NotFound);
    };
    let now = Utc::now();
    sqlx::query("UPDATE calendar_feeds SET last_fetched_at = $1 WHERE counsellor_id = $2")
        .bind(now.timestamp_millis())
        .bind(&counsellor_id)
        .execute(&state.db)
        .await?;
    let host = store::host_by_id(&state.db, &counsellor_id).await?;
    let rows = sqlx::query_as::<_, BookingRow>(&format!(
        "SELECT {} FROM bookings WHERE counsellor_id = $1 AND active = 1 AND ends_at > $2 AND starts_at < $3
         ORDER BY starts_at",
        store::BOOKING_COLUMNS
    ))
    .bind(&counsellor_id)
    .bind((now - Duration::days(PAST_DAYS)).timestamp_millis())
    .bind((now + Duration::days(FUTURE_DAYS)).timestamp_millis())
    .fetch_all(&state.db)
    .await?;
    let types = store::types_visible_to(&state.db, &counsellor_id).await?;
    let de = host.lang == "de";
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        events.push(event_of(&state, r, &types, &host, details != 0)?);
    }
    let name = if de {
        format!("Termine – {}", host.name)
    } else {
        format!("Appointments – {}", host.name)
    };
    let body = ics::feed(&name, host.tz, &events, now);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"confidant.ics\""),
    );
    Ok(resp)
}

/// The host part of the UIDs of booking events (the public URL's host).
pub fn uid_host(state: &BookingState) -> String {
    state
        .config
        .public_url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("confidant")
        .to_owned()
}

/// One booking as an event of the counsellor's own calendar (the feed, and CalDAV writes):
/// type and kind in the title, the client's details only when `details` is on.
pub(crate) fn event_of(
    state: &BookingState,
    r: &store::BookingRow,
    types: &[store::TypeRow],
    host: &store::Host,
    details: bool,
) -> Result<FeedEvent, AppError> {
    let de = host.lang == "de";
    let dashboard = format!("{}/dashboard", state.config.public_url);
    let t = types.iter().find(|t| t.id == r.type_id);
    let type_name = t.map(|t| t.name.clone()).unwrap_or_default();
    let kind = match (de, r.kind.as_str()) {
        (true, "video") => "Video",
        (true, "phone") => "Telefon",
        (true, _) => "vor Ort",
        (false, "video") => "video",
        (false, "phone") => "phone",
        (false, _) => "on site",
    };
    let mut summary = format!("{type_name} ({kind})");
    let mut description = if de {
        format!("Details und Aktionen: {dashboard}")
    } else {
        format!("Details and actions: {dashboard}")
    };
    if details {
        let c = r.client(state)?;
        summary = format!("{summary}: {}", c.full_name());
        let mut lines = vec![c.full_name(), c.email.clone()];
        lines.extend(c.phone.clone());
        lines.extend(c.address.clone());
        if !c.message.is_empty() {
            lines.push(String::new());
            lines.push(c.message.clone());
        }
        lines.push(String::new());
        lines.push(description);
        description = lines.join("\n");
    }
    Ok(FeedEvent {
        uid: format!("{}@{}", r.id, uid_host(state)),
        sequence: u32::try_from(r.ics_sequence).unwrap_or(0),
        start: r.start(),
        end: r.end(),
        summary,
        description,
        location: t
            .and_then(|t| t.location.clone())
            .filter(|_| r.kind == "on_site"),
        url: Some(dashboard),
        confirmed: r.status == "confirmed",
        modified: None,
    })
}
