//! The counsellor's secret ICS feed (issue 6), parsed by an independent parser (Python's
//! icalendar, installed by the test command), on SQLite and PostgreSQL.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use axum::http::{Method, StatusCode};
use common::booking::{book, bookable, consent, form, slots};
use common::{request, Backend, TestApp};
use serde_json::{json, Value};

/// Every VEVENT of `ics` as JSON, read by Python's icalendar (not by our own writer's rules).
fn parse_ics(ics: &str) -> Value {
    const SCRIPT: &str = r#"
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
out = {"method": str(cal.get("METHOD")) if cal.get("METHOD") else None,
       "name": str(cal.get("X-WR-CALNAME")),
       "events": []}
for ev in cal.walk("VEVENT"):
    out["events"].append({
        "uid": str(ev.get("UID")),
        "start": ev.decoded("DTSTART").isoformat(),
        "end": ev.decoded("DTEND").isoformat(),
        "status": str(ev.get("STATUS")),
        "summary": str(ev.get("SUMMARY")),
        "description": str(ev.get("DESCRIPTION")),
        "attendees": 0 if ev.get("ATTENDEE") is None else 1,
        "organizer": ev.get("ORGANIZER") is not None,
    })
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with icalendar (the test command installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "icalendar refused the feed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

fn utc(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

async fn feed_flow(backend: Backend) {
    let t = TestApp::build_with(backend, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    // Another counsellor's booking must never show up in this feed.
    let other = bookable(&t, "o@example.org", "other", "phone", json!({})).await;
    let free = slots(&t, &b).await;
    let c = consent(&t, &b.slug).await;

    // No feed yet: an empty state, not an error (the dashboard asks on every load); the API
    // needs a login.
    let none = t.get("/api/calendar/feed", Some(&b.cookie)).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json(), json!({ "feed": null }));
    assert_eq!(
        t.get("/api/calendar/feed", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post("/api/calendar/feed", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let kept = book(&t, &b, form(&b, &free[0], &c, "Alex")).await.json();
    let cancelled = book(&t, &b, form(&b, &free[2], &c, "Kim")).await.json();
    let r = t
        .post(
            &format!(
                "/api/booking/bookings/{}/cancel",
                cancelled["id"].as_str().unwrap()
            ),
            Some(&b.cookie),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut o = form(
        &other,
        &slots(&t, &other).await[0],
        &consent(&t, &other.slug).await,
        "Sam",
    );
    o["phone"] = json!("+49 30 1234567");
    assert_eq!(book(&t, &other, o).await.status, StatusCode::CREATED);

    // A feed without client details.
    let r = t.post("/api/calendar/feed", Some(&b.cookie), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let feed = r.json();
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with(".ics"), "{url}");
    assert_eq!(
        feed["webcal_url"].as_str().unwrap(),
        format!("webcal://{}", url.split_once("://").unwrap().1)
    );
    assert_eq!(feed["client_details"], false);
    assert_eq!(
        t.get("/api/calendar/feed", Some(&b.cookie)).await.json()["feed"]["url"],
        url
    );

    let r = t.get(&path_of(&url), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    let body = r.text();
    let cal = parse_ics(&body);
    assert_eq!(cal["method"], Value::Null, "a feed is no invitation");
    let events = cal["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "exactly the active booking of this counsellor: {cal}"
    );
    let ev = &events[0];
    assert!(ev["uid"]
        .as_str()
        .unwrap()
        .starts_with(kept["id"].as_str().unwrap()));
    assert_eq!(
        utc(ev["start"].as_str().unwrap()),
        utc(kept["start"].as_str().unwrap())
    );
    assert_eq!(
        utc(ev["end"].as_str().unwrap()),
        utc(kept["end"].as_str().unwrap())
    );
    assert_eq!(ev["status"], "CONFIRMED");
    assert_eq!(ev["attendees"], 0);
    assert_eq!(ev["organizer"], false);
    assert!(ev["summary"].as_str().unwrap().contains("Erstgespräch"));
    for secret in ["Alex", "alex@client.example", "Muster", "Kim", "Sam"] {
        assert!(
            !body.contains(secret),
            "{secret} in a feed without client details"
        );
    }
    let fetched = t.get("/api/calendar/feed", Some(&b.cookie)).await.json()["feed"].clone();
    assert!(fetched["last_fetched_at"].is_string(), "{fetched}");

    // A new URL with client details; the old one is dead at once.
    let r = t
        .post(
            "/api/calendar/feed",
            Some(&b.cookie),
            Some(json!({"client_details": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let url2 = r.json()["url"].as_str().unwrap().to_owned();
    assert_ne!(url2, url);
    assert_eq!(
        t.get(&path_of(&url), None).await.status,
        StatusCode::NOT_FOUND
    );
    let cal = parse_ics(&t.get(&path_of(&url2), None).await.text());
    let ev = &cal["events"][0];
    assert!(
        ev["summary"].as_str().unwrap().contains("Alex Muster"),
        "{ev}"
    );
    assert!(
        ev["description"]
            .as_str()
            .unwrap()
            .contains("alex@client.example"),
        "{ev}"
    );
    // The token works without the .ics suffix too; junk tokens are a plain 404.
    assert_eq!(
        t.get(path_of(&url2).trim_end_matches(".ics"), None)
            .await
            .status,
        StatusCode::OK
    );
    for bad in [
        "/calendar/feed/x",
        "/calendar/feed/%3Cscript%3E.ics",
        "/calendar/feed/.ics",
    ] {
        assert_eq!(
            t.get(bad, None).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }

    // Revoked: gone.
    let r = t
        .send(request(
            Method::DELETE,
            "/api/calendar/feed",
            Some(&b.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&path_of(&url2), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/api/calendar/feed", Some(&b.cookie)).await.json(),
        json!({ "feed": null })
    );
}

#[tokio::test]
async fn feed_lists_exactly_the_active_bookings_on_sqlite() {
    feed_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn feed_lists_exactly_the_active_bookings_on_postgres() {
    feed_flow(Backend::Postgres).await;
}
