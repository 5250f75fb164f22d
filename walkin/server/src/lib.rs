//! Walk-in conversations (issue 8), server side: a client opens the centre's (or a
//! counsellor's) "talk now" page, gives first and last name, waits in a queue and is connected
//! to a counsellor who accepts a ring on their dashboard.
//!
//! [`core`] is the sans-IO state machine (presence, queue, routing, rings, grace, estimate),
//! its own crate (`walkin/`, `confidant-walkin`). This crate is its shell: the core behind one
//! mutex (never held across an `.await`), the walk-in profiles in the database, the hub's rooms
//! fed in as "in a session", and a job that applies timeouts every second. [`http`] holds the
//! endpoints; an accepted ring opens a room through the rooms crate
//! (`confidant_signaling_server::sessions`) and the hub hands the client its guest token.
//!
//! [`router`] and [`jobs`] are what the binary composes; they need a state from which a
//! [`WalkinState`] and the kit's `Base` can be taken (axum `FromRef`). [`load_all`] fills the
//! core from the database at start. The talk-now pages themselves are the binary's, with the
//! other pages.
//!
//! Privacy: what clients type lives only in the core's memory and is gone when the ticket is
//! (left, dropped for 30 s, or connected and picked up). Nothing of it is logged or stored;
//! the session opened for a walk-in has a fixed title.
//!
//! **What it must not depend on:** the binary crate (`confidant`) or another capability but
//! rooms (`confidant-signaling-server`); only the walk-in core, the rooms crate, the
//! signalling core, the kit, the text checks and the vault.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use confidant_walkin as core;
pub mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::FromRef;
use chrono::Utc;
use confidant_kit::db::Db;
use confidant_kit::error::AppError;
use confidant_kit::ratelimit::{RateLimitConfig, RateLimiter};
use confidant_kit::scheduler::{Job, Pace};
use confidant_kit::Base;
use confidant_signaling::Hub;
use confidant_signaling_server::RoomsState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::core::{Core, Now, OpeningHours, Profile, WalkinConfig, Window};

/// How often the worker applies timeouts (rings, grace periods) and refreshes presence.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// The walk-in state of this server. Cheap to share behind an `Arc`.
pub struct Service {
    core: Mutex<Core>,
    /// Room → the counsellor whose session it is (`None`: not a session of anyone who takes
    /// walk-ins), so presence needs a database lookup only for rooms it has not seen.
    rooms: Mutex<HashMap<String, Option<String>>>,
    /// Queue entries per anonymised network.
    pub(crate) limiter: Mutex<RateLimiter>,
    /// The centre shows how many counsellors are available, not only whether one is.
    pub(crate) show_count: bool,
}

impl Service {
    /// An empty service.
    pub fn new(config: WalkinConfig, limit: RateLimitConfig, show_count: bool) -> Self {
        Self {
            core: Mutex::new(Core::new(config)),
            rooms: Mutex::new(HashMap::new()),
            limiter: Mutex::new(RateLimiter::new(limit)),
            show_count,
        }
    }

    /// The core, locked. Callers never hold it across an `.await`.
    pub fn core(&self) -> MutexGuard<'_, Core> {
        // Every core method leaves it consistent before it can panic; keep serving.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What walk-ins are configured with.
#[derive(Debug, Clone)]
pub struct WalkinServerConfig {
    /// The core's ring timeout, wait limit and queue size.
    pub core: WalkinConfig,
    /// Queue entries per anonymised network.
    pub queue_rate_limit: RateLimitConfig,
    /// The centre's talk-now page shows the number of available counsellors.
    pub show_count: bool,
    /// Lifetime of the join link of a session opened for a walk-in, in minutes.
    pub link_ttl_minutes: u32,
}

/// Everything the walk-in handlers and the sync job share. Cheap to clone.
#[derive(Clone)]
pub struct WalkinState {
    /// The database.
    pub db: Db,
    /// The configuration.
    pub config: Arc<WalkinServerConfig>,
    /// The signalling hub (rooms with their host in them, guest tokens).
    pub hub: Hub,
    /// The rooms capability's state (a ring accepted opens a session).
    pub rooms: RoomsState,
    /// Presence and queue (in memory only).
    pub walkin: Arc<Service>,
}

impl WalkinState {
    /// An empty walk-in state over `base` and the rooms of `rooms`.
    pub fn new(base: &Base, config: WalkinServerConfig, rooms: RoomsState) -> Self {
        let walkin = Arc::new(Service::new(
            config.core.clone(),
            config.queue_rate_limit,
            config.show_count,
        ));
        Self {
            db: base.db.clone(),
            config: Arc::new(config),
            hub: rooms.hub.clone(),
            rooms,
            walkin,
        }
    }

    /// The core, locked. Callers never hold it across an `.await`.
    pub fn core(&self) -> MutexGuard<'_, Core> {
        self.walkin.core()
    }
}

/// The walk-in routes (public talk-now side and the counsellor's side), each with its OpenAPI
/// description.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    WalkinState: FromRef<S>,
    Base: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(http::centre))
        .routes(routes!(http::counsellor))
        .routes(routes!(http::enter))
        .routes(routes!(http::ticket))
        .routes(routes!(http::leave))
        .routes(routes!(http::get_profile, http::put_profile))
        .routes(routes!(http::status))
        .routes(routes!(http::set_presence))
        .routes(routes!(http::closed))
        .routes(routes!(http::accept))
        .routes(routes!(http::pass))
}

/// The background jobs: walk-in sync.
pub fn jobs(state: &WalkinState) -> Vec<Job> {
    vec![job(state.clone())]
}

/// A counsellor's walk-in settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkinProfile {
    /// Takes walk-ins (shown on the talk-now pages, can be rung).
    pub enabled: bool,
    /// Topics offered (at most 20, each 1–60 characters); empty: any topic.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Languages spoken (at most 20, each 1–40 characters); empty: any language.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Weekly opening hours for walk-ins in the counsellor's time zone; empty: no limit.
    #[serde(default)]
    pub hours: Vec<Window>,
}

/// Most topics or languages per counsellor.
pub const MAX_LABELS: usize = 20;
/// Most opening windows per counsellor.
pub const MAX_WINDOWS: usize = 50;

fn clean_labels(field: &str, labels: &[String], max_chars: usize) -> Result<Vec<String>, AppError> {
    if labels.len() > MAX_LABELS {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_LABELS} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        let l = l.trim();
        let n = l.chars().count();
        if n == 0 || n > max_chars || confidant_text::has_forbidden(l, false) {
            return Err(AppError::invalid(
                field,
                format!("each entry must be 1-{max_chars} characters without control characters"),
            ));
        }
        if !out.iter().any(|x| x == l) {
            out.push(l.to_owned());
        }
    }
    Ok(out)
}

impl WalkinProfile {
    /// Checks and normalises (trimmed, duplicates dropped).
    pub fn validated(mut self) -> Result<Self, AppError> {
        self.topics = clean_labels("topics", &self.topics, 60)?;
        self.languages = clean_labels("languages", &self.languages, 40)?;
        if self.hours.len() > MAX_WINDOWS {
            return Err(AppError::invalid(
                "hours",
                format!("at most {MAX_WINDOWS} windows"),
            ));
        }
        if self
            .hours
            .iter()
            .any(|w| w.weekday > 6 || w.end_min > 1440 || w.start_min >= w.end_min)
        {
            return Err(AppError::invalid(
                "hours",
                "each window needs weekday 0-6 and 0 <= start_min < end_min <= 1440",
            ));
        }
        Ok(self)
    }
}

type ProfileRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
);

const PROFILE_SELECT: &str =
    "SELECT w.counsellor_id, w.enabled, w.topics, w.languages, w.hours, c.name, c.slug, c.time_zone
     FROM walkin_profiles w JOIN counsellors c ON c.id = w.counsellor_id";

fn profile_of(row: &ProfileRow) -> WalkinProfile {
    let (_, enabled, topics, languages, hours, ..) = row;
    // Only JSON written by `save_profile` is ever stored; an unreadable row counts as empty.
    WalkinProfile {
        enabled: *enabled != 0,
        topics: serde_json::from_str(topics).unwrap_or_default(),
        languages: serde_json::from_str(languages).unwrap_or_default(),
        hours: serde_json::from_str(hours).unwrap_or_default(),
    }
}

fn core_profile(row: &ProfileRow) -> Option<Profile> {
    let p = profile_of(row);
    if !p.enabled {
        return None;
    }
    let (.., name, slug, tz) = row;
    Some(Profile {
        name: name.clone(),
        slug: slug.clone(),
        topics: p.topics,
        languages: p.languages,
        hours: OpeningHours {
            // Only valid zone names are stored (checked on update); fall back defensively.
            tz: tz.parse().unwrap_or(chrono_tz::Europe::Berlin),
            windows: p.hours,
        },
    })
}

/// The counsellor's stored walk-in settings (defaults when none are stored).
pub async fn load_profile(
    state: &WalkinState,
    counsellor_id: &str,
) -> Result<WalkinProfile, AppError> {
    let row: Option<ProfileRow> =
        sqlx::query_as(&format!("{PROFILE_SELECT} WHERE w.counsellor_id = $1"))
            .bind(counsellor_id)
            .fetch_optional(&state.db)
            .await?;
    Ok(row.as_ref().map(profile_of).unwrap_or_default())
}

/// Stores the counsellor's walk-in settings and applies them to routing at once.
pub async fn save_profile(
    state: &WalkinState,
    counsellor_id: &str,
    profile: &WalkinProfile,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO walkin_profiles (counsellor_id, enabled, topics, languages, hours, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (counsellor_id) DO UPDATE SET enabled = $2, topics = $3, languages = $4,
             hours = $5, updated_at = $6",
    )
    .bind(counsellor_id)
    .bind(i64::from(profile.enabled))
    .bind(json(&profile.topics))
    .bind(json(&profile.languages))
    .bind(json(&profile.hours))
    .bind(confidant_kit::db::now_ms())
    .execute(&state.db)
    .await?;
    refresh(state, counsellor_id).await
}

/// The profile's lists as stored (plain strings and numbers: serialising cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// Reloads one counsellor's profile (and name, slug, zone) into the core.
pub async fn refresh(state: &WalkinState, counsellor_id: &str) -> Result<(), AppError> {
    let row: Option<ProfileRow> =
        sqlx::query_as(&format!("{PROFILE_SELECT} WHERE w.counsellor_id = $1"))
            .bind(counsellor_id)
            .fetch_optional(&state.db)
            .await?;
    let profile = row.as_ref().and_then(core_profile);
    state
        .walkin
        .core()
        .set_profile(counsellor_id, profile, Utc::now());
    Ok(())
}

/// Loads every enabled profile into the core (at start-up).
pub async fn load_all(state: &WalkinState) -> Result<(), AppError> {
    let rows: Vec<ProfileRow> = sqlx::query_as(&format!("{PROFILE_SELECT} WHERE w.enabled = 1"))
        .fetch_all(&state.db)
        .await?;
    let now = Utc::now();
    let mut core = state.walkin.core();
    for row in &rows {
        core.set_profile(&row.0, core_profile(row), now);
    }
    Ok(())
}

/// Brings the core up to `now`: who is in a session (from the hub's rooms), then every
/// timeout that is due. The worker calls it every second; handlers call it before they read.
pub async fn sync(state: &WalkinState, now: Now) -> Result<(), AppError> {
    let rooms = state.hub.rooms_with_host();
    let unknown: Vec<String> = {
        let known = state.walkin.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms
            .iter()
            .filter(|r| !known.contains_key(*r))
            .cloned()
            .collect()
    };
    let mut found = Vec::with_capacity(unknown.len());
    for room in unknown {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT counsellor_id FROM sessions WHERE id = $1")
                .bind(&room)
                .fetch_optional(&state.db)
                .await?;
        found.push((room, owner));
    }
    let busy: Vec<String> = {
        let mut known = state.walkin.rooms.lock().unwrap_or_else(|p| p.into_inner());
        known.extend(found);
        // Forget rooms that closed.
        known.retain(|room, _| rooms.contains(room));
        known.values().flatten().cloned().collect()
    };
    let mut core = state.walkin.core();
    for id in core.counsellor_ids() {
        core.set_in_session(&id, busy.contains(&id), now);
    }
    core.handle_timeout(now);
    Ok(())
}

/// The background job that runs [`sync`] every [`TICK`].
pub fn job(state: WalkinState) -> Job {
    Job::new("walkin-sync", TICK, move || {
        let state = state.clone();
        async move {
            if let Err(e) = sync(&state, Utc::now()).await {
                tracing::warn!(error = %e, "walk-in sync failed");
            }
            Pace::OnSchedule
        }
    })
}
