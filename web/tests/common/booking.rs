//! Booking fixtures: a counsellor with a public page, hours every day and one appointment type.
#![allow(dead_code)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{request, TestApp};

/// A counsellor ready to be booked.
pub struct Bookable {
    pub cookie: String,
    pub slug: String,
    pub type_id: String,
}

/// Sets up `slug` with hours 08:00–20:00 every day (Europe/Berlin) and a type of `kind`.
pub async fn bookable(t: &TestApp, email: &str, slug: &str, kind: &str, extra: Value) -> Bookable {
    let (_, cookie) = t.counsellor(email, "Dr. Weiß").await;
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/profile",
            Some(&cookie),
            Some(json!({"slug": slug, "time_zone": "Europe/Berlin", "lang": "de"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "08:00", "end": "20:00"}))
        .collect();
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/availability",
            Some(&cookie),
            Some(json!({"weekly": weekly})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut body = json!({
        "name": "Erstgespräch",
        "kind": kind,
        "duration_min": 50,
        "buffer_after_min": 10,
        "slot_step_min": 60,
    });
    if kind == "on_site" {
        body["location"] = json!("Hauptstraße 1, 10115 Berlin");
    }
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let r = t
        .post("/api/booking/types", Some(&cookie), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    Bookable {
        cookie,
        slug: slug.to_owned(),
        type_id: r.json()["id"].as_str().unwrap().to_owned(),
    }
}

/// Free slot starts from two days ahead.
pub async fn slots(t: &TestApp, b: &Bookable) -> Vec<String> {
    let from = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let r = t
        .get(
            &format!(
                "/api/public/counsellors/{}/slots?type_id={}&from={from}",
                b.slug, b.type_id
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

/// The consent hash the page shows (German).
pub async fn consent(t: &TestApp, slug: &str) -> String {
    consent_in(t, slug, "de").await
}

/// The consent hash the page shows in `lang`.
pub async fn consent_in(t: &TestApp, slug: &str, lang: &str) -> String {
    let r = t
        .get(&format!("/api/public/counsellors/{slug}?lang={lang}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["consent"]["sha256"].as_str().unwrap().to_owned()
}

/// The hash of the contact form's consent text on `slug`'s page (German).
pub async fn contact_consent(t: &TestApp, slug: &str) -> String {
    let r = t
        .get(&format!("/api/public/counsellors/{slug}?lang=de"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["contact_consent"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A complete booking form for `start`.
pub fn form(b: &Bookable, start: &str, consent: &str, who: &str) -> Value {
    json!({
        "type_id": b.type_id,
        "start": start,
        "first_name": who,
        "last_name": "Muster",
        "email": format!("{}@client.example", who.to_lowercase()),
        "message": "Ich hätte gern einen Termin.",
        "lang": "de",
        "consent_sha256": consent,
    })
}

/// Posts a booking.
pub async fn book(t: &TestApp, b: &Bookable, body: Value) -> super::Resp {
    t.post(
        &format!("/api/public/counsellors/{}/bookings", b.slug),
        None,
        Some(body),
    )
    .await
}
