//! What a client gets after booking (issue 18), through the real router and database (SQLite, and
//! PostgreSQL with `CONFIDANT_TEST_BACKEND=postgres`): the confirmation's calendar file served
//! through a signed view token, titled as the client booked it in the booking's language, the
//! Google and Outlook links, the links to manage it, what to prepare; the counsellor's profile
//! (text, languages, topics, photo checked by content) and the type descriptions on the
//! booking page.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::booking::{book, bookable, consent, consent_in, form, slots};
use common::{request, TestApp};
use serde_json::{json, Value};

/// The value of `name` in an iCalendar text (lines unfolded first).
fn ics_prop(ics: &str, name: &str) -> String {
    let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
    unfolded
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key == name || key.starts_with(&format!("{name};"))).then(|| value.to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{ics}"))
}

/// A query parameter of `url`, decoded.
fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// The token after `#` of a link.
fn fragment(url: &Value) -> String {
    url.as_str().unwrap().split('#').nth(1).unwrap().to_owned()
}

/// The path and query of an absolute URL of the test server.
fn local(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

#[tokio::test]
async fn confirmation_offers_ics_titled_as_the_client_booked_it_in_their_language() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let b = bookable(
        &t,
        "weiss@centre.example",
        "weiss",
        "video",
        json!({"name": "Intern: Krisen-Erstkontakt"}),
    )
    .await;
    let free = slots(&t, &b).await;
    let consent_de = consent(&t, &b.slug).await;

    // German booking: German title, the booking's times, never the type's internal name.
    let r = book(&t, &b, form(&b, &free[0], &consent_de, "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let booked = r.json();
    let c = &booked["confirmation"];
    assert_eq!(c["calendar_title"], "Videotermin mit Beratungsstelle");
    let ics_url = c["ics_url"].as_str().unwrap();
    assert!(
        ics_url.contains("/api/public/bookings/calendar.ics?token="),
        "{ics_url}"
    );
    let r = t.get(&local(ics_url), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename="));
    let ics = r.text();
    assert_eq!(ics_prop(&ics, "SUMMARY"), "Videotermin mit Beratungsstelle");
    assert!(!ics.contains("Krisen"), "no internal type name:\n{ics}");
    let start = chrono::DateTime::parse_from_rfc3339(&free[0]).unwrap();
    let utc = |d: chrono::DateTime<chrono::FixedOffset>| {
        d.with_timezone(&chrono::Utc)
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    };
    assert_eq!(ics_prop(&ics, "DTSTART"), utc(start));
    assert_eq!(
        ics_prop(&ics, "DTEND"),
        utc(start + chrono::Duration::minutes(50))
    );
    assert!(ics_prop(&ics, "UID").starts_with(booked["id"].as_str().unwrap()));
    // The join link is the entry's location and the confirmation's video link.
    let join = c["join_url"].as_str().unwrap();
    assert!(join.contains("/j/"), "{join}");
    assert_eq!(ics_prop(&ics, "LOCATION"), join);

    // Google and Outlook carry the same title and times.
    let google = c["google_url"].as_str().unwrap();
    assert!(google.starts_with("https://calendar.google.com/calendar/render?"));
    assert_eq!(param(google, "text"), "Videotermin mit Beratungsstelle");
    assert_eq!(
        param(google, "dates"),
        format!(
            "{}/{}",
            utc(start),
            utc(start + chrono::Duration::minutes(50))
        )
    );
    for (key, host) in [
        ("outlook_url", "https://outlook.live.com/"),
        ("office_url", "https://outlook.office.com/"),
    ] {
        let url = c[key].as_str().unwrap();
        assert!(url.starts_with(host), "{url}");
        assert_eq!(param(url, "subject"), "Videotermin mit Beratungsstelle");
        let s = chrono::DateTime::parse_from_rfc3339(&param(url, "startdt")).unwrap();
        let e = chrono::DateTime::parse_from_rfc3339(&param(url, "enddt")).unwrap();
        assert_eq!((s, e), (start, start + chrono::Duration::minutes(50)));
    }
    // Manage links and the medium's default preparation.
    assert!(c["cancel_url"]
        .as_str()
        .unwrap()
        .contains("/booking/cancel#"));
    assert!(c["reschedule_url"]
        .as_str()
        .unwrap()
        .contains("/booking/reschedule#"));
    assert!(
        c["preparation"].as_str().unwrap().contains("Kopfhörer"),
        "{c}"
    );

    // English booking: English title.
    let consent_en = consent_in(&t, &b.slug, "en").await;
    let mut en = form(&b, &free[2], &consent_en, "Kim");
    en["lang"] = json!("en");
    let r = book(&t, &b, en).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json()["confirmation"].clone();
    let ics = t
        .get(&local(c["ics_url"].as_str().unwrap()), None)
        .await
        .text();
    assert_eq!(
        ics_prop(&ics, "SUMMARY"),
        "Video appointment with Beratungsstelle"
    );

    // The view token is no cancel token and the reverse; a cancelled booking has no entry.
    let view_token = param(ics_url, "token");
    let r = t
        .post(
            "/api/public/bookings/cancel",
            None,
            Some(json!({"token": view_token})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let cancel_token = fragment(&booked["confirmation"]["cancel_url"]);
    let r = t
        .get(
            &format!("/api/public/bookings/calendar.ics?token={cancel_token}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "token");
    let r = t.get("/api/public/bookings/calendar.ics", None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "token");
    let r = t
        .post(
            "/api/public/bookings/cancel",
            None,
            Some(json!({"token": cancel_token})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Cancelling moved the booking to a new version: the old view link is replaced.
    let r = t.get(&local(ics_url), None).await;
    assert!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::CONFLICT,
        "{} {}",
        r.status,
        r.text()
    );
}

#[tokio::test]
async fn pending_booking_has_no_calendar_entry_yet_and_phone_booking_names_the_number() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let b = bookable(
        &t,
        "weiss@centre.example",
        "weiss",
        "phone",
        json!({"requires_confirmation": true, "preparation": "Bitte Unterlagen bereitlegen."}),
    )
    .await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["phone"] = json!("+49 30 1234567");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json()["confirmation"].clone();
    assert_eq!(r.json()["status"], "pending");
    for key in [
        "ics_url",
        "google_url",
        "outlook_url",
        "office_url",
        "join_url",
    ] {
        assert!(c[key].is_null(), "{key}: {c}");
    }
    assert_eq!(c["phone"], "+49 30 1234567");
    assert_eq!(c["calendar_title"], "Telefontermin mit Beratungsstelle");
    assert_eq!(c["preparation"], "Bitte Unterlagen bereitlegen.");
    assert!(c["cancel_url"]
        .as_str()
        .unwrap()
        .contains("/booking/cancel#"));
}

#[tokio::test]
async fn reschedule_answers_with_a_new_confirmation_for_the_moved_time() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let b = bookable(&t, "weiss@centre.example", "weiss", "on_site", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["address"] = json!("Musterweg 2, 10115 Berlin");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let first = r.json()["confirmation"].clone();
    assert_eq!(first["location"], "Hauptstraße 1, 10115 Berlin");
    let token = fragment(&first["reschedule_url"]);
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": token, "start": free[3]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = r.json()["confirmation"].clone();
    let ics = t
        .get(&local(c["ics_url"].as_str().unwrap()), None)
        .await
        .text();
    assert_eq!(ics_prop(&ics, "SEQUENCE"), "1");
    let start = chrono::DateTime::parse_from_rfc3339(&free[3])
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(
        ics_prop(&ics, "DTSTART"),
        start.format("%Y%m%dT%H%M%SZ").to_string()
    );
    assert_eq!(
        ics_prop(&ics, "SUMMARY"),
        "Termin vor Ort bei Beratungsstelle"
    );
}

/// A tiny valid PNG (1×1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

fn raw(
    method: Method,
    path: &str,
    cookie: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn counsellor_profile_and_type_description_appear_on_the_booking_page() {
    let t = TestApp::new().await;
    let b = bookable(
        &t,
        "weiss@centre.example",
        "weiss",
        "video",
        json!({"description": "Ein erstes Kennenlernen, 50 Minuten."}),
    )
    .await;
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/profile/about",
            Some(&b.cookie),
            Some(json!({
                "about": "Ich berate seit 2010 zu Familie und Trennung.",
                "languages": ["Deutsch", " English ", "deutsch", ""],
                "topics": ["Trennung", "Familie"],
            })),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["languages"], json!(["Deutsch", "English"]));

    let r = t
        .send(raw(
            Method::PUT,
            "/api/booking/profile/photo",
            &b.cookie,
            "image/png",
            PNG.to_vec(),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let photo_url = r.json()["photo_url"].as_str().unwrap().to_owned();

    let page: Value = t
        .get("/api/public/counsellors/weiss?lang=de", None)
        .await
        .json();
    let p = &page["profile"];
    assert_eq!(p["about"], "Ich berate seit 2010 zu Familie und Trennung.");
    assert_eq!(p["languages"], json!(["Deutsch", "English"]));
    assert_eq!(p["topics"], json!(["Trennung", "Familie"]));
    assert_eq!(p["photo_url"], photo_url);
    assert_eq!(
        page["types"][0]["description"],
        "Ein erstes Kennenlernen, 50 Minuten."
    );

    // The photo is served as the image it is, cacheable for good under its digest.
    let r = t.get(&photo_url, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, PNG);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));

    // Without a public page the photo is not served.
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/profile",
            Some(&b.cookie),
            Some(json!({"slug": null, "time_zone": "Europe/Berlin", "lang": "de"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(t.get(&photo_url, None).await.status, StatusCode::NOT_FOUND);

    // Removing it.
    let r = t
        .send(request(
            Method::DELETE,
            "/api/booking/profile/photo",
            Some(&b.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["photo_url"].is_null());
}

#[tokio::test]
async fn invalid_photo_is_refused_with_a_json_error_naming_the_field() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("weiss@centre.example", "Dr. Weiß").await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let mut big = PNG.to_vec();
    big.resize(1024 * 1024 + 1, 0);
    for (what, content_type, body) in [
        ("svg declared as png", "image/png", svg.clone()),
        ("svg", "image/svg+xml", svg),
        (
            "html",
            "image/jpeg",
            b"<html><body>x</body></html>".to_vec(),
        ),
        ("empty", "image/png", Vec::new()),
        ("over 1 MiB", "image/png", big),
    ] {
        let r = t
            .send(raw(
                Method::PUT,
                "/api/booking/profile/photo",
                &cookie,
                content_type,
                body,
            ))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["field"], "photo", "{what}");
    }
    let r = t.get("/api/booking/profile/about", Some(&cookie)).await;
    assert!(r.json()["photo_url"].is_null(), "nothing was stored");

    // Text fields are checked too, each named.
    for (body, field) in [
        (json!({"about": "x".repeat(1001)}), "about"),
        (json!({"languages": ["a\u{7}b"]}), "languages"),
        (
            json!({"topics": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "topics",
        ),
    ] {
        let r = t
            .send(request(
                Method::PUT,
                "/api/booking/profile/about",
                Some(&cookie),
                Some(body),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field);
    }
    // And the type texts.
    let r = t
        .post(
            "/api/booking/types",
            Some(&cookie),
            Some(json!({"name": "A", "kind": "video", "duration_min": 50, "preparation": "x".repeat(1001)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "preparation");
}
