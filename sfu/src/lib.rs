//! Confidant's selective forwarding unit (SFU).
//!
//! The crate has two halves, in the style of str0m and quinn:
//!
//! * [`core`]: a sans-IO state machine ([`core::Sfu`]) that owns one `str0m::Rtc` per peer,
//!   groups peers into rooms and forwards every audio/video track a peer publishes to every
//!   other peer of its room. It never reads the clock and never touches a socket: time is an
//!   argument and network output comes out of [`core::Sfu::poll_output`].
//! * [`shell`]: worker threads (one per core by default) that share the single UDP socket, each
//!   driving one core that owns a share of the rooms, and the async [`SfuHandle`] used by the
//!   signalling layer.
//!
//! The SFU is ICE-lite, answers the client's first offer, and renegotiates (server offers,
//! see [`SfuEvent::Offer`]) whenever tracks to forward appear or go away.
//!
//! # For the signalling layer and the browser
//!
//! * `add_peer` with the client's first offer, send back the answer. Later, for every
//!   [`SfuEvent::Offer`], send the offer to the client and pass its answer to
//!   [`SfuHandle::accept_answer`]. A client-initiated re-offer goes to
//!   [`SfuHandle::accept_offer`].
//! * A forwarded track's `event.streams[0].id` is the publisher's [`PeerId`] in decimal. The
//!   client's own `sendrecv` transceivers may also fire `ontrack` (stream id = the client's own
//!   local stream id, no media ever arrives): ignore stream ids that are not peer ids, or make
//!   the client's transceivers `sendonly`.
//! * When a publisher leaves, its m-lines on the subscribers are stopped by a server offer
//!   (the remote tracks end). [`SfuEvent::Disconnected`] means the SFU has already freed the
//!   peer; `remove_peer` afterwards is a harmless no-op.
//! * Codecs: Opus, VP8, H.264. A publisher's video reaches a subscriber only if the
//!   subscriber negotiated the same codec (browsers normally offer both).
//!
//! **What it must not depend on:** any other Confidant crate (it is a core: no HTTP, no
//! database, no users); the signalling hub drives it, nothing reaches into it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
mod error;
pub mod shell;
mod types;

pub use crate::core::{
    Output, Sfu, SfuConfig, SfuStats, Transmit, Transport, CONNECT_TIMEOUT, DEFAULT_LOUDEST_AUDIO,
    KEYFRAME_REQUEST_MIN_INTERVAL, PEER_SILENCE_TIMEOUT,
};
pub use crate::error::Error;
pub use crate::shell::{
    enlarge_buffers, start, SfuHandle, ShellConfig, TcpShellConfig, MAX_TCP_CONNECTIONS,
    SOCKET_BUFFER_BYTES, TCP_FIRST_FRAME_TIMEOUT,
};
pub use crate::types::{MediaKind, PeerId, RoomId, SfuEvent};
