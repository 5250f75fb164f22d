//! Rooms, server side: counselling sessions with their join links ([`sessions`]), the
//! signalling websocket ([`ws`]), the hub's [`directory`] on the database and the chat
//! retention job ([`retention`]), over the `confidant-signaling` hub.
//!
//! [`router`] and [`jobs`] are what the binary composes; they need a state from which a
//! [`RoomsState`] and the kit's `Base` can be taken (axum `FromRef`). Other capabilities that
//! open a room (walk-ins, booked video appointments) do it through [`sessions`].
//!
//! **What it must not depend on:** the binary crate (`confidant`) or another capability; only
//! the signalling core, the kit and the vault.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod directory;
pub mod retention;
pub mod sessions;
pub mod ws;

use std::sync::Arc;

use axum::extract::FromRef;
use confidant_kit::db::{Db, Dialect};
use confidant_kit::scheduler::Job;
use confidant_kit::Base;
use confidant_signaling::Hub;
use confidant_vault::PurposeKey;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use directory::SqlDirectory;

/// Smallest and largest join-link lifetime, in minutes (5 minutes to 7 days).
pub const LINK_TTL_MINUTES: std::ops::RangeInclusive<u32> = 5..=10_080;

/// Vault purpose of sealed join-link tokens (associated data: session id).
pub const LINK_PURPOSE: &str = "link";
/// Vault purpose of sealed session titles (associated data: session id).
pub const TITLE_PURPOSE: &str = "title";

/// What rooms are configured with.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    /// Public base URL without trailing slash (join links).
    pub public_url: String,
    /// Default lifetime of a join link, in minutes.
    pub link_ttl_minutes: u32,
    /// How long chat of a session that is over is kept.
    pub chat_retention: std::time::Duration,
}

impl RoomsConfig {
    /// The join URL of a link token.
    pub fn join_url(&self, link_token: &str) -> String {
        format!("{}/j/{link_token}", self.public_url)
    }
}

/// The vault keys rooms seal with.
pub struct RoomKeys {
    /// Join-link tokens ([`LINK_PURPOSE`]).
    pub link: PurposeKey,
    /// Session titles ([`TITLE_PURPOSE`]).
    pub title: PurposeKey,
}

/// Everything the rooms handlers and jobs share. Cheap to clone.
#[derive(Clone)]
pub struct RoomsState {
    /// The database.
    pub db: Db,
    /// Its dialect.
    pub dialect: Dialect,
    /// The configuration.
    pub config: Arc<RoomsConfig>,
    /// The signalling hub.
    pub hub: Hub,
    /// The hub's directory on the database.
    pub directory: Arc<SqlDirectory>,
    /// Sealing keys.
    pub keys: Arc<RoomKeys>,
    /// Open signalling websockets, against the connection caps.
    pub ws_connections: Arc<ws::ConnectionCounter>,
}

impl RoomsState {
    /// The state over `base`, with the `hub` (whose directory is `directory`) and caps.
    pub fn new(
        base: &Base,
        config: RoomsConfig,
        hub: Hub,
        directory: Arc<SqlDirectory>,
        ws_limits: ws::ConnectionLimits,
    ) -> Self {
        Self {
            db: base.db.clone(),
            dialect: base.dialect,
            config: Arc::new(config),
            hub,
            directory,
            keys: Arc::new(RoomKeys {
                link: base.vault.purpose_key(LINK_PURPOSE),
                title: base.vault.purpose_key(TITLE_PURPOSE),
            }),
            ws_connections: ws::ConnectionCounter::new(ws_limits),
        }
    }
}

/// The rooms routes (sessions, the websocket), each with its OpenAPI description; the host
/// and join pages are the binary's, with the other pages.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    RoomsState: FromRef<S>,
    Base: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(ws::upgrade))
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::get))
        .routes(routes!(sessions::revoke))
        .routes(routes!(sessions::end))
        .routes(routes!(sessions::host_token))
}

/// The background jobs: chat retention.
pub fn jobs(state: &RoomsState) -> Vec<Job> {
    vec![retention::chat_retention_job(state.clone())]
}
