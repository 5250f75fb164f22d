//! The crate's one error type.

use std::net::SocketAddr;

use crate::types::PeerId;

/// Everything that can go wrong in the SFU. Errors describe bad input or a stopped service;
/// input from a peer never panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client's SDP offer could not be parsed or was rejected (unsupported or invalid).
    #[error("bad SDP offer: {0}")]
    BadOffer(String),
    /// The client's SDP answer could not be parsed or was rejected (unsupported or invalid).
    #[error("bad SDP answer: {0}")]
    BadAnswer(String),
    /// No peer with this id exists (never added, removed, or disconnected).
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// A peer with this id already exists.
    #[error("duplicate peer id {0:?}")]
    DuplicatePeer(PeerId),
    /// An answer arrived for a peer that has no outstanding server offer.
    #[error("answer without pending offer for peer {0:?}")]
    NoPendingOffer(PeerId),
    /// The advertised address cannot be used as an ICE host candidate (e.g. `0.0.0.0`).
    #[error("address {0} cannot be advertised as an ICE candidate")]
    BadAdvertisedAddress(SocketAddr),
    /// Binding the UDP socket failed.
    #[error("cannot bind UDP socket on {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A worker thread (or its runtime, or its handle on the socket) could not be started.
    #[error("cannot start an SFU worker: {source}")]
    Worker {
        /// The OS error.
        source: std::io::Error,
    },
    /// The shell's driver task has stopped (or was never running); no more commands are served.
    #[error("SFU shell stopped")]
    ShellStopped,
}
