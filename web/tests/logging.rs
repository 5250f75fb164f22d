//! Request logs name the route template, never the path or query (join tokens live in paths),
//! and no log line carries e-mail addresses or full client addresses.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use axum::http::Method;
use common::{link_token, request, TestApp, PASSWORD};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_route_templates_and_ids_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Current-thread test runtime: the guard covers every request below.
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = TestApp::new().await;
    let (counsellor_id, cookie) = t.counsellor("anna@example.org", "Anna Berg").await;
    let s = t
        .create_session(&cookie, Some(json!({"title": "Client Mustermann"})))
        .await;
    let id = s["id"].as_str().unwrap();
    let token = link_token(&s);
    t.get(&format!("/j/{token}?utm=query-secret"), None).await;
    t.get(&format!("/s/{id}"), Some(&cookie)).await;
    t.post(
        &format!("/api/sessions/{id}/host-token"),
        Some(&cookie),
        None,
    )
    .await;
    let mut failed = request(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"email": "anna@example.org", "password": "wrong password"})),
    );
    failed.extensions_mut().insert(ConnectInfo::<SocketAddr>(
        "198.51.100.77:5000".parse().unwrap(),
    ));
    t.send(failed).await;
    let mut ok = request(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"email": "anna@example.org", "password": PASSWORD})),
    );
    ok.extensions_mut().insert(ConnectInfo::<SocketAddr>(
        "198.51.100.77:5000".parse().unwrap(),
    ));
    t.send(ok).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("route=/j/{link_token}"), "{logs}");
    assert!(logs.contains("route=/s/{session_id}"), "{logs}");
    assert!(
        logs.contains(&counsellor_id),
        "counsellors are named by id: {logs}"
    );
    for secret in [
        token.as_str(),
        "query-secret",
        "anna@example.org",
        "Anna Berg",
        "Mustermann",
        PASSWORD,
        "wrong password",
        "198.51.100.77",
        cookie.trim_start_matches("confidant_session="),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} appears in the logs:\n{logs}"
        );
    }
    // The client's network may appear, anonymised.
    assert!(logs.contains("198.51.100.0/24"), "{logs}");
}
