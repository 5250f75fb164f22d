//! Signalling over a real websocket to the served app, for the tests that drive the hub
//! through TCP.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::TestApp;

/// A client websocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a websocket to `/ws` of the app served at `addr`.
pub async fn connect(addr: SocketAddr) -> Ws {
    let (ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// Sends one JSON message.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text message as JSON (`None` once the server closed).
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("server answers in time")?;
        match msg.ok()? {
            Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Reads until a message of type `ty` arrives.
pub async fn until(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let m = next_json(ws)
            .await
            .unwrap_or_else(|| panic!("closed before {ty}"));
        if m["type"] == ty {
            return m;
        }
    }
}

/// Joins session `id` as its host over a real websocket, with a fresh host token from the HTTP
/// API; returns the socket and the `joined` message.
pub async fn join_as_host(t: &TestApp, addr: SocketAddr, cookie: &str, id: &str) -> (Ws, Value) {
    let tok = t
        .post(
            &format!("/api/sessions/{id}/host-token"),
            Some(cookie),
            None,
        )
        .await
        .json();
    let mut host = connect(addr).await;
    send(
        &mut host,
        json!({"type": "join", "v": 1, "room": id, "token": tok["token"]}),
    )
    .await;
    let joined = until(&mut host, "joined").await;
    (host, joined)
}
