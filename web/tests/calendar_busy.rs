//! External calendars as busy sources (issue 6), through real HTTP: a calendar server started
//! here on loopback serves an ICS file; the counsellor subscribes; events (one single, one
//! weekly with a moved instance) remove exactly their slots; an outage keeps the busy times and
//! shows the error; recovery; removal. On SQLite and PostgreSQL.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use common::booking::{book, bookable, consent, form, Bookable};
use common::{request, Backend, TestApp};
use serde_json::{json, Value};

/// What the calendar server answers, and how often it was asked.
#[derive(Clone, Default)]
struct Served {
    body: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
}

async fn serve_ics(State(s): State<Served>) -> impl IntoResponse {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = s.body.lock().unwrap().clone();
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "text/calendar")],
        body,
    )
}

async fn calendar_server(served: Served) -> SocketAddr {
    let app = axum::Router::new()
        .route("/cal.ics", axum::routing::get(serve_ics))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn berlin(d: NaiveDate, h: u32) -> DateTime<Utc> {
    Berlin
        .from_local_datetime(&d.and_hms_opt(h, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn ics(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
}

fn z(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

async fn free_starts(t: &TestApp, b: &Bookable, day: NaiveDate, days: i64) -> Vec<DateTime<Utc>> {
    let from = berlin(day, 0).to_rfc3339();
    let to = berlin(day + Duration::days(days), 0).to_rfc3339();
    let r = t
        .get(
            &format!(
                "/api/public/counsellors/{}/slots?type_id={}&from={}&to={}",
                b.slug,
                b.type_id,
                urlencode(&from),
                urlencode(&to)
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            DateTime::parse_from_rfc3339(s["start"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc)
        })
        .collect()
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn sources(t: &TestApp, b: &Bookable) -> Vec<Value> {
    let r = t.get("/api/calendar/sources", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json().as_array().unwrap().clone()
}

async fn busy_flow(backend: Backend) {
    let t = TestApp::build_with(backend, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let served = Served::default();
    let addr = calendar_server(served.clone()).await;

    // Hours are 08–20 Berlin, 50-minute slots every hour. A single event 11:00–11:30 on day
    // D, a weekly 14:00–15:00 from D (three times), its second instance moved to 17:00.
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let single = (berlin(day, 11), berlin(day, 11) + Duration::minutes(30));
    let weekly = |w: i64| berlin(day + Duration::days(7 * w), 14);
    let d = day.format("%Y%m%d");
    let d7 = (day + Duration::days(7)).format("%Y%m%d");
    let events = format!(
        "BEGIN:VEVENT\r\nUID:single@test\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:team@test\r\nDTSTART;TZID=Europe/Berlin:{d}T140000\r\nDTEND;TZID=Europe/Berlin:{d}T150000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:team@test\r\nRECURRENCE-ID;TZID=Europe/Berlin:{d7}T140000\r\nDTSTART;TZID=Europe/Berlin:{d7}T170000\r\nDTEND;TZID=Europe/Berlin:{d7}T180000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:free@test\r\nDTSTART;TZID=Europe/Berlin:{d}T090000\r\nDTEND;TZID=Europe/Berlin:{d}T100000\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
        z(single.0),
        z(single.1)
    );
    *served.body.lock().unwrap() = (200, ics(&events));
    let before = free_starts(&t, &b, day, 15).await;
    for s in [
        single.0,
        weekly(0),
        weekly(1),
        weekly(2),
        berlin(day + Duration::days(7), 17),
    ] {
        assert!(before.contains(&s), "{s} is free before the subscription");
    }

    let url = format!("http://{addr}/cal.ics");
    let r = t
        .post(
            "/api/calendar/sources",
            Some(&b.cookie),
            Some(json!({"url": url, "label": "Praxis"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let src = r.json();
    assert_eq!(src["last_error"], Value::Null, "{src}");
    assert_eq!(
        src["busy_count"], 4,
        "single + three weekly instances (one moved); the free one blocks nothing"
    );
    assert_eq!(src["host"], "127.0.0.1");
    let id = src["id"].as_str().unwrap().to_owned();
    // The URL is sealed at rest.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT url_sealed FROM busy_sources")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("cal.ics"));

    let after = free_starts(&t, &b, day, 15).await;
    let gone: Vec<_> = before
        .iter()
        .filter(|s| !after.contains(s))
        .copied()
        .collect();
    assert_eq!(
        gone,
        [
            single.0,
            weekly(0),
            berlin(day + Duration::days(7), 17),
            weekly(2)
        ],
        "exactly the busy slots are gone; the moved instance frees its original time"
    );
    assert!(after.contains(&weekly(1)));
    assert!(
        after.contains(&berlin(day, 9)),
        "a free (TRANSPARENT) event blocks nothing"
    );

    // Booking a busy time through the API directly is refused like a taken slot.
    let c = consent(&t, &b.slug).await;
    let r = book(&t, &b, form(&b, &single.0.to_rfc3339(), &c, "Alex")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "slot_taken");

    // Outage: the error shows, the busy times stay.
    *served.body.lock().unwrap() = (500, "boom".into());
    let r = t
        .post(
            &format!("/api/calendar/sources/{id}/sync"),
            Some(&b.cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let s = r.json();
    assert!(s["last_error"].as_str().unwrap().contains("500"), "{s}");
    assert_eq!(s["busy_count"], 4, "nothing is lost");
    assert!(!free_starts(&t, &b, day, 1).await.contains(&single.0));
    // Not yet due again (backoff); due later, the worker's round syncs it.
    let now = chrono::Utc::now().timestamp_millis();
    let hits = served.hits.load(Ordering::SeqCst);
    assert_eq!(
        confidant::booking::sources::sync_due(&t.state.booking, now)
            .await
            .unwrap(),
        0
    );
    *served.body.lock().unwrap() = (
        200,
        ics(&events.replace("UID:single@test", "UID:single@test\r\nSTATUS:CANCELLED")),
    );
    assert_eq!(
        confidant::booking::sources::sync_due(&t.state.booking, now + 61_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(served.hits.load(Ordering::SeqCst), hits + 1);
    let s = &sources(&t, &b).await[0];
    assert_eq!(s["last_error"], Value::Null, "{s}");
    assert_eq!(s["busy_count"], 3);
    assert!(
        free_starts(&t, &b, day, 1).await.contains(&single.0),
        "the cancelled event frees its slot"
    );

    // Junk input gets a clear error naming the field.
    for bad in ["ftp://x.example/a.ics", "no url", ""] {
        let r = t
            .post(
                "/api/calendar/sources",
                Some(&b.cookie),
                Some(json!({"url": bad})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.json()["error"]["field"], "url");
    }
    // Another counsellor cannot see or touch it.
    let other = bookable(&t, "o@example.org", "other", "phone", json!({})).await;
    assert!(sources(&t, &other).await.is_empty());
    let r = t
        .send(request(
            Method::DELETE,
            &format!("/api/calendar/sources/{id}"),
            Some(&other.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Removed: its busy times go with it.
    let r = t
        .send(request(
            Method::DELETE,
            &format!("/api/calendar/sources/{id}"),
            Some(&b.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(free_starts(&t, &b, day, 15).await, before);
}

#[tokio::test]
async fn busy_times_from_an_ics_subscription_on_sqlite() {
    busy_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn busy_times_from_an_ics_subscription_on_postgres() {
    busy_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn private_addresses_are_not_fetched_by_default() {
    let t = TestApp::build_with(Backend::Sqlite, |c| c.calendar_fetch_private = false).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let served = Served::default();
    *served.body.lock().unwrap() = (200, ics(""));
    let addr = calendar_server(served.clone()).await;
    let r = t
        .post(
            "/api/calendar/sources",
            Some(&b.cookie),
            Some(json!({"url": format!("http://{addr}/cal.ics")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = r.json();
    assert!(
        s["last_error"].as_str().unwrap().contains("not public"),
        "{s}"
    );
    assert_eq!(
        served.hits.load(Ordering::SeqCst),
        0,
        "no request left the server"
    );
}
