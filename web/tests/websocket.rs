//! The websocket endpoint over a real TCP connection, through the real hub: a client knocks
//! with a join link, the counsellor ends the session over HTTP.

mod common;

use std::time::Duration;

use common::ws::{connect, join_as_host, next_json, send, until, Ws};
use common::{link_token, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A host and an admitted client in session `s`: `(host, client)`, both past `joined`.
async fn host_and_client(
    t: &TestApp,
    addr: std::net::SocketAddr,
    cookie: &str,
    s: &Value,
    name: &str,
) -> (Ws, Ws) {
    let id = s["id"].as_str().unwrap();
    let (mut host, _) = join_as_host(t, addr, cookie, id).await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "knock", "v": 1, "link": link_token(s), "name": name}),
    )
    .await;
    let lobby_id = until(&mut client, "lobby_waiting").await["lobby_id"].clone();
    send(&mut host, json!({"type": "admit", "lobby_id": lobby_id})).await;
    let token = until(&mut client, "admitted").await["token"].clone();
    send(
        &mut client,
        json!({"type": "join", "v": 1, "room": id, "token": token}),
    )
    .await;
    until(&mut client, "joined").await;
    (host, client)
}

#[tokio::test]
async fn knock_with_a_link_then_end_over_http() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();

    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "knock", "v": 1, "link": link_token(&s), "name": "Client"}),
    )
    .await;
    let waiting = until(&mut client, "lobby_waiting").await;
    assert_eq!(waiting["room"], id);

    let r = t
        .post(&format!("/api/sessions/{id}/end"), Some(&cookie), None)
        .await;
    assert_eq!(r.status, 200);
    let ended = until(&mut client, "session_ended").await;
    assert_eq!(ended["reason"], "ended_by_host");
}

#[tokio::test]
async fn revoked_link_is_refused_over_the_websocket() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&cookie, None).await;
    t.post(
        &format!("/api/sessions/{}/revoke", s["id"].as_str().unwrap()),
        Some(&cookie),
        None,
    )
    .await;

    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "knock", "v": 1, "link": link_token(&s), "name": "Client"}),
    )
    .await;
    let err = until(&mut client, "error").await;
    assert_eq!(err["code"], "link_invalid");
}

#[tokio::test]
async fn host_token_from_http_joins_the_room_as_host() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (_host, joined) = join_as_host(&t, addr, &cookie, id).await;
    assert_eq!(
        (
            joined["role"].as_str(),
            joined["name"].as_str(),
            joined["room"].as_str()
        ),
        (Some("host"), Some("Anna"), Some(id))
    );
}

#[tokio::test]
async fn binary_frames_reach_the_hub_as_protocol_errors() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let mut ws = connect(addr).await;
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    let err = until(&mut ws, "error").await;
    assert_eq!(err["code"], "binary_not_supported");
}

#[tokio::test]
async fn chat_is_sealed_in_sqlite_and_replayed_after_reconnect() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();

    let (mut host, mut client) = host_and_client(&t, addr, &cookie, &s, "Client").await;

    send(
        &mut client,
        json!({"type": "chat", "text": "nobody may read this sentence"}),
    )
    .await;
    assert_eq!(
        until(&mut host, "chat").await["text"],
        "nobody may read this sentence"
    );

    // At rest: one row, and neither the text nor the sender's name in it.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT room, sealed FROM chat_messages")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, id);
    let raw = String::from_utf8_lossy(&rows[0].1);
    assert!(
        !raw.contains("nobody may read") && !raw.contains("Client"),
        "chat stored in clear"
    );

    // The counsellor reconnects with a new host token: the history comes from the database.
    drop(host);
    // `joined` came first; the history follows it.
    let (mut again, _) = join_as_host(&t, addr, &cookie, id).await;
    let history = until(&mut again, "chat_history").await;
    assert_eq!(
        history["messages"][0]["text"],
        "nobody may read this sentence"
    );
    assert_eq!(history["messages"][0]["name"], "Client");
}

/// Sends one text frame of `len` bytes and reads what comes back: the error code, if any, and
/// the close code. The frame is written raw from a thread of its own on a second handle of the
/// socket, as a browser's network stack would keep sending it while the server answers; the
/// websocket client only reads (it would otherwise try to flush its own unsent bytes first).
async fn send_frame_of(addr: std::net::SocketAddr, len: usize) -> (Option<String>, Option<u16>) {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let raw = tcp.try_clone().unwrap();
    tcp.set_nonblocking(true).unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        tokio::net::TcpStream::from_std(tcp).unwrap(),
    )
    .await
    .unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let prefix = "{\"type\":\"chat\",\"text\":\"";
        let body = format!("{prefix}{}\"}}", "x".repeat(len - prefix.len() - 2));
        assert_eq!(body.len(), len);
        // FIN + text; masked (all-zero key, so the payload goes as is); 64-bit length.
        let mut frame = vec![0x81u8, 0x80 | 127];
        frame.extend_from_slice(&(len as u64).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(body.as_bytes());
        // The server may stop reading and close before it is all out.
        let _ = (&raw).write_all(&frame);
    });
    let mut code = None;
    let mut close = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the server answers in time")
        {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                code = code.or_else(|| v["code"].as_str().map(str::to_owned));
                if code.as_deref() != Some("too_large") {
                    break;
                }
            }
            Some(Ok(Message::Close(f))) => {
                close = f.map(|f| u16::from(f.code));
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    drop(ws);
    writer.join().unwrap();
    (code, close)
}

#[tokio::test]
async fn oversize_frame_over_tcp_gets_too_large_then_close() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let limit = confidant_signaling::protocol::MAX_MESSAGE_BYTES;
    // Just over the limit, over the old 1 MiB cut of the websocket layer, and far over it:
    // always the documented answer, never a close without a code.
    for len in [limit + 1, 100 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024] {
        assert_eq!(
            send_frame_of(addr, len).await,
            (Some("too_large".to_owned()), Some(1009)),
            "a frame of {len} bytes"
        );
    }
    // At the limit the frame is read and judged on its content (a chat before joining).
    let (code, _) = send_frame_of(addr, limit).await;
    assert_eq!(code.as_deref(), Some("not_joined"));
}

#[tokio::test]
async fn token_for_one_session_does_not_open_another_over_tcp() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let a = t.create_session(&cookie, None).await;
    let b = t.create_session(&cookie, None).await;
    let tok = t
        .post(
            &format!("/api/sessions/{}/host-token", a["id"].as_str().unwrap()),
            Some(&cookie),
            None,
        )
        .await
        .json();
    let mut ws = connect(addr).await;
    send(
        &mut ws,
        json!({"type": "join", "v": 1, "room": b["id"], "token": tok["token"]}),
    )
    .await;
    assert_eq!(until(&mut ws, "error").await["code"], "wrong_room");
}

/// The value of one sample line (`name value`) in an OpenMetrics body.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_waiting_clients_and_carry_no_personal_data() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;

    let before = t.get("/metrics", None).await;
    assert_eq!(before.status, 200);
    assert!(before
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert_eq!(sample(&before.text(), "confidant_lobby_waiting"), Some(0.0));

    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "knock", "v": 1, "link": link_token(&s), "name": "Pat Example"}),
    )
    .await;
    until(&mut client, "lobby_waiting").await;

    let body = t.get("/metrics", None).await.text();
    assert_eq!(
        sample(&body, "confidant_lobby_waiting"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(sample(&body, "confidant_rooms"), Some(1.0), "{body}");
    assert_eq!(
        sample(&body, "confidant_ws_connections"),
        Some(1.0),
        "{body}"
    );
    assert!(
        sample(&body, "confidant_sfu_forwarded_packets_total").is_some(),
        "{body}"
    );
    for name in [
        "nacks_received",
        "plis_received",
        "firs_received",
        "keyframe_requests_sent",
        "layer_switches",
    ] {
        assert_eq!(
            sample(&body, &format!("confidant_sfu_{name}_total")),
            Some(0.0),
            "{body}"
        );
    }
    assert!(
        sample(&body, "confidant_sfu_estimated_bitrate_bps_sum").is_some(),
        "{body}"
    );
    assert!(
        sample(&body, "confidant_sfu_estimated_bitrate_peers").is_some(),
        "{body}"
    );
    for secret in [
        "Pat Example",
        link_token(&s).as_str(),
        s["id"].as_str().unwrap(),
        "a@example.org",
    ] {
        assert!(!body.contains(secret), "metrics leak {secret:?}");
    }
}

#[tokio::test]
async fn joined_offers_turn_credentials_when_turn_is_configured() {
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("turn.secret");
    std::fs::write(&secret_file, "a-shared-turn-secret-of-some-length\n").unwrap();
    let file = secret_file.clone();
    let t = TestApp::with(move |c| {
        c.turn_url = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        c.turn_secret_file = Some(file);
    })
    .await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (_ws, joined) = join_as_host(&t, addr, &cookie, id).await;
    let ice = &joined["ice_servers"][0];
    assert_eq!(ice["urls"], json!(["turn:127.0.0.1:3478?transport=udp"]));
    let username = ice["username"].as_str().unwrap();
    assert!(username.ends_with(&format!(":{}", joined["participant_id"].as_str().unwrap())));
    assert!(!ice["credential"].as_str().unwrap().is_empty());
}

#[test]
fn turn_url_without_a_secret_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::config(dir.path().join("data"));
    c.turn_url = vec!["turn:127.0.0.1:3478".into()];
    let err = c.resolve().unwrap_err();
    assert_eq!(err.option, "turn-secret-file");
    c.turn_url = vec!["http://not-turn".into()];
    assert_eq!(c.resolve().unwrap_err().option, "turn-url");
}

/// Knocks on session `s` as "Client" and is admitted by `host`; returns the waiting socket and
/// its (unused) join token.
async fn knock_and_be_admitted(
    addr: std::net::SocketAddr,
    host: &mut Ws,
    s: &Value,
) -> (Ws, Value) {
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "knock", "v": 1, "link": link_token(s), "name": "Client"}),
    )
    .await;
    let lobby_id = until(&mut client, "lobby_waiting").await["lobby_id"].clone();
    send(host, json!({"type": "admit", "lobby_id": lobby_id})).await;
    let token = until(&mut client, "admitted").await["token"].clone();
    (client, token)
}

/// A fresh connection that joins session `id` with `token` is refused as `invalid_token`.
async fn join_refused(addr: std::net::SocketAddr, id: &str, token: &Value) {
    let mut again = connect(addr).await;
    send(
        &mut again,
        json!({"type": "join", "v": 1, "room": id, "token": token}),
    )
    .await;
    assert_eq!(until(&mut again, "error").await["code"], "invalid_token");
    assert!(
        next_json(&mut again).await.is_none(),
        "closed after refusal"
    );
}

#[tokio::test]
async fn a_host_token_stops_working_after_logout() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let tok = t
        .post(
            &format!("/api/sessions/{id}/host-token"),
            Some(&cookie),
            None,
        )
        .await
        .json();
    // The token does not carry the cookie or its hash.
    let cookie_value = cookie.split_once('=').unwrap().1;
    let payload = tok["token"].as_str().unwrap().split('.').nth(1).unwrap();
    assert!(!payload.contains(cookie_value));
    let r = t.post("/api/auth/logout", Some(&cookie), None).await;
    assert_eq!(r.status, 204);
    join_refused(addr, id, &tok["token"]).await;
    // A new login gets a host token that works again.
    let cookie = t.login("a@example.org", common::PASSWORD).await;
    let (_host, joined) = join_as_host(&t, addr, &cookie, id).await;
    assert_eq!(joined["role"], "host");
}

#[tokio::test]
async fn revoking_the_link_voids_an_admission_not_yet_used() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (mut host, _) = join_as_host(&t, addr, &cookie, id).await;
    let (_client, token) = knock_and_be_admitted(addr, &mut host, &s).await;
    let r = t
        .post(&format!("/api/sessions/{id}/revoke"), Some(&cookie), None)
        .await;
    assert_eq!(r.status, 200);
    join_refused(addr, id, &token).await;
}

#[tokio::test]
async fn a_removed_guest_cannot_join_again_with_its_token() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (mut host, _) = join_as_host(&t, addr, &cookie, id).await;
    let (mut client, token) = knock_and_be_admitted(addr, &mut host, &s).await;
    send(
        &mut client,
        json!({"type": "join", "v": 1, "room": id, "token": token}),
    )
    .await;
    let gid = until(&mut client, "joined").await["participant_id"].clone();
    send(&mut host, json!({"type": "remove", "participant_id": gid})).await;
    until(&mut client, "removed").await;
    match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
        Ok(Some(Ok(Message::Close(Some(f))))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
    assert_eq!(
        until(&mut host, "participant_left").await["reason"],
        "removed"
    );
    join_refused(addr, id, &token).await;
}

/// Reads to the end of the connection: the close frame's code, and whether the connection then
/// ended cleanly (the close handshake completed) rather than with an error such as a reset.
async fn close_code_and_clean_end(ws: &mut Ws) -> (Option<u16>, Result<(), String>) {
    let mut code = None;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the connection ends in time");
        match next {
            None => return (code, Ok(())),
            Some(Ok(Message::Close(frame))) => code = frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return (code, Err(e.to_string())),
        }
    }
}

/// `leave`, with the client's next messages already on their way: the server reads on after
/// its close frame until the client's, so the client sees 1000 and a clean end, never an
/// abnormal closure (1006) from a connection reset over unread data.
#[tokio::test]
async fn leave_completes_the_close_handshake_although_messages_are_in_flight() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    for round in 0..5 {
        let (mut host, _) = join_as_host(&t, addr, &cookie, id).await;
        send(&mut host, json!({"type": "leave"})).await;
        for _ in 0..20 {
            send(&mut host, json!({"type": "ping"})).await;
        }
        let (code, end) = close_code_and_clean_end(&mut host).await;
        assert_eq!(code, Some(1000), "round {round}");
        assert_eq!(end, Ok(()), "round {round}");
    }
}

/// `end_session`: the host and the client both get 1000 and a completed close handshake.
#[tokio::test]
async fn end_session_completes_the_close_handshake_for_everyone() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let (mut host, mut client) = host_and_client(&t, addr, &cookie, &s, "Client").await;

    send(&mut host, json!({"type": "end_session"})).await;
    // Both sides still have a message on its way when the server closes.
    send(&mut host, json!({"type": "ping"})).await;
    send(&mut client, json!({"type": "ping"})).await;
    assert_eq!(
        until(&mut client, "session_ended").await["reason"],
        "ended_by_host"
    );
    assert_eq!(
        until(&mut host, "session_ended").await["reason"],
        "ended_by_host"
    );
    for ws in [&mut host, &mut client] {
        let (code, end) = close_code_and_clean_end(ws).await;
        assert_eq!(code, Some(1000));
        assert_eq!(end, Ok(()));
    }
}

/// Connects and expects the connection-cap refusal: `too_many_connections`, then close 1013.
async fn assert_refused_for_too_many_connections(addr: std::net::SocketAddr) {
    let mut ws = connect(addr).await;
    let err = next_json(&mut ws).await.expect("an error before the close");
    assert_eq!(err["code"], "too_many_connections");
    let (code, end) = close_code_and_clean_end(&mut ws).await;
    assert_eq!(code, Some(1013));
    assert_eq!(end, Ok(()));
}

/// Whether `ws` is served: a ping is answered.
async fn answers_ping(ws: &mut Ws) -> bool {
    send(ws, json!({"type": "ping"})).await;
    next_json(ws).await.is_some_and(|m| m["type"] == "pong")
}

#[tokio::test]
async fn websockets_per_address_are_capped_with_close_code_1013() {
    let t = TestApp::with(|c| c.ws_max_per_address = 2).await;
    let addr = t.serve_tcp().await;
    let mut first = connect(addr).await;
    let mut second = connect(addr).await;
    assert!(answers_ping(&mut first).await && answers_ping(&mut second).await);
    assert_refused_for_too_many_connections(addr).await;
    // A closed connection gives its place back.
    drop(first);
    let mut third = None;
    for _ in 0..100 {
        if t.state.rooms.ws_connections.total() < 2 {
            third = Some(connect(addr).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut third = third.expect("the dropped connection's place came back");
    assert!(answers_ping(&mut third).await);
    assert!(answers_ping(&mut second).await, "the others are untouched");
}

#[tokio::test]
async fn websockets_in_total_are_capped_with_close_code_1013() {
    let t = TestApp::with(|c| {
        c.ws_max_per_address = 100;
        c.ws_max_connections = 3;
    })
    .await;
    let addr = t.serve_tcp().await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(addr).await;
        assert!(answers_ping(&mut ws).await);
        open.push(ws);
    }
    assert_refused_for_too_many_connections(addr).await;
    assert_eq!(t.state.rooms.ws_connections.total(), 3);
}

fn texts(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Paging back through the database (SQLite or PostgreSQL, by `CONFIDANT_TEST_BACKEND`): the
/// page after `joined` holds the latest 50, `chat_history` with `before` the older ones.
#[tokio::test]
async fn chat_history_pages_back_through_the_database() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (mut host, mut client) = host_and_client(&t, addr, &cookie, &s, "Client").await;
    // Within the message rate's burst (60).
    for i in 0..55 {
        send(
            &mut host,
            json!({"type": "chat", "text": format!("note {i}")}),
        )
        .await;
        until(&mut client, "chat").await;
    }
    let (mut late, _) = join_as_host(&t, addr, &cookie, id).await;
    let latest = until(&mut late, "chat_history").await;
    assert_eq!(
        texts(&latest),
        (5..55).map(|i| format!("note {i}")).collect::<Vec<_>>()
    );
    assert_eq!(latest["more"], true);
    assert_eq!(latest["messages"][0]["name"], "Anna");
    let before = latest["messages"][0]["id"].clone();
    send(&mut late, json!({"type": "chat_history", "before": before})).await;
    let older = until(&mut late, "chat_history").await;
    assert_eq!(
        texts(&older),
        (0..5).map(|i| format!("note {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        (older["more"].as_bool(), &older["before"]),
        (Some(false), &before)
    );
    // A message id of another room is not found in this one.
    let other = t.create_session(&cookie, None).await;
    let (mut other_host, _) = join_as_host(&t, addr, &cookie, other["id"].as_str().unwrap()).await;
    send(
        &mut other_host,
        json!({"type": "chat", "text": "elsewhere"}),
    )
    .await;
    let foreign = until(&mut other_host, "chat").await["id"].clone();
    send(
        &mut late,
        json!({"type": "chat_history", "before": foreign}),
    )
    .await;
    assert_eq!(until(&mut late, "error").await["code"], "not_found");
}

/// The per-room cap, checked by the database: messages, then bytes.
#[tokio::test]
async fn chat_beyond_the_room_cap_is_refused_with_chat_full() {
    let t = TestApp::with(|c| c.chat_max_messages = 3).await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let (mut host, _) = join_as_host(&t, addr, &cookie, s["id"].as_str().unwrap()).await;
    for i in 0..3 {
        send(&mut host, json!({"type": "chat", "text": format!("m{i}")})).await;
        until(&mut host, "chat").await;
    }
    send(&mut host, json!({"type": "chat", "text": "m3"})).await;
    let err = until(&mut host, "error").await;
    assert_eq!(err["code"], "chat_full", "{err}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chat_messages")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(count, 3);

    let t = TestApp::with(|c| c.chat_max_bytes = 65_536).await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let (mut host, _) = join_as_host(&t, addr, &cookie, s["id"].as_str().unwrap()).await;
    let mut sent = 0;
    loop {
        assert!(sent < 40, "64 KiB never filled");
        send(&mut host, json!({"type": "chat", "text": "x".repeat(3000)})).await;
        let mut m = next_json(&mut host).await.unwrap();
        while m["type"] != "chat" && m["type"] != "error" {
            m = next_json(&mut host).await.unwrap();
        }
        if m["type"] == "error" {
            assert_eq!(m["code"], "chat_full");
            break;
        }
        assert_eq!(m["type"], "chat");
        sent += 1;
    }
    let stored: i64 = sqlx::query_scalar("SELECT SUM(LENGTH(sealed)) FROM chat_messages")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert!(
        stored <= 65_536 && stored + 3000 > 65_536,
        "{sent} stored, {stored} bytes"
    );
    // A shorter message still fits.
    send(&mut host, json!({"type": "chat", "text": "ok"})).await;
    assert_eq!(until(&mut host, "chat").await["text"], "ok");
}

async fn chat_rows(t: &TestApp, room: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM chat_messages WHERE room = $1")
        .bind(room)
        .fetch_one(&t.state.db)
        .await
        .unwrap()
}

/// The retention job, with the clock moved forward: chat goes `--chat-retention-days` after
/// its session ended or expired, not before, not while someone is still in the room, and the
/// session itself stays.
#[tokio::test]
async fn chat_is_deleted_with_the_session_under_the_retention_setting() {
    use confidant::retention::{purge_chat, ChatPurged};
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;

    // Session A: chat, then the counsellor ends it.
    let a = t.create_session(&cookie, None).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let (mut host, mut client) = host_and_client(&t, addr, &cookie, &a, "Client").await;
    send(&mut client, json!({"type": "chat", "text": "in session A"})).await;
    until(&mut host, "chat").await;
    send(&mut host, json!({"type": "end_session"})).await;
    until(&mut host, "session_ended").await;
    // Session B: still open, with chat (its link expires in a day: --link-ttl-minutes 1440).
    let b = t.create_session(&cookie, None).await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let (mut b_host, _) = join_as_host(&t, addr, &cookie, &b_id).await;
    send(&mut b_host, json!({"type": "chat", "text": "in session B"})).await;
    until(&mut b_host, "chat").await;
    let now = confidant::db::now_ms();

    let none = ChatPurged::default();
    assert_eq!(purge_chat(&t.state.db, now, DAY, &[]).await.unwrap(), none);
    assert_eq!(
        purge_chat(&t.state.db, now + DAY_MS / 2, DAY, &[])
            .await
            .unwrap(),
        none,
        "A ended only half a day ago"
    );
    assert_eq!(
        purge_chat(&t.state.db, now + DAY_MS + 60_000, DAY, &[])
            .await
            .unwrap(),
        ChatPurged {
            sessions: 1,
            messages: 1
        }
    );
    assert_eq!(
        (chat_rows(&t, &a_id).await, chat_rows(&t, &b_id).await),
        (0, 1)
    );
    // B expired a day ago at now + 2 days; while its room is live, its chat stays.
    let later = now + 2 * DAY_MS + 60_000;
    let live = t.state.hub.live_rooms();
    assert!(live.contains(&b_id));
    assert_eq!(
        purge_chat(&t.state.db, later, DAY, &live).await.unwrap(),
        none
    );
    assert_eq!(
        purge_chat(&t.state.db, later, DAY, &[]).await.unwrap(),
        ChatPurged {
            sessions: 1,
            messages: 1
        }
    );
    assert_eq!(chat_rows(&t, &b_id).await, 0);
    // Idempotent; the sessions themselves are kept (their own retention is another job's).
    assert_eq!(
        purge_chat(&t.state.db, later, DAY, &[]).await.unwrap(),
        none
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(sessions, 2);
    // With the default (0 days) an ended session's chat goes at the next round.
    assert_eq!(t.settings().chat_retention, Duration::ZERO);
}

/// Lets the wall clock move past the last message, so an admission comes strictly later (chat
/// times have milliseconds).
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

/// Chat honesty through the database (SQLite or PostgreSQL, by `CONFIDANT_TEST_BACKEND`): a
/// client admitted later does not see what was said before; the counsellor's share is stored
/// with the session, so it reaches clients admitted after the room left the hub's memory.
#[tokio::test]
async fn a_later_client_sees_earlier_chat_only_once_shared_and_the_share_is_stored() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let (_, cookie) = t.counsellor("a@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let (mut host, mut first) = host_and_client(&t, addr, &cookie, &s, "Client").await;
    send(
        &mut host,
        json!({"type": "chat", "text": "before the second"}),
    )
    .await;
    until(&mut first, "chat").await;
    next_millisecond().await;

    let (mut second, token) = knock_and_be_admitted(addr, &mut host, &s).await;
    send(
        &mut second,
        json!({"type": "join", "v": 1, "room": id, "token": token}),
    )
    .await;
    assert!(texts(&until(&mut second, "chat_history").await).is_empty());
    send(&mut host, json!({"type": "chat", "text": "welcome"})).await;
    let welcome = until(&mut second, "chat").await["id"].clone();
    // Paging back from its first message finds nothing earlier: the gap is left out in SQL.
    send(
        &mut second,
        json!({"type": "chat_history", "before": welcome}),
    )
    .await;
    let older = until(&mut second, "chat_history").await;
    assert_eq!(
        (texts(&older).len(), older["more"].as_bool()),
        (0, Some(false))
    );

    // A client cannot share; the counsellor can.
    send(&mut second, json!({"type": "chat_share_history"})).await;
    assert_eq!(until(&mut second, "error").await["code"], "forbidden");
    send(&mut host, json!({"type": "chat_share_history"})).await;
    let shared = until(&mut host, "chat_shared").await;
    until(&mut second, "chat_shared").await;
    assert_eq!(
        texts(&until(&mut second, "chat_history").await),
        ["before the second", "welcome"]
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT chat_shared_until FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert_eq!(stored.as_deref(), shared["until"].as_str());

    // Everyone leaves: the room is gone from memory. A client admitted later still sees what
    // was shared, read from the database, and not what came after the share.
    send(
        &mut host,
        json!({"type": "chat", "text": "after the share"}),
    )
    .await;
    until(&mut second, "chat").await;
    // Kept open until the room is gone: a dropped socket is a disconnect (resumable), not a
    // leave.
    let mut gone = [host, first, second];
    for ws in gone.iter_mut() {
        send(ws, json!({"type": "leave"})).await;
    }
    for _ in 0..200 {
        if t.state.hub.live_rooms().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        t.state.hub.live_rooms().is_empty(),
        "the room stayed in memory"
    );
    drop(gone);
    next_millisecond().await;
    let (mut host, _) = join_as_host(&t, addr, &cookie, id).await;
    let (mut third, token) = knock_and_be_admitted(addr, &mut host, &s).await;
    send(
        &mut third,
        json!({"type": "join", "v": 1, "room": id, "token": token}),
    )
    .await;
    assert_eq!(
        texts(&until(&mut third, "chat_history").await),
        ["before the second", "welcome"]
    );
}
