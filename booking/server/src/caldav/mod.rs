//! Two-way CalDAV sync (issue 6): a counsellor connects a calendar account (server URL, user
//! name, app password); busy times from the calendars they choose block booking slots, and
//! their bookings are written into the calendar they choose.
//!
//! - **Reading** ([`fetch`]): `REPORT sync-collection` from the last sync token
//!   (RFC 6578), or, where the server has none, the members' etags compared with the last
//!   sync's; only changed members are fetched (`calendar-multiget`) and their busy times
//!   replaced (recurrences expanded in the counsellor's zone by `confidant_booking::busy`).
//!   Calendars the account may only see as free/busy are read with `free-busy-query`. Once a
//!   day everything is read again, so recurring events are expanded over the moving window.
//! - **Writing** ([`writeback`]): every active booking is a resource `{booking id}.ics` in the
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
//! ([`url_key`]) stands in for it. [`seal_urls_at_rest`] brings rows from before that into
//! this form on start. The address rules of [`super::sources`] apply: only public hosts unless
//! `--calendar-fetch-private`.
//!
//! One module per job, and one place for the SQL:
//!
//! - [`client`]: the HTTP session to one account's server (basic auth, one origin only).
//! - [`discovery`]: from the address the counsellor entered to the calendar home and its
//!   calendars.
//! - [`fetch`]: reading one calendar (sync token, etags or free/busy), recurrences expanded by
//!   the booking core, changes to our own events noticed.
//! - [`writeback`]: bookings written into, changed in and deleted from the chosen calendar.
//! - [`sync`]: one account's sync (write, list, read, record the outcome), one at a time per
//!   account, and the scheduled job over the due accounts.
//! - [`accounts`]: what a counsellor does with an account (connect, change, disconnect,
//!   decide about a changed event), called by the handlers in [`http`].
//! - [`http`]: the routes: parse, call [`accounts`], map to JSON.
//! - [`store`]: every query on the `caldav_*` tables, and the sealing of URLs at rest.
//!
//! Direction: `http` → `accounts` → `sync` → `fetch`/`writeback`/`discovery` → `client`;
//! each of them → `store`, which knows only rows (and the calendars discovery found); nothing
//! points back up (scripts/check-module-cycles.py keeps it so).

pub mod accounts;
mod client;
mod discovery;
mod fetch;
pub mod http;
mod store;
mod sync;
mod writeback;

use chrono::{DateTime, TimeZone, Utc};

use super::sources::FetchError;
use confidant_kit::error::AppError;

pub use store::{seal_urls_at_rest, url_key};
pub use sync::{job, sync_due};

/// Bookings that ended longer ago than this are left alone.
const PAST_MS: i64 = 24 * 3_600_000;

/// Milliseconds as a time (the epoch where out of range).
fn ms(t: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t).single().unwrap_or_default()
}

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
