//! The signalling wire protocol: JSON text frames with a `type` tag.
//!
//! Every message is documented with an example in `signaling/PROTOCOL.md`; a test parses each
//! example there, so the document and these types cannot drift apart.

use serde::{Deserialize, Serialize};

/// Version of this protocol. Sent by the client in its first message (`knock`, `join`,
/// `resume`) and by the server in `joined`. A client speaking another version is refused with
/// [`ErrorCode::UnsupportedVersion`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest text frame accepted, in bytes. Larger frames get [`ErrorCode::TooLarge`] and the
/// connection is closed.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest chat text, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// Largest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Largest opaque `e2ee` payload, in bytes.
pub const MAX_E2EE_PAYLOAD_BYTES: usize = 16 * 1024;
/// Largest SDP, in bytes.
pub const MAX_SDP_BYTES: usize = 48 * 1024;
/// Chat messages in one `chat_history` page at most (the latest ones after `joined`, then
/// each page asked for with `chat_history` `before`).
pub const CHAT_PAGE_MESSAGES: usize = 50;
/// Chat text in one `chat_history` page at most, in bytes: a page stops early (with `more`)
/// rather than grow past this, so a page of long messages stays a modest frame.
pub const CHAT_PAGE_BYTES: usize = 128 * 1024;
/// Largest width or height accepted in `video_size`.
pub const MAX_VIDEO_DIMENSION: u32 = 16_384;

/// Role of a participant in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The counsellor who owns the session: admits, rejects, ends.
    Host,
    /// A client admitted from the lobby.
    Guest,
}

fn yes() -> bool {
    true
}

/// Media kind, for mute state and published tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Microphone.
    Audio,
    /// Camera.
    Video,
}

/// Messages from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Ask to enter a session through its join link; puts the client in the lobby.
    Knock {
        /// Protocol version the client speaks.
        v: u32,
        /// The link token from the join URL.
        link: String,
        /// Display name chosen by the client (1–80 characters).
        name: String,
        /// Whether this browser encrypts media end to end (default true). `false` is only
        /// accepted where the session's counsellor allows unencrypted joins.
        #[serde(default = "yes")]
        e2ee: bool,
    },
    /// Join a room with a join token (from `admitted`, or the counsellor's from the HTTP API).
    Join {
        /// Protocol version the client speaks.
        v: u32,
        /// The room the client means to join; must match the token's room.
        room: String,
        /// The join token (JWT).
        token: String,
        /// Whether this browser encrypts media end to end (default true); see `knock`.
        #[serde(default = "yes")]
        e2ee: bool,
    },
    /// Re-attach to a participant after a dropped connection (within 30 s).
    Resume {
        /// Protocol version the client speaks.
        v: u32,
        /// Participant to resume.
        participant_id: String,
        /// The secret `resume_token` from `joined`.
        resume_token: String,
    },
    /// Host: admit a waiting client.
    Admit {
        /// Lobby entry to admit.
        lobby_id: String,
    },
    /// Host: reject a waiting client.
    Reject {
        /// Lobby entry to reject.
        lobby_id: String,
    },
    /// The client's SDP offer for its peer connection with the SFU.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// The client's answer to a server `offer` (renegotiation).
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate. The SFU is ICE-lite and learns the client's address from its
    /// connectivity checks, so candidates are accepted and not needed; sending none is fine.
    Candidate {
        /// The candidate line (`candidate:…`), or empty for end-of-candidates.
        candidate: String,
        /// The media section it belongs to.
        #[serde(default)]
        sdp_mid: Option<String>,
    },
    /// Tell the others that the microphone or camera is muted or unmuted.
    Mute {
        /// Which device.
        kind: Kind,
        /// Muted or not.
        muted: bool,
    },
    /// The size at which this client shows another participant's video, so the SFU forwards
    /// the simulcast layer that fits (and the smallest one for a hidden tile). Send it when a
    /// tile appears or its size changes; `0 × 0` means not visible.
    VideoSize {
        /// Whose video.
        participant_id: String,
        /// Width in device pixels (0–16384).
        width: u32,
        /// Height in device pixels (0–16384).
        height: u32,
    },
    /// A chat message to everyone in the room.
    Chat {
        /// The text (1–4000 characters).
        text: String,
    },
    /// Ask for the page of chat messages older than `before` (the oldest one the client has);
    /// answered with a `chat_history` that carries the same `before`.
    ChatHistory {
        /// Id of a message of this room.
        before: String,
    },
    /// Host: show the chat so far to the guests — those in the room and those admitted later,
    /// who otherwise see only what was sent from their admission on.
    ChatShareHistory {},
    /// An opaque end-to-end-encryption message, relayed unread to one participant or all.
    E2ee {
        /// Recipient participant id; absent for everyone else in the room.
        #[serde(default)]
        to: Option<String>,
        /// Opaque payload (at most 16 KiB), typically base64.
        payload: String,
    },
    /// Keep-alive; the server answers `pong`. Send one at least every 30 s.
    Ping {},
    /// Leave the room (or the lobby) for good.
    Leave {},
    /// Host: end the session for everyone and invalidate its link.
    EndSession {},
    /// Host: remove a guest from the call. Its join token and resume token stop working.
    Remove {
        /// The guest to remove.
        participant_id: String,
    },
}

impl ClientMessage {
    /// All `type` tags a client may send, for telling "unknown type" from "bad fields".
    pub const TYPES: &'static [&'static str] = &[
        "knock",
        "join",
        "resume",
        "admit",
        "reject",
        "offer",
        "answer",
        "candidate",
        "mute",
        "video_size",
        "chat",
        "chat_history",
        "chat_share_history",
        "e2ee",
        "ping",
        "leave",
        "end_session",
        "remove",
    ];
}

/// One participant as others see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Participant id; also the media stream id of its tracks.
    pub participant_id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Microphone muted.
    pub audio_muted: bool,
    /// Camera muted.
    pub video_muted: bool,
    /// Currently connected (false while reconnecting).
    pub connected: bool,
    /// Encrypts its media end to end. While anyone in the room does not, nobody's media is
    /// end-to-end encrypted and every client says so.
    #[serde(default = "yes")]
    pub e2ee: bool,
}

/// A TURN server entry in the shape of WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turn:`/`turns:` URLs.
    pub urls: Vec<String>,
    /// `<expiry, unix seconds>:<participant id>`.
    pub username: String,
    /// base64(HMAC-SHA1(shared secret, username)).
    pub credential: String,
}

/// One waiting client, as hosts see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LobbyEntry {
    /// Lobby entry id, for `admit`/`reject`.
    pub lobby_id: String,
    /// Display name.
    pub name: String,
    /// When the client knocked (RFC 3339).
    pub since: String,
    /// Whether the waiting client's browser encrypts end to end.
    #[serde(default = "yes")]
    pub e2ee: bool,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Message id.
    pub id: String,
    /// Sender's participant id.
    pub participant_id: String,
    /// Sender's role.
    pub role: Role,
    /// Sender's display name; absent when the server no longer knows it. Names are kept in
    /// memory only, while the room has someone in it, never stored with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text.
    pub text: String,
    /// When the server received it (RFC 3339).
    pub sent_at: String,
}

/// Messages from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The client is in the lobby, waiting for a host.
    LobbyWaiting {
        /// Its lobby entry id.
        lobby_id: String,
        /// The room it waits for.
        room: String,
    },
    /// To hosts: the current lobby (sent on join and on every change).
    Lobby {
        /// Waiting clients, oldest first.
        waiting: Vec<LobbyEntry>,
    },
    /// To a waiting client: it was admitted; join with this token.
    Admitted {
        /// The room.
        room: String,
        /// A short-lived join token for this room and role.
        token: String,
    },
    /// To a waiting client: a host rejected it. The connection is closed after this.
    Rejected {},
    /// To a guest: the counsellor removed it from the call. The connection is closed after
    /// this, and neither its join token nor its resume token works again.
    Removed {},
    /// Joined: the client's own identity and who is already there.
    Joined {
        /// Protocol version of the server.
        v: u32,
        /// The room.
        room: String,
        /// The client's participant id.
        participant_id: String,
        /// The client's role.
        role: Role,
        /// The client's display name.
        name: String,
        /// Secret for `resume` after a dropped connection.
        resume_token: String,
        /// Everyone else in the room.
        participants: Vec<ParticipantInfo>,
        /// TURN servers with short-lived credentials for this participant, to use as
        /// `iceServers` when direct UDP to the SFU is blocked; absent when none is configured.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
    },
    /// Someone joined the room.
    ParticipantJoined {
        /// Who.
        participant: ParticipantInfo,
    },
    /// Someone's connection state changed (dropped and waiting for resume, or back).
    ParticipantUpdated {
        /// The participant's new state.
        participant: ParticipantInfo,
    },
    /// Someone left the room.
    ParticipantLeft {
        /// Who.
        participant_id: String,
        /// `left`, `disconnected` (no resume within 30 s) or `removed`.
        reason: String,
    },
    /// The SFU's answer to the client's offer.
    Answer {
        /// SDP text.
        sdp: String,
    },
    /// An offer from the SFU (new tracks to receive); reply with `answer`.
    Offer {
        /// SDP text.
        sdp: String,
    },
    /// A participant started publishing a track.
    TrackPublished {
        /// Publisher.
        participant_id: String,
        /// Media section id in the publisher's own connection.
        mid: String,
        /// Audio or video.
        kind: Kind,
    },
    /// A participant stopped publishing a track (it left).
    TrackUnpublished {
        /// Publisher.
        participant_id: String,
        /// Media section id in the publisher's own connection.
        mid: String,
    },
    /// The SFU lost this participant's media connection (nothing arrived for 15 s, ICE or
    /// DTLS gave up, or it never connected); its tracks are gone for the others. The client starts media again with a
    /// fresh `offer` at once, instead of waiting for its own side to give up (about 30 s).
    MediaLost {},
    /// Who is speaking now (from audio levels in RTP headers; sent when it changes).
    ActiveSpeaker {
        /// The participant now speaking.
        participant_id: String,
    },
    /// Someone muted or unmuted.
    Mute {
        /// Who.
        participant_id: String,
        /// Which device.
        kind: Kind,
        /// Muted or not.
        muted: bool,
    },
    /// A chat message (also echoed to its sender).
    Chat(ChatMessage),
    /// Earlier chat of this room: the latest page right after `joined`, and each older page a
    /// client asks for.
    ChatHistory {
        /// Oldest first.
        messages: Vec<ChatMessage>,
        /// Older messages exist than the first of `messages` (ask with its id as `before`).
        more: bool,
        /// The `before` of the request this page answers; absent on the page after `joined`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
    },
    /// The host shared the chat so far with the guests (`chat_share_history`). Guests in the
    /// room get a fresh `chat_history` right after it.
    ChatShared {
        /// Messages sent until then (RFC 3339, as `sent_at`) are shown to every guest.
        until: String,
    },
    /// An opaque end-to-end-encryption message from another participant.
    E2ee {
        /// Sender.
        from: String,
        /// Opaque payload, unchanged.
        payload: String,
    },
    /// Answer to `ping`.
    Pong {},
    /// The session was ended; the connection is closed after this.
    SessionEnded {
        /// `ended_by_host`, `expired` or `revoked`.
        reason: String,
    },
    /// Something was wrong with a client message, or the connection is being closed.
    Error {
        /// Stable machine-readable code.
        code: ErrorCode,
        /// Human-readable detail (English, no personal data).
        message: String,
    },
}

impl ServerMessage {
    /// All `type` tags the server sends. [`ServerMessage::type_name`] matches every variant
    /// exhaustively, and a test checks that both agree with each other and with PROTOCOL.md.
    pub const TYPES: &'static [&'static str] = &[
        "lobby_waiting",
        "lobby",
        "admitted",
        "rejected",
        "removed",
        "joined",
        "participant_joined",
        "participant_updated",
        "participant_left",
        "answer",
        "offer",
        "track_published",
        "track_unpublished",
        "media_lost",
        "active_speaker",
        "mute",
        "chat",
        "chat_history",
        "chat_shared",
        "e2ee",
        "pong",
        "session_ended",
        "error",
    ];

    /// This message's `type` tag on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::LobbyWaiting { .. } => "lobby_waiting",
            ServerMessage::Lobby { .. } => "lobby",
            ServerMessage::Admitted { .. } => "admitted",
            ServerMessage::Rejected {} => "rejected",
            ServerMessage::Removed {} => "removed",
            ServerMessage::Joined { .. } => "joined",
            ServerMessage::ParticipantJoined { .. } => "participant_joined",
            ServerMessage::ParticipantUpdated { .. } => "participant_updated",
            ServerMessage::ParticipantLeft { .. } => "participant_left",
            ServerMessage::Answer { .. } => "answer",
            ServerMessage::Offer { .. } => "offer",
            ServerMessage::TrackPublished { .. } => "track_published",
            ServerMessage::TrackUnpublished { .. } => "track_unpublished",
            ServerMessage::MediaLost {} => "media_lost",
            ServerMessage::ActiveSpeaker { .. } => "active_speaker",
            ServerMessage::Mute { .. } => "mute",
            ServerMessage::Chat(_) => "chat",
            ServerMessage::ChatHistory { .. } => "chat_history",
            ServerMessage::ChatShared { .. } => "chat_shared",
            ServerMessage::E2ee { .. } => "e2ee",
            ServerMessage::Pong {} => "pong",
            ServerMessage::SessionEnded { .. } => "session_ended",
            ServerMessage::Error { .. } => "error",
        }
    }
}

/// Stable error codes. Clients switch on these; the texts may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON, or not a JSON object with a string `type`.
    BadJson,
    /// The `type` is not one this protocol knows.
    UnknownType,
    /// Known type, but fields are missing, extra, of the wrong type or out of range.
    InvalidMessage,
    /// The frame is larger than 64 KiB (connection closed).
    TooLarge,
    /// Binary frames are not part of the protocol.
    BinaryNotSupported,
    /// The client speaks a protocol version the server does not (connection closed).
    UnsupportedVersion,
    /// The message needs a joined participant (knock, join or resume first).
    NotJoined,
    /// `knock`/`join`/`resume` on a connection that already has an identity.
    AlreadyJoined,
    /// The token's signature or claims are invalid.
    InvalidToken,
    /// The token has expired.
    TokenExpired,
    /// The token is for another room than the one asked for.
    WrongRoom,
    /// The join link is unknown, expired, revoked or its session has ended.
    LinkInvalid,
    /// The display name is empty, too long or has control or bidi override/isolate characters.
    InvalidName,
    /// Only a host may do this.
    Forbidden,
    /// No such lobby entry or participant.
    NotFound,
    /// The SFU refused the SDP.
    SdpRejected,
    /// An answer arrived but no server offer was pending.
    NoPendingOffer,
    /// `resume` failed: unknown participant, wrong secret or too late.
    ResumeFailed,
    /// Too many messages; slow down (connection closed if it goes on).
    RateLimited,
    /// No message (not even `ping`) for too long (connection closed).
    IdleTimeout,
    /// The same participant connected elsewhere; this connection is closed.
    Replaced,
    /// The session requires end-to-end encryption and the client cannot do it.
    E2eeRequired,
    /// The room is full.
    RoomFull,
    /// The room's stored chat reached its cap (messages or bytes); this message was neither
    /// stored nor sent.
    ChatFull,
    /// The client's address, or the server, has as many websockets open as allowed
    /// (connection closed with 1013).
    TooManyConnections,
    /// A server-side failure; details are in the server log.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadJson,
        ErrorCode::UnknownType,
        ErrorCode::InvalidMessage,
        ErrorCode::TooLarge,
        ErrorCode::BinaryNotSupported,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::WrongRoom,
        ErrorCode::LinkInvalid,
        ErrorCode::InvalidName,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::SdpRejected,
        ErrorCode::NoPendingOffer,
        ErrorCode::ResumeFailed,
        ErrorCode::RateLimited,
        ErrorCode::IdleTimeout,
        ErrorCode::Replaced,
        ErrorCode::E2eeRequired,
        ErrorCode::RoomFull,
        ErrorCode::ChatFull,
        ErrorCode::TooManyConnections,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        // A unit test checks these against the serde names.
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::WrongRoom => "wrong_room",
            ErrorCode::LinkInvalid => "link_invalid",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::SdpRejected => "sdp_rejected",
            ErrorCode::NoPendingOffer => "no_pending_offer",
            ErrorCode::ResumeFailed => "resume_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::Replaced => "replaced",
            ErrorCode::E2eeRequired => "e2ee_required",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::ChatFull => "chat_full",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Validates a display name (`knock`, walk-in and host tokens) with the one name check all of
/// Confidant uses ([`confidant_text::check_name`]): trimmed, 1–[`MAX_NAME_CHARS`] characters,
/// no control, bidi override or isolate characters. Returns the trimmed name.
pub fn clean_name(name: &str) -> Option<String> {
    confidant_text::check_name(name, MAX_NAME_CHARS).ok()
}

/// The frame relayed for an `e2ee` message from participant `from`: the payload unread, or
/// [`ErrorCode::InvalidMessage`] if it exceeds [`MAX_E2EE_PAYLOAD_BYTES`].
pub fn e2ee_relay(from: &str, payload: String) -> Result<ServerMessage, ParseError> {
    if payload.len() > MAX_E2EE_PAYLOAD_BYTES {
        return Err(ParseError {
            code: ErrorCode::InvalidMessage,
            message: format!("e2ee payload exceeds {MAX_E2EE_PAYLOAD_BYTES} bytes"),
        });
    }
    Ok(ServerMessage::E2ee {
        from: from.to_owned(),
        payload,
    })
}

/// Why a text frame could not be turned into a [`ClientMessage`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Which error code to send.
    pub code: ErrorCode,
    /// Detail for the `message` field.
    pub message: String,
}

/// Parses one text frame, telling bad JSON, unknown types and bad fields apart.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ParseError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError {
            code: ErrorCode::TooLarge,
            message: format!("message exceeds {MAX_MESSAGE_BYTES} bytes"),
        });
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParseError {
        code: ErrorCode::BadJson,
        message: format!("not valid JSON: {e}"),
    })?;
    let ty = value
        .as_object()
        .and_then(|o| o.get("type"))
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ParseError {
            code: ErrorCode::BadJson,
            message: "expected a JSON object with a string \"type\"".into(),
        })?;
    if !ClientMessage::TYPES.contains(&ty.as_str()) {
        return Err(ParseError {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type {ty:?}"),
        });
    }
    serde_json::from_value(value).map_err(|e| ParseError {
        code: ErrorCode::InvalidMessage,
        message: format!("invalid {ty} message: {e}"),
    })
}
