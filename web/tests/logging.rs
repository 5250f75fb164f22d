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

/// The real binary, its standard error a pipe (as under systemd or with `2>file`): the log has
/// no ANSI escape codes, even at the levels the terminal would colour (warnings included).
#[test]
fn logs_written_to_a_pipe_carry_no_ansi_colour_codes() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut child = common::server_command(dir.path(), &[]).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    // Read until the warning that mail stays queued (it follows "listening"), in a thread so
    // that the wait is bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take(200)
        {
            log.push_str(&line);
            log.push('\n');
            if line.contains("mail is queued") {
                break;
            }
        }
        let _ = tx.send(log);
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        if let Ok(log) = rx.try_recv() {
            break log;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("listening listen="), "{log}");
    assert!(
        log.contains("WARN"),
        "a warning is logged without --smtp-host: {log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape codes in a piped log:\n{log:?}"
    );
}
