//! Booking mail through a real SMTP server (Python's aiosmtpd, started here), each mail and its
//! `.ics` parsed by independent parsers (Python's `email` and `icalendar`,
//! tests/mail/inspect_mail.py): times, UID, SEQUENCE, METHOD, recipients, and that no foreign
//! address appears. Also: SMTP down while booking loses nothing and sends once.

mod common;

use axum::http::StatusCode;
use common::booking::{book, bookable, consent, consent_in, form, slots};
use common::smtp::{free_port, mails, transport, Behaviour, Smtp};
use common::TestApp;
use serde_json::{json, Value};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn to(mails: &[Value], addr: &str) -> Vec<Value> {
    mails
        .iter()
        .filter(|m| m["to"] == json!([addr]))
        .cloned()
        .collect()
}

fn link(text: &str, path: &str) -> String {
    text.lines()
        .find(|l| l.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in:\n{text}"))
        .split('#')
        .nth(1)
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn confirmation_and_cancellation_mails_carry_correct_ics_and_no_foreign_address() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(free_port(), dir.path(), &Behaviour::default());
    let transport = transport(smtp.port);
    let b = bookable(&t, "weiss@centre.example", "weiss", "video", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;

    let booked_at = chrono::Utc::now();
    let r = book(&t, &b, form(&b, &free[0], &consent, "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = book(&t, &b, form(&b, &free[2], &consent, "Kim")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now_ms())
        .await
        .unwrap();
    assert_eq!(
        d.sent, 4,
        "two confirmations, two notifications; reminders wait"
    );

    let all = mails(&smtp.maildir());
    assert_eq!(all.len(), 4);
    let platform = "termine@confidant.test";
    let mut ids = std::collections::HashSet::new();
    for m in &all {
        assert_eq!(m["from"], json!([platform]));
        assert_eq!(m["cc"], "");
        assert_eq!(m["bcc"], "");
        assert!(
            m["html"].is_string() && m["text"].is_string(),
            "plain text and HTML"
        );
        assert_eq!(m["html_lang"], "de", "the HTML part declares its language");
        let id = m["message_id"].as_str().unwrap();
        assert!(
            id.starts_with('<') && id.ends_with("@confidant.test>"),
            "Message-ID {id:?}"
        );
        assert!(ids.insert(id.to_owned()), "Message-IDs are unique: {id}");
        let date = chrono::DateTime::parse_from_rfc3339(m["date"].as_str().expect("a Date header"))
            .unwrap();
        assert!(
            date >= booked_at - chrono::Duration::seconds(1) && date <= chrono::Utc::now(),
            "Date {date}"
        );
    }
    let alex = to(&all, "alex@client.example");
    assert_eq!(alex.len(), 1);
    let alex = &alex[0];
    assert!(
        alex["subject"]
            .as_str()
            .unwrap()
            .starts_with("Terminbestätigung"),
        "{}",
        alex["subject"]
    );
    // No address but the client's own and the platform's, anywhere in the mail.
    assert_eq!(
        alex["addresses"],
        json!(["alex@client.example", platform]),
        "{alex}"
    );
    // The invitation is an alternative of the body (Outlook, Apple Mail: an invitation with
    // buttons) and, for every other client, an attachment of another type.
    assert_eq!(
        alex["structure"],
        "multipart/mixed[multipart/alternative[text/plain,text/html,text/calendar],application/ics]"
    );
    let parts = alex["ics"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{alex}");
    let ics = parts
        .iter()
        .find(|p| p["content_type"] == "text/calendar")
        .unwrap();
    assert_eq!(ics["attachment"], false, "the invitation is inline");
    let attached = parts
        .iter()
        .find(|p| p["content_type"] == "application/ics")
        .unwrap();
    assert_eq!(attached["attachment"], true);
    assert_eq!(attached["filename"], "invite.ics");
    assert_eq!(attached["uid"], ics["uid"]);
    assert_eq!(attached["method"], "REQUEST");
    assert_eq!(ics["method"], "REQUEST");
    assert_eq!(ics["content_type_method"], "REQUEST");
    assert_eq!(ics["status"], "CONFIRMED");
    assert_eq!(ics["sequence"], 0);
    assert_eq!(ics["uid"], format!("{id}@127.0.0.1"));
    let start = chrono::DateTime::parse_from_rfc3339(&free[0]).unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(ics["dtstart"].as_str().unwrap()).unwrap(),
        start
    );
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(ics["dtend"].as_str().unwrap()).unwrap(),
        start + chrono::Duration::minutes(50)
    );
    assert_eq!(ics["attendees"], json!(["mailto:alex@client.example"]));
    assert_eq!(ics["organizer"], format!("mailto:{platform}"));
    // The video link and the manage links are in the mail; times are in Berlin time.
    let text = alex["text"].as_str().unwrap();
    assert!(text.contains("/j/"), "{text}");
    let berlin = start
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%H:%M")
        .to_string();
    assert!(
        text.contains(&berlin) && text.contains("(Berliner Zeit)"),
        "{text}"
    );
    // The client's calendar entry is named as the client booked it (medium and centre), never
    // with the counsellor's name of the type or the counsellor's name.
    assert_eq!(ics["summary"], "Videotermin mit Beratungsstelle", "{ics}");
    // The mail names the centre (the display name of --mail-from by default) and ends with
    // its greeting.
    assert!(
        text.trim_end()
            .ends_with("Mit freundlichen Grüßen\nBeratungsstelle"),
        "{text}"
    );
    // The counsellor's notification carries no client content (neither name nor address nor
    // message): it says that a booking arrived and links to the dashboard.
    let counsellor = to(&all, "weiss@centre.example");
    assert_eq!(counsellor.len(), 2);
    for m in &counsellor {
        assert_eq!(
            m["addresses"],
            json!([platform, "weiss@centre.example"]),
            "{m}"
        );
        assert!(m["ics"].as_array().unwrap().is_empty());
        assert_eq!(
            m["structure"],
            "multipart/alternative[text/plain,text/html]"
        );
        for part in [&m["subject"], &m["text"], &m["html"]] {
            let part = part.as_str().unwrap();
            for client in ["Alex", "Kim", "Muster", "Ich hätte gern"] {
                assert!(
                    !part.contains(client),
                    "counsellor mail carries {client:?}: {part}"
                );
            }
        }
        assert!(
            m["text"].as_str().unwrap().contains("http://127.0.0.1"),
            "links the dashboard: {m}"
        );
        assert!(m["text"].as_str().unwrap().contains("/dashboard"), "{m}");
    }
    assert!(!to(&all, "kim@client.example")[0]["addresses"]
        .to_string()
        .contains("alex"));

    // The client cancels with the link from the mail: METHOD:CANCEL, same UID, higher SEQUENCE.
    let token = link(text, "/booking/cancel#");
    let r = t
        .post(
            "/api/public/bookings/cancel",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now_ms())
        .await
        .unwrap();
    assert_eq!(
        d.sent, 2,
        "cancellation to the client, notice to the counsellor"
    );
    let all = mails(&smtp.maildir());
    let alex_mails = to(&all, "alex@client.example");
    let cancel = alex_mails
        .iter()
        .find(|m| m["ics"][0]["method"] == "CANCEL")
        .expect("a CANCEL");
    assert_eq!(cancel["ics"][0]["uid"], ics["uid"]);
    assert_eq!(cancel["ics"][0]["sequence"], 1);
    assert_eq!(cancel["ics"][0]["status"], "CANCELLED");
    assert_eq!(
        cancel["ics"][0]["content_type_method"], "CANCEL",
        "inline cancellation"
    );
    assert_eq!(cancel["ics"][1]["filename"], "cancel.ics");
    assert_eq!(
        cancel["addresses"],
        json!(["alex@client.example", platform])
    );
    assert!(
        slots(&t, &b).await.contains(&free[0]),
        "the slot is free again"
    );
    smtp.stop();
}

#[tokio::test]
async fn smtp_down_while_booking_loses_nothing_and_sends_once() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let transport = transport(port);
    let b = bookable(&t, "w@centre.example", "down", "phone", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["phone"] = json!("+49 30 1234567");
    // SMTP is down: the booking still succeeds and its mails wait in the outbox.
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let now = now_ms();
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (0, 2));
    let errors: Vec<String> =
        sqlx::query_scalar("SELECT last_error FROM mail_outbox WHERE last_error IS NOT NULL")
            .fetch_all(&t.state.db)
            .await
            .unwrap();
    assert_eq!(errors.len(), 2);
    assert!(
        errors.iter().all(|e| !e.contains('@')),
        "errors name no address: {errors:?}"
    );
    // Before the backoff has passed nothing is retried.
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now + 1_000)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (0, 0));

    // SMTP is back: after the backoff both go out, once.
    let smtp = Smtp::start(port, dir.path(), &Behaviour::default());
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now + 31_000)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (2, 0));
    for later in [now + 3_600_000, now + 7_200_000] {
        let d = confidant::mail::deliver_due(&t.state.mailer, &transport, later)
            .await
            .unwrap();
        assert_eq!(d.sent, 0, "nothing is sent twice");
    }
    let all = mails(&smtp.maildir());
    assert_eq!(all.len(), 2);
    assert_eq!(to(&all, "alex@client.example").len(), 1);
    let text = to(&all, "alex@client.example")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("+49 30 1234567"),
        "phone appointments say which number is called"
    );
    assert_eq!(
        confidant::mail::pending_count(&t.state.db).await.unwrap(),
        1,
        "only the reminder waits"
    );
}

#[tokio::test]
async fn contact_form_notification_says_a_message_arrived_without_its_content() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(free_port(), dir.path(), &Behaviour::default());
    let transport = transport(smtp.port);
    let b = bookable(&t, "contact@centre.example", "contact", "video", json!({})).await;
    let consent = common::booking::contact_consent(&t, &b.slug).await;
    let body = json!({
        "name": "Kim Vertraulich",
        "email": "kim@client.example",
        "message": "Mir geht es seit Wochen schlecht.",
        "consent_sha256": consent,
    });
    let r = t
        .post("/api/public/counsellors/contact/contact", None, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let d = confidant::mail::deliver_due(&t.state.mailer, &transport, now_ms())
        .await
        .unwrap();
    assert_eq!(d.sent, 1);
    let all = mails(&smtp.maildir());
    let m = &to(&all, "contact@centre.example")[0];
    assert_eq!(
        m["addresses"],
        json!(["contact@centre.example", "termine@confidant.test"]),
        "{m}"
    );
    for part in [&m["subject"], &m["text"], &m["html"]] {
        let part = part.as_str().unwrap();
        for secret in ["Kim", "Vertraulich", "schlecht", "Wochen"] {
            assert!(
                !part.contains(secret),
                "the notification carries {secret:?}: {part}"
            );
        }
    }
    assert!(m["text"].as_str().unwrap().contains("/dashboard"), "{m}");
    assert!(m["message_id"]
        .as_str()
        .unwrap()
        .ends_with("@confidant.test>"));
    assert_eq!(m["html_lang"], "de");
    // The message itself is on the dashboard.
    let cookie = t.login("contact@centre.example", common::PASSWORD).await;
    let r = t.get("/api/booking/messages", Some(&cookie)).await;
    assert_eq!(
        r.json()[0]["message"],
        "Mir geht es seit Wochen schlecht.",
        "{}",
        r.text()
    );
    smtp.stop();
}

#[tokio::test]
async fn confirmation_mail_carries_links_preparation_and_client_titled_ics() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(free_port(), dir.path(), &Behaviour::default());
    let transport = transport(smtp.port);
    let b = bookable(
        &t,
        "weiss@centre.example",
        "weiss",
        "video",
        json!({"name": "Intern: Krisen-Erstkontakt", "preparation": "Bitte halten Sie Ihre Versichertenkarte bereit."}),
    )
    .await;
    let free = slots(&t, &b).await;
    let consent_en = consent_in(&t, &b.slug, "en").await;
    let mut body = form(&b, &free[0], &consent_en, "Alex");
    body["lang"] = json!("en");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    confidant::mail::deliver_due(&t.state.mailer, &transport, now_ms())
        .await
        .unwrap();
    let all = mails(&smtp.maildir());
    let alex = to(&all, "alex@client.example");
    assert_eq!(alex.len(), 1);
    let alex = &alex[0];
    let text = alex["text"].as_str().unwrap();
    let html = alex["html"].as_str().unwrap();
    for part in [text, html] {
        assert!(part.contains("How to prepare"), "{part}");
        assert!(
            part.contains("Bitte halten Sie Ihre Versichertenkarte bereit."),
            "{part}"
        );
        assert!(
            part.contains("https://calendar.google.com/calendar/render?"),
            "{part}"
        );
        assert!(
            part.contains("https://outlook.live.com/calendar/0/action/compose?"),
            "{part}"
        );
        assert!(part.contains("/booking/cancel#"), "{part}");
        assert!(part.contains("/booking/reschedule#"), "{part}");
        assert!(part.contains("/j/"), "the video link: {part}");
    }
    // The Google link in the mail carries the booking's times.
    let start = chrono::DateTime::parse_from_rfc3339(&free[0])
        .unwrap()
        .with_timezone(&chrono::Utc);
    let dates = format!(
        "{}%2F{}",
        start.format("%Y%m%dT%H%M%SZ"),
        (start + chrono::Duration::minutes(50)).format("%Y%m%dT%H%M%SZ")
    );
    assert!(text.contains(&dates), "{text}");
    // The attached calendar entry is titled for the client, in English.
    for part in alex["ics"].as_array().unwrap() {
        assert_eq!(
            part["summary"], "Video appointment with Beratungsstelle",
            "{part}"
        );
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(part["dtstart"].as_str().unwrap()).unwrap(),
            start
        );
    }
    smtp.stop();
}
