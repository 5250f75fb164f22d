//! The hub through its connection driver, with a real SFU on loopback and an in-memory
//! directory (the SQLite directory is tested through the web crate).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confidant_signaling::protocol::{ErrorCode, Role, ServerMessage};
use confidant_signaling::{
    BoxFuture, ChatCap, ChatGap, Clock, Directory, Error, Hub, HubConfig, Inbound, LinkTarget,
    ManualClock, Outbound, RoomPolicy, StoredChat, SystemClock, Tokens,
};
use futures::channel::mpsc;
use futures::StreamExt;
use serde_json::json;

const KEY: [u8; 32] = [9u8; 32];
const ROOM: &str = "room-a";
const LINK: &str = "link-for-room-a";
/// The login session under which test host tokens are issued.
const LOGIN: &str = "login-1";

#[derive(Default)]
struct MemDirectory {
    links: Mutex<HashMap<String, String>>,
    ended: Mutex<HashSet<String>>,
    allow_unencrypted: Mutex<bool>,
    chats: Mutex<Vec<StoredChat>>,
    logged_out: Mutex<HashSet<String>>,
    shared_until: Mutex<HashMap<String, String>>,
}

impl Directory for MemDirectory {
    fn resolve_link<'a>(
        &'a self,
        link: &'a str,
    ) -> BoxFuture<'a, Result<Option<LinkTarget>, Error>> {
        Box::pin(async move {
            let room = self.links.lock().unwrap().get(link).cloned();
            let policy = RoomPolicy {
                allow_unencrypted: *self.allow_unencrypted.lock().unwrap(),
            };
            Ok(room
                .filter(|r| !self.ended.lock().unwrap().contains(r))
                .map(|room| LinkTarget { room, policy }))
        })
    }
    fn room_policy<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<RoomPolicy>, Error>> {
        Box::pin(async move {
            let policy = RoomPolicy {
                allow_unencrypted: *self.allow_unencrypted.lock().unwrap(),
            };
            Ok((!self.ended.lock().unwrap().contains(room)).then_some(policy))
        })
    }
    fn login_active<'a>(&'a self, login: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(!self.logged_out.lock().unwrap().contains(login)) })
    }
    fn end_room<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.ended.lock().unwrap().insert(room.to_owned());
            Ok(())
        })
    }
    fn save_chat<'a>(
        &'a self,
        chat: StoredChat,
        cap: ChatCap,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let mut chats = self.chats.lock().unwrap();
            let (count, bytes) = chats
                .iter()
                .filter(|c| c.room == chat.room)
                .fold((0u32, 0u64), |(n, b), c| (n + 1, b + c.sealed.len() as u64));
            if count >= cap.max_messages || bytes + chat.sealed.len() as u64 > cap.max_bytes {
                return Ok(false);
            }
            chats.push(chat);
            Ok(true)
        })
    }
    fn load_chat<'a>(
        &'a self,
        room: &'a str,
        before: Option<&'a str>,
        gap: Option<&'a ChatGap>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredChat>>, Error>> {
        Box::pin(async move {
            let chats = self.chats.lock().unwrap();
            let mine: Vec<&StoredChat> = chats.iter().filter(|c| c.room == room).collect();
            let end = match before {
                None => mine.len(),
                Some(id) => match mine.iter().position(|c| c.id == id) {
                    Some(i) => i,
                    None => return Ok(None),
                },
            };
            let hidden = |c: &StoredChat| {
                gap.is_some_and(|g| {
                    c.sent_at.as_str() > g.shared_until.as_deref().unwrap_or("")
                        && c.sent_at < g.admitted_at
                })
            };
            let seen: Vec<&StoredChat> =
                mine[..end].iter().copied().filter(|c| !hidden(c)).collect();
            let start = seen.len().saturating_sub(limit);
            Ok(Some(seen[start..].iter().map(|c| (*c).clone()).collect()))
        })
    }
    fn share_chat<'a>(&'a self, room: &'a str, until: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let mut shared = self.shared_until.lock().unwrap();
            let at = shared.entry(room.to_owned()).or_default();
            if until > at.as_str() {
                *at = until.to_owned();
            }
            Ok(())
        })
    }
    fn chat_shared_until<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(async move { Ok(self.shared_until.lock().unwrap().get(room).cloned()) })
    }
}

struct Setup {
    hub: Hub,
    dir: Arc<MemDirectory>,
    tokens: Tokens,
}

async fn setup_with(config: HubConfig) -> Setup {
    setup_with_clock(config, Arc::new(SystemClock)).await
}

async fn setup_with_clock(config: HubConfig, clock: Arc<dyn Clock>) -> Setup {
    let sfu = confidant_sfu::start(confidant_sfu::ShellConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        advertised: "127.0.0.1:0".parse().unwrap(),
        tcp: None,
        workers: 0,
        loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        udp_gso: true,
    })
    .await
    .unwrap();
    let dir = Arc::new(MemDirectory::default());
    dir.links.lock().unwrap().insert(LINK.into(), ROOM.into());
    let tokens = Tokens::new(&KEY);
    let chat_key = confidant_vault::Vault::new([3u8; 32]).purpose_key("chat");
    let hub = Hub::with_clock(config, sfu, tokens.clone(), chat_key, dir.clone(), clock);
    Setup { hub, dir, tokens }
}

async fn setup() -> Setup {
    setup_with(HubConfig::default()).await
}

struct Client {
    tx: mpsc::UnboundedSender<Result<Inbound, Infallible>>,
    rx: mpsc::UnboundedReceiver<Outbound>,
}

impl Client {
    fn connect(hub: &Hub) -> Client {
        let (in_tx, in_rx) = mpsc::unbounded();
        let (out_tx, out_rx) = mpsc::unbounded();
        let hub = hub.clone();
        tokio::spawn(async move { hub.serve(out_tx, in_rx).await });
        Client {
            tx: in_tx,
            rx: out_rx,
        }
    }

    fn send_raw(&self, text: impl Into<String>) {
        self.tx
            .unbounded_send(Ok(Inbound::Text(text.into())))
            .unwrap();
    }

    fn send(&self, v: serde_json::Value) {
        self.send_raw(v.to_string());
    }

    /// The next frame, within a bounded wait.
    async fn frame(&mut self) -> Outbound {
        tokio::time::timeout(Duration::from_secs(10), self.rx.next())
            .await
            .expect("no frame within 10 s")
            .expect("connection ended without a close frame")
    }

    async fn msg(&mut self) -> ServerMessage {
        match self.frame().await {
            Outbound::Text(t) => serde_json::from_str(&t).unwrap(),
            Outbound::Close(code, reason) => {
                panic!("closed ({code} {reason}) while a message was expected")
            }
        }
    }

    /// Skips messages until one of type `ty` (tests that do not care about interleaved events).
    async fn until(&mut self, ty: &str) -> serde_json::Value {
        for _ in 0..50 {
            let m = serde_json::to_value(self.msg().await).unwrap();
            if m["type"] == ty {
                return m;
            }
        }
        panic!("no {ty} within 50 messages");
    }

    async fn error_code(&mut self) -> ErrorCode {
        match self.msg().await {
            ServerMessage::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    async fn closed(&mut self) -> u16 {
        match self.frame().await {
            Outbound::Close(code, _) => code,
            Outbound::Text(t) => panic!("expected close, got {t}"),
        }
    }
}

async fn host(s: &Setup) -> (Client, String) {
    let mut c = Client::connect(&s.hub);
    let token = s.hub.host_token(ROOM, "Dr. Berg", LOGIN).unwrap();
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    let joined = c.until("joined").await;
    assert_eq!(joined["role"], "host");
    (c, joined["participant_id"].as_str().unwrap().to_owned())
}

/// Knocks, gets admitted by `host`, joins; returns the guest and its participant id.
async fn guest(s: &Setup, host: &mut Client, name: &str) -> (Client, String) {
    let (g, id, _) = guest_with_token(s, host, name).await;
    (g, id)
}

/// [`guest`], and the join token it was admitted with.
async fn guest_with_token(s: &Setup, host: &mut Client, name: &str) -> (Client, String, String) {
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "knock", "v": 1, "link": LINK, "name": name}));
    let waiting = g.until("lobby_waiting").await;
    let lobby_id = waiting["lobby_id"].as_str().unwrap().to_owned();
    // Hosts get the whole lobby on every change; wait for the one that lists this client.
    let mut listed = false;
    for _ in 0..10 {
        let lobby = host.until("lobby").await;
        if lobby["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["lobby_id"] == lobby_id.as_str() && w["name"] == name)
        {
            listed = true;
            break;
        }
    }
    assert!(listed, "{name} never appeared in the host's lobby");
    host.send(json!({"type": "admit", "lobby_id": lobby_id}));
    let admitted = g.until("admitted").await;
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": admitted["token"]}));
    let joined = g.until("joined").await;
    assert_eq!(joined["role"], "guest");
    assert_eq!(joined["name"], name);
    let token = admitted["token"].as_str().unwrap().to_owned();
    (
        g,
        joined["participant_id"].as_str().unwrap().to_owned(),
        token,
    )
}

/// The host shows the chat so far to every guest; returns once the host heard of it.
async fn share_history(host: &mut Client) {
    host.send(json!({"type": "chat_share_history"}));
    host.until("chat_shared").await;
}

#[tokio::test]
async fn malformed_json_is_bad_json_and_connection_stays() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.send_raw("{not json");
    assert_eq!(c.error_code().await, ErrorCode::BadJson);
    c.send_raw("[1,2,3]");
    assert_eq!(c.error_code().await, ErrorCode::BadJson);
    c.send(json!({"type": "ping"}));
    assert_eq!(c.msg().await, ServerMessage::Pong {});
}

#[tokio::test]
async fn unknown_type_is_reported_as_such() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "teleport"}));
    assert_eq!(c.error_code().await, ErrorCode::UnknownType);
}

#[tokio::test]
async fn missing_or_extra_fields_are_invalid_message() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "knock", "v": 1, "link": LINK}));
    assert_eq!(c.error_code().await, ErrorCode::InvalidMessage);
    c.send(json!({"type": "ping", "extra": true}));
    assert_eq!(c.error_code().await, ErrorCode::InvalidMessage);
}

#[tokio::test]
async fn a_frame_the_websocket_layer_refused_as_too_large_gets_the_same_answer() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.tx.unbounded_send(Ok(Inbound::TooLarge)).unwrap();
    assert_eq!(c.error_code().await, ErrorCode::TooLarge);
    assert_eq!(c.closed().await, 1009);
}

#[tokio::test]
async fn oversize_message_is_refused_and_closes() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    let big = format!(
        "{{\"type\":\"chat\",\"text\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    c.send_raw(big);
    assert_eq!(c.error_code().await, ErrorCode::TooLarge);
    assert_eq!(c.closed().await, 1009);
}

#[tokio::test]
async fn binary_frame_is_refused_and_closes() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.tx.unbounded_send(Ok(Inbound::Binary(10))).unwrap();
    assert_eq!(c.error_code().await, ErrorCode::BinaryNotSupported);
    assert_eq!(c.closed().await, 1003);
}

#[tokio::test]
async fn room_message_before_join_is_not_joined() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    for m in [
        json!({"type": "chat", "text": "hi"}),
        json!({"type": "offer", "sdp": "v=0"}),
        json!({"type": "admit", "lobby_id": "x"}),
        json!({"type": "e2ee", "payload": "x"}),
    ] {
        c.send(m);
        assert_eq!(c.error_code().await, ErrorCode::NotJoined);
    }
}

#[tokio::test]
async fn wrong_protocol_version_closes() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "knock", "v": 99, "link": LINK, "name": "A"}));
    assert_eq!(c.error_code().await, ErrorCode::UnsupportedVersion);
    assert_eq!(c.closed().await, 1003);
}

#[tokio::test]
async fn expired_token_is_refused() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = s
        .tokens
        .issue_at(ROOM, "12345", Role::Guest, "A", now - 3600, now - 300)
        .unwrap();
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    assert_eq!(c.error_code().await, ErrorCode::TokenExpired);
    assert_eq!(c.closed().await, 1008);
}

#[tokio::test]
async fn token_for_room_a_does_not_open_room_b() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    let token = s.hub.host_token(ROOM, "Dr. Berg", LOGIN).unwrap();
    c.send(json!({"type": "join", "v": 1, "room": "room-b", "token": token}));
    assert_eq!(c.error_code().await, ErrorCode::WrongRoom);
    assert_eq!(c.closed().await, 1008);
    assert_eq!(s.hub.stats().participants, 0);
}

#[tokio::test]
async fn forged_token_is_invalid() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    let token = Tokens::new(&[1u8; 32])
        .issue(ROOM, "5", Role::Host, "Mallory", Duration::from_secs(60))
        .unwrap();
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    assert_eq!(c.error_code().await, ErrorCode::InvalidToken);
}

#[tokio::test]
async fn unknown_link_is_link_invalid() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "knock", "v": 1, "link": "nope", "name": "A"}));
    assert_eq!(c.error_code().await, ErrorCode::LinkInvalid);
    assert_eq!(c.closed().await, 1008);
}

#[tokio::test]
async fn bad_names_are_refused() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    // Control characters, and the bidi overrides and isolates that would make a lobby entry
    // show another name than the one typed ("Trojan Source"), as the booking forms refuse.
    let bidi: Vec<String> = ('\u{202A}'..='\u{202E}')
        .chain('\u{2066}'..='\u{2069}')
        .map(|c| format!("Alex{c}xelA"))
        .collect();
    let plain = ["", "   ", "a\u{0007}b", &"n".repeat(81)];
    for name in plain.iter().copied().chain(bidi.iter().map(String::as_str)) {
        c.send(json!({"type": "knock", "v": 1, "link": LINK, "name": name}));
        assert_eq!(
            c.error_code().await,
            ErrorCode::InvalidName,
            "name {name:?}"
        );
    }
}

#[tokio::test]
async fn flood_is_rate_limited_then_closed() {
    let s = setup_with(HubConfig {
        rate_per_second: 1,
        rate_burst: 5,
        ..HubConfig::default()
    })
    .await;
    let mut c = Client::connect(&s.hub);
    for _ in 0..200 {
        c.send(json!({"type": "ping"}));
    }
    let mut pongs = 0;
    let mut limited = 0;
    loop {
        match c.frame().await {
            Outbound::Text(t) => {
                let m: ServerMessage = serde_json::from_str(&t).unwrap();
                match m {
                    ServerMessage::Pong {} => pongs += 1,
                    ServerMessage::Error {
                        code: ErrorCode::RateLimited,
                        ..
                    } => limited += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            Outbound::Close(code, _) => {
                assert_eq!(code, 1008);
                break;
            }
        }
    }
    assert!((5..=7).contains(&pongs), "pongs {pongs}");
    assert!(limited >= 1);
}

#[tokio::test]
async fn silent_connection_times_out() {
    let s = setup_with(HubConfig {
        idle_timeout: Duration::from_millis(200),
        ..HubConfig::default()
    })
    .await;
    let mut c = Client::connect(&s.hub);
    assert_eq!(c.error_code().await, ErrorCode::IdleTimeout);
    assert_eq!(c.closed().await, 1008);
}

#[tokio::test]
async fn lobby_admit_and_reject() {
    let s = setup().await;
    let (mut h, host_id) = host(&s).await;
    let (mut g, gid) = guest(&s, &mut h, "Alex").await;
    let joined = h.until("participant_joined").await;
    assert_eq!(joined["participant"]["participant_id"], gid.as_str());
    assert_ne!(gid, host_id);

    // A second client is rejected.
    let mut r = Client::connect(&s.hub);
    r.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Robin"}));
    let waiting = r.until("lobby_waiting").await;
    h.until("lobby").await;
    // A guest may not admit or reject.
    g.send(json!({"type": "reject", "lobby_id": waiting["lobby_id"]}));
    assert_eq!(g.until("error").await["code"], "forbidden");
    h.send(json!({"type": "reject", "lobby_id": waiting["lobby_id"]}));
    assert_eq!(r.msg().await, ServerMessage::Rejected {});
    assert_eq!(r.closed().await, 1000);
    let mut emptied = false;
    for _ in 0..5 {
        if h.until("lobby").await["waiting"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            emptied = true;
            break;
        }
    }
    assert!(emptied, "the rejected client stayed in the lobby");
    h.send(json!({"type": "admit", "lobby_id": "no-such-entry"}));
    assert_eq!(h.until("error").await["code"], "not_found");
}

#[tokio::test]
async fn chat_is_broadcast_sealed_at_rest_and_replayed_to_later_joiners() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (mut g, gid) = guest(&s, &mut h, "Alex").await;
    g.send(json!({"type": "chat", "text": "a very private sentence"}));
    let at_host = h.until("chat").await;
    let at_guest = g.until("chat").await;
    assert_eq!(at_host["text"], "a very private sentence");
    assert_eq!(at_host["participant_id"], gid.as_str());
    assert_eq!(at_host, at_guest);

    let stored = s.dir.chats.lock().unwrap().clone();
    assert_eq!(stored.len(), 1);
    let raw = String::from_utf8_lossy(&stored[0].sealed);
    assert!(
        !raw.contains("private") && !raw.contains("Alex"),
        "chat stored in clear"
    );

    share_history(&mut h).await;
    let (mut late, _) = guest(&s, &mut h, "Kim").await;
    let history = late.until("chat_history").await;
    assert_eq!(history["messages"][0]["text"], "a very private sentence");
    assert_eq!(history["messages"][0]["name"], "Alex");

    g.send(json!({"type": "chat", "text": "   "}));
    assert_eq!(g.until("error").await["code"], "invalid_message");
}

#[tokio::test]
async fn e2ee_payload_is_relayed_unchanged_to_one_or_all() {
    let s = setup().await;
    let (mut h, hid) = host(&s).await;
    let (mut a, aid) = guest(&s, &mut h, "A").await;
    let (mut b, _bid) = guest(&s, &mut h, "B").await;
    a.send(json!({"type": "e2ee", "to": hid, "payload": "opaque-1"}));
    let m = h.until("e2ee").await;
    assert_eq!(
        (m["from"].as_str().unwrap(), m["payload"].as_str().unwrap()),
        (aid.as_str(), "opaque-1")
    );
    a.send(json!({"type": "e2ee", "payload": "opaque-all"}));
    assert_eq!(b.until("e2ee").await["payload"], "opaque-all");
    assert_eq!(h.until("e2ee").await["payload"], "opaque-all");
    a.send(json!({"type": "e2ee", "to": "nobody", "payload": "x"}));
    assert_eq!(a.until("error").await["code"], "not_found");
}

#[tokio::test]
async fn resume_within_grace_keeps_identity_and_later_drop_removes() {
    let s = setup_with(HubConfig {
        resume_grace: Duration::from_millis(400),
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    let (g, gid) = guest(&s, &mut h, "Alex").await;
    // Find the resume token: rejoin flow gives it in `joined`; re-run a guest to capture it.
    drop(g);
    let upd = h.until("participant_updated").await;
    assert_eq!(upd["participant"]["connected"], false);
    // Without the secret nothing resumes.
    let mut m = Client::connect(&s.hub);
    m.send(json!({"type": "resume", "v": 1, "participant_id": gid, "resume_token": "guess"}));
    assert_eq!(m.error_code().await, ErrorCode::ResumeFailed);
    let left = h.until("participant_left").await;
    assert_eq!(left["participant_id"], gid.as_str());
    assert_eq!(left["reason"], "disconnected");
    assert_eq!(s.hub.stats().participants, 1);
}

#[tokio::test]
async fn resume_with_secret_reattaches_same_participant() {
    let s = setup_with(HubConfig {
        resume_grace: Duration::from_secs(20),
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Alex"}));
    let lobby_id = g.until("lobby_waiting").await["lobby_id"].clone();
    h.until("lobby").await;
    h.send(json!({"type": "admit", "lobby_id": lobby_id}));
    let token = g.until("admitted").await["token"].clone();
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    let joined = g.until("joined").await;
    let (gid, secret) = (
        joined["participant_id"].clone(),
        joined["resume_token"].clone(),
    );
    drop(g);
    assert_eq!(
        h.until("participant_updated").await["participant"]["connected"],
        false
    );
    let mut g2 = Client::connect(&s.hub);
    g2.send(json!({"type": "resume", "v": 1, "participant_id": gid, "resume_token": secret}));
    let again = g2.until("joined").await;
    assert_eq!(again["participant_id"], gid);
    let back = h.until("participant_updated").await;
    assert_eq!(back["participant"]["connected"], true);
    g2.send(json!({"type": "chat", "text": "back"}));
    assert_eq!(h.until("chat").await["participant_id"], gid);
}

#[tokio::test]
async fn only_the_host_ends_the_session_and_everyone_is_disconnected() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (mut g, _) = guest(&s, &mut h, "Alex").await;
    let mut w = Client::connect(&s.hub);
    w.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Waiting"}));
    w.until("lobby_waiting").await;
    g.send(json!({"type": "end_session"}));
    assert_eq!(g.until("error").await["code"], "forbidden");
    h.send(json!({"type": "end_session"}));
    for c in [&mut h, &mut g, &mut w] {
        let ended = c.until("session_ended").await;
        assert_eq!(ended["reason"], "ended_by_host");
        assert_eq!(c.closed().await, 1000);
    }
    assert!(s.dir.ended.lock().unwrap().contains(ROOM));
    assert_eq!(s.hub.stats().participants, 0);
    // The link no longer opens anything.
    let mut late = Client::connect(&s.hub);
    late.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Late"}));
    assert_eq!(late.error_code().await, ErrorCode::LinkInvalid);
}

#[tokio::test]
async fn leaving_tells_the_others() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (g, gid) = guest(&s, &mut h, "Alex").await;
    g.send(json!({"type": "leave"}));
    let left = h.until("participant_left").await;
    assert_eq!(left["participant_id"], gid.as_str());
    assert_eq!(left["reason"], "left");
}

#[tokio::test]
async fn bad_sdp_is_sdp_rejected_not_a_panic() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    h.send(json!({"type": "offer", "sdp": "this is not sdp"}));
    assert_eq!(h.until("error").await["code"], "sdp_rejected");
    h.send(json!({"type": "answer", "sdp": "v=0"}));
    assert_eq!(h.until("error").await["code"], "no_pending_offer");
    h.send(json!({"type": "ping"}));
    h.until("pong").await;
}

#[tokio::test]
async fn unencrypted_client_is_refused_unless_the_counsellor_allows_it() {
    let s = setup().await;
    // Refused at the door by default: before waiting in the lobby.
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Old browser", "e2ee": false}));
    assert_eq!(c.error_code().await, ErrorCode::E2eeRequired);
    assert_eq!(c.closed().await, 1008);
    // And with a join token (e.g. one issued before the setting changed).
    let mut j = Client::connect(&s.hub);
    let token = s
        .tokens
        .issue(
            ROOM,
            "4242",
            Role::Guest,
            "Old browser",
            Duration::from_secs(60),
        )
        .unwrap();
    j.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token, "e2ee": false}));
    assert_eq!(j.error_code().await, ErrorCode::E2eeRequired);

    // Allowed: the host sees the waiting client is unencrypted, and everyone sees it once joined.
    *s.dir.allow_unencrypted.lock().unwrap() = true;
    let (mut h, _) = host(&s).await;
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Old browser", "e2ee": false}));
    let lobby_id = g.until("lobby_waiting").await["lobby_id"].clone();
    let mut seen = false;
    for _ in 0..10 {
        let lobby = h.until("lobby").await;
        if let Some(w) = lobby["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["lobby_id"] == lobby_id)
        {
            assert_eq!(w["e2ee"], false);
            seen = true;
            break;
        }
    }
    assert!(seen);
    h.send(json!({"type": "admit", "lobby_id": lobby_id}));
    let token = g.until("admitted").await["token"].clone();
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token, "e2ee": false}));
    g.until("joined").await;
    let joined = h.until("participant_joined").await;
    assert_eq!(joined["participant"]["e2ee"], false);
}

#[tokio::test]
async fn clients_that_say_nothing_about_e2ee_count_as_encrypting() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (_g, _) = guest(&s, &mut h, "Alex").await;
    assert_eq!(
        h.until("participant_joined").await["participant"]["e2ee"],
        true
    );
}

#[tokio::test]
async fn joined_carries_turn_credentials_for_that_participant_when_configured() {
    let s = setup_with(HubConfig {
        turn: Some(confidant_signaling::TurnConfig {
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            secret: b"shared".to_vec(),
            ttl: Duration::from_secs(600),
        }),
        ..HubConfig::default()
    })
    .await;
    let (mut h, host_id) = host(&s).await;
    let _ = &mut h;
    // `host()` consumed `joined`; a guest shows the shape, and a hub without TURN sends none.
    let (g, gid) = guest(&s, &mut h, "Alex").await;
    drop(g);
    let mut c = Client::connect(&s.hub);
    let token = s.hub.host_token(ROOM, "Dr. Berg", LOGIN).unwrap();
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    let joined = c.until("joined").await;
    let ice = &joined["ice_servers"][0];
    assert_eq!(ice["urls"][0], "turn:127.0.0.1:3478?transport=udp");
    let username = ice["username"].as_str().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, joined["participant_id"].as_str().unwrap());
    assert_ne!(who, host_id);
    assert_ne!(who, gid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry: u64 = expiry.parse().unwrap();
    assert!(expiry > now && expiry <= now + 600);
    assert_eq!(
        ice["credential"].as_str().unwrap().len(),
        28,
        "base64 of a 20-byte HMAC-SHA1"
    );

    let plain = setup().await;
    let mut p = Client::connect(&plain.hub);
    let token = plain.hub.host_token(ROOM, "Dr. Berg", LOGIN).unwrap();
    p.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    assert!(p.until("joined").await.get("ice_servers").is_none());
}

#[tokio::test]
async fn a_guest_token_joins_without_the_lobby_and_rooms_with_host_follow_the_host() {
    let s = setup().await;
    assert!(s.hub.rooms_with_host().is_empty());
    let (mut g, token) = {
        let (pid, token) = s.hub.guest_token(ROOM, "Kim Walker").unwrap();
        assert!(!pid.is_empty());
        (Client::connect(&s.hub), token)
    };
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    let joined = g.until("joined").await;
    assert_eq!(
        (joined["role"].as_str(), joined["name"].as_str()),
        (Some("guest"), Some("Kim Walker"))
    );
    // A guest alone does not make the room "with host".
    assert!(s.hub.rooms_with_host().is_empty());
    let (h, _) = host(&s).await;
    assert_eq!(s.hub.rooms_with_host(), vec![ROOM.to_owned()]);
    h.send(json!({"type": "leave"}));
    for _ in 0..250 {
        if s.hub.rooms_with_host().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.hub.rooms_with_host().is_empty());
    // A name the protocol would refuse is refused here too.
    assert!(s.hub.guest_token(ROOM, "").is_err());
    assert!(s.hub.guest_token(ROOM, "Kim\u{202E}reklaW").is_err());
    assert!(s.hub.guest_token(ROOM, &"x".repeat(81)).is_err());
}

#[tokio::test]
async fn video_size_is_checked_before_it_reaches_the_sfu() {
    let s = setup().await;
    let (mut h, hid) = host(&s).await;
    let (mut a, aid) = guest(&s, &mut h, "A").await;
    // Too large: named, connection stays.
    a.send(json!({"type": "video_size", "participant_id": hid, "width": 20000, "height": 10}));
    let e = a.until("error").await;
    assert_eq!(e["code"], "invalid_message");
    assert!(e["message"].as_str().unwrap().contains("width and height"));
    // Not a participant of this room, or oneself.
    a.send(json!({"type": "video_size", "participant_id": "123", "width": 640, "height": 360}));
    assert_eq!(a.until("error").await["code"], "not_found");
    a.send(json!({"type": "video_size", "participant_id": aid, "width": 640, "height": 360}));
    assert_eq!(a.until("error").await["code"], "not_found");
    // Missing fields are invalid like any other message.
    a.send(json!({"type": "video_size", "participant_id": hid}));
    assert_eq!(a.until("error").await["code"], "invalid_message");
    // A valid one before media flows is accepted silently: the next ping is answered first.
    a.send(json!({"type": "video_size", "participant_id": hid, "width": 640, "height": 360}));
    a.send(json!({"type": "ping"}));
    let next = a.msg().await;
    assert!(matches!(next, ServerMessage::Pong { .. }), "{next:?}");
}

/// Knocks as `name`, is admitted by `host`; returns the waiting connection and its join token
/// (not yet used).
async fn admitted(s: &Setup, host: &mut Client, name: &str) -> (Client, serde_json::Value) {
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "knock", "v": 1, "link": LINK, "name": name}));
    let lobby_id = g.until("lobby_waiting").await["lobby_id"].clone();
    for _ in 0..10 {
        let lobby = host.until("lobby").await;
        if lobby["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["lobby_id"] == lobby_id)
        {
            break;
        }
    }
    host.send(json!({"type": "admit", "lobby_id": lobby_id}));
    let token = g.until("admitted").await["token"].clone();
    (g, token)
}

/// A host and an admitted, joined guest "Alex" in a hub whose resume grace outlasts the test:
/// `(setup, host, guest, guest's join token, guest's joined message)`.
async fn host_and_joined_guest() -> (Setup, Client, Client, serde_json::Value, serde_json::Value) {
    let s = setup_with(HubConfig {
        resume_grace: Duration::from_secs(20),
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    let (mut g, token) = admitted(&s, &mut h, "Alex").await;
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    let joined = g.until("joined").await;
    (s, h, g, token, joined)
}

/// A fresh connection joining with `token` is refused as `invalid_token` and closed (1008).
async fn token_refused(s: &Setup, token: &serde_json::Value) {
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    assert_eq!(c.error_code().await, ErrorCode::InvalidToken);
    assert_eq!(c.closed().await, 1008);
}

#[tokio::test]
async fn removed_guest_is_told_closed_and_neither_token_brings_it_back() {
    let (s, mut h, mut g, token, joined) = host_and_joined_guest().await;
    let (gid, secret) = (
        joined["participant_id"].clone(),
        joined["resume_token"].clone(),
    );
    h.until("participant_joined").await;

    h.send(json!({"type": "remove", "participant_id": gid}));
    assert_eq!(g.until("removed").await, json!({"type": "removed"}));
    assert_eq!(g.closed().await, 1000);
    let left = h.until("participant_left").await;
    assert_eq!(
        (&left["participant_id"], left["reason"].as_str()),
        (&gid, Some("removed"))
    );
    assert_eq!(s.hub.stats().participants, 1);

    // The admission token (still within its 10 minutes) no longer joins.
    token_refused(&s, &token).await;
    // Nor does the resume secret, though the resume grace has not run out.
    let mut r = Client::connect(&s.hub);
    r.send(json!({"type": "resume", "v": 1, "participant_id": gid, "resume_token": secret}));
    assert_eq!(r.error_code().await, ErrorCode::ResumeFailed);
    assert_eq!(r.closed().await, 1008);
}

#[tokio::test]
async fn a_guest_removed_while_reconnecting_cannot_resume() {
    let (s, mut h, g, _, joined) = host_and_joined_guest().await;
    drop(g);
    assert_eq!(
        h.until("participant_updated").await["participant"]["connected"],
        false
    );
    h.send(json!({"type": "remove", "participant_id": joined["participant_id"]}));
    assert_eq!(h.until("participant_left").await["reason"], "removed");
    let mut r = Client::connect(&s.hub);
    r.send(json!({"type": "resume", "v": 1, "participant_id": joined["participant_id"], "resume_token": joined["resume_token"]}));
    assert_eq!(r.error_code().await, ErrorCode::ResumeFailed);
}

#[tokio::test]
async fn only_a_host_removes_and_only_guests_are_removed() {
    let s = setup().await;
    let (mut h, hid) = host(&s).await;
    let (mut g, gid) = guest(&s, &mut h, "Alex").await;
    g.send(json!({"type": "remove", "participant_id": hid}));
    assert_eq!(g.until("error").await["code"], "forbidden");
    h.send(json!({"type": "remove", "participant_id": hid}));
    assert_eq!(h.until("error").await["code"], "forbidden");
    h.send(json!({"type": "remove", "participant_id": "123"}));
    assert_eq!(h.until("error").await["code"], "not_found");
    // Still both there.
    g.send(json!({"type": "chat", "text": "still here"}));
    assert_eq!(h.until("chat").await["participant_id"], gid.as_str());
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "remove", "participant_id": gid}));
    assert_eq!(c.error_code().await, ErrorCode::NotJoined);
}

#[tokio::test]
async fn an_admission_token_dies_when_its_guest_leaves() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (mut g, token) = admitted(&s, &mut h, "Alex").await;
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    g.until("joined").await;
    g.send(json!({"type": "leave"}));
    assert_eq!(h.until("participant_left").await["reason"], "left");
    token_refused(&s, &token).await;
}

#[tokio::test]
async fn revoking_the_link_voids_admissions_not_yet_used() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (_g, token) = admitted(&s, &mut h, "Alex").await;
    let (_walkin, walkin_token) = s.hub.guest_token(ROOM, "Kim Walker").unwrap();
    // Another room's admissions are untouched.
    let (_, other_room) = s.hub.guest_token("room-b", "Other").unwrap();
    s.hub.revoke_admissions(ROOM);
    token_refused(&s, &token).await;
    token_refused(&s, &json!(walkin_token)).await;
    let mut o = Client::connect(&s.hub);
    o.send(json!({"type": "join", "v": 1, "room": "room-b", "token": other_room}));
    o.until("joined").await;
}

#[tokio::test]
async fn ending_the_session_voids_admissions() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (_g, token) = admitted(&s, &mut h, "Alex").await;
    s.hub.end_room(ROOM, "ended_by_host").await;
    // The room is open again in the directory (as if reopened): the old admission stays void.
    token_refused(&s, &token).await;
}

#[tokio::test]
async fn a_host_token_stops_working_when_its_login_session_ends() {
    let s = setup().await;
    let token = s.hub.host_token(ROOM, "Dr. Berg", LOGIN).unwrap();
    s.dir.logged_out.lock().unwrap().insert(LOGIN.to_owned());
    let mut c = Client::connect(&s.hub);
    c.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    assert_eq!(c.error_code().await, ErrorCode::InvalidToken);
    assert_eq!(c.closed().await, 1008);
    // A host token bound to no login session at all is refused too.
    let unbound = s
        .tokens
        .issue(ROOM, "77", Role::Host, "Dr. Berg", Duration::from_secs(60))
        .unwrap();
    token_refused(&s, &json!(unbound)).await;
    // Another login session of the same counsellor still works.
    let other = s.hub.host_token(ROOM, "Dr. Berg", "login-2").unwrap();
    let mut h = Client::connect(&s.hub);
    h.send(json!({"type": "join", "v": 1, "room": ROOM, "token": other}));
    assert_eq!(h.until("joined").await["role"], "host");
}

/// A flood far above the sustained rate is closed, although the bucket earns back a token
/// every 50 ms and lets a message through (which used to reset the count of drops in a row).
/// The clock is tokio's paused test clock: every message is sent at its exact virtual time.
#[tokio::test(start_paused = true)]
async fn a_flood_of_450_messages_a_second_is_closed() {
    let s = setup().await;
    let mut c = Client::connect(&s.hub);
    let gap = Duration::from_secs(1) / 450;
    let mut sent = 0u32;
    let mut pongs = 0u32;
    let mut limited = 0u32;
    let code = 'flood: loop {
        assert!(sent < 450 * 10, "still open after 10 s of flood");
        c.send(json!({"type": "ping"}));
        sent += 1;
        tokio::time::advance(gap).await;
        while let Ok(Some(frame)) = tokio::time::timeout(Duration::ZERO, c.rx.next()).await {
            match frame {
                Outbound::Text(t) => match serde_json::from_str::<ServerMessage>(&t).unwrap() {
                    ServerMessage::Pong {} => pongs += 1,
                    ServerMessage::Error {
                        code: ErrorCode::RateLimited,
                        ..
                    } => limited += 1,
                    other => panic!("unexpected {other:?}"),
                },
                Outbound::Close(code, _) => break 'flood code,
            }
        }
    };
    assert_eq!(code, 1008);
    assert!(limited >= 1);
    // The burst (60) and the few refilled tokens passed; everything after was dropped, and the
    // 50th drop closed the connection.
    assert_eq!(sent - pongs, 50, "sent {sent}, answered {pongs}");
}

/// The plaintext of a stored chat row, opened with the test's chat key.
fn open_chat_row(row: &StoredChat) -> serde_json::Value {
    let key = confidant_vault::Vault::new([3u8; 32]).purpose_key("chat");
    let plain = key
        .open(
            &row.sealed,
            format!("chat/{}/{}", row.room, row.id).as_bytes(),
        )
        .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

#[tokio::test]
async fn chat_rows_reference_the_sender_and_names_come_from_memory_only() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (g, gid) = guest(&s, &mut h, "Zebulon Quade").await;
    g.send(json!({"type": "chat", "text": "hello"}));
    let live = h.until("chat").await;
    assert_eq!(
        (live["name"].as_str(), live["role"].as_str()),
        (Some("Zebulon Quade"), Some("guest"))
    );

    // At rest, even sealed: the participant id, role and text, and no name.
    let rows = s.dir.chats.lock().unwrap().clone();
    let opened = open_chat_row(&rows[0]);
    assert_eq!(
        opened,
        json!({"participant_id": gid, "role": "guest", "text": "hello"})
    );

    // While the room is in memory, later joiners see the name, also of someone who left.
    g.send(json!({"type": "leave"}));
    h.until("participant_left").await;
    share_history(&mut h).await;
    let (mut late, _) = guest(&s, &mut h, "Kim").await;
    let history = late.until("chat_history").await;
    assert_eq!(history["messages"][0]["name"], "Zebulon Quade");

    // Once everyone left, the room and the names are gone: the message stays, unnamed.
    late.send(json!({"type": "leave"}));
    h.send(json!({"type": "leave"}));
    loop {
        if let Outbound::Close(code, _) = h.frame().await {
            assert_eq!(code, 1000);
            break;
        }
    }
    for _ in 0..100 {
        if s.hub.stats().rooms == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.hub.stats().rooms, 0);
    let (mut again, _) = host(&s).await;
    let history = again.until("chat_history").await;
    let m = &history["messages"][0];
    assert_eq!(
        (m["text"].as_str(), m["role"].as_str(), m.get("name")),
        (Some("hello"), Some("guest"), None)
    );
}

/// A room whose host wrote `texts` (without a rate limit in the way): the setup and the host.
async fn host_who_wrote(texts: impl Iterator<Item = String>) -> (Setup, Client) {
    let s = setup_with(HubConfig {
        rate_per_second: 1000,
        rate_burst: 1000,
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    for text in texts {
        h.send(json!({"type": "chat", "text": text}));
        h.until("chat").await;
    }
    // Guests admitted later see it only when shared.
    share_history(&mut h).await;
    (s, h)
}

#[tokio::test]
async fn a_join_sends_the_latest_page_and_older_pages_come_on_request() {
    let (s, mut h) = host_who_wrote((0..120).map(|i| format!("message {i}"))).await;
    let (mut g, _) = guest(&s, &mut h, "Alex").await;
    let latest = g.until("chat_history").await;
    let texts = page_texts;
    let expect = |range: std::ops::Range<i32>| -> Vec<String> {
        range.map(|i| format!("message {i}")).collect()
    };
    assert_eq!(texts(&latest), expect(70..120));
    assert_eq!(latest["more"], true);
    assert!(latest.get("before").is_none());

    let oldest = latest["messages"][0]["id"].as_str().unwrap().to_owned();
    g.send(json!({"type": "chat_history", "before": oldest}));
    let page = g.until("chat_history").await;
    assert_eq!(texts(&page), expect(20..70));
    assert_eq!(
        (page["more"].as_bool(), page["before"].as_str()),
        (Some(true), Some(oldest.as_str()))
    );

    let oldest = page["messages"][0]["id"].as_str().unwrap().to_owned();
    g.send(json!({"type": "chat_history", "before": oldest}));
    let last = g.until("chat_history").await;
    assert_eq!(texts(&last), expect(0..20));
    assert_eq!(last["more"], false);

    let first = last["messages"][0]["id"].as_str().unwrap().to_owned();
    g.send(json!({"type": "chat_history", "before": first}));
    let empty = g.until("chat_history").await;
    assert_eq!(
        (
            empty["messages"].as_array().unwrap().len(),
            empty["more"].as_bool()
        ),
        (0, Some(false))
    );

    g.send(json!({"type": "chat_history", "before": "no-such-message"}));
    assert_eq!(g.until("error").await["code"], "not_found");
    g.send(json!({"type": "chat_history"}));
    assert_eq!(g.until("error").await["code"], "invalid_message");
}

#[tokio::test]
async fn a_page_of_long_messages_stops_at_its_byte_budget() {
    // 40 messages of 4000 bytes: 160 000 bytes, more than one page's 128 KiB.
    let (s, mut h) = host_who_wrote((0..40).map(|i| format!("{i:04}{}", "x".repeat(3996)))).await;
    let (mut g, _) = guest(&s, &mut h, "Alex").await;
    let page = g.until("chat_history").await;
    let n = page["messages"].as_array().unwrap().len();
    assert_eq!(n, 128 * 1024 / 4000);
    assert_eq!(page["more"], true);
    assert!(page["messages"][n - 1]["text"]
        .as_str()
        .unwrap()
        .starts_with("0039"));
    let oldest = page["messages"][0]["id"].as_str().unwrap().to_owned();
    g.send(json!({"type": "chat_history", "before": oldest}));
    let rest = g.until("chat_history").await;
    assert_eq!(rest["messages"].as_array().unwrap().len(), 40 - n);
    assert_eq!(rest["more"], false);
}

#[tokio::test]
async fn a_room_s_chat_is_capped_in_messages_and_bytes() {
    let s = setup_with(HubConfig {
        chat_cap: ChatCap {
            max_messages: 3,
            max_bytes: 1_000_000,
        },
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    for i in 0..3 {
        h.send(json!({"type": "chat", "text": format!("m{i}")}));
        h.until("chat").await;
    }
    h.send(json!({"type": "chat", "text": "one too many"}));
    assert_eq!(h.until("error").await["code"], "chat_full");
    assert_eq!(s.dir.chats.lock().unwrap().len(), 3);
    // The connection stays usable.
    h.send(json!({"type": "ping"}));
    h.until("pong").await;

    let s = setup_with(HubConfig {
        chat_cap: ChatCap {
            max_messages: 1000,
            max_bytes: 5000,
        },
        ..HubConfig::default()
    })
    .await;
    let (mut h, _) = host(&s).await;
    h.send(json!({"type": "chat", "text": "x".repeat(3000)}));
    h.until("chat").await;
    h.send(json!({"type": "chat", "text": "y".repeat(3000)}));
    assert_eq!(h.until("error").await["code"], "chat_full");
    h.send(json!({"type": "chat", "text": "short"}));
    assert_eq!(h.until("chat").await["text"], "short");
}

/// 2027-01-01T09:00:00Z, the start of the manual clock below.
const CLOCK_START_SECS: u64 = 1_798_794_000;

async fn setup_on_manual_clock() -> (Setup, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_at(
        std::time::UNIX_EPOCH + Duration::from_secs(CLOCK_START_SECS),
    ));
    let s = setup_with_clock(HubConfig::default(), clock.clone()).await;
    (s, clock)
}

#[tokio::test]
async fn lobby_and_chat_times_are_the_hubs_clock() {
    let (s, clock) = setup_on_manual_clock().await;
    let (mut h, _) = host(&s).await;
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Alex"}));
    let waiting = g.until("lobby_waiting").await;
    let lobby = loop {
        let lobby = h.until("lobby").await;
        if !lobby["waiting"].as_array().unwrap().is_empty() {
            break lobby;
        }
    };
    assert_eq!(lobby["waiting"][0]["lobby_id"], waiting["lobby_id"]);
    assert_eq!(lobby["waiting"][0]["since"], "2027-01-01T09:00:00.000Z");
    h.send(json!({"type": "admit", "lobby_id": waiting["lobby_id"]}));
    let admitted = g.until("admitted").await;
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": admitted["token"]}));
    g.until("joined").await;
    clock.advance(Duration::from_millis(90_250));
    g.send(json!({"type": "chat", "text": "hello"}));
    assert_eq!(h.until("chat").await["sent_at"], "2027-01-01T09:01:30.250Z");
}

#[tokio::test]
async fn a_join_token_from_the_hub_expires_by_the_hubs_clock() {
    let (s, clock) = setup_on_manual_clock().await;
    let ttl = HubConfig::default().token_ttl;
    let (_, on_time) = s.hub.guest_token(ROOM, "Kim Walker").unwrap();
    let (_, late) = s.hub.guest_token(ROOM, "Robin Lee").unwrap();
    // At the very end of its lifetime a token still joins ...
    clock.advance(ttl);
    let mut g = Client::connect(&s.hub);
    g.send(json!({"type": "join", "v": 1, "room": ROOM, "token": on_time}));
    assert_eq!(g.until("joined").await["name"], "Kim Walker");
    // ... past it and the tolerated skew it does not, though the wall clock has hardly moved.
    clock.advance(Duration::from_secs(6));
    let mut r = Client::connect(&s.hub);
    r.send(json!({"type": "join", "v": 1, "room": ROOM, "token": late}));
    assert_eq!(r.error_code().await, ErrorCode::TokenExpired);
    assert_eq!(r.closed().await, 1008);
}

/// The texts of a `chat_history` page, oldest first.
fn page_texts(page: &serde_json::Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The host writes `text` and waits for its echo; returns the message id.
async fn host_says(h: &mut Client, text: &str) -> String {
    h.send(json!({"type": "chat", "text": text}));
    let echo = h.until("chat").await;
    assert_eq!(echo["text"], text);
    echo["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_guest_admitted_later_does_not_see_earlier_chat() {
    let (s, clock) = setup_on_manual_clock().await;
    let (mut h, _) = host(&s).await;
    let (mut first, _) = guest(&s, &mut h, "Alex").await;
    assert!(page_texts(&first.until("chat_history").await).is_empty());
    host_says(&mut h, "for Alex only").await;
    assert_eq!(first.until("chat").await["text"], "for Alex only");

    clock.advance(Duration::from_secs(60));
    let (mut late, _) = guest(&s, &mut h, "Kim").await;
    let history = late.until("chat_history").await;
    assert_eq!(
        (page_texts(&history), history["more"].as_bool()),
        (vec![], Some(false))
    );

    // What comes after the admission reaches the late guest, and paging back from it finds
    // nothing earlier.
    clock.advance(Duration::from_secs(1));
    let after = host_says(&mut h, "welcome, Kim").await;
    assert_eq!(late.until("chat").await["text"], "welcome, Kim");
    late.send(json!({"type": "chat_history", "before": after}));
    let older = late.until("chat_history").await;
    assert_eq!(
        (page_texts(&older), older["more"].as_bool()),
        (vec![], Some(false))
    );

    // The counsellor still sees everything.
    h.send(json!({"type": "chat_history", "before": after}));
    assert_eq!(
        page_texts(&h.until("chat_history").await),
        vec!["for Alex only"]
    );
}

#[tokio::test]
async fn shared_history_reaches_guests_admitted_later() {
    let (s, clock) = setup_on_manual_clock().await;
    let (mut h, _) = host(&s).await;
    host_says(&mut h, "notes before anyone came").await;
    clock.advance(Duration::from_secs(60));
    let (mut alex, _) = guest(&s, &mut h, "Alex").await;
    assert!(page_texts(&alex.until("chat_history").await).is_empty());

    clock.advance(Duration::from_secs(1));
    h.send(json!({"type": "chat_share_history"}));
    let shared = h.until("chat_shared").await;
    assert_eq!(shared["until"], "2027-01-01T09:01:01.000Z");
    // The guest in the room hears of it and gets its first page afresh, now complete.
    assert_eq!(alex.until("chat_shared").await, shared);
    let fresh = alex.until("chat_history").await;
    assert_eq!(page_texts(&fresh), vec!["notes before anyone came"]);
    assert!(fresh.get("before").is_none());

    // A guest admitted later sees what was shared, and not what came between the share and
    // its own admission.
    clock.advance(Duration::from_secs(1));
    host_says(&mut h, "only for those here now").await;
    clock.advance(Duration::from_secs(60));
    let (mut kim, _) = guest(&s, &mut h, "Kim").await;
    assert_eq!(
        page_texts(&kim.until("chat_history").await),
        vec!["notes before anyone came"]
    );
    // The share is kept in the directory, so it outlives the hub's memory.
    assert_eq!(
        s.dir.shared_until.lock().unwrap().get(ROOM).cloned(),
        Some("2027-01-01T09:01:01.000Z".to_owned())
    );
}

#[tokio::test]
async fn a_reconnecting_guest_keeps_their_admission_time() {
    let (s, clock) = setup_on_manual_clock().await;
    let (mut h, _) = host(&s).await;
    host_says(&mut h, "before Alex").await;
    clock.advance(Duration::from_secs(60));
    let (mut alex, _, token) = guest_with_token(&s, &mut h, "Alex").await;
    alex.until("chat_history").await;
    clock.advance(Duration::from_secs(60));
    host_says(&mut h, "while Alex was here").await;

    // The same guest comes back with its token (a reload, a second tab) a minute later: it
    // sees the chat from its first admission on, not from the reconnect.
    clock.advance(Duration::from_secs(60));
    let mut again = Client::connect(&s.hub);
    again.send(json!({"type": "join", "v": 1, "room": ROOM, "token": token}));
    again.until("joined").await;
    assert_eq!(
        page_texts(&again.until("chat_history").await),
        vec!["while Alex was here"]
    );
}

#[tokio::test]
async fn only_the_host_may_share_history() {
    let s = setup().await;
    let (mut h, _) = host(&s).await;
    let (mut g, _) = guest(&s, &mut h, "Alex").await;
    g.send(json!({"type": "chat_share_history"}));
    assert_eq!(g.until("error").await["code"], "forbidden");
    assert!(s.dir.shared_until.lock().unwrap().is_empty());
    g.send(json!({"type": "chat_share_history", "until": "2030-01-01T00:00:00.000Z"}));
    assert_eq!(g.until("error").await["code"], "invalid_message");
}

/// The call screen shows every participant's microphone and camera state on their tile: `mute`
/// reaches the others as on/off only (no level, no device), is kept in the room so a later joiner
/// sees it in `joined`, and anything but `audio`/`video` with a boolean is `invalid_message`.
#[tokio::test]
async fn mute_state_reaches_the_others_and_later_joiners_and_bad_mute_is_invalid_message() {
    let s = setup().await;
    let (mut h, hid) = host(&s).await;
    let (mut g, gid) = guest(&s, &mut h, "Alex").await;
    h.send(json!({"type": "mute", "kind": "audio", "muted": true}));
    let seen = g.until("mute").await;
    assert_eq!(
        seen,
        json!({"type": "mute", "participant_id": hid, "kind": "audio", "muted": true}),
        "only who, which kind and on/off travel"
    );
    h.send(json!({"type": "mute", "kind": "video", "muted": true}));
    assert_eq!(g.until("mute").await["kind"], "video");

    // A client admitted later learns both states from `joined`.
    let mut g2 = Client::connect(&s.hub);
    g2.send(json!({"type": "knock", "v": 1, "link": LINK, "name": "Kim"}));
    let lobby_id = g2.until("lobby_waiting").await["lobby_id"].clone();
    h.send(json!({"type": "admit", "lobby_id": lobby_id}));
    let admitted = g2.until("admitted").await;
    g2.send(json!({"type": "join", "v": 1, "room": ROOM, "token": admitted["token"]}));
    let joined = g2.until("joined").await;
    let listed = |id: &str| {
        joined["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["participant_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is listed"))
    };
    let me = listed(&hid);
    assert_eq!(me["audio_muted"], true);
    assert_eq!(me["video_muted"], true);
    let alex = listed(&gid);
    assert_eq!(alex["audio_muted"], false);

    // Unmuting travels the same way.
    h.send(json!({"type": "mute", "kind": "audio", "muted": false}));
    let seen = g.until("mute").await;
    assert_eq!(seen["muted"], false);

    // Bad input: an unknown kind, a non-boolean, a missing or an extra field.
    for bad in [
        json!({"type": "mute", "kind": "screen", "muted": true}),
        json!({"type": "mute", "kind": "audio", "muted": "yes"}),
        json!({"type": "mute", "kind": "audio"}),
        json!({"type": "mute", "kind": "audio", "muted": true, "level": 0.7}),
    ] {
        g.send(bad.clone());
        assert_eq!(
            g.until("error").await["code"],
            "invalid_message",
            "{bad} is refused"
        );
    }
    // The connection stays usable.
    g.send(json!({"type": "ping"}));
    g.until("pong").await;
}
