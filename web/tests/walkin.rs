//! Walk-ins through the real app: talk-now offer, queue with a name only, ring on the
//! dashboard, accept opening an instant session the client joins directly over a real
//! websocket (no lobby), presence following the session, pass, ring timeout, leaving, the
//! 30 s grace, bad input and the rate limit.
//!
//! Time-dependent steps call `confidant::walkin::sync(state, now)` with an explicit later
//! `now` instead of sleeping.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use common::ws::{connect, join_as_host, send, Ws};
use common::{request, Backend, Resp, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn app() -> TestApp {
    TestApp::build_with(Backend::from_env(), |c| c.form_burst = 100).await
}

async fn put(t: &TestApp, path: &str, cookie: &str, body: Value) -> Resp {
    t.send(request(Method::PUT, path, Some(cookie), Some(body)))
        .await
}

/// A counsellor with page slug `slug` who takes walk-ins with these topics and languages and
/// is available at the dashboard: `(id, cookie)`.
async fn walkin_counsellor(
    t: &TestApp,
    slug: &str,
    topics: Value,
    languages: Value,
) -> (String, String) {
    let (id, cookie) = t
        .counsellor(
            &format!("{slug}@example.org"),
            &format!("Counsellor {slug}"),
        )
        .await;
    sqlx::query("UPDATE counsellors SET slug = $1 WHERE id = $2")
        .bind(slug)
        .bind(&id)
        .execute(&t.state.db)
        .await
        .unwrap();
    let r = put(
        t,
        "/api/walkin/profile",
        &cookie,
        json!({"enabled": true, "topics": topics, "languages": languages}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = put(
        t,
        "/api/walkin/presence",
        &cookie,
        json!({"presence": "available"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["presence"], "available");
    (id, cookie)
}

async fn enter(t: &TestApp, body: Value) -> Resp {
    t.post("/api/public/walkin/queue", None, Some(body)).await
}

async fn status(t: &TestApp, cookie: &str) -> Value {
    let r = t.get("/api/walkin/status", Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn until(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("server answers in time")
            .unwrap_or_else(|| panic!("closed before {ty}"))
            .unwrap();
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["type"] == ty {
                return v;
            }
            assert_ne!(
                v["type"], "lobby_waiting",
                "a walk-in never waits in the lobby"
            );
            assert_ne!(v["type"], "error", "{v}");
        }
    }
}

#[tokio::test]
async fn talk_now_rings_accept_connects_the_client_directly_and_presence_follows() {
    let t = app().await;
    let (anna, cookie) = walkin_counsellor(
        &t,
        "anna",
        json!(["Family", "Debt"]),
        json!(["Deutsch", "English"]),
    )
    .await;

    let offer = t.get("/api/public/walkin", None).await.json();
    assert_eq!(offer["available"], true);
    assert_eq!(offer["topics"], json!(["Debt", "Family"]));
    assert!(
        offer.get("available_count").is_none(),
        "the centre does not show numbers"
    );
    let public = t.get("/api/public/walkin/anna", None).await.json();
    assert_eq!(
        (public["name"].as_str(), public["presence"].as_str()),
        (Some("Counsellor anna"), Some("available"))
    );

    let r = enter(
        &t,
        json!({"first_name": " Zebulon ", "last_name": "Quade", "topic": "Debt", "language": "English"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let ticket = r.json();
    assert_eq!(ticket["state"], "ringing");
    let tid = ticket["ticket"].as_str().unwrap().to_owned();
    assert!(tid.len() >= 40, "a long random secret");

    let s = status(&t, &cookie).await;
    let ring = &s["ring"];
    assert_eq!(
        (ring["first_name"].as_str(), ring["last_name"].as_str()),
        (Some("Zebulon"), Some("Quade"))
    );
    assert_eq!(
        (ring["topic"].as_str(), ring["language"].as_str()),
        (Some("Debt"), Some("English"))
    );
    let ring_id = ring["ring_id"].as_str().unwrap().to_owned();

    let r = t
        .post(
            &format!("/api/walkin/rings/{ring_id}/accept"),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let accepted = r.json();
    let session_id = accepted["session_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["host_url"], format!("/s/{session_id}"));
    // The session is an ordinary instant session of the counsellor, without client data.
    let session = t
        .get(&format!("/api/sessions/{session_id}"), Some(&cookie))
        .await
        .json();
    assert_eq!(session["title"], "Walk-in");
    assert_eq!(session["status"], "active");
    // Accepting again is refused: the ring is gone.
    let again = t
        .post(
            &format!("/api/walkin/rings/{ring_id}/accept"),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let view = t
        .get(&format!("/api/public/walkin/tickets/{tid}"), None)
        .await
        .json();
    assert_eq!(view["state"], "connected");
    assert_eq!(view["room"], session_id.as_str());
    assert_eq!(view["counsellor_name"], "Counsellor anna");
    let token = view["token"].as_str().unwrap().to_owned();

    // The client joins with the token at once: no knock, no lobby.
    let addr = t.serve_tcp().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "join", "v": 1, "room": session_id, "token": token}),
    )
    .await;
    let joined = until(&mut client, "joined").await;
    assert_eq!(joined["role"], "guest");
    assert_eq!(joined["name"], "Zebulon Quade");

    // The counsellor opens the call page (host token) and is in a session: busy.
    let (_host_ws, host_joined) = join_as_host(&t, addr, &cookie, &session_id).await;
    assert_eq!(host_joined["participants"][0]["name"], "Zebulon Quade");
    let s = status(&t, &cookie).await;
    assert_eq!(
        (s["presence"].as_str(), s["in_session"].as_bool()),
        (Some("busy"), Some(true))
    );
    assert_eq!(
        t.get("/api/public/walkin/anna", None).await.json()["presence"],
        "busy"
    );
    assert_eq!(
        t.get("/api/public/walkin", None).await.json()["available"],
        false
    );

    // The session ends: available again.
    let r = t
        .post(
            &format!("/api/sessions/{session_id}/end"),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let s = status(&t, &cookie).await;
    assert_eq!(
        (s["presence"].as_str(), s["in_session"].as_bool()),
        (Some("available"), Some(false))
    );
    assert!(t.state.walkin.core().presence(&anna, Utc::now()).is_some());
}

#[tokio::test]
async fn routing_by_topic_pass_and_unanswered_ring_move_on() {
    let t = TestApp::build_with(Backend::from_env(), |c| {
        c.form_burst = 100;
        c.walkin_ring_seconds = 5;
    })
    .await;
    let (_, anna) = walkin_counsellor(&t, "anna", json!(["Family"]), json!([])).await;
    let (_, ben) = walkin_counsellor(&t, "ben", json!(["Family", "Debt"]), json!([])).await;

    // Only Ben offers debt.
    let r = enter(
        &t,
        json!({"first_name": "A", "last_name": "B", "topic": "Debt"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let tid = r.json()["ticket"].as_str().unwrap().to_owned();
    assert!(status(&t, &anna).await["ring"].is_null());
    let ring = status(&t, &ben).await["ring"].clone();
    assert!(ring.is_object());
    // Ben passes; nobody else offers debt, so the client waits.
    let r = t
        .post(
            &format!(
                "/api/walkin/rings/{}/pass",
                ring["ring_id"].as_str().unwrap()
            ),
            Some(&ben),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(status(&t, &ben).await["ring"].is_null());
    let view = t
        .get(&format!("/api/public/walkin/tickets/{tid}"), None)
        .await
        .json();
    assert_eq!(
        (view["state"].as_str(), view["position"].as_u64()),
        (Some("waiting"), Some(1))
    );
    t.post(
        &format!("/api/public/walkin/tickets/{tid}/leave"),
        None,
        None,
    )
    .await;

    // A family client rings one of the two; unanswered, the ring moves to the other after 5 s.
    let r = enter(
        &t,
        json!({"first_name": "C", "last_name": "D", "topic": "Family"}),
    )
    .await;
    let tid = r.json()["ticket"].as_str().unwrap().to_owned();
    let (first, second) = if status(&t, &anna).await["ring"].is_object() {
        (&anna, &ben)
    } else {
        (&ben, &anna)
    };
    assert!(status(&t, second).await["ring"].is_null());
    let later = Utc::now() + chrono::Duration::seconds(6);
    {
        // Both dashboards and the client are still there at `later`.
        let mut core = t.state.walkin.core();
        for c in core.counsellor_ids() {
            core.handle_heartbeat(&c, later);
        }
        core.handle_ticket_seen(&tid, later);
    }
    confidant::walkin::sync(&t.state.walkin, later)
        .await
        .unwrap();
    let s = status(&t, first).await;
    assert!(s["ring"].is_null());
    assert_eq!(
        (s["presence"].as_str(), s["missed_ring"].as_bool()),
        (Some("away"), Some(true))
    );
    assert!(status(&t, second).await["ring"].is_object(), "moved on");
}

#[tokio::test]
async fn leaving_frees_the_place_and_a_dropped_client_is_given_up_after_30_s() {
    let t = app().await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    let first = enter(&t, json!({"first_name": "A", "last_name": "A"}))
        .await
        .json();
    let second = enter(&t, json!({"first_name": "B", "last_name": "B"}))
        .await
        .json();
    assert_eq!(first["state"], "ringing");
    // The first is being rung and still ahead.
    assert_eq!(
        (second["state"].as_str(), second["position"].as_u64()),
        (Some("waiting"), Some(2))
    );
    assert_eq!(status(&t, &cookie).await["waiting"], 2);
    let metrics = t.get("/metrics", None).await.text();
    assert!(metrics.contains("confidant_walkin_queue 2"), "{metrics}");
    assert!(
        metrics.contains("confidant_walkin_available 1"),
        "{metrics}"
    );
    let (t1, t2) = (
        first["ticket"].as_str().unwrap(),
        second["ticket"].as_str().unwrap(),
    );

    // The first leaves: its ring is withdrawn and the second is rung.
    let r = t
        .post(
            &format!("/api/public/walkin/tickets/{t1}/leave"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .post(
            &format!("/api/public/walkin/tickets/{t1}/leave"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "idempotent");
    assert_eq!(
        t.get(&format!("/api/public/walkin/tickets/{t1}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let s = status(&t, &cookie).await;
    assert_eq!(s["ring"]["first_name"], "B");

    // The second stops asking after this: still there at 29 s, gone at 30 s.
    assert_eq!(
        t.get(&format!("/api/public/walkin/tickets/{t2}"), None)
            .await
            .status,
        StatusCode::OK
    );
    let now = Utc::now();
    {
        let mut core = t.state.walkin.core();
        for c in core.counsellor_ids() {
            core.handle_heartbeat(&c, now + chrono::Duration::seconds(29));
        }
    }
    confidant::walkin::sync(&t.state.walkin, now + chrono::Duration::seconds(29))
        .await
        .unwrap();
    assert!(t
        .state
        .walkin
        .core()
        .ticket(t2, now + chrono::Duration::seconds(29))
        .is_some());
    confidant::walkin::sync(&t.state.walkin, now + chrono::Duration::seconds(31))
        .await
        .unwrap();
    assert_eq!(
        t.get(&format!("/api/public/walkin/tickets/{t2}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Unknown and malformed tickets are simply not found.
    for bad in ["nope", "a%2Fb", &"x".repeat(300)] {
        assert_eq!(
            t.get(&format!("/api/public/walkin/tickets/{bad}"), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn nobody_available_refuses_the_queue_and_the_offer_says_so() {
    let t = TestApp::build_with(Backend::from_env(), |c| c.walkin_show_count = true).await;
    let offer = t.get("/api/public/walkin", None).await.json();
    assert_eq!(
        (
            offer["available"].as_bool(),
            offer["available_count"].as_u64()
        ),
        (Some(false), Some(0))
    );
    let r = enter(&t, json!({"first_name": "A", "last_name": "B"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "conflict");

    // A counsellor who is away does not make anyone available either.
    let (_, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    put(
        &t,
        "/api/walkin/presence",
        &cookie,
        json!({"presence": "away"}),
    )
    .await;
    assert_eq!(
        t.get("/api/public/walkin", None).await.json()["available"],
        false
    );
    assert_eq!(
        enter(&t, json!({"first_name": "A", "last_name": "B"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    put(
        &t,
        "/api/walkin/presence",
        &cookie,
        json!({"presence": "available"}),
    )
    .await;
    assert_eq!(
        t.get("/api/public/walkin", None).await.json()["available_count"],
        1
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let t = app().await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!(["Family"]), json!(["Deutsch"])).await;
    let field = |r: &Resp| {
        r.json()["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    for (body, want) in [
        (json!({"last_name": "B"}), "first_name"),
        (json!({"first_name": "", "last_name": "B"}), "first_name"),
        (
            json!({"first_name": "A", "last_name": "x".repeat(40)}),
            "last_name",
        ),
        (
            json!({"first_name": "A\u{7}", "last_name": "B"}),
            "first_name",
        ),
        // Bidi overrides and isolates, refused as the booking forms and the lobby refuse them.
        (
            json!({"first_name": "A", "last_name": "B\u{202E}nimda"}),
            "last_name",
        ),
        (
            json!({"first_name": "\u{2067}A", "last_name": "B"}),
            "first_name",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "topic": "Astrology"}),
            "topic",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "language": "Klingon"}),
            "language",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "website": "spam"}),
            "website",
        ),
        (
            json!({"first_name": "A", "last_name": "B", "email": "a@b.c"}),
            "email",
        ),
        (json!({"first_name": 5, "last_name": "B"}), "first_name"),
    ] {
        let r = enter(&t, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        assert_eq!(field(&r), want, "{body}");
    }
    let r = t
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri("/api/public/walkin/queue")
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = enter(
        &t,
        json!({"first_name": "A", "last_name": "B", "counsellor": "nobody"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The counsellor side.
    let r = put(
        &t,
        "/api/walkin/presence",
        &cookie,
        json!({"presence": "sleeping"}),
    )
    .await;
    assert_eq!(
        (r.status, field(&r)),
        (StatusCode::UNPROCESSABLE_ENTITY, "presence".into())
    );
    for (body, want) in [
        (
            json!({"enabled": true, "hours": [{"weekday": 7, "start_min": 0, "end_min": 60}]}),
            "hours",
        ),
        (
            json!({"enabled": true, "hours": [{"weekday": 1, "start_min": 600, "end_min": 600}]}),
            "hours",
        ),
        (json!({"enabled": true, "topics": [""]}), "topics"),
        (
            json!({"enabled": true, "topics": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
            "topics",
        ),
        (
            json!({"enabled": true, "languages": ["x".repeat(41)]}),
            "languages",
        ),
    ] {
        let r = put(&t, "/api/walkin/profile", &cookie, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        assert_eq!(field(&r), want, "{body}");
    }
    assert_eq!(
        t.post("/api/walkin/rings/999/accept", Some(&cookie), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post("/api/walkin/rings/999/pass", Some(&cookie), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Without a login the counsellor side is closed.
    assert_eq!(
        t.get("/api/walkin/status", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post("/api/walkin/rings/1/accept", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn entering_the_queue_is_rate_limited() {
    let t = TestApp::build_with(Backend::from_env(), |c| c.form_burst = 2).await;
    walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    for _ in 0..2 {
        assert_eq!(
            enter(&t, json!({"first_name": "A", "last_name": "B"}))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let r = enter(&t, json!({"first_name": "A", "last_name": "B"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn profile_round_trips_and_turning_walk_ins_off_withdraws_the_counsellor() {
    let t = app().await;
    let (_, cookie) = walkin_counsellor(
        &t,
        "anna",
        json!(["Family", " Family "]),
        json!(["Deutsch"]),
    )
    .await;
    let p = t.get("/api/walkin/profile", Some(&cookie)).await.json();
    assert_eq!(
        p["topics"],
        json!(["Family"]),
        "trimmed, duplicates dropped"
    );
    assert_eq!(t.get("/talk/anna", None).await.status, StatusCode::OK);
    assert_eq!(t.get("/talk", None).await.status, StatusCode::OK);
    assert_eq!(
        t.get("/talk/nobody", None).await.status,
        StatusCode::NOT_FOUND
    );

    let r = put(
        &t,
        "/api/walkin/profile",
        &cookie,
        json!({"enabled": false, "topics": [], "languages": [], "hours": [{"weekday": 0, "start_min": 540, "end_min": 720}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        t.get("/api/walkin/profile", Some(&cookie)).await.json()["hours"][0]["start_min"],
        540
    );
    assert_eq!(
        t.get("/talk/anna", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/public/walkin/anna", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/walkin/status", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_closed_dashboard_turns_away_after_a_short_grace() {
    let t = app().await;
    let (id, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    let r = t.post("/api/walkin/closed", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let now = Utc::now();
    let core = t.state.walkin.core();
    assert_eq!(
        core.presence(&id, now),
        Some(confidant::walkin::core::Presence::Available)
    );
    assert_eq!(
        core.presence(&id, now + confidant::walkin::core::CLOSE_GRACE),
        Some(confidant::walkin::core::Presence::Away)
    );
}

/// A walk-in named `first last` enters the queue and the ringing counsellor (`cookie`)
/// accepts: the client's ticket view, with the room and its join token.
async fn accepted_walk_in(t: &TestApp, cookie: &str, first: &str, last: &str) -> Value {
    let tid = enter(t, json!({"first_name": first, "last_name": last}))
        .await
        .json()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let ring = status(t, cookie).await["ring"]["ring_id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.post(
        &format!("/api/walkin/rings/{ring}/accept"),
        Some(cookie),
        None,
    )
    .await;
    t.get(&format!("/api/public/walkin/tickets/{tid}"), None)
        .await
        .json()
}

#[tokio::test]
async fn walk_in_names_are_not_stored() {
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    accepted_walk_in(&t, &cookie, "Zebulonius", "Quadrangle").await;
    assert_not_in_database(&t, &["Zebulonius", "Quadrangle"]).await;
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn walk_in_names_topics_and_tickets_are_not_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Current-thread test runtime: the guard covers the requests and the served websocket.
    let _guard = tracing::subscriber::set_default(subscriber);

    let t = app().await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!(["Gambling"]), json!([])).await;
    let r = enter(
        &t,
        json!({"first_name": "Zebulonius", "last_name": "Quadrangle", "topic": "Gambling"}),
    )
    .await;
    let tid = r.json()["ticket"].as_str().unwrap().to_owned();
    let ring = status(&t, &cookie).await["ring"]["ring_id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.post(
        &format!("/api/walkin/rings/{ring}/accept"),
        Some(&cookie),
        None,
    )
    .await;
    let view = t
        .get(&format!("/api/public/walkin/tickets/{tid}"), None)
        .await
        .json();
    let addr = t.serve_tcp().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "join", "v": 1, "room": view["room"], "token": view["token"]}),
    )
    .await;
    until(&mut client, "joined").await;
    t.post(
        &format!("/api/public/walkin/tickets/{tid}/leave"),
        None,
        None,
    )
    .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("walk-in accepted"), "{logs}");
    assert!(
        logs.contains("joined"),
        "the hub's lines are captured too: {logs}"
    );
    assert!(
        logs.contains("route=/api/public/walkin/tickets/{token}"),
        "{logs}"
    );
    for secret in ["Zebulonius", "Quadrangle", "Gambling", tid.as_str()] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

/// Every text the database holds, for a search: on SQLite the database files themselves
/// (checkpointed), on PostgreSQL every row of every table as text.
async fn database_text(t: &TestApp) -> Vec<u8> {
    if t.state.dialect == confidant::db::Dialect::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(FULL)")
            .execute(&t.state.db)
            .await
            .unwrap();
        let mut all = Vec::new();
        for entry in std::fs::read_dir(t.dir.path().join("data")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                all.extend(std::fs::read(&path).unwrap());
            }
        }
        return all;
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&t.state.db)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "chat_messages"), "{tables:?}");
    let mut all = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT r::text FROM {table} r"))
            .fetch_all(&t.state.db)
            .await
            .unwrap();
        for row in rows {
            all.extend(row.into_bytes());
            all.push(b'\n');
        }
    }
    all
}

/// Asserts that none of `words` is anywhere in the database (see [`database_text`]).
async fn assert_not_in_database(t: &TestApp, words: &[&str]) {
    let bytes = database_text(t).await;
    for word in words {
        assert!(
            !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
            "{word} found in the database"
        );
    }
}

/// A walk-in who chats leaves no name in the database, in clear or sealed: chat rows hold the
/// participant id, names stay in memory (README's promise). SQLite and PostgreSQL, by
/// `CONFIDANT_TEST_BACKEND`.
#[tokio::test]
async fn a_walk_in_who_chats_leaves_no_name_in_the_database() {
    let t = app().await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    let view = accepted_walk_in(&t, &cookie, "Zebulonius", "Quadrangle").await;
    let room = view["room"].as_str().unwrap().to_owned();
    let addr = t.serve_tcp().await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "join", "v": 1, "room": room, "token": view["token"]}),
    )
    .await;
    let joined = until(&mut client, "joined").await;
    let pid = joined["participant_id"].as_str().unwrap().to_owned();
    let (mut host_ws, _) = join_as_host(&t, addr, &cookie, &room).await;
    send(
        &mut client,
        json!({"type": "chat", "text": "a walk-in's first words"}),
    )
    .await;
    let chat = until(&mut host_ws, "chat").await;
    // Shown with the name, from memory.
    assert_eq!(chat["name"], "Zebulonius Quadrangle");

    assert_not_in_database(&t, &["Zebulonius", "Quadrangle"]).await;
    // Sealed rows, opened: the participant and the text, no name.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, sealed FROM chat_messages")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let key = t.state.vault.purpose_key(confidant::CHAT_PURPOSE);
    let plain = key
        .open(&rows[0].1, format!("chat/{room}/{}", rows[0].0).as_bytes())
        .unwrap();
    let opened: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        opened,
        json!({"participant_id": pid, "role": "guest", "text": "a walk-in's first words"})
    );
}

/// A first name or nickname is enough: the last name may be left out or empty, and the ring
/// shows the first name alone; a last name that is given is still checked.
#[tokio::test]
async fn a_first_name_alone_is_enough_to_queue() {
    let t = app().await;
    let (_, cookie) = walkin_counsellor(&t, "anna", json!([]), json!([])).await;
    let r = enter(&t, json!({"first_name": "Kim"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let ring = status(&t, &cookie).await["ring"].clone();
    assert_eq!(ring["first_name"], "Kim");
    assert_eq!(ring["last_name"], "");
    let r = enter(&t, json!({"first_name": "Sky", "last_name": "  "})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = enter(&t, json!({"first_name": "Sky", "last_name": "B\u{202E}x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "last_name");
}
