//! Signalling: the hub's handling of client frames, statefully. A counsellor (already joined
//! with a host token) and a client (who knocks) send the input's lines in turn: a line starting
//! with `>` goes from the counsellor, any other from the client. `$L` in a line becomes the
//! lobby id the counsellor last saw and `$T` the join token the client was admitted with, so the
//! fuzzer reaches admit, join, offers to the real SFU shell, chat, e2ee relay and end_session.
//!
//! Checks: the drivers never panic and end once their streams end; every frame the hub sends
//! is a `ServerMessage` a client can parse; close codes are ones RFC 6455 lets an endpoint send.
#![no_main]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use confidant_signaling::protocol::ServerMessage;
use confidant_signaling::{
    BoxFuture, ChatCap, ChatGap, Directory, Error, Hub, HubConfig, Inbound, LinkTarget, Outbound,
    RoomPolicy, StoredChat, Tokens,
};
use futures::channel::mpsc;
use libfuzzer_sys::fuzz_target;

/// One room `r`, reached by link `good` (end-to-end encryption required) or `open` (not).
struct OneRoom;

impl Directory for OneRoom {
    fn resolve_link<'a>(
        &'a self,
        link: &'a str,
    ) -> BoxFuture<'a, Result<Option<LinkTarget>, Error>> {
        Box::pin(async move {
            Ok(matches!(link, "good" | "open").then(|| LinkTarget {
                room: "r".into(),
                policy: RoomPolicy {
                    allow_unencrypted: link == "open",
                },
            }))
        })
    }
    fn room_policy<'a>(
        &'a self,
        room: &'a str,
    ) -> BoxFuture<'a, Result<Option<RoomPolicy>, Error>> {
        Box::pin(async move {
            Ok((room == "r").then_some(RoomPolicy {
                allow_unencrypted: false,
            }))
        })
    }
    fn login_active<'a>(&'a self, _login: &'a str) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(true) })
    }
    fn end_room<'a>(&'a self, _room: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { Ok(()) })
    }
    fn save_chat<'a>(
        &'a self,
        _chat: StoredChat,
        _cap: ChatCap,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move { Ok(true) })
    }
    fn load_chat<'a>(
        &'a self,
        _room: &'a str,
        _before: Option<&'a str>,
        _gap: Option<&'a ChatGap>,
        _limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<StoredChat>>, Error>> {
        Box::pin(async move { Ok(Some(Vec::new())) })
    }
    fn share_chat<'a>(
        &'a self,
        _room: &'a str,
        _until: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { Ok(()) })
    }
    fn chat_shared_until<'a>(
        &'a self,
        _room: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(async move { Ok(None) })
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    sfu: confidant_sfu::SfuHandle,
}

thread_local! {
    // One runtime and SFU shell per process (binding a socket and making a DTLS certificate per
    // input would be most of the time); each input gets a fresh hub and ends its room.
    static WORLD: World = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let sfu = rt
            .block_on(confidant_sfu::start(confidant_sfu::ShellConfig {
                bind: "127.0.0.1:0".parse().expect("literal"),
                advertised: "127.0.0.1:0".parse().expect("literal"),
                tcp: None,
                workers: 1,
                loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
                udp_gso: true,
            }))
            .expect("SFU shell on loopback");
        World { rt, sfu }
    };
}

struct Conn {
    tx: Option<mpsc::UnboundedSender<Result<Inbound, Infallible>>>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    task: tokio::task::JoinHandle<()>,
}

/// Reads what `c` was sent so far, checking each frame; remembers lobby ids and tokens.
fn drain(c: &mut Conn, lobby: &mut String, token: &mut String) {
    while let Ok(frame) = c.rx.try_recv() {
        match frame {
            Outbound::Text(text) => {
                let msg: ServerMessage = serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!("the hub sent a frame clients cannot parse ({e}): {text}")
                });
                match msg {
                    ServerMessage::Lobby { waiting } => {
                        if let Some(w) = waiting.last() {
                            lobby.clone_from(&w.lobby_id);
                        }
                    }
                    ServerMessage::Admitted { token: t, .. } => *token = t,
                    _ => {}
                }
            }
            // RFC 6455 §7.4: 1004–1006 and 1015 must never be sent in a close frame.
            Outbound::Close(code, _) => assert!(
                (1000..5000).contains(&code) && !matches!(code, 1004..=1006 | 1015),
                "close code {code}"
            ),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    WORLD.with(|w| {
        w.rt.block_on(async {
            let config = HubConfig {
                resume_grace: Duration::from_millis(1),
                ..HubConfig::default()
            };
            let hub = Hub::new(
                config,
                w.sfu.clone(),
                Tokens::new(&[5u8; 32]),
                confidant_vault::Vault::new([6u8; 32]).purpose_key("chat"),
                Arc::new(OneRoom),
            );
            let mut conns: Vec<Conn> = (0..2)
                .map(|_| {
                    let (in_tx, in_rx) = mpsc::unbounded();
                    let (out_tx, out_rx) = mpsc::unbounded();
                    let h = hub.clone();
                    let task = tokio::spawn(async move { h.serve(out_tx, in_rx).await });
                    Conn {
                        tx: Some(in_tx),
                        rx: out_rx,
                        task,
                    }
                })
                .collect();
            let host = hub
                .host_token("r", "Counsellor", "login")
                .expect("host token");
            let join = format!(r#"{{"type":"join","v":1,"room":"r","token":"{host}"}}"#);
            let (mut lobby, mut token) = (String::new(), String::new());
            let lines = std::iter::once(format!(">{join}"))
                .chain(text.split('\n').take(48).map(str::to_owned));
            for line in lines {
                let (who, frame) = match line.strip_prefix('>') {
                    Some(rest) => (0, rest.to_owned()),
                    None => (1, line),
                };
                let frame = frame.replace("$L", &lobby).replace("$T", &token);
                if let Some(tx) = &conns[who].tx {
                    let inbound = match frame.as_str() {
                        "#binary" => Inbound::Binary(4),
                        "#too-large" => Inbound::TooLarge,
                        _ => Inbound::Text(frame),
                    };
                    let _ = tx.unbounded_send(Ok(inbound));
                }
                for _ in 0..16 {
                    tokio::task::yield_now().await;
                }
                for c in &mut conns {
                    drain(c, &mut lobby, &mut token);
                }
            }
            for c in &mut conns {
                c.tx = None; // the client goes away
            }
            for c in &mut conns {
                let task = &mut c.task;
                tokio::time::timeout(Duration::from_secs(10), task)
                    .await
                    .expect("the driver ends once its stream ends")
                    .expect("the driver did not panic");
                drain(c, &mut lobby, &mut token);
            }
            hub.end_room("r", "fuzz").await;
        });
    });
});
