//! Mail delivery that counsellors can see and trust (issue 28), through a real SMTP server
//! (aiosmtpd, tests/mail/smtp_server.py) that refuses connections, answers 451, answers 550 for
//! one recipient or is slow. The queue takes the time as an argument, so retries, backoff and
//! the retry limit are exercised with the clock moved forward, not waited for. Runs on SQLite
//! and (`CONFIDANT_TEST_BACKEND=postgres`) PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::booking::{book, bookable, consent, form, slots, Bookable};
use common::smtp::{free_port, mails, transport, Behaviour, Smtp};
use common::TestApp;
use confidant::mail::deliver_due;
use serde_json::{json, Value};

const MINUTE: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A `/metrics` value.
async fn metric(t: &TestApp, name: &str) -> i64 {
    let r = t.get("/metrics", None).await;
    let text = r.text();
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name || n == format!("{name}_total")).then(|| v.parse::<f64>().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{text}")) as i64
}

/// An SMTP server answering 550 to recipients containing `substr`.
fn rejecting(dir: &std::path::Path, substr: &str) -> Smtp {
    Smtp::start(
        free_port(),
        dir,
        &Behaviour {
            reject: Some(substr.into()),
            ..Behaviour::default()
        },
    )
}

/// An SMTP server on `port` that holds each message `secs` seconds.
fn slow(port: u16, dir: &std::path::Path, secs: f64) -> Smtp {
    Smtp::start(
        port,
        dir,
        &Behaviour {
            sleep_secs: secs,
            ..Behaviour::default()
        },
    )
}

async fn books(t: &TestApp, b: &Bookable, n: usize, who: &str) -> Vec<String> {
    let free = slots(t, b).await;
    let consent = consent(t, &b.slug).await;
    let mut ids = Vec::new();
    for (i, start) in free.iter().take(n).enumerate() {
        let r = book(t, b, form(b, start, &consent, &format!("{who}{i}"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn bookings(t: &TestApp, b: &Bookable) -> Vec<Value> {
    let r = t.get("/api/booking/bookings", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

#[tokio::test]
async fn a_550_fails_at_once_shows_on_the_booking_and_a_resend_to_the_corrected_address_arrives() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = rejecting(dir.path(), "typo");
    let transport = transport(smtp.port);
    let b = bookable(&t, "w@centre.example", "reject", "video", json!({})).await;
    let free = slots(&t, &b).await;
    let consent = consent(&t, &b.slug).await;
    let mut body = form(&b, &free[0], &consent, "Alex");
    body["email"] = json!("alex@typo.example");
    let r = book(&t, &b, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let permanent_before = metric(&t, "confidant_mail_permanent_failures").await;

    let now = now_ms();
    let d = deliver_due(&t.state.mailer, &transport, now).await.unwrap();
    assert_eq!(
        (d.sent, d.failed, d.gave_up),
        (1, 0, 1),
        "the counsellor's notification goes out; the confirmation fails at once"
    );
    // Never retried, however much later.
    for later in [now + MINUTE, now + 60 * MINUTE] {
        let d = deliver_due(&t.state.mailer, &transport, later)
            .await
            .unwrap();
        assert_eq!((d.sent, d.failed, d.gave_up), (0, 0, 0));
    }
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(
        metric(&t, "confidant_mail_permanent_failures").await - permanent_before,
        1
    );
    assert!(metric(&t, "confidant_mail_failed_open").await >= 1);

    // The booking says so, with the reason as a code the dashboard words, and no address.
    let list = bookings(&t, &b).await;
    let booking = list.iter().find(|x| x["id"] == id.as_str()).unwrap();
    let failures = booking["mail_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{booking}");
    assert_eq!(failures[0]["kind"], "confirmation");
    assert_eq!(failures[0]["reason"], "address_rejected");
    assert_eq!(failures[0]["smtp_code"], 550);
    assert!(!failures[0].to_string().contains('@'));
    let mail_id = failures[0]["id"].as_str().unwrap().to_owned();

    // A bad corrected address is refused naming the field; someone else's booking is a 404.
    let resend = format!("/api/booking/bookings/{id}/mail/{mail_id}/resend");
    let r = t
        .post(
            &resend,
            Some(&b.cookie),
            Some(json!({"email": "not an address"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "email", "{}", r.text());
    let (_, other) = t.counsellor("other@centre.example", "Other").await;
    let r = t
        .post(
            &resend,
            Some(&other),
            Some(json!({"email": "alex@client.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    let r = t
        .post(
            &resend,
            Some(&b.cookie),
            Some(json!({"email": "alex@client.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    // Resolved: no longer on the booking, and not resendable twice.
    let list = bookings(&t, &b).await;
    let booking = list.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(booking["mail_failures"], json!([]));
    assert_eq!(
        booking["email"], "alex@client.example",
        "the booking keeps the corrected address"
    );
    let r = t
        .post(
            &resend,
            Some(&b.cookie),
            Some(json!({"email": "alex@client.example"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let (resolution, by): (String, String) =
        sqlx::query_as("SELECT resolution, resolved_by FROM mail_outbox WHERE id = $1")
            .bind(&mail_id)
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert_eq!(resolution, "resent");
    assert!(!by.is_empty(), "who resolved it is recorded");

    let d = deliver_due(&t.state.mailer, &transport, now_ms())
        .await
        .unwrap();
    assert_eq!((d.sent, d.gave_up), (1, 0));
    let all = mails(&smtp.maildir());
    let alex: Vec<&Value> = all
        .iter()
        .filter(|m| m["to"] == json!(["alex@client.example"]))
        .collect();
    assert_eq!(alex.len(), 1, "the resent confirmation arrives");
    assert!(alex[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("Terminbestätigung"));
    assert_eq!(alex[0]["ics"][0]["method"], "REQUEST");
}

#[tokio::test]
async fn a_client_reached_another_way_resolves_the_failure_and_it_is_recorded() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = rejecting(dir.path(), "client.example");
    let b = bookable(&t, "w@centre.example", "reached", "video", json!({})).await;
    let id = books(&t, &b, 1, "kim").await.remove(0);
    deliver_due(&t.state.mailer, &transport(smtp.port), now_ms())
        .await
        .unwrap();
    let list = bookings(&t, &b).await;
    let mail_id = list[0]["mail_failures"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post(
            &format!("/api/booking/bookings/{id}/mail/{mail_id}/reached"),
            Some(&b.cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(bookings(&t, &b).await[0]["mail_failures"], json!([]));
    let resolution: String = sqlx::query_scalar("SELECT resolution FROM mail_outbox WHERE id = $1")
        .bind(&mail_id)
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(resolution, "reached_otherwise");
}

#[tokio::test]
async fn a_failed_notification_to_the_counsellor_shows_in_their_workspace() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = rejecting(dir.path(), "centre.example");
    let b = bookable(&t, "w@centre.example", "notify", "video", json!({})).await;
    books(&t, &b, 1, "kim").await;
    deliver_due(&t.state.mailer, &transport(smtp.port), now_ms())
        .await
        .unwrap();
    // The booking lists only client mail; the counsellor's own failure is in the workspace.
    assert_eq!(bookings(&t, &b).await[0]["mail_failures"], json!([]));
    let r = t.get("/api/mail/failures", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let failures = r.json().as_array().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["kind"], "counsellor_new");
    assert_eq!(failures[0]["reason"], "address_rejected");
    let mail_id = failures[0]["id"].as_str().unwrap();
    let (_, other) = t.counsellor("other@else.example", "Other").await;
    assert_eq!(
        t.get("/api/mail/failures", Some(&other)).await.json(),
        json!([])
    );
    let ack = format!("/api/mail/failures/{mail_id}/acknowledge");
    assert_eq!(
        t.post(&ack, Some(&other), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.post(&ack, Some(&b.cookie), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.get("/api/mail/failures", Some(&b.cookie)).await.json(),
        json!([])
    );
}

#[tokio::test]
async fn a_451_is_retried_after_a_short_backoff_and_then_delivered_once() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(
        free_port(),
        dir.path(),
        &Behaviour {
            tempfail: 1,
            ..Behaviour::default()
        },
    );
    let transport = transport(smtp.port);
    let b = bookable(&t, "w@centre.example", "greylist", "video", json!({})).await;
    books(&t, &b, 1, "kim").await;
    let temporary_before = metric(&t, "confidant_mail_temporary_failures").await;
    let now = now_ms();
    let d = deliver_due(&t.state.mailer, &transport, now).await.unwrap();
    assert_eq!((d.sent, d.failed, d.gave_up), (1, 1, 0));
    assert_eq!(
        metric(&t, "confidant_mail_temporary_failures").await - temporary_before,
        1
    );
    // A 451 is about this mail: a success of another does not pull it forward.
    let d = deliver_due(&t.state.mailer, &transport, now + 1_000)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (0, 0));
    let d = deliver_due(&t.state.mailer, &transport, now + 31_000)
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed), (1, 0));
    let received = smtp.received();
    assert_eq!(received.len(), 2);
    assert_ne!(received[0], received[1], "each mail once");
}

#[tokio::test]
async fn temporary_failures_end_in_failed_after_the_retry_limit() {
    let t = TestApp::with(|c| c.mail_retry_hours = 1).await;
    let port = free_port(); // nobody listens: connections are refused
    let transport = transport(port);
    let b = bookable(&t, "w@centre.example", "limit", "video", json!({})).await;
    let id = books(&t, &b, 1, "kim").await.remove(0);
    let start = now_ms();
    let mut now = start;
    let mut attempts = 0;
    let mut gave_up = 0;
    // Bounded: the confirmation and the notification, tried every minute they are due.
    while now <= start + 70 * MINUTE && gave_up < 2 {
        let d = deliver_due(&t.state.mailer, &transport, now).await.unwrap();
        attempts += d.failed + d.gave_up;
        gave_up += d.gave_up;
        assert!(
            d.gave_up == 0 || now >= start + 60 * MINUTE,
            "failed only after the hour"
        );
        now += MINUTE;
    }
    assert_eq!(gave_up, 2);
    assert!(
        attempts >= 2 * 12,
        "retried every ≤ 5 minutes: {attempts} attempts"
    );
    let list = bookings(&t, &b).await;
    let booking = list.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(
        booking["mail_failures"][0]["reason"], "unreachable",
        "{booking}"
    );
    assert_eq!(
        confidant::mail::pending_count(&t.state.db).await.unwrap(),
        1,
        "the reminder waits"
    );
}

#[tokio::test]
async fn a_backlog_after_a_long_outage_drains_as_soon_as_smtp_answers_again() {
    let t = TestApp::with(|c| c.form_burst = 100).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let transport = transport(port);
    let b = bookable(&t, "w@centre.example", "outage", "video", json!({})).await;
    let start = now_ms();
    // Mails written during an outage of two hours, tried every minute (time moved forward).
    let mut now = start;
    let mut written = 0;
    for round in 0..120 {
        if round % 12 == 0 {
            written += books(&t, &b, 1, &format!("c{round}x")).await.len() * 2;
        }
        deliver_due(&t.state.mailer, &transport, now).await.unwrap();
        now += MINUTE;
    }
    assert_eq!(smtp_received_none(&dir), 0);
    let stats = confidant::mail::queue_stats(&t.state.db, now)
        .await
        .unwrap();
    assert_eq!(stats.due as usize, written);
    assert!(
        stats.oldest_due_age_secs >= 110 * 60,
        "the oldest mail waits since the outage began: {stats:?}"
    );
    // SMTP is back. One round at the next minute sends everything: the first success makes
    // every mail that waited for the server due at once, whatever its backoff.
    let smtp = Smtp::start(port, dir.path(), &Behaviour::default());
    let d = deliver_due(&t.state.mailer, &transport, now).await.unwrap();
    assert_eq!((d.sent, d.failed, d.gave_up), (written, 0, 0));
    let received = smtp.received();
    assert_eq!(received.len(), written);
    let unique: std::collections::HashSet<_> = received.iter().collect();
    assert_eq!(unique.len(), written, "each mail exactly once");
    let stats = confidant::mail::queue_stats(&t.state.db, now)
        .await
        .unwrap();
    assert_eq!((stats.due, stats.oldest_due_age_secs), (0, 0));
}

fn smtp_received_none(dir: &tempfile::TempDir) -> usize {
    common::smtp::received(dir.path()).len()
}

// ------------------------------------------------------------------ the real server binary

/// A `confidant serve` process on the test app's data directory and database (so it opens the
/// mail the test queued), sending to SMTP on `smtp_port`. Killed (SIGKILL) on drop.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(t: &TestApp, smtp_port: u16) -> Self {
        let port = free_port();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let s = t.settings();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_confidant"));
        for var in ["DATABASE_URL", "CONFIDANT_DATA_DIR"] {
            cmd.env_remove(var);
        }
        let child = cmd
            .env("RUST_LOG", "error")
            .arg("serve")
            .arg("--data-dir")
            .arg(&s.data_dir)
            .args(["--database-url", &s.database_url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--sfu-bind", &format!("127.0.0.1:{udp}")])
            .args(["--sfu-advertise", "127.0.0.1", "--public-url", &base])
            .args(["--smtp-host", "127.0.0.1", "--smtp-tls", "none"])
            .args(["--smtp-port", &smtp_port.to_string()])
            .args(["--mail-from", "Beratungsstelle <termine@confidant.test>"])
            // A short timeout keeps the lease of the mail in flight at a kill short.
            .args(["--smtp-timeout-secs", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Self { child, base };
        let ready = format!("{}/readyz", server.base);
        wait_for("the server to answer /readyz", 60, || {
            reqwest_status(&ready) == Some(200)
        });
        server
    }

    fn metric(&self, name: &str) -> i64 {
        let text = std::process::Command::new("curl")
            .args(["-sf", &format!("{}/metrics", self.base)])
            .output()
            .unwrap()
            .stdout;
        let text = String::from_utf8(text).unwrap();
        text.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(' ')?;
                (n == name).then(|| v.parse::<f64>().ok())?
            })
            .unwrap_or_else(|| panic!("no {name} in:\n{text}")) as i64
    }

    fn kill9(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reqwest_status(url: &str) -> Option<u16> {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.parse().ok()
}

/// Polls `f` every 100 ms until it holds; panics after `secs` seconds (a bound, not a timing
/// assertion: the condition is what the test checks).
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Queues `n` mails (to distinct addresses) straight into the outbox; returns their ids.
async fn queue_mails(t: &TestApp, n: usize) -> Vec<String> {
    let mut conn = t.state.db.acquire().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let mail = confidant::mail::OutgoingMail {
            kind: "contact_reply",
            booking_id: None,
            to: format!("client{i}@client.example").parse().unwrap(),
            reply_to: None,
            subject: format!("Antwort {i}"),
            text: "Text".into(),
            html: "<p>Text</p>".into(),
            ics: None,
            due_at: now_ms(),
            counsellor_id: None,
        };
        ids.push(
            confidant::mail::enqueue(&mut conn, &t.state.mailer, &mail)
                .await
                .unwrap(),
        );
    }
    ids
}

/// Message-ID of outbox id `id`.
fn message_id(id: &str) -> String {
    format!("<{id}@confidant.test>")
}

fn counts(received: &[String]) -> std::collections::HashMap<String, usize> {
    let mut c = std::collections::HashMap::new();
    for r in received {
        *c.entry(r.clone()).or_insert(0) += 1;
    }
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_send_loses_no_mail_and_duplicates_at_most_the_one_in_flight() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = slow(free_port(), dir.path(), 0.3);
    let ids = queue_mails(&t, 20).await;
    let server = Server::start(&t, smtp.port);
    wait_for("a few mails to arrive", 120, || smtp.received().len() >= 5);
    server.kill9();
    let before_restart = smtp.received().len();
    assert!(before_restart < ids.len(), "killed mid-backlog");
    let server = Server::start(&t, smtp.port);
    // The mail in flight at the kill is leased for 10 × 2 s + 30 s; then it goes out again.
    wait_for("every mail to arrive", 180, || {
        let c = counts(&smtp.received());
        ids.iter().all(|id| c.contains_key(&message_id(id)))
    });
    wait_for("the queue to be empty", 60, || {
        server.metric("confidant_mail_queue_length") == 0
    });
    let received = smtp.received();
    let c = counts(&received);
    let twice: Vec<_> = c.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() <= 1 && twice.iter().all(|(_, n)| **n == 2),
        "only the mail in flight at the kill may arrive twice: {twice:?}"
    );
    assert_eq!(c.len(), ids.len(), "nothing else arrived");
    assert_eq!(
        confidant::mail::pending_count(&t.state.db).await.unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_database_send_every_mail_exactly_once_and_the_metrics_move() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(); // SMTP is down at first: connections are refused
    let ids = queue_mails(&t, 30).await;
    let a = Server::start(&t, port);
    let b = Server::start(&t, port);
    wait_for("temporary failures while SMTP is down", 60, || {
        a.metric("confidant_mail_temporary_failures_total")
            + b.metric("confidant_mail_temporary_failures_total")
            >= 30
    });
    assert_eq!(a.metric("confidant_mail_queue_length"), 30);
    assert_eq!(a.metric("confidant_mail_permanent_failures_total"), 0);
    // SMTP is back, slow (each message held 0.1 s), so both servers are busy at once.
    let smtp = slow(port, dir.path(), 0.1);
    wait_for("every mail to arrive", 180, || {
        smtp.received().len() >= ids.len()
    });
    wait_for("both queues to report empty", 30, || {
        a.metric("confidant_mail_queue_length") == 0
    });
    // Settle: a duplicate would still be arriving now.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let received = smtp.received();
    let c = counts(&received);
    assert_eq!(received.len(), ids.len(), "no mail twice: {c:?}");
    for id in &ids {
        assert_eq!(c.get(&message_id(id)), Some(&1), "{id}");
    }
    assert_eq!(
        a.metric("confidant_mail_sent_total") + b.metric("confidant_mail_sent_total"),
        30
    );
    assert_eq!(a.metric("confidant_mail_queue_oldest_age_seconds"), 0);
}

#[tokio::test]
async fn a_mail_claimed_by_another_worker_waits_until_its_lease_ends() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(free_port(), dir.path(), &Behaviour::default());
    let transport = transport(smtp.port);
    let ids = queue_mails(&t, 1).await;
    let now = now_ms();
    // Another node claimed it at `now` with a lease of a minute (and may still be sending).
    sqlx::query("UPDATE mail_outbox SET leased_until = $1, attempts = 1 WHERE id = $2")
        .bind(now + MINUTE)
        .bind(&ids[0])
        .execute(&t.state.db)
        .await
        .unwrap();
    let d = deliver_due(&t.state.mailer, &transport, now + MINUTE - 1)
        .await
        .unwrap();
    assert_eq!(d.sent, 0, "not while the lease holds");
    let d = deliver_due(&t.state.mailer, &transport, now + MINUTE + 1)
        .await
        .unwrap();
    assert_eq!(d.sent, 1, "the lease ended: the other node died mid-send");
    assert_eq!(smtp.received(), vec![message_id(&ids[0])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_on_one_database_claim_different_mails() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = slow(free_port(), dir.path(), 0.05);
    let ids = queue_mails(&t, 24).await;
    let now = now_ms();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let state = t.state.clone();
            let transport = transport(smtp.port);
            tokio::spawn(async move { deliver_due(&state.mailer, &transport, now).await.unwrap() })
        })
        .collect();
    let mut sent = 0;
    let mut busy = 0;
    for w in workers {
        let d = w.await.unwrap();
        sent += d.sent;
        busy += usize::from(d.sent > 0);
    }
    assert_eq!(sent, ids.len());
    assert!(busy >= 2, "the workers shared the queue");
    let received = smtp.received();
    assert_eq!(
        counts(&received).len(),
        ids.len(),
        "each mail once: {received:?}"
    );
    assert_eq!(received.len(), ids.len());
}

#[tokio::test]
async fn admin_mail_queue_shows_counts_and_last_errors_without_addresses_or_contents() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = rejecting(dir.path(), "client1@");
    queue_mails(&t, 3).await;
    let d = deliver_due(&t.state.mailer, &transport(smtp.port), now_ms())
        .await
        .unwrap();
    assert_eq!((d.sent, d.gave_up), (2, 1));
    queue_mails(&t, 1).await; // one still waiting
    let s = t.settings();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confidant"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .arg("--data-dir")
        .arg(&s.data_dir)
        .args(["--database-url", &s.database_url])
        .args(["admin", "mail-queue", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["counts"]["sent"], 2, "{doc}");
    assert_eq!(doc["counts"]["failed_open"], 1, "{doc}");
    assert_eq!(doc["counts"]["due"], 1, "{doc}");
    assert_eq!(doc["last_errors"][0]["state"], "failed");
    assert_eq!(
        doc["last_errors"][0]["last_error"],
        "permanent failure (SMTP 550)"
    );
    for secret in ["@", "Antwort", "Text"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

#[tokio::test]
async fn a_queued_mail_that_cannot_be_opened_fails_instead_of_blocking_the_queue() {
    let t = TestApp::new().await;
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(free_port(), dir.path(), &Behaviour::default());
    let ids = queue_mails(&t, 2).await;
    sqlx::query("UPDATE mail_outbox SET sealed = $1 WHERE id = $2")
        .bind(vec![0u8; 64])
        .bind(&ids[0])
        .execute(&t.state.db)
        .await
        .unwrap();
    let d = deliver_due(&t.state.mailer, &transport(smtp.port), now_ms())
        .await
        .unwrap();
    assert_eq!((d.sent, d.failed, d.gave_up), (1, 0, 1));
    assert_eq!(smtp.received(), vec![message_id(&ids[1])]);
}
