//! Walk-in endpoints: the public talk-now side (offer, queue, ticket, leave) and the
//! counsellor's side (profile, status with rings, presence, accept, pass).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum_extra::extract::WithRejection;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_kit::auth::Counsellor;
use confidant_kit::error::{AppError, ErrorBody, FieldProblem};
use confidant_kit::extract::{ClientIp, Json};
use confidant_kit::ratelimit::Network;

use crate::core::{DashboardView, Presence, Refusal, Request, TicketView};
use crate::{load_profile, save_profile, sync, WalkinProfile, WalkinState};

/// Longest first or last name, in characters (together they are the name in the call, which
/// the signalling protocol limits to 80).
pub const MAX_NAME_PART_CHARS: usize = 39;
/// Random bytes in a ticket (256 bits): the ticket is the client's only credential.
const TICKET_BYTES: usize = 32;
/// Title of a session opened for a walk-in (no client data in it).
const SESSION_TITLE: &str = "Walk-in";

/// What the centre's talk-now page may show.
#[derive(Debug, Serialize, ToSchema)]
pub struct CentreOffer {
    /// Someone could take a walk-in now.
    pub available: bool,
    /// How many counsellors are available, where the centre shows it (`--walkin-show-count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_count: Option<usize>,
    /// Topics on offer.
    pub topics: Vec<String>,
    /// Languages on offer.
    pub languages: Vec<String>,
}

/// What a counsellor's talk-now page shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct CounsellorOffer {
    /// Page slug (`/talk/{slug}`, `/book/{slug}`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Effective presence.
    pub presence: Presence,
    /// Topics offered.
    pub topics: Vec<String>,
    /// Languages spoken.
    pub languages: Vec<String>,
}

/// The centre's talk-now data: whether anyone is available, topics and languages.
#[utoipa::path(get, path = "/api/public/walkin", tag = "walkin",
    responses((status = 200, description = "What the centre offers walk-ins now", body = CentreOffer)))]
pub async fn centre(State(state): State<WalkinState>) -> Result<axum::Json<CentreOffer>, AppError> {
    let now = Utc::now();
    sync(&state, now).await?;
    let offer = state.walkin.core().offer(None, now);
    Ok(axum::Json(CentreOffer {
        available: offer.available,
        available_count: state.walkin.show_count.then_some(offer.available_count),
        topics: offer.topics,
        languages: offer.languages,
    }))
}

/// One counsellor's talk-now data; 404 unless they take walk-ins.
#[utoipa::path(get, path = "/api/public/walkin/{slug}", tag = "walkin",
    params(("slug" = String, Path, description = "Counsellor page slug")),
    responses(
        (status = 200, description = "The counsellor's presence and offer", body = CounsellorOffer),
        (status = 404, description = "`not_found`: no such counsellor, or walk-ins off", body = ErrorBody),
    ))]
pub async fn counsellor(
    State(state): State<WalkinState>,
    WithRejection(Path(slug), _): WithRejection<Path<String>, AppError>,
) -> Result<axum::Json<CounsellorOffer>, AppError> {
    let now = Utc::now();
    sync(&state, now).await?;
    let slug = slug.to_ascii_lowercase();
    let core = state.walkin.core();
    let id = core.by_slug(&slug).ok_or(AppError::NotFound)?.to_owned();
    let offer = core.offer(Some(&id), now);
    let presence = core.presence(&id, now).ok_or(AppError::NotFound)?;
    let name = core.profile_name(&id).unwrap_or_default();
    Ok(axum::Json(CounsellorOffer {
        slug,
        name,
        presence,
        topics: offer.topics,
        languages: offer.languages,
    }))
}

/// A client asks to talk now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterQueue {
    /// First name (1–39 characters).
    pub first_name: String,
    /// Last name (optional; at most 39 characters). A first name or nickname is enough.
    #[serde(default)]
    pub last_name: String,
    /// One of the topics on offer.
    #[serde(default)]
    pub topic: Option<String>,
    /// One of the languages on offer.
    #[serde(default)]
    pub language: Option<String>,
    /// Only this counsellor (slug of their page).
    #[serde(default)]
    pub counsellor: Option<String>,
    /// Honeypot: must stay empty.
    #[serde(default)]
    pub website: Option<String>,
}

/// A place in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    /// The ticket: the client's secret for polling and leaving.
    pub ticket: String,
    /// Its state now.
    #[serde(flatten)]
    pub view: TicketView,
}

fn name_problem(field: &str, value: &str) -> Option<FieldProblem> {
    use confidant_text::Problem;
    let (code, message) = match confidant_text::check_name(value, MAX_NAME_PART_CHARS) {
        Ok(_) => return None,
        Err(Problem::Empty) => ("required", "is required".to_owned()),
        Err(Problem::TooLong) => (
            "too_long",
            format!("must be at most {MAX_NAME_PART_CHARS} characters"),
        ),
        Err(Problem::Forbidden) => (
            "invalid",
            "must not contain control or bidi characters".to_owned(),
        ),
    };
    Some(FieldProblem {
        field: field.to_owned(),
        code: code.to_owned(),
        message: message.clone(),
    })
}

fn rate_limit(state: &WalkinState, ip: std::net::IpAddr) -> Result<(), AppError> {
    let limited = state
        .walkin
        .limiter
        .lock()
        .map_err(|_| AppError::Internal("walk-in limiter poisoned".into()))?
        .check(ip, Instant::now());
    if let Err(wait) = limited {
        tracing::warn!(network = %Network::of(ip), "walk-in queue rate limited");
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil() as u64,
        });
    }
    Ok(())
}

/// Enter the queue with a name only. 409 when nobody who could take the client is at work or
/// the queue is full: the page then offers booking and the contact form.
#[utoipa::path(post, path = "/api/public/walkin/queue", tag = "walkin",
    request_body = EnterQueue,
    responses(
        (status = 201, description = "In the queue", body = Ticket),
        (status = 404, description = "`not_found`: the counsellor does not take walk-ins", body = ErrorBody),
        (status = 409, description = "`conflict`: nobody available, or the queue is full", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `first_name`, `last_name`, `topic`, `language` or `website`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
pub async fn enter(
    State(state): State<WalkinState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<EnterQueue>,
) -> Result<(StatusCode, axum::Json<Ticket>), AppError> {
    rate_limit(&state, ip)?;
    let mut problems: Vec<FieldProblem> = [
        name_problem("first_name", &req.first_name),
        // Optional: checked only when given.
        (!req.last_name.trim().is_empty())
            .then(|| name_problem("last_name", &req.last_name))
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if req.website.as_deref().is_some_and(|w| !w.is_empty()) {
        problems.push(FieldProblem {
            field: "website".into(),
            code: "invalid".into(),
            message: "must be empty".into(),
        });
    }
    let now = Utc::now();
    sync(&state, now).await?;
    let ticket = confidant_vault::random_token(TICKET_BYTES);
    let mut core = state.walkin.core();
    let counsellor = match req
        .counsellor
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(slug) => Some(
            core.by_slug(&slug.to_ascii_lowercase())
                .ok_or(AppError::NotFound)?
                .to_owned(),
        ),
        None => None,
    };
    let offer = core.offer(counsellor.as_deref(), now);
    let pick = |field: &str,
                value: Option<String>,
                offered: &[String],
                problems: &mut Vec<FieldProblem>| {
        let value = value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())?;
        if offered.contains(&value) {
            Some(value)
        } else {
            problems.push(FieldProblem {
                field: field.into(),
                code: "invalid".into(),
                message: "is not one on offer".into(),
            });
            None
        }
    };
    let topic = pick("topic", req.topic, &offer.topics, &mut problems);
    let language = pick("language", req.language, &offer.languages, &mut problems);
    if !problems.is_empty() {
        return Err(AppError::Fields(problems));
    }
    let request = Request {
        first_name: req.first_name.trim().to_owned(),
        last_name: req.last_name.trim().to_owned(),
        topic,
        language,
        counsellor,
    };
    core.enqueue(&ticket, request, now).map_err(refused)?;
    let view = core.ticket(&ticket, now).ok_or(AppError::NotFound)?;
    drop(core);
    tracing::info!("walk-in client entered the queue");
    Ok((StatusCode::CREATED, axum::Json(Ticket { ticket, view })))
}

type TicketPath = WithRejection<Path<String>, AppError>;

fn plausible_ticket(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The client's place, estimate and, once a counsellor accepted, the room and join token.
/// Asking keeps the place: without a request for 30 s it is given up.
#[utoipa::path(get, path = "/api/public/walkin/tickets/{token}", tag = "walkin",
    params(("token" = String, Path, description = "The ticket from entering the queue")),
    responses(
        (status = 200, description = "The ticket's state", body = TicketView),
        (status = 404, description = "`not_found`: left, given up after 30 s, or never was", body = ErrorBody),
    ))]
pub async fn ticket(
    State(state): State<WalkinState>,
    WithRejection(Path(ticket), _): TicketPath,
) -> Result<axum::Json<TicketView>, AppError> {
    if !plausible_ticket(&ticket) {
        return Err(AppError::NotFound);
    }
    let now = Utc::now();
    // Seen first, so a sync cannot drop a client that is asking right now.
    if !state.walkin.core().handle_ticket_seen(&ticket, now) {
        return Err(AppError::NotFound);
    }
    sync(&state, now).await?;
    let view = state
        .walkin
        .core()
        .ticket(&ticket, now)
        .ok_or(AppError::NotFound)?;
    Ok(axum::Json(view))
}

/// Leave the queue (the page was closed or "leave" pressed). Idempotent.
#[utoipa::path(post, path = "/api/public/walkin/tickets/{token}/leave", tag = "walkin",
    params(("token" = String, Path, description = "The ticket from entering the queue")),
    responses((status = 204, description = "Not in the queue (any more)")))]
pub async fn leave(
    State(state): State<WalkinState>,
    WithRejection(Path(ticket), _): TicketPath,
) -> StatusCode {
    if plausible_ticket(&ticket) && state.walkin.core().leave(&ticket, Utc::now()) {
        tracing::info!("walk-in client left the queue");
    }
    StatusCode::NO_CONTENT
}

// ------------------------------------------------------------------ counsellor side

/// The counsellor's walk-in settings.
#[utoipa::path(get, path = "/api/walkin/profile", tag = "walkin",
    responses(
        (status = 200, description = "Settings (defaults if never saved)", body = WalkinProfile),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn get_profile(
    State(state): State<WalkinState>,
    me: Counsellor,
) -> Result<axum::Json<WalkinProfile>, AppError> {
    Ok(axum::Json(load_profile(&state, &me.id).await?))
}

/// Change the walk-in settings; they apply to routing at once.
#[utoipa::path(put, path = "/api/walkin/profile", tag = "walkin",
    request_body = WalkinProfile,
    responses(
        (status = 200, description = "Saved", body = WalkinProfile),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `topics`, `languages` or `hours`", body = ErrorBody),
    ))]
pub async fn put_profile(
    State(state): State<WalkinState>,
    me: Counsellor,
    Json(profile): Json<WalkinProfile>,
) -> Result<axum::Json<WalkinProfile>, AppError> {
    let profile = profile.validated()?;
    save_profile(&state, &me.id, &profile).await?;
    Ok(axum::Json(profile))
}

/// The dashboard's walk-in state: presence, the ring to answer, clients waiting. Each call
/// says the dashboard is open; without one for 20 s the counsellor counts as away.
#[utoipa::path(get, path = "/api/walkin/status", tag = "walkin",
    responses(
        (status = 200, description = "Walk-in state", body = DashboardView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: walk-ins are off for this counsellor", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<WalkinState>,
    me: Counsellor,
) -> Result<axum::Json<DashboardView>, AppError> {
    let now = Utc::now();
    state.walkin.core().handle_heartbeat(&me.id, now);
    sync(&state, now).await?;
    let view = state
        .walkin
        .core()
        .dashboard(&me.id, now)
        .ok_or(AppError::NotFound)?;
    Ok(axum::Json(view))
}

/// A presence to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    /// `available`, `busy` or `away`.
    pub presence: Presence,
}

/// Set the presence the counsellor chooses (a session in progress still shows busy).
#[utoipa::path(put, path = "/api/walkin/presence", tag = "walkin",
    request_body = SetPresence,
    responses(
        (status = 200, description = "The new state", body = DashboardView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: walk-ins are off for this counsellor", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `presence`", body = ErrorBody),
    ))]
pub async fn set_presence(
    State(state): State<WalkinState>,
    me: Counsellor,
    Json(req): Json<SetPresence>,
) -> Result<axum::Json<DashboardView>, AppError> {
    let now = Utc::now();
    sync(&state, now).await?;
    let mut core = state.walkin.core();
    core.set_presence(&me.id, req.presence, now)
        .map_err(refused)?;
    let view = core.dashboard(&me.id, now).ok_or(AppError::NotFound)?;
    Ok(axum::Json(view))
}

/// The dashboard is closing (sent as a beacon): away after a short grace unless it returns.
#[utoipa::path(post, path = "/api/walkin/closed", tag = "walkin",
    responses(
        (status = 204, description = "Noted"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn closed(State(state): State<WalkinState>, me: Counsellor) -> StatusCode {
    state
        .walkin
        .core()
        .handle_dashboard_closed(&me.id, Utc::now());
    StatusCode::NO_CONTENT
}

/// The session opened for an accepted walk-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedSession {
    /// Session id (the room).
    pub session_id: String,
    /// The counsellor's call page.
    pub host_url: String,
}

type RingPath = WithRejection<Path<String>, AppError>;

/// Accept a ring: an instant session opens and the client joins it directly (no lobby).
#[utoipa::path(post, path = "/api/walkin/rings/{id}/accept", tag = "walkin",
    params(("id" = String, Path, description = "Ring id from the status")),
    responses(
        (status = 201, description = "Session opened; the client is being connected", body = AcceptedSession),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: the ring moved on or the client left", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<WalkinState>,
    me: Counsellor,
    WithRejection(Path(ring), _): RingPath,
) -> Result<(StatusCode, axum::Json<AcceptedSession>), AppError> {
    let now = Utc::now();
    sync(&state, now).await?;
    let accepted = state
        .walkin
        .core()
        .accept(&me.id, &ring, now)
        .map_err(refused)?;
    let opened = async {
        let room = confidant_signaling_server::sessions::open_instant(
            &state.rooms,
            &me.id,
            Some(SESSION_TITLE),
            state.config.link_ttl_minutes,
        )
        .await?;
        let (_participant, token) = state
            .hub
            .guest_token(&room, &accepted.display_name)
            .map_err(AppError::internal)?;
        Ok::<_, AppError>((room, token))
    }
    .await;
    let (room, token) = match opened {
        Ok(v) => v,
        Err(e) => {
            state
                .walkin
                .core()
                .abandon_accept(&accepted.ticket, Utc::now());
            return Err(e);
        }
    };
    let connected = state
        .walkin
        .core()
        .connect(&accepted.ticket, &room, &token, Utc::now());
    if let Err(refusal) = connected {
        // The client left while the session opened: close it again.
        confidant_signaling_server::sessions::end_session(&state.rooms, &room).await?;
        return Err(refused(refusal));
    }
    tracing::info!(session_id = %room, counsellor_id = %me.id, "walk-in accepted");
    Ok((
        StatusCode::CREATED,
        axum::Json(AcceptedSession {
            host_url: format!("/s/{room}"),
            session_id: room,
        }),
    ))
}

/// Pass on a ring: it moves on to the next counsellor at once.
#[utoipa::path(post, path = "/api/walkin/rings/{id}/pass", tag = "walkin",
    params(("id" = String, Path, description = "Ring id from the status")),
    responses(
        (status = 204, description = "Passed"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: the ring moved on or the client left", body = ErrorBody),
    ))]
pub async fn pass(
    State(state): State<WalkinState>,
    me: Counsellor,
    WithRejection(Path(ring), _): RingPath,
) -> Result<StatusCode, AppError> {
    let now = Utc::now();
    sync(&state, now).await?;
    state
        .walkin
        .core()
        .pass(&me.id, &ring, now)
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The HTTP meaning of the walk-in core's refusals.
fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::QueueFull => AppError::Conflict("the walk-in queue is full".into()),
        Refusal::NobodyAvailable => {
            AppError::Conflict("nobody who could take this conversation is available".into())
        }
        Refusal::Gone => AppError::NotFound,
        Refusal::Duplicate => AppError::Internal("walk-in ticket collision".into()),
    }
}
