//! `--max-participants` and `--max-lobby` reach the hub: over a real websocket, one
//! participant or waiting client too many is refused with `room_full` and a normal close
//! (1000), as `signaling/PROTOCOL.md` documents.

mod common;

use std::time::Duration;

use common::{link_token, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server sent next: a JSON message, or the close code.
#[derive(Debug)]
enum Next {
    Json(Value),
    Closed(Option<u16>),
}

async fn connect(addr: std::net::SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn next(ws: &mut Ws) -> Next {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("server answers in time");
        match msg {
            Some(Ok(Message::Text(t))) => return Next::Json(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Next::Closed(frame.map(|f| u16::from(f.code)))
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Next::Closed(None),
        }
    }
}

/// Reads until a message of type `ty` arrives.
async fn until(ws: &mut Ws, ty: &str) -> Value {
    loop {
        match next(ws).await {
            Next::Json(m) if m["type"] == ty => return m,
            Next::Json(_) => {}
            Next::Closed(code) => panic!("closed ({code:?}) before {ty}"),
        }
    }
}

/// The next error message, then the close that follows it.
async fn refused(ws: &mut Ws) -> (String, Option<u16>) {
    let err = until(ws, "error").await;
    let code = err["code"].as_str().unwrap().to_owned();
    loop {
        if let Next::Closed(close) = next(ws).await {
            return (code, close);
        }
    }
}

/// A server with `limits` applied, a session, and its host joined: `(app, addr, session,
/// host socket)`.
async fn room_with(
    limits: impl FnOnce(&mut confidant::Config),
) -> (TestApp, std::net::SocketAddr, Value, Ws) {
    let t = TestApp::with(limits).await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (host, _) = common::ws::join_as_host(&t, addr, &cookie, id).await;
    (t, addr, s, host)
}

/// Knocks with the session's link; returns the socket and the lobby id.
async fn knock(addr: std::net::SocketAddr, s: &Value, name: &str) -> (Ws, Value) {
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "knock", "v": 1, "link": link_token(s), "name": name, "e2ee": true}),
    )
    .await;
    let lobby_id = until(&mut ws, "lobby_waiting").await["lobby_id"].clone();
    (ws, lobby_id)
}

/// The host admits the client; the client then sends `join` with its token.
async fn admit_and_join(host: &mut Ws, client: &mut Ws, lobby_id: Value, s: &Value) {
    send(host, json!({"type": "admit", "lobby_id": lobby_id})).await;
    let token = until(client, "admitted").await["token"].clone();
    send(
        client,
        json!({"type": "join", "v": 1, "room": s["id"], "token": token, "e2ee": true}),
    )
    .await;
}

#[tokio::test]
async fn a_room_for_two_refuses_a_third_participant() {
    let (_t, addr, s, mut host) = room_with(|c| c.max_participants = 2).await;

    let (mut first, lobby_id) = knock(addr, &s, "First").await;
    admit_and_join(&mut host, &mut first, lobby_id, &s).await;
    assert_eq!(until(&mut first, "joined").await["room"], s["id"]);

    let (mut second, lobby_id) = knock(addr, &s, "Second").await;
    admit_and_join(&mut host, &mut second, lobby_id, &s).await;
    assert_eq!(refused(&mut second).await, ("room_full".into(), Some(1000)));
}

#[tokio::test]
async fn a_lobby_for_one_refuses_a_second_waiting_client() {
    let (_t, addr, s, _host) = room_with(|c| c.max_lobby = 1).await;

    let (_first, _) = knock(addr, &s, "First").await;
    let mut second = connect(addr).await;
    send(
        &mut second,
        json!({"type": "knock", "v": 1, "link": link_token(&s), "name": "Second", "e2ee": true}),
    )
    .await;
    assert_eq!(refused(&mut second).await, ("room_full".into(), Some(1000)));
}
