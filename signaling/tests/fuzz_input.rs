//! Peer input never panics the parser or the hub: arbitrary frames, and arbitrary sequences of
//! plausible messages, always get an answer and leave the hub serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use confidant_signaling::protocol::{parse_client_message, ClientMessage};
use confidant_signaling::{
    BoxFuture, ChatCap, ChatGap, Directory, Error, Hub, HubConfig, Inbound, LinkTarget, Outbound,
    RoomPolicy, StoredChat, Tokens,
};
use futures::channel::mpsc;
use futures::StreamExt;
use proptest::prelude::*;

proptest! {
    #[test]
    fn parser_never_panics_on_any_text(text in ".{0,400}") {
        let _ = parse_client_message(&text);
    }

    #[test]
    fn parser_never_panics_on_json_shaped_text(
        ty in prop::sample::select(ClientMessage::TYPES.to_vec()),
        fields in prop::collection::vec(("[a-z_]{1,12}", prop_oneof![
            Just("null".to_owned()), Just("true".to_owned()), Just("-1".to_owned()),
            Just("18446744073709551616".to_owned()), Just("\"\"".to_owned()), Just("[]".to_owned()),
            Just("{}".to_owned()), "\"[^\"\\\\]{0,20}\"".prop_map(|s| s),
        ]), 0..6),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let text = format!("{{\"type\":\"{ty}\"{}{}}}", if body.is_empty() { "" } else { "," }, body.join(","));
        let _ = parse_client_message(&text);
    }
}

struct NoRooms;

impl Directory for NoRooms {
    fn resolve_link<'a>(
        &'a self,
        link: &'a str,
    ) -> BoxFuture<'a, Result<Option<LinkTarget>, Error>> {
        Box::pin(async move {
            Ok((link == "good").then(|| LinkTarget {
                room: "r".into(),
                policy: RoomPolicy {
                    allow_unencrypted: false,
                },
            }))
        })
    }
    fn room_policy<'a>(
        &'a self,
        _room: &'a str,
    ) -> BoxFuture<'a, Result<Option<RoomPolicy>, Error>> {
        Box::pin(async move {
            Ok(Some(RoomPolicy {
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

/// Plausible client messages, valid and not, in any order.
fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"type":"knock","v":1,"link":"good","name":"A"}"#.to_owned()),
        Just(r#"{"type":"knock","v":1,"link":"bad","name":"A"}"#.to_owned()),
        Just(r#"{"type":"join","v":1,"room":"r","token":"x.y.z"}"#.to_owned()),
        Just(r#"{"type":"resume","v":1,"participant_id":"1","resume_token":"t"}"#.to_owned()),
        Just(r#"{"type":"offer","sdp":"v=0"}"#.to_owned()),
        Just(r#"{"type":"answer","sdp":"v=0"}"#.to_owned()),
        Just(r#"{"type":"admit","lobby_id":"x"}"#.to_owned()),
        Just(r#"{"type":"chat","text":"hi"}"#.to_owned()),
        Just(r#"{"type":"chat_history","before":"x"}"#.to_owned()),
        Just(r#"{"type":"e2ee","payload":"p"}"#.to_owned()),
        Just(r#"{"type":"mute","kind":"audio","muted":true}"#.to_owned()),
        Just(r#"{"type":"end_session"}"#.to_owned()),
        Just(r#"{"type":"leave"}"#.to_owned()),
        Just("{".to_owned()),
        "[ -~]{0,40}".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn hub_survives_any_message_sequence(msgs in prop::collection::vec(message(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
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
            let hub = Hub::new(
                HubConfig::default(),
                sfu,
                Tokens::new(&[5u8; 32]),
                confidant_vault::Vault::new([6u8; 32]).purpose_key("chat"),
                Arc::new(NoRooms),
            );
            // Each sequence on its own connection, then a fresh connection still gets a pong.
            let (in_tx, in_rx) = mpsc::unbounded::<Result<Inbound, Infallible>>();
            let (out_tx, mut out_rx) = mpsc::unbounded();
            let h = hub.clone();
            let task = tokio::spawn(async move { h.serve(out_tx, in_rx).await });
            for m in msgs {
                let _ = in_tx.unbounded_send(Ok(Inbound::Text(m)));
            }
            drop(in_tx);
            // The driver ends by itself (stream closed or a close frame) within bounded time.
            tokio::time::timeout(Duration::from_secs(10), task).await.expect("driver ends").expect("driver did not panic");
            while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(10), out_rx.next()).await {}

            let (in_tx, in_rx) = mpsc::unbounded::<Result<Inbound, Infallible>>();
            let (out_tx, mut out_rx) = mpsc::unbounded();
            let h = hub.clone();
            tokio::spawn(async move { h.serve(out_tx, in_rx).await });
            in_tx.unbounded_send(Ok(Inbound::Text(r#"{"type":"ping"}"#.into()))).unwrap();
            let reply = tokio::time::timeout(Duration::from_secs(10), out_rx.next()).await.expect("pong in time");
            assert_eq!(reply, Some(Outbound::Text(r#"{"type":"pong"}"#.into())));
        });
    }
}
