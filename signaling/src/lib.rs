//! Confidant's websocket signalling: rooms, lobby, join tokens, SDP exchange with the SFU,
//! chat (sealed at rest), and a relay for opaque end-to-end-encryption messages.
//!
//! Layering: this crate drives `confidant-sfu` and knows nothing of HTTP or SQL. What it needs
//! from storage (join links, chat rows, ending a session) it asks through the [`Directory`]
//! trait, which its server side (`signaling/server`) implements on the database.
//!
//! **What it must not depend on:** the server kit, any capability's server side or the binary;
//! only `confidant-sfu`, `confidant-vault` and `confidant-text`. Its server side (sessions, the
//! websocket, the directory on the database) is `signaling/server`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
mod error;
mod hub;
pub mod protocol;
mod token;
mod turn;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use hub::{Hub, HubConfig, HubStats, Inbound, Outbound, DEFAULT_CHAT_CAP};
pub use token::{Claims, Tokens};
pub use turn::TurnConfig;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the object-safe [`Directory`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a valid join link resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    /// The room (session id) the link opens.
    pub room: String,
    /// The room's rules.
    pub policy: RoomPolicy,
}

/// Rules of one room, set by its counsellor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Clients whose browser cannot encrypt media end to end may still join (unencrypted).
    pub allow_unencrypted: bool,
}

/// A chat message as stored: the sender's participant id and role and the text, sealed
/// together. No name: display names are kept in memory only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChat {
    /// Message id (UUID).
    pub id: String,
    /// Room (session id).
    pub room: String,
    /// AES-256-GCM sealed JSON `{participant_id, role, text}`, associated data `chat/room/id`.
    pub sealed: Vec<u8>,
    /// Server receive time, RFC 3339.
    pub sent_at: String,
}

/// The cap on one room's stored chat: a message that would exceed either is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCap {
    /// Messages per room.
    pub max_messages: u32,
    /// Bytes of sealed chat per room (each message's text plus about 100 bytes).
    pub max_bytes: u64,
}

/// The stretch of a room's chat a guest does not see: what was sent before they were admitted,
/// less what the counsellor shared. A message is hidden when its `sent_at` lies strictly after
/// `shared_until` (or anywhere before, when nothing was shared) and strictly before
/// `admitted_at`. All three are RFC 3339 UTC strings with milliseconds, as the hub writes them,
/// so they compare as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatGap {
    /// The latest `chat_share_history` of the room, if any: messages sent until then are shown.
    pub shared_until: Option<String>,
    /// When the guest was admitted: messages sent from then on are shown.
    pub admitted_at: String,
}

/// Storage that signalling needs, implemented by the embedding application.
pub trait Directory: Send + Sync + 'static {
    /// Resolves a join-link token. `Ok(None)` if unknown, expired, revoked or ended.
    fn resolve_link<'a>(
        &'a self,
        link: &'a str,
    ) -> BoxFuture<'a, Result<Option<LinkTarget>, Error>>;
    /// The room's rules if the room (session) is still open (not ended, not expired);
    /// `Ok(None)` if it is not.
    fn room_policy<'a>(&'a self, room: &'a str)
        -> BoxFuture<'a, Result<Option<RoomPolicy>, Error>>;
    /// Whether the counsellor's login session `login` (the `login` claim of a host token) is
    /// still open: not logged out, not expired. A host token whose login ended is refused.
    fn login_active<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<bool, Error>>;
    /// Marks the session ended and its link invalid (a host sent `end_session`).
    fn end_room<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), Error>>;
    /// Persists one sealed chat message unless the room's chat would exceed `cap` with it:
    /// `Ok(false)` then, and nothing is stored.
    fn save_chat<'a>(
        &'a self,
        chat: StoredChat,
        cap: ChatCap,
    ) -> BoxFuture<'a, Result<bool, Error>>;
    /// One page of a room's chat: the latest `limit` messages stored before the message
    /// `before` (all stored messages when `None`), oldest first, leaving out those in `gap`
    /// (a guest's view; `None` for the host's, which is everything). `Ok(None)` if `before` is
    /// not a message of this room.
    fn load_chat<'a>(
        &'a self,
        room: &'a str,
        before: Option<&'a str>,
        gap: Option<&'a ChatGap>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredChat>>, Error>>;
    /// Records that the room's chat sent until `until` (RFC 3339, as `sent_at`) is shown to
    /// every guest, also to those admitted later. A later share moves it forward, never back.
    fn share_chat<'a>(&'a self, room: &'a str, until: &'a str) -> BoxFuture<'a, Result<(), Error>>;
    /// The room's latest share ([`Directory::share_chat`]), if there was one.
    fn chat_shared_until<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Error>>;
}
