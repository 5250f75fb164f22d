//! Rooms, lobby and the per-connection protocol driver.
//!
//! The hub owns all room state behind one mutex that is never held across an `.await`. Each
//! websocket connection is driven by [`Hub::serve`]: it reads frames, applies them to the state,
//! and writes what the state queued for it. Everything sent to a connection, its own replies
//! included, goes through that connection's bounded outbound queue, so messages to one client
//! keep their order. A client that cannot keep up (queue full) is disconnected rather than
//! buffered without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use confidant_sfu::{PeerId, RoomId, SfuEvent, SfuHandle};
use confidant_vault::PurposeKey;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::protocol::{
    clean_name, e2ee_relay, parse_client_message, ChatMessage, ClientMessage, ErrorCode, Kind,
    LobbyEntry, ParticipantInfo, Role, ServerMessage, CHAT_PAGE_BYTES, CHAT_PAGE_MESSAGES,
    MAX_CHAT_CHARS, MAX_MESSAGE_BYTES, MAX_SDP_BYTES, MAX_VIDEO_DIMENSION, PROTOCOL_VERSION,
};
use crate::{ChatCap, ChatGap, Directory, Error, StoredChat, Tokens};

/// Messages queued per connection before it counts as too slow and is dropped.
const OUTBOUND_QUEUE: usize = 512;
/// Websocket close code for a normal end (left, rejected, session ended).
const CLOSE_NORMAL: u16 = 1000;
/// Websocket close code for a policy violation (auth failure, flood, idle).
const CLOSE_POLICY: u16 = 1008;
/// Websocket close code for a message that is too big.
const CLOSE_TOO_BIG: u16 = 1009;
/// Websocket close code for data the protocol does not take (binary frames, wrong version).
const CLOSE_UNSUPPORTED: u16 = 1003;
/// How long the server waits for the client's close frame after sending its own, reading
/// and ignoring whatever the client still sends; then the socket is closed regardless.
const CLOSE_HANDSHAKE_WAIT: Duration = Duration::from_secs(5);
/// Longest candidate line accepted, in bytes.
const MAX_CANDIDATE_BYTES: usize = 1024;
/// Longest id field (lobby id, participant id, room) accepted, in bytes.
const MAX_ID_BYTES: usize = 128;
/// Messages dropped by the rate limit, in a row (without the sender slowing down until its
/// burst refilled), at which the connection is closed.
const MAX_RATE_LIMITED_IN_A_ROW: u32 = 50;
/// How long an admission outlives its token's expiry: the token check tolerates this much
/// clock skew, so the admission must not vanish first.
const ADMISSION_LEEWAY: Duration = Duration::from_secs(10);

/// Tuning of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Lifetime of join tokens handed out on admit and to hosts.
    pub token_ttl: Duration,
    /// How long a dropped participant keeps its identity and media for `resume`.
    pub resume_grace: Duration,
    /// A connection that sends nothing (not even `ping`) for this long is closed.
    pub idle_timeout: Duration,
    /// Sustained messages per second allowed per connection.
    pub rate_per_second: u32,
    /// Burst of messages allowed per connection above the sustained rate.
    pub rate_burst: u32,
    /// Most participants in one room.
    pub max_participants: usize,
    /// Most clients waiting in one room's lobby.
    pub max_waiting: usize,
    /// TURN servers offered to clients (with credentials made per participant), if any.
    pub turn: Option<crate::TurnConfig>,
    /// The cap on each room's stored chat.
    pub chat_cap: ChatCap,
}

/// Default cap on one room's stored chat: far more than a counselling session's chat (a few
/// dozen messages an hour), small enough that one participant cannot fill the database.
pub const DEFAULT_CHAT_CAP: ChatCap = ChatCap {
    max_messages: 1000,
    max_bytes: 1024 * 1024,
};

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(10 * 60),
            resume_grace: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(45),
            rate_per_second: 20,
            rate_burst: 60,
            max_participants: 16,
            max_waiting: 50,
            turn: None,
            chat_cap: DEFAULT_CHAT_CAP,
        }
    }
}

/// One websocket frame from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text frame.
    Text(String),
    /// A binary frame (refused by the protocol); its length.
    Binary(usize),
    /// A frame or message over [`MAX_MESSAGE_BYTES`] that the websocket layer refused to read
    /// (it stops at the header); answered like an oversized text frame.
    TooLarge,
}

/// One websocket frame to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame (one JSON message).
    Text(String),
    /// Close the connection with this websocket close code and reason.
    Close(u16, String),
}

/// Counters for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Rooms with at least one participant or waiting client.
    pub rooms: usize,
    /// Participants (connected or within their resume grace).
    pub participants: usize,
    /// Clients waiting in lobbies.
    pub waiting: usize,
    /// Open websocket connections.
    pub connections: usize,
}

/// The signalling hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    sfu: SfuHandle,
    tokens: Tokens,
    chat_key: PurposeKey,
    directory: Arc<dyn Directory>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    next_conn: AtomicU64,
    connections: AtomicU64,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Room>,
    /// participant id → room, for `resume`.
    where_is: HashMap<String, String>,
    /// participant id → the admission its guest token stands for. A guest token joins only
    /// while its admission is here: leaving, removal, the link's revocation and the end of the
    /// session delete it, so the token dies with it.
    admissions: HashMap<String, Admission>,
}

/// One admitted guest (from the lobby or a walk-in) that may join with its token.
struct Admission {
    room: String,
    /// When the token it belongs to has expired for sure.
    until: Instant,
    /// When the guest was admitted (RFC 3339, the hub's wall clock): the chat they see starts
    /// here ([`ChatGap`]). Joining again with the same token keeps it.
    at: String,
}

impl State {
    /// Records at `now` (wall time `at`) that guest `participant` may join `room` until its
    /// token expires.
    fn admit(&mut self, room: &str, participant: &str, ttl: Duration, now: Instant, at: String) {
        self.admissions.retain(|_, a| a.until > now);
        self.admissions.insert(
            participant.to_owned(),
            Admission {
                room: room.to_owned(),
                until: now + ttl + ADMISSION_LEEWAY,
                at,
            },
        );
    }

    /// When guest `participant` was admitted to `room`, if it holds a live admission at `now`.
    fn admitted(&self, room: &str, participant: &str, now: Instant) -> Option<&str> {
        self.admissions
            .get(participant)
            .filter(|a| a.room == room && a.until > now)
            .map(|a| a.at.as_str())
    }
}

struct Room {
    sfu_room: RoomId,
    participants: HashMap<String, Participant>,
    /// Oldest first.
    lobby: Vec<Waiter>,
    /// Display names of everyone who joined while the room was in memory, by participant id,
    /// those who left included: the names chat messages are shown with. Names live here and
    /// in [`Participant`] only, never in storage, and go with the room.
    names: HashMap<String, String>,
    /// The participant the SFU last named the active speaker, told to whoever joins or resumes
    /// later (`active_speaker` is otherwise sent only when it changes, and in silence the last
    /// speaker stays: without this a late joiner would not know who speaks until it changes).
    active_speaker: Option<String>,
}

struct Participant {
    id: String,
    peer: PeerId,
    name: String,
    role: Role,
    audio_muted: bool,
    video_muted: bool,
    conn: Option<ConnRef>,
    resume_hash: [u8; 32],
    /// Bumped on every disconnect, so a stale grace timer does nothing.
    generation: u64,
    /// The SFU peer exists (the client sent its offer).
    has_peer: bool,
    /// The SFU dropped this participant's media connection and no new offer came since: told
    /// with `media_lost`, again on resume (the client may have been away when it happened).
    media_lost: bool,
    /// Tracks this participant publishes: (mid, kind).
    tracks: Vec<(String, Kind)>,
    /// A server offer not yet answered; re-sent on resume.
    pending_offer: Option<String>,
    /// Its browser encrypts media end to end.
    e2ee: bool,
    /// A guest's admission time (RFC 3339): the chat it sees starts there, less what the host
    /// shared. `None` for a host, who sees all of it.
    admitted_at: Option<String>,
}

impl Participant {
    fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            participant_id: self.id.clone(),
            name: self.name.clone(),
            role: self.role,
            audio_muted: self.audio_muted,
            video_muted: self.video_muted,
            connected: self.conn.is_some(),
            e2ee: self.e2ee,
        }
    }
}

struct Waiter {
    lobby_id: String,
    name: String,
    since: String,
    conn: ConnRef,
    e2ee: bool,
}

/// A handle to one connection's outbound queue.
#[derive(Clone)]
struct ConnRef {
    id: u64,
    tx: mpsc::Sender<Outbound>,
    /// Set when the queue overflowed: the driver closes the connection.
    too_slow: Arc<AtomicBool>,
}

impl ConnRef {
    /// Queues a frame; a full queue means a client too slow to keep: close it.
    fn push(&self, frame: Outbound) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(frame) {
            tracing::warn!(
                conn = self.id,
                "outbound queue full, closing slow connection"
            );
            self.too_slow.store(true, Ordering::Relaxed);
        }
    }

    fn send(&self, msg: &ServerMessage) {
        self.push(Outbound::Text(encode(msg)));
    }

    fn close(&self, code: u16, reason: &str) {
        self.push(Outbound::Close(code, reason.to_owned()));
    }
}

fn encode(msg: &ServerMessage) -> String {
    // ServerMessage holds only strings, numbers, bools and vectors of those: always serialisable.
    serde_json::to_string(msg).expect("ServerMessage serialises")
}

fn error_msg(code: ErrorCode, message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        code,
        message: message.into(),
    }
}

/// A message over the 64 KiB limit, at any size: `too_large`, then close 1009.
fn too_large(conn: &Conn) -> Flow {
    conn.me.send(&error_msg(
        ErrorCode::TooLarge,
        format!("message exceeds {MAX_MESSAGE_BYTES} bytes"),
    ));
    Flow::Close(CLOSE_TOO_BIG, "message too large")
}

fn e2ee_required() -> ServerMessage {
    error_msg(
        ErrorCode::E2eeRequired,
        "this session requires end-to-end encryption, which this browser cannot do",
    )
}

/// `t` as shown to clients: RFC 3339 in UTC with milliseconds.
fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn new_participant_id() -> String {
    // Random rather than sequential, so ids say nothing about how many sessions ran. Never 0.
    loop {
        let n: u64 = rand::random();
        if n != 0 {
            return n.to_string();
        }
    }
}

/// What the sealed part of a stored chat row holds: who by participant id and role, never by
/// name (walk-in clients' names must stay in memory only).
#[derive(Serialize, Deserialize)]
struct SealedChat {
    participant_id: String,
    /// Absent in rows stored before roles were (those also held a name, now ignored).
    #[serde(default)]
    role: Option<Role>,
    text: String,
}

/// A chat message opened from storage, before its sender's name is looked up in memory.
struct OpenedChat {
    id: String,
    participant_id: String,
    role: Role,
    text: String,
    sent_at: String,
}

impl OpenedChat {
    /// The message as sent to clients, its sender named from `room`'s roster if known.
    fn named(self, room: Option<&Room>) -> ChatMessage {
        ChatMessage {
            name: room.and_then(|r| r.names.get(&self.participant_id).cloned()),
            id: self.id,
            participant_id: self.participant_id,
            role: self.role,
            text: self.text,
            sent_at: self.sent_at,
        }
    }
}

fn chat_aad(room: &str, id: &str) -> Vec<u8> {
    format!("chat/{room}/{id}").into_bytes()
}

/// What one connection currently is.
#[derive(Clone, Debug, PartialEq)]
enum ConnState {
    /// Nothing yet.
    Fresh,
    /// In a lobby.
    Waiting { room: String, lobby_id: String },
    /// A participant.
    Joined { room: String, participant: String },
    /// Left, rejected or ended: only closing remains.
    Done,
}

/// Per-connection token bucket, with the count of messages it dropped since the sender last
/// slowed down. Sans-IO: every call takes the time.
///
/// "Dropped in a row" must not be reset by the odd token the bucket earns back while a flood
/// goes on (at 450 messages/s against 20/s, every 22nd message passes): the count is reset
/// only once the bucket has refilled completely, which a sender above the sustained rate never
/// lets happen. So any sustained rate above the limit reaches [`MAX_RATE_LIMITED_IN_A_ROW`].
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
    dropped_in_a_row: u32,
    warned_at: Option<Instant>,
}

impl Bucket {
    fn new(now: Instant, rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            last: now,
            rate: f64::from(rate),
            burst: f64::from(burst),
            dropped_in_a_row: 0,
            warned_at: None,
        }
    }

    /// Takes a token for one message at `now`; `false` if the message is to be dropped.
    fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= self.burst {
            // The sender kept within the limit long enough to earn its whole burst back.
            self.dropped_in_a_row = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped_in_a_row = self.dropped_in_a_row.saturating_add(1);
            false
        }
    }

    /// The sender went on flooding for too long: close the connection.
    fn flooded(&self) -> bool {
        self.dropped_in_a_row >= MAX_RATE_LIMITED_IN_A_ROW
    }
}

/// Whether the driver goes on after a message.
enum Flow {
    Continue,
    Close(u16, &'static str),
}

struct Conn {
    me: ConnRef,
    state: ConnState,
}

impl Hub {
    /// Creates a hub driving `sfu`, with join tokens from `tokens`, chat sealed with `chat_key`.
    pub fn new(
        config: HubConfig,
        sfu: SfuHandle,
        tokens: Tokens,
        chat_key: PurposeKey,
        directory: Arc<dyn Directory>,
    ) -> Self {
        Self::with_clock(
            config,
            sfu,
            tokens,
            chat_key,
            directory,
            Arc::new(SystemClock),
        )
    }

    /// A hub that reads the time from `clock` (see [`crate::clock`]); [`Hub::new`] gives it
    /// the system clock.
    pub fn with_clock(
        config: HubConfig,
        sfu: SfuHandle,
        tokens: Tokens,
        chat_key: PurposeKey,
        directory: Arc<dyn Directory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                sfu,
                tokens,
                chat_key,
                directory,
                clock,
                state: Mutex::new(State::default()),
                next_conn: AtomicU64::new(1),
                connections: AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in this module; the state is still
        // structurally valid (every mutation is a single map operation), so keep serving.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// TURN credentials for one participant, if TURN is configured.
    fn ice_servers_for(&self, participant: &str) -> Vec<crate::protocol::IceServer> {
        let now = self.inner.clock.unix_secs();
        self.inner
            .config
            .turn
            .iter()
            .map(|t| t.credentials(participant, now))
            .collect()
    }

    /// A join token for the session's counsellor (role host) in `room`, bound to the
    /// counsellor's login session `login`: once that ends (logout, expiry), the token no longer
    /// joins ([`Directory::login_active`]).
    pub fn host_token(&self, room: &str, name: &str, login: &str) -> Result<String, Error> {
        self.inner.tokens.issue_host_at(
            room,
            &new_participant_id(),
            name,
            login,
            self.inner.clock.unix_secs(),
            self.inner.config.token_ttl,
        )
    }

    /// A join token (role guest) for a client the counsellor already accepted, such as a
    /// walk-in: the same token `admitted` hands out after the lobby, so the client joins the
    /// room directly. Returns the participant id and the token.
    pub fn guest_token(&self, room: &str, name: &str) -> Result<(String, String), Error> {
        let Some(name) = clean_name(name) else {
            return Err(Error::Token("a guest needs a valid display name".into()));
        };
        let participant = new_participant_id();
        let ttl = self.inner.config.token_ttl;
        let clock = &self.inner.clock;
        let iat = clock.unix_secs();
        let token = self.inner.tokens.issue_at(
            room,
            &participant,
            Role::Guest,
            &name,
            iat,
            iat + ttl.as_secs(),
        )?;
        self.state().admit(
            room,
            &participant,
            ttl,
            clock.monotonic(),
            rfc3339(clock.wall()),
        );
        Ok((participant, token))
    }

    /// The join link of `room` was revoked: admitted guests who have not joined yet can no
    /// longer, and no guest's join token works again (those in the call stay, and may
    /// `resume`).
    pub fn revoke_admissions(&self, room: &str) {
        self.state().admissions.retain(|_, a| a.room != room);
        tracing::info!(room, "admissions revoked");
    }

    /// Rooms in which a host is present (connected, or within the resume grace), for
    /// presence: a counsellor in one of their rooms is in a session.
    pub fn rooms_with_host(&self) -> Vec<String> {
        let st = self.state();
        st.rooms
            .iter()
            .filter(|(_, r)| r.participants.values().any(|p| p.role == Role::Host))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// How many clients wait in `room`'s lobby now (0 for a room not in memory): the
    /// dashboard's knock count.
    pub fn waiting(&self, room: &str) -> usize {
        self.state().rooms.get(room).map_or(0, |r| r.lobby.len())
    }

    /// Rooms in memory: someone is in the call, connected or within the resume grace, or
    /// waits in its lobby.
    pub fn live_rooms(&self) -> Vec<String> {
        self.state().rooms.keys().cloned().collect()
    }

    /// Counters.
    pub fn stats(&self) -> HubStats {
        let st = self.state();
        HubStats {
            rooms: st.rooms.len(),
            participants: st.rooms.values().map(|r| r.participants.len()).sum(),
            waiting: st.rooms.values().map(|r| r.lobby.len()).sum(),
            connections: self.inner.connections.load(Ordering::Relaxed) as usize,
        }
    }

    /// Ends a room: everyone (participants and lobby) gets `session_ended` and is disconnected,
    /// and all their media is released in the SFU.
    pub async fn end_room(&self, room: &str, reason: &str) {
        let removed = {
            let mut st = self.state();
            st.admissions.retain(|_, a| a.room != room);
            let Some(r) = st.rooms.remove(room) else {
                return;
            };
            let msg = ServerMessage::SessionEnded {
                reason: reason.to_owned(),
            };
            for w in &r.lobby {
                w.conn.send(&msg);
                w.conn.close(CLOSE_NORMAL, "session ended");
            }
            let mut peers = Vec::new();
            for p in r.participants.values() {
                st.where_is.remove(&p.id);
                if let Some(c) = &p.conn {
                    c.send(&msg);
                    c.close(CLOSE_NORMAL, "session ended");
                }
                if p.has_peer {
                    peers.push(p.peer);
                }
            }
            peers
        };
        for peer in removed {
            self.inner.sfu.remove_peer(peer).await;
        }
        tracing::info!(room, reason, "room ended");
    }

    /// Drives one websocket connection until it closes.
    pub async fn serve<S, R, E>(&self, mut sink: S, mut stream: R)
    where
        S: Sink<Outbound> + Unpin + Send,
        R: Stream<Item = Result<Inbound, E>> + Unpin + Send,
    {
        let (tx, mut rx) = mpsc::channel(OUTBOUND_QUEUE);
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        let mut conn = Conn {
            me: ConnRef {
                id,
                tx,
                too_slow: Arc::new(AtomicBool::new(false)),
            },
            state: ConnState::Fresh,
        };
        let cfg = &self.inner.config;
        let clock = &self.inner.clock;
        let mut bucket = Bucket::new(clock.monotonic(), cfg.rate_per_second, cfg.rate_burst);
        let idle = tokio::time::sleep(cfg.idle_timeout);
        tokio::pin!(idle);

        // Whether this side sent the close frame: then the client's close frame is awaited.
        let mut closed_here = false;
        loop {
            if conn.me.too_slow.load(Ordering::Relaxed) {
                closed_here = sink
                    .send(Outbound::Close(CLOSE_POLICY, "too slow".into()))
                    .await
                    .is_ok();
                break;
            }
            tokio::select! {
                biased;
                out = rx.recv() => {
                    // `conn.me` holds a sender, so the channel never closes while we loop.
                    let Some(out) = out else { break };
                    let closing = matches!(out, Outbound::Close(..));
                    let sent = sink.send(out).await.is_ok();
                    if !sent || closing {
                        closed_here = sent && closing;
                        break;
                    }
                }
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    // The idle timer is the shell's (tokio's clock); the rate limit is judged
                    // at the hub's clock.
                    idle.as_mut().reset(Instant::now() + cfg.idle_timeout);
                    let now = clock.monotonic();
                    let flow = match frame {
                        Inbound::Binary(_) => {
                            conn.me.send(&error_msg(ErrorCode::BinaryNotSupported, "binary frames are not part of the protocol"));
                            Flow::Close(CLOSE_UNSUPPORTED, "binary frame")
                        }
                        Inbound::TooLarge => too_large(&conn),
                        Inbound::Text(text) => {
                            if text.len() > MAX_MESSAGE_BYTES {
                                too_large(&conn)
                            } else if !bucket.take(now) {
                                if bucket.flooded() {
                                    conn.me.send(&error_msg(ErrorCode::RateLimited, "too many messages"));
                                    Flow::Close(CLOSE_POLICY, "flood")
                                } else {
                                    if bucket.warned_at.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
                                        bucket.warned_at = Some(now);
                                        conn.me.send(&error_msg(ErrorCode::RateLimited, "too many messages; message dropped"));
                                    }
                                    Flow::Continue
                                }
                            } else {
                                self.handle_text(&mut conn, &text).await
                            }
                        }
                    };
                    if let Flow::Close(code, reason) = flow {
                        conn.me.close(code, reason);
                    }
                }
                () = &mut idle => {
                    conn.me.send(&error_msg(ErrorCode::IdleTimeout, "no message for too long"));
                    conn.me.close(CLOSE_POLICY, "idle");
                    // Drain what is queued (the error and the close) on the next turns.
                    idle.as_mut().reset(Instant::now() + Duration::from_secs(3600));
                }
            }
        }
        if closed_here {
            // Complete the close handshake: read on (and ignore) until the client's close
            // frame ends the stream. Closing the socket with the client's last messages
            // unread would reset the connection, and the client would see an abnormal
            // closure (1006) instead of the code just sent.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_WAIT, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
        }
        let _ = sink.close().await;
        self.connection_gone(&conn).await;
        self.inner.connections.fetch_sub(1, Ordering::Relaxed);
    }

    async fn handle_text(&self, conn: &mut Conn, text: &str) -> Flow {
        let msg = match parse_client_message(text) {
            Ok(m) => m,
            Err(e) => {
                conn.me.send(&error_msg(e.code, e.message));
                return Flow::Continue;
            }
        };
        match msg {
            ClientMessage::Ping {} => {
                conn.me.send(&ServerMessage::Pong {});
                Flow::Continue
            }
            ClientMessage::Knock {
                v,
                link,
                name,
                e2ee,
            } => self.on_knock(conn, v, &link, &name, e2ee).await,
            ClientMessage::Join {
                v,
                room,
                token,
                e2ee,
            } => self.on_join(conn, v, &room, &token, e2ee).await,
            ClientMessage::Resume {
                v,
                participant_id,
                resume_token,
            } => {
                self.on_resume(conn, v, &participant_id, &resume_token)
                    .await
            }
            ClientMessage::Leave {} => {
                self.on_leave(conn).await;
                Flow::Close(CLOSE_NORMAL, "left")
            }
            other => {
                let ConnState::Joined { room, participant } = conn.state.clone() else {
                    conn.me
                        .send(&error_msg(ErrorCode::NotJoined, "join the room first"));
                    return Flow::Continue;
                };
                self.on_joined_message(conn, &room, &participant, other)
                    .await
            }
        }
    }

    fn check_version(conn: &Conn, v: u32) -> Option<Flow> {
        if v != PROTOCOL_VERSION {
            conn.me.send(&error_msg(
                ErrorCode::UnsupportedVersion,
                format!("server speaks protocol version {PROTOCOL_VERSION}"),
            ));
            return Some(Flow::Close(CLOSE_UNSUPPORTED, "unsupported version"));
        }
        None
    }

    async fn on_knock(&self, conn: &mut Conn, v: u32, link: &str, name: &str, e2ee: bool) -> Flow {
        if let Some(f) = Self::check_version(conn, v) {
            return f;
        }
        if conn.state != ConnState::Fresh {
            conn.me.send(&error_msg(
                ErrorCode::AlreadyJoined,
                "this connection already knocked or joined",
            ));
            return Flow::Continue;
        }
        let Some(name) = clean_name(name) else {
            conn.me.send(&error_msg(
                ErrorCode::InvalidName,
                "name must be 1-80 characters without control or bidi characters",
            ));
            return Flow::Continue;
        };
        if link.len() > MAX_ID_BYTES {
            conn.me
                .send(&error_msg(ErrorCode::LinkInvalid, "this link is not valid"));
            return Flow::Close(CLOSE_POLICY, "link invalid");
        }
        let target = match self.inner.directory.resolve_link(link).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                conn.me.send(&error_msg(
                    ErrorCode::LinkInvalid,
                    "this link is unknown, expired, revoked or its session has ended",
                ));
                return Flow::Close(CLOSE_POLICY, "link invalid");
            }
            Err(e) => {
                tracing::error!(error = %e, "resolving a join link failed");
                conn.me
                    .send(&error_msg(ErrorCode::Internal, "server error"));
                return Flow::Continue;
            }
        };
        if !e2ee && !target.policy.allow_unencrypted {
            conn.me.send(&e2ee_required());
            return Flow::Close(CLOSE_POLICY, "e2ee required");
        }
        let lobby_id = uuid::Uuid::new_v4().to_string();
        let mut st = self.state();
        let max_waiting = self.inner.config.max_waiting;
        let room = st.rooms.entry(target.room.clone()).or_insert_with(new_room);
        if room.lobby.len() >= max_waiting {
            conn.me
                .send(&error_msg(ErrorCode::RoomFull, "the waiting room is full"));
            return Flow::Close(CLOSE_NORMAL, "lobby full");
        }
        room.lobby.push(Waiter {
            lobby_id: lobby_id.clone(),
            name,
            since: rfc3339(self.inner.clock.wall()),
            conn: conn.me.clone(),
            e2ee,
        });
        conn.me.send(&ServerMessage::LobbyWaiting {
            lobby_id: lobby_id.clone(),
            room: target.room.clone(),
        });
        notify_hosts_of_lobby(room);
        tracing::info!(room = %target.room, lobby_id, "client knocked");
        conn.state = ConnState::Waiting {
            room: target.room,
            lobby_id,
        };
        Flow::Continue
    }

    async fn on_join(
        &self,
        conn: &mut Conn,
        v: u32,
        room_id: &str,
        token: &str,
        e2ee: bool,
    ) -> Flow {
        if let Some(f) = Self::check_version(conn, v) {
            return f;
        }
        match &conn.state {
            ConnState::Fresh => {}
            ConnState::Waiting { room, .. } if room == room_id => {}
            ConnState::Waiting { .. } => {
                conn.me.send(&error_msg(
                    ErrorCode::WrongRoom,
                    "this connection waits for another room",
                ));
                return Flow::Close(CLOSE_POLICY, "wrong room");
            }
            _ => {
                conn.me.send(&error_msg(
                    ErrorCode::AlreadyJoined,
                    "this connection already joined",
                ));
                return Flow::Continue;
            }
        }
        let claims = match self
            .inner
            .tokens
            .verify_at(token, room_id, self.inner.clock.unix_secs())
        {
            Ok(c) => c,
            Err(code) => {
                let text = match code {
                    ErrorCode::TokenExpired => "the join token has expired",
                    ErrorCode::WrongRoom => "the join token is for another room",
                    _ => "the join token is not valid",
                };
                conn.me.send(&error_msg(code, text));
                return Flow::Close(CLOSE_POLICY, "token refused");
            }
        };
        if claims.role == Role::Host {
            // A host token lives no longer than the login session it was issued under.
            let live = match &claims.login {
                Some(login) => self.inner.directory.login_active(login).await,
                None => Ok(false),
            };
            match live {
                Ok(true) => {}
                Ok(false) => {
                    conn.me.send(&error_msg(
                        ErrorCode::InvalidToken,
                        "the login session this token was issued under has ended",
                    ));
                    return Flow::Close(CLOSE_POLICY, "token refused");
                }
                Err(e) => {
                    tracing::error!(error = %e, "checking a login session failed");
                    conn.me
                        .send(&error_msg(ErrorCode::Internal, "server error"));
                    return Flow::Continue;
                }
            }
        }
        match self.inner.directory.room_policy(room_id).await {
            Ok(Some(policy)) => {
                if !e2ee && !policy.allow_unencrypted {
                    conn.me.send(&e2ee_required());
                    return Flow::Close(CLOSE_POLICY, "e2ee required");
                }
            }
            Ok(None) => {
                conn.me.send(&ServerMessage::SessionEnded {
                    reason: "ended".into(),
                });
                return Flow::Close(CLOSE_NORMAL, "session ended");
            }
            Err(e) => {
                tracing::error!(error = %e, "checking a room failed");
                conn.me
                    .send(&error_msg(ErrorCode::Internal, "server error"));
                return Flow::Continue;
            }
        }
        // A guest's chat starts at its admission (kept when it joins again with the same
        // token); one without a live admission is refused below.
        let admitted_at = match claims.role {
            Role::Host => None,
            Role::Guest => {
                let st = self.state();
                st.admitted(room_id, &claims.sub, self.inner.clock.monotonic())
                    .map(str::to_owned)
            }
        };
        let page = match self
            .gap_for(room_id, claims.role, admitted_at.as_deref())
            .await
        {
            Ok(gap) => self.load_page(room_id, None, gap.as_ref()).await,
            Err(e) => Err(e),
        };
        let (history, more) = match page {
            Ok(page) => page.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "loading chat history failed");
                conn.me
                    .send(&error_msg(ErrorCode::Internal, "server error"));
                return Flow::Continue;
            }
        };
        let Some(name) = clean_name(&claims.name) else {
            conn.me.send(&error_msg(
                ErrorCode::InvalidName,
                "the token carries no valid name",
            ));
            return Flow::Close(CLOSE_POLICY, "bad name");
        };
        let Ok(peer_num) = claims.sub.parse::<u64>() else {
            conn.me.send(&error_msg(
                ErrorCode::InvalidToken,
                "the join token is not valid",
            ));
            return Flow::Close(CLOSE_POLICY, "token refused");
        };

        let resume_token = confidant_vault::random_token(32);
        let mut old_peer = None;
        {
            let mut st = self.state();
            if claims.role == Role::Guest
                && st
                    .admitted(room_id, &claims.sub, self.inner.clock.monotonic())
                    .is_none()
            {
                // Left, removed, revoked or ended since the token was handed out.
                conn.me.send(&error_msg(
                    ErrorCode::InvalidToken,
                    "this admission is no longer valid; knock again",
                ));
                return Flow::Close(CLOSE_POLICY, "token refused");
            }
            // A waiting connection leaves the lobby it was in.
            if let ConnState::Waiting { room, lobby_id } = &conn.state {
                if let Some(r) = st.rooms.get_mut(room) {
                    r.lobby.retain(|w| &w.lobby_id != lobby_id);
                    notify_hosts_of_lobby(r);
                }
            }
            let max = self.inner.config.max_participants;
            let room = st.rooms.entry(room_id.to_owned()).or_insert_with(new_room);
            if let Some(existing) = room.participants.get_mut(&claims.sub) {
                // The same participant again (a second tab, or a reload): the new connection
                // replaces the old one and starts media afresh.
                if let Some(old) = existing.conn.take() {
                    old.send(&error_msg(
                        ErrorCode::Replaced,
                        "this participant connected elsewhere",
                    ));
                    old.close(CLOSE_POLICY, "replaced");
                }
                if existing.has_peer {
                    old_peer = Some(existing.peer);
                }
                existing.has_peer = false;
                existing.pending_offer = None;
                existing.tracks.clear();
                existing.generation += 1;
                existing.conn = Some(conn.me.clone());
                existing.resume_hash = digest(&resume_token);
                existing.e2ee = e2ee;
                let update = ServerMessage::ParticipantUpdated {
                    participant: existing.info(),
                };
                broadcast_except(room, &claims.sub, &update);
            } else {
                if room.participants.len() >= max {
                    conn.me
                        .send(&error_msg(ErrorCode::RoomFull, "the room is full"));
                    return Flow::Close(CLOSE_NORMAL, "room full");
                }
                let p = Participant {
                    id: claims.sub.clone(),
                    peer: PeerId(peer_num),
                    name: name.clone(),
                    role: claims.role,
                    audio_muted: false,
                    video_muted: false,
                    conn: Some(conn.me.clone()),
                    resume_hash: digest(&resume_token),
                    generation: 0,
                    has_peer: false,
                    media_lost: false,
                    tracks: Vec::new(),
                    pending_offer: None,
                    e2ee,
                    admitted_at: admitted_at.clone(),
                };
                let joined = ServerMessage::ParticipantJoined {
                    participant: p.info(),
                };
                for other in room.participants.values() {
                    if let Some(c) = &other.conn {
                        c.send(&joined);
                    }
                }
                room.participants.insert(claims.sub.clone(), p);
            }
            room.names.insert(claims.sub.clone(), name.clone());
            let others: Vec<ParticipantInfo> = room
                .participants
                .values()
                .filter(|p| p.id != claims.sub)
                .map(Participant::info)
                .collect();
            conn.me.send(&ServerMessage::Joined {
                v: PROTOCOL_VERSION,
                room: room_id.to_owned(),
                participant_id: claims.sub.clone(),
                role: claims.role,
                name,
                resume_token,
                participants: others,
                ice_servers: self.ice_servers_for(&claims.sub),
            });
            let messages = history.into_iter().map(|m| m.named(Some(room))).collect();
            conn.me.send(&ServerMessage::ChatHistory {
                messages,
                more,
                before: None,
            });
            for other in room.participants.values().filter(|p| p.id != claims.sub) {
                for (mid, kind) in &other.tracks {
                    conn.me.send(&ServerMessage::TrackPublished {
                        participant_id: other.id.clone(),
                        mid: mid.clone(),
                        kind: *kind,
                    });
                }
            }
            if let Some(speaker) = current_speaker(room) {
                conn.me.send(&speaker);
            }
            if claims.role == Role::Host {
                conn.me.send(&lobby_message(room));
            }
            st.where_is.insert(claims.sub.clone(), room_id.to_owned());
        }
        if let Some(peer) = old_peer {
            self.inner.sfu.remove_peer(peer).await;
        }
        tracing::info!(room = room_id, participant = %claims.sub, role = ?claims.role, "joined");
        conn.state = ConnState::Joined {
            room: room_id.to_owned(),
            participant: claims.sub,
        };
        Flow::Continue
    }

    async fn on_resume(&self, conn: &mut Conn, v: u32, pid: &str, resume_token: &str) -> Flow {
        if let Some(f) = Self::check_version(conn, v) {
            return f;
        }
        if conn.state != ConnState::Fresh {
            conn.me.send(&error_msg(
                ErrorCode::AlreadyJoined,
                "this connection already joined",
            ));
            return Flow::Continue;
        }
        let mut st = self.state();
        let Some(room_id) = st.where_is.get(pid).cloned() else {
            conn.me
                .send(&error_msg(ErrorCode::ResumeFailed, "nothing to resume"));
            return Flow::Close(CLOSE_POLICY, "resume failed");
        };
        let Some(room) = st.rooms.get_mut(&room_id) else {
            conn.me
                .send(&error_msg(ErrorCode::ResumeFailed, "nothing to resume"));
            return Flow::Close(CLOSE_POLICY, "resume failed");
        };
        let ok = room.participants.get(pid).is_some_and(|p| {
            use subtle::ConstantTimeEq;
            bool::from(p.resume_hash.ct_eq(&digest(resume_token)))
        });
        if !ok {
            conn.me
                .send(&error_msg(ErrorCode::ResumeFailed, "nothing to resume"));
            return Flow::Close(CLOSE_POLICY, "resume failed");
        }
        let others: Vec<ParticipantInfo> = room
            .participants
            .values()
            .filter(|p| p.id != pid)
            .map(Participant::info)
            .collect();
        let tracks: Vec<ServerMessage> = room
            .participants
            .values()
            .filter(|p| p.id != pid)
            .flat_map(|o| {
                o.tracks
                    .iter()
                    .map(|(mid, kind)| ServerMessage::TrackPublished {
                        participant_id: o.id.clone(),
                        mid: mid.clone(),
                        kind: *kind,
                    })
            })
            .collect();
        let lobby = lobby_message(room);
        let speaker = current_speaker(room);
        let Some(p) = room.participants.get_mut(pid) else {
            unreachable!("checked above")
        };
        if let Some(old) = p.conn.take() {
            old.send(&error_msg(
                ErrorCode::Replaced,
                "this participant connected elsewhere",
            ));
            old.close(CLOSE_POLICY, "replaced");
        }
        p.conn = Some(conn.me.clone());
        p.generation += 1;
        conn.me.send(&ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            room: room_id.clone(),
            participant_id: pid.to_owned(),
            role: p.role,
            name: p.name.clone(),
            resume_token: resume_token.to_owned(),
            participants: others,
            ice_servers: self.ice_servers_for(pid),
        });
        for t in &tracks {
            conn.me.send(t);
        }
        if let Some(speaker) = &speaker {
            conn.me.send(speaker);
        }
        if p.role == Role::Host {
            conn.me.send(&lobby);
        }
        if let Some(sdp) = &p.pending_offer {
            conn.me.send(&ServerMessage::Offer { sdp: sdp.clone() });
        }
        if p.media_lost {
            conn.me.send(&ServerMessage::MediaLost {});
        }
        let update = ServerMessage::ParticipantUpdated {
            participant: p.info(),
        };
        for other in room.participants.values().filter(|o| o.id != pid) {
            if let Some(c) = &other.conn {
                c.send(&update);
            }
        }
        tracing::info!(room = %room_id, participant = pid, "resumed");
        conn.state = ConnState::Joined {
            room: room_id,
            participant: pid.to_owned(),
        };
        Flow::Continue
    }

    async fn on_leave(&self, conn: &mut Conn) {
        match std::mem::replace(&mut conn.state, ConnState::Done) {
            ConnState::Waiting { room, lobby_id } => {
                let mut st = self.state();
                if let Some(r) = st.rooms.get_mut(&room) {
                    r.lobby.retain(|w| w.lobby_id != lobby_id);
                    notify_hosts_of_lobby(r);
                    drop_room_if_empty(&mut st, &room);
                }
            }
            ConnState::Joined { room, participant } => {
                self.remove_participant(&room, &participant, "left").await;
            }
            ConnState::Fresh | ConnState::Done => {}
        }
    }

    /// Removes a participant from its room, tells the others and frees its media.
    async fn remove_participant(&self, room_id: &str, pid: &str, reason: &str) {
        let peer = {
            let mut st = self.state();
            let Some(room) = st.rooms.get_mut(room_id) else {
                return;
            };
            let Some(p) = room.participants.remove(pid) else {
                return;
            };
            for (mid, _) in &p.tracks {
                broadcast(
                    room,
                    &ServerMessage::TrackUnpublished {
                        participant_id: p.id.clone(),
                        mid: mid.clone(),
                    },
                );
            }
            broadcast(
                room,
                &ServerMessage::ParticipantLeft {
                    participant_id: p.id.clone(),
                    reason: reason.to_owned(),
                },
            );
            st.where_is.remove(pid);
            // Whatever the reason, its join token does not bring it back.
            st.admissions.remove(pid);
            drop_room_if_empty(&mut st, room_id);
            p.has_peer.then_some(p.peer)
        };
        if let Some(peer) = peer {
            self.inner.sfu.remove_peer(peer).await;
        }
        tracing::info!(
            room = room_id,
            participant = pid,
            reason,
            "participant removed"
        );
    }

    /// The websocket is gone without `leave`: lobby clients leave the lobby; participants keep
    /// their identity and media for the resume grace period.
    async fn connection_gone(&self, conn: &Conn) {
        match &conn.state {
            ConnState::Waiting { room, lobby_id } => {
                let mut st = self.state();
                if let Some(r) = st.rooms.get_mut(room) {
                    r.lobby.retain(|w| &w.lobby_id != lobby_id);
                    notify_hosts_of_lobby(r);
                    drop_room_if_empty(&mut st, room);
                }
            }
            ConnState::Joined { room, participant } => {
                let generation = {
                    let mut st = self.state();
                    let Some(r) = st.rooms.get_mut(room) else {
                        return;
                    };
                    let Some(p) = r.participants.get_mut(participant) else {
                        return;
                    };
                    // Only if this connection is still the participant's (not replaced).
                    if p.conn.as_ref().map(|c| c.id) != Some(conn.me.id) {
                        return;
                    }
                    p.conn = None;
                    p.generation += 1;
                    let update = ServerMessage::ParticipantUpdated {
                        participant: p.info(),
                    };
                    let generation = p.generation;
                    broadcast(r, &update);
                    generation
                };
                let hub = self.clone();
                let (room, participant) = (room.clone(), participant.clone());
                let grace = self.inner.config.resume_grace;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let expired = {
                        let st = hub.state();
                        st.rooms
                            .get(&room)
                            .and_then(|r| r.participants.get(&participant))
                            .is_some_and(|p| p.conn.is_none() && p.generation == generation)
                    };
                    if expired {
                        hub.remove_participant(&room, &participant, "disconnected")
                            .await;
                    }
                });
            }
            ConnState::Fresh | ConnState::Done => {}
        }
    }

    async fn on_joined_message(
        &self,
        conn: &mut Conn,
        room_id: &str,
        pid: &str,
        msg: ClientMessage,
    ) -> Flow {
        match msg {
            ClientMessage::Admit { lobby_id } | ClientMessage::Reject { lobby_id }
                if lobby_id.len() > MAX_ID_BYTES =>
            {
                conn.me
                    .send(&error_msg(ErrorCode::NotFound, "no such lobby entry"));
                Flow::Continue
            }
            ClientMessage::Admit { lobby_id } => {
                self.on_admit(conn, room_id, pid, &lobby_id, true);
                Flow::Continue
            }
            ClientMessage::Reject { lobby_id } => {
                self.on_admit(conn, room_id, pid, &lobby_id, false);
                Flow::Continue
            }
            ClientMessage::Offer { sdp } => self.on_offer(conn, room_id, pid, sdp).await,
            ClientMessage::Answer { sdp } => self.on_answer(conn, room_id, pid, sdp).await,
            ClientMessage::Candidate { candidate, sdp_mid } => {
                if candidate.len() > MAX_CANDIDATE_BYTES
                    || sdp_mid.is_some_and(|m| m.len() > MAX_ID_BYTES)
                {
                    conn.me
                        .send(&error_msg(ErrorCode::InvalidMessage, "candidate too long"));
                }
                // ICE-lite: the SFU learns the client's address from its checks.
                Flow::Continue
            }
            ClientMessage::Mute { kind, muted } => {
                let mut st = self.state();
                if let Some(room) = st.rooms.get_mut(room_id) {
                    if let Some(p) = room.participants.get_mut(pid) {
                        match kind {
                            Kind::Audio => p.audio_muted = muted,
                            Kind::Video => p.video_muted = muted,
                        }
                    }
                    let msg = ServerMessage::Mute {
                        participant_id: pid.to_owned(),
                        kind,
                        muted,
                    };
                    broadcast_except(room, pid, &msg);
                }
                Flow::Continue
            }
            ClientMessage::VideoSize {
                participant_id,
                width,
                height,
            } => {
                self.on_video_size(conn, room_id, pid, &participant_id, width, height)
                    .await;
                Flow::Continue
            }
            ClientMessage::Chat { text } => {
                self.on_chat(conn, room_id, pid, text).await;
                Flow::Continue
            }
            ClientMessage::ChatHistory { before } => {
                self.on_chat_history(conn, room_id, pid, before).await;
                Flow::Continue
            }
            ClientMessage::ChatShareHistory {} => {
                self.on_chat_share_history(conn, room_id, pid).await;
                Flow::Continue
            }
            ClientMessage::E2ee { to, payload } => {
                let msg = match e2ee_relay(pid, payload) {
                    Ok(msg) => msg,
                    Err(e) => {
                        conn.me.send(&error_msg(e.code, e.message));
                        return Flow::Continue;
                    }
                };
                let st = self.state();
                let Some(room) = st.rooms.get(room_id) else {
                    return Flow::Continue;
                };
                match to {
                    Some(to) => match room.participants.get(&to).filter(|p| p.id != pid) {
                        Some(p) => {
                            if let Some(c) = &p.conn {
                                c.send(&msg);
                            }
                        }
                        None => conn
                            .me
                            .send(&error_msg(ErrorCode::NotFound, "no such participant")),
                    },
                    None => broadcast_except(room, pid, &msg),
                }
                Flow::Continue
            }
            ClientMessage::EndSession {} => {
                if !self.is_host(room_id, pid) {
                    conn.me.send(&error_msg(
                        ErrorCode::Forbidden,
                        "only the counsellor can end the session",
                    ));
                    return Flow::Continue;
                }
                if let Err(e) = self.inner.directory.end_room(room_id).await {
                    tracing::error!(error = %e, "ending a room in the directory failed");
                    conn.me
                        .send(&error_msg(ErrorCode::Internal, "server error"));
                    return Flow::Continue;
                }
                conn.state = ConnState::Done;
                self.end_room(room_id, "ended_by_host").await;
                Flow::Continue
            }
            ClientMessage::Remove { participant_id } => {
                self.on_remove(conn, room_id, pid, &participant_id).await;
                Flow::Continue
            }
            ClientMessage::Knock { .. }
            | ClientMessage::Join { .. }
            | ClientMessage::Resume { .. } => {
                conn.me.send(&error_msg(
                    ErrorCode::AlreadyJoined,
                    "this connection already joined",
                ));
                Flow::Continue
            }
            ClientMessage::Ping {} | ClientMessage::Leave {} => Flow::Continue,
        }
    }

    /// `remove`: a host takes a guest out of the call. The guest is told and disconnected, its
    /// media freed, its admission and resume secret forgotten; the others see it leave with
    /// reason `removed`.
    async fn on_remove(&self, conn: &Conn, room_id: &str, pid: &str, target: &str) {
        {
            let st = self.state();
            let Some(room) = st.rooms.get(room_id) else {
                return;
            };
            if room.participants.get(pid).map(|p| p.role) != Some(Role::Host) {
                conn.me.send(&error_msg(
                    ErrorCode::Forbidden,
                    "only the counsellor can remove a participant",
                ));
                return;
            }
            match room.participants.get(target) {
                Some(p) if p.role == Role::Guest => {
                    if let Some(c) = &p.conn {
                        c.send(&ServerMessage::Removed {});
                        c.close(CLOSE_NORMAL, "removed");
                    }
                }
                Some(_) => {
                    conn.me.send(&error_msg(
                        ErrorCode::Forbidden,
                        "a counsellor cannot be removed",
                    ));
                    return;
                }
                None => {
                    conn.me
                        .send(&error_msg(ErrorCode::NotFound, "no such participant"));
                    return;
                }
            }
        }
        self.remove_participant(room_id, target, "removed").await;
    }

    fn is_host(&self, room_id: &str, pid: &str) -> bool {
        let st = self.state();
        st.rooms
            .get(room_id)
            .and_then(|r| r.participants.get(pid))
            .is_some_and(|p| p.role == Role::Host)
    }

    fn on_admit(&self, conn: &Conn, room_id: &str, pid: &str, lobby_id: &str, admit: bool) {
        let mut st = self.state();
        let Some(room) = st.rooms.get_mut(room_id) else {
            return;
        };
        if room.participants.get(pid).map(|p| p.role) != Some(Role::Host) {
            conn.me.send(&error_msg(
                ErrorCode::Forbidden,
                "only the counsellor can admit or reject",
            ));
            return;
        }
        let Some(pos) = room.lobby.iter().position(|w| w.lobby_id == lobby_id) else {
            conn.me
                .send(&error_msg(ErrorCode::NotFound, "no such lobby entry"));
            return;
        };
        let waiter = room.lobby.remove(pos);
        if admit {
            let participant = new_participant_id();
            let ttl = self.inner.config.token_ttl;
            let clock = &self.inner.clock;
            let iat = clock.unix_secs();
            let token = self.inner.tokens.issue_at(
                room_id,
                &participant,
                Role::Guest,
                &waiter.name,
                iat,
                iat + ttl.as_secs(),
            );
            match token {
                Ok(token) => {
                    waiter.conn.send(&ServerMessage::Admitted {
                        room: room_id.to_owned(),
                        token,
                    });
                    notify_hosts_of_lobby(room);
                    st.admit(
                        room_id,
                        &participant,
                        ttl,
                        clock.monotonic(),
                        rfc3339(clock.wall()),
                    );
                    tracing::info!(room = room_id, lobby_id, "admitted");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "issuing a join token failed");
                    conn.me
                        .send(&error_msg(ErrorCode::Internal, "server error"));
                    room.lobby.insert(pos, waiter);
                    return;
                }
            }
        } else {
            waiter.conn.send(&ServerMessage::Rejected {});
            waiter.conn.close(CLOSE_NORMAL, "rejected");
            tracing::info!(room = room_id, lobby_id, "rejected");
        }
        notify_hosts_of_lobby(room);
    }

    async fn on_offer(&self, conn: &Conn, room_id: &str, pid: &str, sdp: String) -> Flow {
        if sdp.len() > MAX_SDP_BYTES {
            conn.me
                .send(&error_msg(ErrorCode::InvalidMessage, "sdp too long"));
            return Flow::Continue;
        }
        let (sfu_room, peer, old) = {
            let mut st = self.state();
            let Some(room) = st.rooms.get_mut(room_id) else {
                return Flow::Continue;
            };
            let sfu_room = room.sfu_room;
            let Some(p) = room.participants.get_mut(pid) else {
                return Flow::Continue;
            };
            // A second offer means the client rebuilt its connection (for example after ICE
            // failed): the old SFU peer goes, a new one is made.
            let old = std::mem::replace(&mut p.has_peer, false);
            p.media_lost = false;
            let gone_tracks = std::mem::take(&mut p.tracks);
            p.pending_offer = None;
            let peer = p.peer;
            for (mid, _) in gone_tracks {
                let msg = ServerMessage::TrackUnpublished {
                    participant_id: pid.to_owned(),
                    mid,
                };
                broadcast_except(room, pid, &msg);
            }
            (sfu_room, peer, old)
        };
        if old {
            self.inner.sfu.remove_peer(peer).await;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        match self.inner.sfu.add_peer(sfu_room, peer, sdp, tx).await {
            Ok(answer) => {
                let still_here = {
                    let mut st = self.state();
                    match st
                        .rooms
                        .get_mut(room_id)
                        .and_then(|r| r.participants.get_mut(pid))
                    {
                        Some(p) => {
                            p.has_peer = true;
                            true
                        }
                        None => false,
                    }
                };
                if !still_here {
                    self.inner.sfu.remove_peer(peer).await;
                    return Flow::Continue;
                }
                conn.me.send(&ServerMessage::Answer { sdp: answer });
                let hub = self.clone();
                let (room, pid) = (room_id.to_owned(), pid.to_owned());
                tokio::spawn(async move { hub.pump_sfu_events(room, pid, peer, rx).await });
            }
            Err(e) => {
                tracing::info!(error = %e, "sfu refused an offer");
                conn.me.send(&error_msg(
                    ErrorCode::SdpRejected,
                    "the offer was not accepted",
                ));
            }
        }
        Flow::Continue
    }

    async fn on_answer(&self, conn: &Conn, room_id: &str, pid: &str, sdp: String) -> Flow {
        if sdp.len() > MAX_SDP_BYTES {
            conn.me
                .send(&error_msg(ErrorCode::InvalidMessage, "sdp too long"));
            return Flow::Continue;
        }
        let peer = {
            let mut st = self.state();
            let Some(p) = st
                .rooms
                .get_mut(room_id)
                .and_then(|r| r.participants.get_mut(pid))
            else {
                return Flow::Continue;
            };
            if p.pending_offer.take().is_none() || !p.has_peer {
                conn.me.send(&error_msg(
                    ErrorCode::NoPendingOffer,
                    "no offer is waiting for an answer",
                ));
                return Flow::Continue;
            }
            p.peer
        };
        if let Err(e) = self.inner.sfu.accept_answer(peer, sdp).await {
            tracing::info!(error = %e, "sfu refused an answer");
            conn.me.send(&error_msg(
                ErrorCode::SdpRejected,
                "the answer was not accepted",
            ));
        }
        Flow::Continue
    }

    /// `video_size`: tells the SFU at what size this participant shows another one's video.
    async fn on_video_size(
        &self,
        conn: &Conn,
        room_id: &str,
        pid: &str,
        other: &str,
        width: u32,
        height: u32,
    ) {
        if width > MAX_VIDEO_DIMENSION || height > MAX_VIDEO_DIMENSION {
            conn.me.send(&error_msg(
                ErrorCode::InvalidMessage,
                "width and height must be at most 16384",
            ));
            return;
        }
        let peers = {
            let st = self.state();
            st.rooms.get(room_id).and_then(|room| {
                let me = room.participants.get(pid)?;
                let them = room.participants.get(other).filter(|p| p.id != pid)?;
                Some((me.peer, me.has_peer, them.peer))
            })
        };
        let Some((me, has_peer, them)) = peers else {
            conn.me.send(&error_msg(
                ErrorCode::NotFound,
                "no other participant with this id in the room",
            ));
            return;
        };
        if !has_peer {
            // No media connection yet: nothing to size; the client sends sizes again for the
            // tiles it shows once media flows.
            return;
        }
        if let Err(e) = self.inner.sfu.set_video_size(me, them, width, height).await {
            // The other participant's media is not (or no longer) there: harmless.
            tracing::debug!(error = %e, "video size not applied");
        }
    }

    /// Carries the SFU's events about one peer to the signalling side until the peer is gone.
    async fn pump_sfu_events(
        &self,
        room_id: String,
        pid: String,
        peer: PeerId,
        mut rx: mpsc::UnboundedReceiver<SfuEvent>,
    ) {
        while let Some(ev) = rx.recv().await {
            let mut st = self.state();
            let Some(room) = st.rooms.get_mut(&room_id) else {
                return;
            };
            let Some(p) = room.participants.get_mut(&pid) else {
                return;
            };
            if p.peer != peer || !p.has_peer {
                return;
            }
            match ev {
                SfuEvent::Offer { sdp } => {
                    p.pending_offer = Some(sdp.clone());
                    if let Some(c) = &p.conn {
                        c.send(&ServerMessage::Offer { sdp });
                    }
                }
                SfuEvent::TrackPublished { mid, kind } => {
                    let kind = match kind {
                        confidant_sfu::MediaKind::Audio => Kind::Audio,
                        confidant_sfu::MediaKind::Video => Kind::Video,
                    };
                    p.tracks.push((mid.clone(), kind));
                    let msg = ServerMessage::TrackPublished {
                        participant_id: pid.clone(),
                        mid,
                        kind,
                    };
                    broadcast_except(room, &pid, &msg);
                }
                SfuEvent::Connected => tracing::debug!(participant = %pid, "media connected"),
                SfuEvent::ActiveSpeaker => {
                    let msg = ServerMessage::ActiveSpeaker {
                        participant_id: pid.clone(),
                    };
                    room.active_speaker = Some(pid.clone());
                    broadcast(room, &msg);
                }
                SfuEvent::Disconnected => {
                    // The SFU already freed the peer (ICE or DTLS gave up). Its tracks are gone
                    // for the others; the client may send a fresh `offer` to reconnect media.
                    tracing::info!(participant = %pid, "media transport gone");
                    p.has_peer = false;
                    p.pending_offer = None;
                    // Its own browser may still think the path is up (no media, no error)
                    // until consent freshness fails; a client that resumes later is told then.
                    p.media_lost = true;
                    if let Some(c) = &p.conn {
                        c.send(&ServerMessage::MediaLost {});
                    }
                    let gone = std::mem::take(&mut p.tracks);
                    for (mid, _) in gone {
                        let msg = ServerMessage::TrackUnpublished {
                            participant_id: pid.clone(),
                            mid,
                        };
                        broadcast_except(room, &pid, &msg);
                    }
                    return;
                }
            }
        }
    }

    async fn on_chat(&self, conn: &Conn, room_id: &str, pid: &str, text: String) {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_CHAT_CHARS {
            conn.me.send(&error_msg(
                ErrorCode::InvalidMessage,
                format!("chat text must be 1-{MAX_CHAT_CHARS} characters"),
            ));
            return;
        }
        let (name, role) = {
            let st = self.state();
            match st.rooms.get(room_id).and_then(|r| r.participants.get(pid)) {
                Some(p) => (p.name.clone(), p.role),
                None => return,
            }
        };
        let msg = ChatMessage {
            id: uuid::Uuid::new_v4().to_string(),
            participant_id: pid.to_owned(),
            role,
            name: Some(name),
            text,
            sent_at: rfc3339(self.inner.clock.wall()),
        };
        let sealed_body = SealedChat {
            participant_id: msg.participant_id.clone(),
            role: Some(role),
            text: msg.text.clone(),
        };
        // SealedChat holds only strings: always serialisable.
        let plain = serde_json::to_vec(&sealed_body).expect("SealedChat serialises");
        let stored = StoredChat {
            id: msg.id.clone(),
            room: room_id.to_owned(),
            sealed: self
                .inner
                .chat_key
                .seal(&plain, &chat_aad(room_id, &msg.id)),
            sent_at: msg.sent_at.clone(),
        };
        // Stored before it is shown: a message everyone saw is never missing from history.
        match self
            .inner
            .directory
            .save_chat(stored, self.inner.config.chat_cap)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                conn.me.send(&error_msg(
                    ErrorCode::ChatFull,
                    "this session's chat is full; the message was not sent",
                ));
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a chat message failed");
                conn.me.send(&error_msg(
                    ErrorCode::Internal,
                    "the message could not be stored; not sent",
                ));
                return;
            }
        }
        let st = self.state();
        if let Some(room) = st.rooms.get(room_id) {
            broadcast(room, &ServerMessage::Chat(msg));
        }
    }

    /// `chat_history` from a client: the page before one of the room's messages, of the part
    /// of the chat this participant sees.
    async fn on_chat_history(&self, conn: &Conn, room_id: &str, pid: &str, before: String) {
        let page = if before.len() > MAX_ID_BYTES {
            Ok(None)
        } else {
            let who = {
                let st = self.state();
                st.rooms
                    .get(room_id)
                    .and_then(|r| r.participants.get(pid))
                    .map(|p| (p.role, p.admitted_at.clone()))
            };
            let Some((role, admitted_at)) = who else {
                return;
            };
            match self.gap_for(room_id, role, admitted_at.as_deref()).await {
                Ok(gap) => self.load_page(room_id, Some(&before), gap.as_ref()).await,
                Err(e) => Err(e),
            }
        };
        match page {
            Ok(Some((page, more))) => {
                let st = self.state();
                let room = st.rooms.get(room_id);
                let messages = page.into_iter().map(|m| m.named(room)).collect();
                conn.me.send(&ServerMessage::ChatHistory {
                    messages,
                    more,
                    before: Some(before),
                });
            }
            Ok(None) => conn.me.send(&error_msg(
                ErrorCode::NotFound,
                "no chat message with this id in the room",
            )),
            Err(e) => {
                tracing::error!(error = %e, "loading chat history failed");
                conn.me
                    .send(&error_msg(ErrorCode::Internal, "server error"));
            }
        }
    }

    /// `chat_share_history` from a client: the host shows everyone the chat so far, also the
    /// guests admitted later. Everyone hears of it (`chat_shared`); the guests in the room get
    /// their first page afresh, now with the earlier messages.
    async fn on_chat_share_history(&self, conn: &Conn, room_id: &str, pid: &str) {
        if !self.is_host(room_id, pid) {
            conn.me.send(&error_msg(
                ErrorCode::Forbidden,
                "only the counsellor can share the chat history",
            ));
            return;
        }
        let until = rfc3339(self.inner.clock.wall());
        if let Err(e) = self.inner.directory.share_chat(room_id, &until).await {
            tracing::error!(error = %e, "sharing the chat history failed");
            conn.me
                .send(&error_msg(ErrorCode::Internal, "server error"));
            return;
        }
        // Every guest in the room was admitted by now, so none has a gap left.
        let (page, more) = match self.load_page(room_id, None, None).await {
            Ok(page) => page.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "loading chat history failed");
                conn.me
                    .send(&error_msg(ErrorCode::Internal, "server error"));
                return;
            }
        };
        let st = self.state();
        let Some(room) = st.rooms.get(room_id) else {
            return;
        };
        broadcast(room, &ServerMessage::ChatShared { until });
        let messages: Vec<ChatMessage> = page.into_iter().map(|m| m.named(Some(room))).collect();
        let history = ServerMessage::ChatHistory {
            messages,
            more,
            before: None,
        };
        for p in room.participants.values().filter(|p| p.role == Role::Guest) {
            if let Some(c) = &p.conn {
                c.send(&history);
            }
        }
        tracing::info!(room = room_id, "chat history shared");
    }

    /// The part of `room_id`'s chat a participant with `role`, admitted at `admitted_at`, does
    /// not see: nothing for a host; for a guest what came before its admission and after the
    /// latest share.
    async fn gap_for(
        &self,
        room_id: &str,
        role: Role,
        admitted_at: Option<&str>,
    ) -> Result<Option<ChatGap>, Error> {
        if role == Role::Host {
            return Ok(None);
        }
        // A guest always has an admission time; without one, it sees only what comes now.
        let admitted_at = admitted_at
            .map(str::to_owned)
            .unwrap_or_else(|| rfc3339(self.inner.clock.wall()));
        let shared_until = self.inner.directory.chat_shared_until(room_id).await?;
        if shared_until.as_deref() >= Some(admitted_at.as_str()) {
            return Ok(None);
        }
        Ok(Some(ChatGap {
            shared_until,
            admitted_at,
        }))
    }

    /// One page of a room's chat, oldest first: the latest messages before `before` (the
    /// latest of all when `None`) outside `gap`, at most [`CHAT_PAGE_MESSAGES`] and about
    /// [`CHAT_PAGE_BYTES`] of text, and whether older ones exist. `None` if `before` is not a
    /// message of the room.
    async fn load_page(
        &self,
        room_id: &str,
        before: Option<&str>,
        gap: Option<&ChatGap>,
    ) -> Result<Option<(Vec<OpenedChat>, bool)>, Error> {
        let Some(mut rows) = self
            .inner
            .directory
            .load_chat(room_id, before, gap, CHAT_PAGE_MESSAGES + 1)
            .await?
        else {
            return Ok(None);
        };
        let mut more = rows.len() > CHAT_PAGE_MESSAGES;
        if more {
            // One more than a page was asked for, to learn whether older ones exist.
            rows.remove(0);
        }
        let mut page = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        // Newest first, so that a page cut short by its size keeps the latest messages.
        for row in rows.into_iter().rev() {
            let plain = self
                .inner
                .chat_key
                .open(&row.sealed, &chat_aad(room_id, &row.id))?;
            let body: SealedChat = serde_json::from_slice(&plain)
                .map_err(|e| Error::Directory(format!("chat row {}: {e}", row.id)))?;
            bytes += body.text.len();
            if bytes > CHAT_PAGE_BYTES && !page.is_empty() {
                more = true;
                break;
            }
            page.push(OpenedChat {
                id: row.id,
                participant_id: body.participant_id,
                role: body.role.unwrap_or(Role::Guest),
                text: body.text,
                sent_at: row.sent_at,
            });
        }
        page.reverse();
        Ok(Some((page, more)))
    }
}

/// `active_speaker` for the room's current speaker, if it has one who is still in the room.
fn current_speaker(room: &Room) -> Option<ServerMessage> {
    room.active_speaker
        .as_ref()
        .filter(|id| room.participants.contains_key(*id))
        .map(|id| ServerMessage::ActiveSpeaker {
            participant_id: id.clone(),
        })
}

fn new_room() -> Room {
    Room {
        sfu_room: RoomId(rand::random()),
        participants: HashMap::new(),
        lobby: Vec::new(),
        names: HashMap::new(),
        active_speaker: None,
    }
}

fn drop_room_if_empty(st: &mut State, room_id: &str) {
    if st
        .rooms
        .get(room_id)
        .is_some_and(|r| r.participants.is_empty() && r.lobby.is_empty())
    {
        st.rooms.remove(room_id);
    }
}

fn lobby_message(room: &Room) -> ServerMessage {
    ServerMessage::Lobby {
        waiting: room
            .lobby
            .iter()
            .map(|w| LobbyEntry {
                lobby_id: w.lobby_id.clone(),
                name: w.name.clone(),
                since: w.since.clone(),
                e2ee: w.e2ee,
            })
            .collect(),
    }
}

fn notify_hosts_of_lobby(room: &Room) {
    let msg = lobby_message(room);
    for p in room.participants.values().filter(|p| p.role == Role::Host) {
        if let Some(c) = &p.conn {
            c.send(&msg);
        }
    }
}

fn broadcast(room: &Room, msg: &ServerMessage) {
    let text = encode(msg);
    for p in room.participants.values() {
        if let Some(c) = &p.conn {
            c.push(Outbound::Text(text.clone()));
        }
    }
}

fn broadcast_except(room: &Room, except: &str, msg: &ServerMessage) {
    let text = encode(msg);
    for p in room.participants.values().filter(|p| p.id != except) {
        if let Some(c) = &p.conn {
            c.push(Outbound::Text(text.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bucket` messages evenly at `per_second` for `seconds`; returns how many were
    /// dropped before it counted as a flood, or `None` if it never did.
    fn drops_until_flood(
        bucket: &mut Bucket,
        start: Instant,
        per_second: u32,
        seconds: u32,
    ) -> Option<u32> {
        let step = Duration::from_secs(1) / per_second;
        let mut dropped = 0;
        for i in 0..per_second * seconds {
            if !bucket.take(start + step * i) {
                dropped += 1;
            }
            if bucket.flooded() {
                return Some(dropped);
            }
        }
        None
    }

    #[test]
    fn a_flood_far_above_the_limit_counts_as_a_flood_although_single_tokens_refill() {
        let start = Instant::now();
        let mut b = Bucket::new(start, 20, 60);
        // 450 messages/s: one in 22 passes on a refilled token; that must not reset the count.
        assert_eq!(
            drops_until_flood(&mut b, start, 450, 10),
            Some(MAX_RATE_LIMITED_IN_A_ROW)
        );
    }

    #[test]
    fn any_sustained_rate_above_the_limit_is_a_flood() {
        for rate in [21, 25, 40, 100, 1000] {
            let start = Instant::now();
            let mut b = Bucket::new(start, 20, 60);
            assert!(
                drops_until_flood(&mut b, start, rate, 120).is_some(),
                "{rate}/s was never closed"
            );
        }
    }

    #[test]
    fn the_sustained_rate_and_bursts_with_pauses_are_never_a_flood() {
        let start = Instant::now();
        let mut b = Bucket::new(start, 20, 60);
        assert_eq!(drops_until_flood(&mut b, start, 20, 60), None);
        // Bursts of 100 at once (40 dropped each), then a pause that refills the burst.
        let mut b = Bucket::new(start, 20, 60);
        for round in 0..10u32 {
            let at = start + Duration::from_secs(4) * round;
            let passed = (0..100).filter(|_| b.take(at)).count();
            assert_eq!(passed, 60);
            assert!(!b.flooded(), "round {round}");
        }
    }
}
