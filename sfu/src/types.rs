//! Identifiers and events shared by the core and the shell.

/// Opaque id of a forwarding group; assigned by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u64);

/// Opaque id of one peer (participant); assigned by the caller, unique across the SFU.
///
/// Its decimal form is the `stream id` (msid) of every track forwarded *from* this peer, so a
/// browser can read `event.streams[0].id` to know whose media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::fmt::Display for RoomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Kind of a media track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Audio (Opus).
    Audio,
    /// Video (VP8 or H.264).
    Video,
}

impl From<str0m::media::MediaKind> for MediaKind {
    fn from(k: str0m::media::MediaKind) -> Self {
        match k {
            str0m::media::MediaKind::Audio => MediaKind::Audio,
            str0m::media::MediaKind::Video => MediaKind::Video,
        }
    }
}

impl From<MediaKind> for str0m::media::MediaKind {
    fn from(k: MediaKind) -> Self {
        match k {
            MediaKind::Audio => str0m::media::MediaKind::Audio,
            MediaKind::Video => str0m::media::MediaKind::Video,
        }
    }
}

/// Events the SFU emits about one peer, for the signalling layer.
#[derive(Debug, Clone, PartialEq)]
pub enum SfuEvent {
    /// Renegotiation: send this SDP offer to the peer's client; pass its answer to `accept_answer`.
    Offer {
        /// The SDP offer text.
        sdp: String,
    },
    /// ICE + DTLS connected.
    Connected,
    /// The peer's transport is gone (ICE timeout/DTLS close). The caller should `remove_peer`.
    Disconnected,
    /// The peer started publishing a track (first media received on this mid).
    TrackPublished {
        /// The media id (m-line `a=mid`) in the publisher's own session.
        mid: String,
        /// Audio or video.
        kind: MediaKind,
    },
    /// This peer became the active speaker of its room (from the RFC 6464 audio-level header
    /// extension; the payload is never read). Sent only on a change.
    ActiveSpeaker,
}
