//! Confidant's server kit: the pieces every capability's server side shares.
//!
//! - [`Base`]: what every capability is given (the database, the at-rest [`Vault`], the
//!   site's settings); a capability's handlers find it through axum's `FromRef`.
//! - [`error`]: the one error type ([`error::AppError`]) and its mapping to HTTP — errors map
//!   to HTTP here and nowhere else.
//! - [`db`]: the pool for SQLite and PostgreSQL, its dialect, opening it with migrations.
//! - [`extract`]: the JSON body extractors (errors naming the field) and the client's address.
//! - [`html`]: escaping for the pages and documents the server renders.
//! - [`audit`]: the one audit log (hash-chained, MACed, append-only), its verification and retention.
//! - [`auth`]: the logged-in counsellor as an extractor.
//! - [`centre`]: the centre's profile (name, logo, address, links, emergency line), checked and stored.
//! - [`ratelimit`]: token buckets per anonymised network or opaque key.
//! - [`scheduler`]: the one scheduler of background jobs, tied to shutdown.
//! - [`mail`]: the outgoing-mail queue (sealed at rest) and its delivery job.
//! - [`tls`]: the trust anchors of outgoing TLS (SMTP, calendars, time-stamping).
//!
//! **What it must not depend on:** any capability (booking, signature, walk-in, rooms, …) nor
//! the `confidant` binary crate. Capabilities depend on the kit, never the other way round; it
//! knows jobs by name only, not what they do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod centre;
mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod html;
pub mod mail;
pub mod ratelimit;
pub mod scheduler;
pub mod tls;

use std::sync::Arc;

pub use confidant_vault::Vault;
pub use config::ConfigError;

/// What every capability's server side is given. Cheap to clone.
///
/// The composing binary holds one and implements `axum::extract::FromRef<ItsState>` for it, so
/// that the kit's extractors ([`auth::Counsellor`], [`extract::ClientIp`]) work on any
/// capability's router.
#[derive(Clone)]
pub struct Base {
    /// The database (SQLite or PostgreSQL).
    pub db: db::Db,
    /// Its SQL dialect, for the few statements that differ.
    pub dialect: db::Dialect,
    /// The at-rest encryption key: every capability seals through it, with its own purposes.
    pub vault: Arc<Vault>,
    /// Settings of the site as a whole.
    pub site: Arc<Site>,
}

/// Settings of the site as a whole, shared by every capability.
#[derive(Debug, Clone)]
pub struct Site {
    /// Public base URL without trailing slash (links in mails, calendar entries, origins).
    pub public_url: String,
    /// The centre's name, as clients see it.
    pub centre_name: String,
    /// The centre's profile as the configuration gives it (the database overrides it, see
    /// [`centre::load`]).
    pub centre: centre::Defaults,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`extract::ClientIp`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}
