//! Booking through the HTTP API on the real database (SQLite and PostgreSQL): forms, slots,
//! the no-double-booking rule under a 100-way race, rate limits, cancel and reschedule links.

mod common;

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use common::booking::{book, bookable, consent, contact_consent, form, slots, Bookable};
use common::{request, Backend, TestApp};
use confidant_booking::token::{self, Purpose};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The cancel or reschedule link token the server would put in a mail for `booking_id` at
/// `sequence` (the key is derived from the same vault).
fn link_token(t: &TestApp, purpose: Purpose, booking_id: &str, sequence: i64) -> String {
    let key = t.state.vault.derive_secret(confidant::BOOKING_LINK_PURPOSE);
    token::sign(
        &key,
        purpose,
        &format!("{booking_id}.{sequence}"),
        i64::MAX / 2,
    )
}

async fn outbox_kinds(t: &TestApp, booking_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM mail_outbox WHERE booking_id = $1 ORDER BY kind")
        .bind(booking_id)
        .fetch_all(&t.state.db)
        .await
        .unwrap()
}

async fn flow(backend: Backend) {
    let t = TestApp::build_with(backend, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let free = slots(&t, &b).await;
    assert!(
        free.len() > 20,
        "hours 08–20 every day give many slots: {}",
        free.len()
    );
    let consent = consent(&t, &b.slug).await;

    let r = book(&t, &b, form(&b, &free[0], &consent, "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let booking = r.json();
    assert_eq!(booking["status"], "confirmed");
    let id = booking["id"].as_str().unwrap().to_owned();
    // The slot and the next one (its 10-minute buffer reaches into it? no: steps are 60
    // minutes, 50 + 10 fit exactly) — only the booked one is gone.
    let after = slots(&t, &b).await;
    assert!(!after.contains(&free[0]));
    assert!(after.contains(&free[1]));
    // Client confirmation, counsellor notification and the reminder are queued, sealed.
    assert_eq!(
        outbox_kinds(&t, &id).await,
        ["confirmation", "counsellor_new", "reminder"]
    );
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed FROM mail_outbox")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    for s in sealed {
        assert!(!String::from_utf8_lossy(&s).contains("alex@client.example"));
    }
    let client: Vec<u8> = sqlx::query_scalar("SELECT client_sealed FROM bookings WHERE id = $1")
        .bind(&id)
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&client).contains("Alex"));
    // The consent ledger keeps the exact text shown.
    let (sha, body): (String, String) = sqlx::query_as(
        "SELECT c.sha256, c.body FROM bookings b JOIN consent_texts c ON c.sha256 = b.consent_sha256 WHERE b.id = $1",
    )
    .bind(&id)
    .fetch_one(&t.state.db)
    .await
    .unwrap();
    assert_eq!(sha, consent);
    assert_eq!(confidant::db::sha256_hex(&body), consent);

    // A second booking of the same slot is refused with 409.
    let r = book(&t, &b, form(&b, &free[0], &consent, "Kim")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.error_code(), "slot_taken");

    // The counsellor sees it, with the client's details.
    let r = t.get("/api/booking/bookings", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["first_name"], "Alex");
    assert_eq!(list[0]["email"], "alex@client.example");
    assert!(
        list[0]["session_id"].is_string(),
        "a video booking has a room"
    );

    // Reschedule through the link: same booking, new time, old links die.
    let resched = link_token(&t, Purpose::Reschedule, &id, 0);
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": resched, "start": free[3]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["start"].as_str().unwrap(), free[3]);
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": resched, "start": free[4]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "token");
    assert!(
        slots(&t, &b).await.contains(&free[0]),
        "the old time is free again"
    );

    // A cancel link cannot reschedule, and a reschedule link cannot cancel.
    let cancel = link_token(&t, Purpose::Cancel, &id, 1);
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": cancel, "start": free[5]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .post(
            "/api/public/bookings/lookup",
            None,
            Some(json!({"token": cancel})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["purpose"], "cancel");
    assert_eq!(r.json()["booking"]["start"].as_str().unwrap(), free[3]);

    // Cancel through the link: the slot is free again and the client gets METHOD:CANCEL.
    let r = t
        .post(
            "/api/public/bookings/cancel",
            None,
            Some(json!({"token": cancel, "reason": "krank"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    assert!(slots(&t, &b).await.contains(&free[3]));
    let kinds = outbox_kinds(&t, &id).await;
    assert!(kinds.contains(&"cancellation".to_owned()), "{kinds:?}");
    assert!(
        kinds.contains(&"counsellor_cancelled".to_owned()),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"reminder".to_owned()),
        "the reminder is dropped: {kinds:?}"
    );
    let r = t
        .post(
            "/api/public/bookings/cancel",
            None,
            Some(json!({"token": cancel})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the link died with the change"
    );
    // Someone else can book the freed slot.
    let r = book(&t, &b, form(&b, &free[3], &consent, "Kim")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]
async fn book_reschedule_cancel_and_rebook_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn book_reschedule_cancel_and_rebook_on_postgres() {
    flow(Backend::Postgres).await;
}

/// One raw HTTP/1.1 request over its own TCP connection; returns (status, body).
async fn http_post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status: u16 = text[9..12].parse().unwrap();
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

async fn race(backend: Backend) {
    let t = TestApp::build_with(backend, |c| c.form_burst = 1000).await;
    let b = bookable(&t, "r@example.org", "race", "video", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let addr = t.serve_tcp().await;
    let path = format!("/api/public/counsellors/{}/bookings", b.slug);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let body = form(&b, &free[0], &consent, &format!("Client{i}"));
        let path = path.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            http_post(addr, &path, &body).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["error"]["code"], "slot_taken", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        created, 1,
        "exactly one of 100 concurrent requests books the slot"
    );
    let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings WHERE active = 1")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(active, 1);
    // Mails exist for the winner only.
    let mails: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE kind = 'confirmation'")
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert_eq!(mails, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_requests_for_one_slot_book_it_once_on_sqlite() {
    race(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_requests_for_one_slot_book_it_once_on_postgres() {
    race(Backend::Postgres).await;
}

#[tokio::test]
async fn overlapping_starts_of_different_types_are_refused_by_the_database() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let b = bookable(
        &t,
        "o@example.org",
        "overlap",
        "video",
        json!({"slot_step_min": 30}),
    )
    .await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    assert_eq!(
        book(&t, &b, form(&b, &free[0], &consent, "A")).await.status,
        StatusCode::CREATED
    );
    // 30 minutes later overlaps the first (50 minutes + 10 buffer).
    let r = book(&t, &b, form(&b, &free[1], &consent, "B")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(
        book(&t, &b, form(&b, &free[2], &consent, "C")).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn every_bad_field_is_named_at_once() {
    let t = TestApp::new().await;
    let b = bookable(&t, "f@example.org", "fields", "phone", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["first_name"] = json!("");
    body["email"] = json!("not-an-address");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let fields: Vec<(String, String)> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().into(),
                f["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("first_name".into(), "required".into()),
            ("email".into(), "invalid".into()),
            ("phone".into(), "required".into())
        ]
    );
    // A time that is no slot, a stale consent and an unknown field are named too.
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["phone"] = json!("+49 30 1234567");
    body["start"] = json!("2020-01-01T10:00:00Z");
    let r = book(&t, &b, body.clone()).await;
    assert_eq!(r.json()["error"]["field"], "start", "{}", r.text());
    body["start"] = json!(free[0]);
    body["consent_sha256"] = json!("0".repeat(64));
    let r = book(&t, &b, body.clone()).await;
    assert_eq!(r.json()["error"]["field"], "consent_sha256", "{}", r.text());
    body["consent_sha256"] = json!(consent);
    body["admin"] = json!(true);
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "admin", "{}", r.text());
}

#[tokio::test]
async fn public_forms_are_rate_limited_per_network_with_retry_after() {
    let t = TestApp::new().await; // default: 5 at once
    let b = bookable(&t, "l@example.org", "limited", "video", json!({})).await;
    let consent = contact_consent(&t, &b.slug).await;
    let contact = json!({"name": "Kim", "email": "kim@client.example", "message": "Hallo", "consent_sha256": consent});
    for _ in 0..5 {
        let r = t
            .post(
                "/api/public/counsellors/limited/contact",
                None,
                Some(contact.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let r = t
        .post(
            "/api/public/counsellors/limited/contact",
            None,
            Some(contact),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn contact_form_has_its_own_consent_text_without_the_appointment() {
    let t = TestApp::new().await;
    let b = bookable(&t, "k@example.org", "kontakt", "video", json!({})).await;
    let page = t
        .get("/api/public/counsellors/kontakt?lang=de", None)
        .await
        .json();
    let text = page["contact_consent"]["text"].as_str().unwrap();
    // A message has no appointment: the text speaks of the message and the answer only.
    assert!(!text.contains("Termin"), "{text}");
    assert!(text.contains("Nachricht"), "{text}");
    assert_ne!(page["contact_consent"]["sha256"], page["consent"]["sha256"]);
    let body = |consent: &str| json!({"name": "Kim", "email": "kim@client.example", "message": "Hallo", "consent_sha256": consent, "lang": "de"});
    // The booking form's text was not shown with the contact form: refused, naming the field.
    let booking_consent = consent(&t, &b.slug).await;
    let r = t
        .post(
            "/api/public/counsellors/kontakt/contact",
            None,
            Some(body(&booking_consent)),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "consent_sha256");
    let r = t
        .post(
            "/api/public/counsellors/kontakt/contact",
            None,
            Some(body(&contact_consent(&t, &b.slug).await)),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    // The message records the text that was shown, and the ledger holds that text.
    let shown: String = sqlx::query_scalar(
        "SELECT c.body FROM contact_messages m JOIN consent_texts c ON c.sha256 = m.consent_sha256",
    )
    .fetch_one(&t.state.db)
    .await
    .unwrap();
    assert_eq!(shown, text);
}

#[tokio::test]
async fn a_filled_honeypot_is_refused() {
    let t = TestApp::new().await;
    let b = bookable(&t, "h@example.org", "honey", "video", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Bot");
    body["website"] = json!("http://spam.example");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "website");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn bookings_that_need_confirmation_wait_and_can_be_declined() {
    let t = TestApp::new().await;
    let b = bookable(
        &t,
        "c@example.org",
        "confirm",
        "on_site",
        json!({"requires_confirmation": true}),
    )
    .await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["address"] = json!("Musterweg 2, 10115 Berlin");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["status"], "pending");
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert!(
        !slots(&t, &b).await.contains(&free[0]),
        "a pending booking holds its slot"
    );
    assert_eq!(outbox_kinds(&t, &id).await, ["counsellor_new", "pending"]);
    let r = t
        .send(request(
            Method::POST,
            &format!("/api/booking/bookings/{id}/decline"),
            Some(&b.cookie),
            Some(json!({"reason": "Urlaub"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "declined");
    assert_eq!(r.json()["reason"], "Urlaub");
    assert!(slots(&t, &b).await.contains(&free[0]));
    assert!(outbox_kinds(&t, &id).await.contains(&"declined".to_owned()));
    // Declining twice is a conflict; another counsellor cannot see it.
    let r = t
        .post(
            &format!("/api/booking/bookings/{id}/confirm"),
            Some(&b.cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let (_, other) = t.counsellor("x@example.org", "X").await;
    let r = t
        .post(
            &format!("/api/booking/bookings/{id}/confirm"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn counsellor_settings_are_validated() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("s@example.org", "S").await;
    let put = |body: Value| {
        request(
            Method::PUT,
            "/api/booking/profile",
            Some(&cookie),
            Some(body),
        )
    };
    let r = t
        .send(put(
            json!({"slug": "A b", "time_zone": "Europe/Berlin", "lang": "de"}),
        ))
        .await;
    assert_eq!(r.json()["error"]["field"], "slug");
    let r = t
        .send(put(
            json!({"slug": "ok-slug", "time_zone": "Mars/Olympus", "lang": "de"}),
        ))
        .await;
    assert_eq!(r.json()["error"]["field"], "time_zone");
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/availability",
            Some(&cookie),
            Some(json!({"weekly": [{"weekday": "mon", "start": "10:00", "end": "09:00"}]})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "weekly");
    let r = t
        .post(
            "/api/booking/types",
            Some(&cookie),
            Some(json!({"name": "X", "kind": "on_site", "duration_min": 50})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "location");
    let r = t
        .post(
            "/api/booking/types",
            Some(&cookie),
            Some(json!({"name": "X", "kind": "video", "duration_min": 1})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "duration_min");
    // Unknown pages and types are 404, not 500.
    let r = t.get("/api/public/counsellors/nobody", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _ = Bookable {
        cookie: String::new(),
        slug: String::new(),
        type_id: String::new(),
    };
}

/// The reschedule page lists where a booking may go: its own time counts as free there (so it
/// can move by less than its length), other bookings do not; only a reschedule link opens it.
#[tokio::test]
async fn reschedule_slots_leave_out_other_bookings_but_not_the_moving_one() {
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    // 30-minute steps for a 50-minute appointment: neighbouring starts overlap.
    let b = bookable(
        &t,
        "w@example.org",
        "weiss",
        "video",
        json!({"slot_step_min": 30, "buffer_after_min": 0}),
    )
    .await;
    let free = slots(&t, &b).await;
    let c = consent(&t, &b.slug).await;
    let mine = book(&t, &b, form(&b, &free[2], &c, "Alex")).await.json();
    let other = book(&t, &b, form(&b, &free[6], &c, "Kim")).await.json();
    assert_eq!(other["status"], "confirmed");
    let id = mine["id"].as_str().unwrap();

    let reschedule = link_token(&t, Purpose::Reschedule, id, 0);
    let r = t
        .post(
            "/api/public/bookings/slots",
            None,
            Some(json!({"token": reschedule})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let starts: Vec<String> = r.json()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect();
    let public = slots(&t, &b).await;
    for near in [&free[1], &free[2], &free[3]] {
        assert!(
            !public.contains(near),
            "{near} overlaps the booking on the public page"
        );
        assert!(
            starts.contains(near),
            "{near} is a place the booking may move to"
        );
    }
    assert!(
        !starts.contains(&free[6]),
        "another client's booking still blocks"
    );

    // Moving half an hour later works although it overlaps the old time.
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": reschedule, "start": free[3]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let cancel = link_token(&t, Purpose::Cancel, id, 1);
    let r = t
        .post(
            "/api/public/bookings/slots",
            None,
            Some(json!({"token": cancel})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a cancel link lists nothing"
    );
    let r = t
        .post(
            "/api/public/bookings/slots",
            None,
            Some(json!({"token": reschedule})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old link is spent once the booking moved"
    );
}
