//! Counselling sessions: create an instant session with a join link, list, revoke, end, and
//! hand the counsellor a host token for the websocket.
//!
//! A counsellor sees and acts on their own sessions only; anyone else's is "not found".

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::WithRejection;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::LINK_TTL_MINUTES;
use crate::{RoomKeys, RoomsState};
use confidant_kit::auth::Counsellor;
use confidant_kit::db::{now_ms, sha256_hex};
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::JsonOrEmpty;

/// Longest session title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Close reason sent to everyone in a room the counsellor ends over HTTP.
pub const END_REASON: &str = "ended_by_host";
/// Random bytes in a join-link token (256 bits).
pub const LINK_TOKEN_BYTES: usize = 32;

/// Request to create a session.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Optional title, at most 200 characters; only the counsellor sees it.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// Lifetime of the join link in minutes (5..=10080); the server default when omitted.
    #[schema(minimum = 5, maximum = 10080)]
    pub ttl_minutes: Option<u32>,
}

/// State of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The link admits clients (to the lobby).
    Active,
    /// The link no longer admits anyone new; people in the room stay.
    Revoked,
    /// Everyone was disconnected; the link is invalid.
    Ended,
    /// The link's lifetime is over.
    Expired,
}

/// A counselling session as the dashboard sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Session id, also the signalling room.
    pub id: uuid::Uuid,
    /// Title, if one was given.
    pub title: Option<String>,
    /// The join link to hand to the client.
    pub join_url: String,
    /// Current state.
    pub status: SessionStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the join link stops admitting.
    pub expires_at: DateTime<Utc>,
    /// When the session was ended, if it was.
    pub ended_at: Option<DateTime<Utc>>,
    /// Clients waiting in the session's waiting room now (its lobby), for the dashboard's knock
    /// alert; no names (they show only on the call page).
    pub waiting: u32,
}

/// A join token for the counsellor (role host).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HostToken {
    /// The room to join (the session id).
    pub room: String,
    /// Join token for the websocket `join` message.
    pub token: String,
    /// Participant id the token is for, where the server knows it in advance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: String,
    title_sealed: Option<Vec<u8>>,
    link_sealed: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    ended_at: Option<i64>,
}

const COLUMNS: &str = "id, title_sealed, link_sealed, created_at, expires_at, revoked_at, ended_at";

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Row {
    fn status(&self, now: i64) -> SessionStatus {
        if self.ended_at.is_some() {
            SessionStatus::Ended
        } else if self.revoked_at.is_some() {
            SessionStatus::Revoked
        } else if self.expires_at <= now {
            SessionStatus::Expired
        } else {
            SessionStatus::Active
        }
    }

    fn into_session(self, state: &RoomsState) -> Result<Session, AppError> {
        let aad = self.id.as_bytes();
        let link = state.keys.link.open(&self.link_sealed, aad)?;
        let link = String::from_utf8(link)
            .map_err(|_| AppError::Internal("sealed link is not UTF-8".into()))?;
        let title = match &self.title_sealed {
            Some(sealed) => Some(
                String::from_utf8(state.keys.title.open(sealed, aad)?)
                    .map_err(|_| AppError::Internal("sealed title is not UTF-8".into()))?,
            ),
            None => None,
        };
        let id = self
            .id
            .parse()
            .map_err(|_| AppError::Internal("session id is not a UUID".into()))?;
        Ok(Session {
            id,
            title,
            join_url: state.config.join_url(&link),
            status: self.status(now_ms()),
            created_at: time(self.created_at),
            expires_at: time(self.expires_at),
            ended_at: self.ended_at.map(time),
            waiting: u32::try_from(state.hub.waiting(&self.id)).unwrap_or(u32::MAX),
        })
    }
}

/// Loads one of `owner`'s sessions; anything else (unknown id, other owner, not a UUID) is 404.
async fn own_row(state: &RoomsState, owner: &Counsellor, id: &str) -> Result<Row, AppError> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(&owner.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)
}

/// Whether `session_id` is one of `counsellor_id`'s sessions (for the host page).
pub async fn owns(
    state: &RoomsState,
    counsellor_id: &str,
    session_id: &str,
) -> Result<bool, AppError> {
    let Ok(id) = uuid::Uuid::parse_str(session_id) else {
        return Ok(false);
    };
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sessions WHERE id = $1 AND counsellor_id = $2")
            .bind(id.to_string())
            .bind(counsellor_id)
            .fetch_optional(&state.db)
            .await?;
    Ok(found.is_some())
}

type SessionId = WithRejection<Path<String>, AppError>;

/// Start an instant session: a new room with a fresh join link.
#[utoipa::path(
    post, path = "/api/sessions", tag = "sessions",
    request_body(content = Option<CreateSession>, description = "Optional; an empty body takes the defaults"),
    responses(
        (status = 201, description = "Created", body = Session),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `title` or `ttl_minutes`", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<RoomsState>,
    owner: Counsellor,
    JsonOrEmpty(req): JsonOrEmpty<CreateSession>,
) -> Result<(StatusCode, axum::Json<Session>), AppError> {
    let title = req
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if let Some(t) = &title {
        if t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "title",
                "must be at most 200 characters without control characters",
            ));
        }
    }
    let ttl_minutes = req.ttl_minutes.unwrap_or(state.config.link_ttl_minutes);
    if !LINK_TTL_MINUTES.contains(&ttl_minutes) {
        return Err(AppError::invalid(
            "ttl_minutes",
            "must be between 5 and 10080",
        ));
    }

    let id = open_instant(&state, &owner.id, title.as_deref(), ttl_minutes).await?;
    let row = own_row(&state, &owner, &id).await?;
    Ok((StatusCode::CREATED, axum::Json(row.into_session(&state)?)))
}

/// Opens an instant session of `counsellor_id` with a fresh join link and returns its id
/// (the room). Shared by "start a session" and accepting a walk-in.
pub async fn open_instant(
    state: &RoomsState,
    counsellor_id: &str,
    title: Option<&str>,
    ttl_minutes: u32,
) -> Result<String, AppError> {
    let now = now_ms();
    let mut conn = state.db.acquire().await?;
    let (id, _link) = insert_room(
        &mut conn,
        &state.keys,
        &NewRoom {
            counsellor_id,
            title,
            created_at: now,
            expires_at: now + i64::from(ttl_minutes) * 60_000,
        },
    )
    .await?;
    tracing::info!(session_id = %id, counsellor_id = %counsellor_id, ttl_minutes, "session created");
    Ok(id)
}

/// A room to open: whose it is, its title, when it opens and when its join link expires
/// (milliseconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct NewRoom<'a> {
    /// The counsellor who hosts it.
    pub counsellor_id: &'a str,
    /// Its title, sealed at rest ([`crate::TITLE_PURPOSE`]).
    pub title: Option<&'a str>,
    /// When it was opened.
    pub created_at: i64,
    /// When its join link stops working.
    pub expires_at: i64,
}

/// Inserts a room with a fresh id and join link on `conn` (so that another capability can open
/// one inside its own transaction, as a booked video appointment does); returns
/// `(session id, link token)`. The one place a session row is written.
pub async fn insert_room(
    conn: &mut sqlx::AnyConnection,
    keys: &RoomKeys,
    room: &NewRoom<'_>,
) -> Result<(String, String), AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let link = confidant_vault::random_token(LINK_TOKEN_BYTES);
    let aad = id.as_bytes();
    sqlx::query(
        "INSERT INTO sessions (id, counsellor_id, title_sealed, link_hash, link_sealed, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(room.counsellor_id)
    .bind(room.title.map(|t| keys.title.seal(t.as_bytes(), aad)))
    .bind(sha256_hex(&link))
    .bind(keys.link.seal(link.as_bytes(), aad))
    .bind(room.created_at)
    .bind(room.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok((id, link))
}

/// Ends session `id`: marked ended first, so nobody can knock or join again while the room
/// is torn down, then everyone is disconnected. Idempotent.
pub async fn end_session(state: &RoomsState, id: &str) -> Result<(), AppError> {
    sqlx::query("UPDATE sessions SET ended_at = COALESCE(ended_at, $1) WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&state.db)
        .await?;
    state.hub.end_room(id, END_REASON).await;
    Ok(())
}

/// The counsellor's sessions, newest first.
#[utoipa::path(
    get, path = "/api/sessions", tag = "sessions",
    responses(
        (status = 200, description = "Own sessions, newest first", body = Vec<Session>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<RoomsState>,
    owner: Counsellor,
) -> Result<axum::Json<Vec<Session>>, AppError> {
    let rows = sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE counsellor_id = $1 ORDER BY created_at DESC, {} DESC",
        state.dialect.insertion_order()
    ))
    .bind(&owner.id)
    .fetch_all(&state.db)
    .await?;
    let sessions = rows
        .into_iter()
        .map(|r| r.into_session(&state))
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(sessions))
}

/// One of the counsellor's sessions.
#[utoipa::path(
    get, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = Session),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such session of this counsellor", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<RoomsState>,
    owner: Counsellor,
    WithRejection(Path(id), _): SessionId,
) -> Result<axum::Json<Session>, AppError> {
    Ok(axum::Json(
        own_row(&state, &owner, &id).await?.into_session(&state)?,
    ))
}

/// Revoke the join link: nobody new is admitted, and admissions not yet used are void; people
/// in the room stay (and can reconnect within the resume grace). Idempotent.
#[utoipa::path(
    post, path = "/api/sessions/{id}/revoke", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session, revoked (or ended, if it already was)", body = Session),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<RoomsState>,
    owner: Counsellor,
    WithRejection(Path(id), _): SessionId,
) -> Result<axum::Json<Session>, AppError> {
    let row = own_row(&state, &owner, &id).await?;
    sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now_ms())
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    // Admitted guests who have not joined yet, and any guest's join token, stop working too.
    state.hub.revoke_admissions(&row.id);
    tracing::info!(session_id = %row.id, "session link revoked");
    Ok(axum::Json(
        own_row(&state, &owner, &row.id)
            .await?
            .into_session(&state)?,
    ))
}

/// End the session: everyone is disconnected and the link becomes invalid. Idempotent.
#[utoipa::path(
    post, path = "/api/sessions/{id}/end", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session, ended", body = Session),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
pub async fn end(
    State(state): State<RoomsState>,
    owner: Counsellor,
    WithRejection(Path(id), _): SessionId,
) -> Result<axum::Json<Session>, AppError> {
    let row = own_row(&state, &owner, &id).await?;
    end_session(&state, &row.id).await?;
    tracing::info!(session_id = %row.id, "session ended");
    Ok(axum::Json(
        own_row(&state, &owner, &row.id)
            .await?
            .into_session(&state)?,
    ))
}

/// A join token (role host) for the counsellor's own call page. Refused with 409 once the
/// session has ended or expired; a revoked session can still be joined by its host.
#[utoipa::path(
    post, path = "/api/sessions/{id}/host-token", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "A host join token", body = HostToken),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the session has ended or expired", body = ErrorBody),
    )
)]
pub async fn host_token(
    State(state): State<RoomsState>,
    owner: Counsellor,
    WithRejection(Path(id), _): SessionId,
) -> Result<axum::Json<HostToken>, AppError> {
    let row = own_row(&state, &owner, &id).await?;
    match row.status(now_ms()) {
        SessionStatus::Ended => return Err(AppError::Conflict("the session has ended".into())),
        SessionStatus::Expired => return Err(AppError::Conflict("the session has expired".into())),
        SessionStatus::Active | SessionStatus::Revoked => {}
    }
    let token = state
        .hub
        .host_token(&row.id, &owner.name, &owner.login_id)
        .map_err(AppError::internal)?;
    Ok(axum::Json(HostToken {
        room: row.id,
        token,
        participant_id: None,
    }))
}
