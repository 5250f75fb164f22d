//! Two-way CalDAV sync (issue 6) against a real Radicale server started here on loopback, on
//! SQLite and PostgreSQL: events made directly in Radicale (one single, one weekly with a
//! moved and an excluded instance) remove exactly their slots and nothing else; bookings
//! appear in the chosen calendar, move with a reschedule and vanish with a cancellation; an
//! event moved or deleted in Radicale is detected, shown and can be put back; while Radicale
//! is down the error shows, no busy time is lost, bookings wait, and everything catches up
//! when it is back.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use common::booking::{book, bookable, consent, form, Bookable};
use common::{request, Backend, TestApp};
use confidant_booking::token::{self, Purpose};
use serde_json::{json, Value};

const USER: &str = "alice";
const PASSWORD: &str = "app-pass-1";

/// A Radicale server on a loopback port, with its storage in a temporary directory; it can
/// be stopped and started again on the same port with the same data.
struct Radicale {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Radicale {
    fn start() -> Radicale {
        Radicale::start_with(&format!("{USER}:{PASSWORD}\n"), None)
    }

    /// With an htpasswd `users` file and, optionally, a rights file (Radicale's `from_file`).
    fn start_with(users: &str, rights: Option<&str>) -> Radicale {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(dir.path().join("users"), users).unwrap();
        let rights = match rights {
            Some(r) => {
                std::fs::write(dir.path().join("rights"), r).unwrap();
                format!(
                    "type = from_file\nfile = {}",
                    dir.path().join("rights").display()
                )
            }
            None => "type = owner_only".to_owned(),
        };
        let config = format!(
            "[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\n\
             htpasswd_encryption = plain\n[storage]\nfilesystem_folder = {store}\n[rights]\n{rights}\n\
             [logging]\nlevel = warning\n",
            users = dir.path().join("users").display(),
            store = dir.path().join("collections").display(),
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        let mut r = Radicale {
            dir,
            port,
            child: None,
        };
        r.run();
        r
    }

    fn run(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "radicale", "--config"])
            .arg(self.dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with radicale (the test command installs it: pip install radicale)");
        self.child = Some(child);
        // Bounded wait until it accepts connections.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "radicale exited at start ({status}); is it installed? pip install radicale"
                );
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        panic!("radicale did not start listening on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A request as the counsellor's own calendar program would make it.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        self.call_as((USER, PASSWORD), method, path, body, headers)
            .await
    }

    async fn call_as(
        &self,
        who: (&str, &str),
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let client = reqwest::Client::new();
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                self.url(path),
            )
            .basic_auth(who.0, Some(who.1));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "text/calendar").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, etag, r.text().await.unwrap())
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        self.stop();
    }
}

fn berlin(d: NaiveDate, h: u32) -> DateTime<Utc> {
    Berlin
        .from_local_datetime(&d.and_hms_opt(h, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn z(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn ics(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
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

async fn sync(t: &TestApp, b: &Bookable, id: &str) -> Value {
    let r = t
        .post(
            &format!("/api/calendar/caldav/{id}/sync"),
            Some(&b.cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn calendar<'a>(account: &'a Value, name: &str) -> &'a Value {
    account["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {account}"))
}

/// DTSTART/DTEND of the resource, as UTC text, read with Python's icalendar (an independent
/// reader); `None` when the resource does not exist.
async fn event_times(rad: &Radicale, path: &str) -> Option<(String, String)> {
    let (status, _, body) = rad.call("GET", path, None, &[]).await;
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, icalendar\nc = icalendar.Calendar.from_ical(sys.argv[1])\n\
             e = [x for x in c.walk('VEVENT')][0]\n\
             print(e['DTSTART'].dt.strftime('%Y%m%dT%H%M%SZ'), e['DTEND'].dt.strftime('%Y%m%dT%H%M%SZ'), e['UID'])",
            &body,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    Some((
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    ))
}

fn link_token(t: &TestApp, purpose: Purpose, booking_id: &str, sequence: i64) -> String {
    let key = t.state.vault.derive_secret(confidant::BOOKING_LINK_PURPOSE);
    token::sign(
        &key,
        purpose,
        &format!("{booking_id}.{sequence}"),
        i64::MAX / 2,
    )
}

async fn sequence_of(t: &TestApp, booking_id: &str) -> i64 {
    sqlx::query_scalar("SELECT ics_sequence FROM bookings WHERE id = $1")
        .bind(booking_id)
        .fetch_one(&t.state.db)
        .await
        .unwrap()
}

async fn flow(backend: Backend) {
    let mut rad = Radicale::start();
    for cal in ["work", "appointments"] {
        let (s, _, body) = rad
            .call("MKCALENDAR", &format!("/{USER}/{cal}/"), None, &[])
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let t = TestApp::build_with(backend, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;

    // Hours are 08–20 Berlin, 50-minute slots every hour. In Radicale's "work" calendar: a
    // single event 11:00–11:30 on day D; a weekly 14:00–15:00 from D, four times, the second
    // moved to 17:00 (RECURRENCE-ID) and the third excluded (EXDATE); a "free" event at 09:00.
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let d = |w: i64| (day + Duration::days(7 * w)).format("%Y%m%d").to_string();
    let single = berlin(day, 11);
    let weekly = |w: i64| berlin(day + Duration::days(7 * w), 14);
    let moved_to = berlin(day + Duration::days(7), 17);
    let events = [
        ("single", format!("BEGIN:VEVENT\r\nUID:single@test\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\n", z(single), z(single + Duration::minutes(30)))),
        ("weekly", format!(
            "BEGIN:VEVENT\r\nUID:weekly@test\r\nDTSTART;TZID=Europe/Berlin:{d0}T140000\r\nDTEND;TZID=Europe/Berlin:{d0}T150000\r\n\
RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=Europe/Berlin:{d2}T140000\r\nSUMMARY:Team\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@test\r\nRECURRENCE-ID;TZID=Europe/Berlin:{d1}T140000\r\nDTSTART;TZID=Europe/Berlin:{d1}T170000\r\n\
DTEND;TZID=Europe/Berlin:{d1}T180000\r\nSUMMARY:Team (moved)\r\nEND:VEVENT\r\n",
            d0 = d(0), d1 = d(1), d2 = d(2))),
        ("free", format!("BEGIN:VEVENT\r\nUID:free@test\r\nDTSTART;TZID=Europe/Berlin:{}T090000\r\nDTEND;TZID=Europe/Berlin:{}T100000\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n", d(0), d(0))),
    ];
    for (name, ev) in &events {
        let (s, _, body) = rad
            .call(
                "PUT",
                &format!("/{USER}/work/{name}.ics"),
                Some(ics(ev)),
                &[],
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let before = free_starts(&t, &b, day, 28).await;
    for s in [single, weekly(0), weekly(1), weekly(2), weekly(3), moved_to] {
        assert!(
            before.contains(&s),
            "{s} is free before the account is connected"
        );
    }

    // Bad input and a refused login name the field.
    let r = t
        .post(
            "/api/calendar/caldav",
            Some(&b.cookie),
            Some(json!({"url": rad.url("/"), "username": USER, "password": "wrong"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "password");
    for (body, field) in [
        (
            json!({"url": "ftp://x.example/", "username": USER, "password": PASSWORD}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "username": USER, "password": PASSWORD}),
            "url",
        ),
        (
            json!({"url": rad.url("/"), "username": "", "password": PASSWORD}),
            "username",
        ),
    ] {
        let r = t
            .post("/api/calendar/caldav", Some(&b.cookie), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field);
    }

    // Connect from the server's root: the principal, its home and both calendars are found;
    // both block by default.
    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(json!({"url": rad.url("/"), "username": USER, "password": PASSWORD, "label": "Praxis"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc["last_error"], Value::Null, "{acc}");
    assert_eq!(acc["calendars"].as_array().unwrap().len(), 2, "{acc}");
    let id = acc["id"].as_str().unwrap().to_owned();
    assert_eq!(
        calendar(&acc, "alice/work")["busy_count"],
        4,
        "single, the weekly's first and fourth instance and the moved second: {acc}"
    );
    // User name and app password are sealed at rest.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM caldav_accounts")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(PASSWORD));

    let after = free_starts(&t, &b, day, 28).await;
    let gone: Vec<_> = before
        .iter()
        .filter(|s| !after.contains(s))
        .copied()
        .collect();
    assert_eq!(
        gone,
        [single, weekly(0), moved_to, weekly(3)],
        "exactly the busy slots are gone: the moved instance frees its original time, the excluded one stays free"
    );
    assert!(
        after.contains(&weekly(1)) && after.contains(&weekly(2)) && after.contains(&berlin(day, 9))
    );

    // Incremental: a new event blocks, a deleted one frees (sync token).
    let extra = berlin(day, 16);
    let (s, _, _) = rad
        .call(
            "PUT",
            &format!("/{USER}/work/extra.ics"),
            Some(ics(&format!(
                "BEGIN:VEVENT\r\nUID:extra@test\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n",
                z(extra),
                z(extra + Duration::hours(1))
            ))),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    sync(&t, &b, &id).await;
    assert!(!free_starts(&t, &b, day, 1).await.contains(&extra));
    let token: Option<String> =
        sqlx::query_scalar("SELECT sync_token FROM caldav_calendars WHERE id = $1")
            .bind(calendar(&acc, "alice/work")["id"].as_str().unwrap())
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert!(
        token.is_some_and(|t| t.contains("sync")),
        "Radicale's sync token is kept"
    );
    let (s, _, _) = rad
        .call("DELETE", &format!("/{USER}/work/single.ics"), None, &[])
        .await;
    assert_eq!(s, 200);
    let acc = sync(&t, &b, &id).await;
    assert_eq!(
        calendar(&acc, "alice/work")["busy_count"],
        4,
        "one more, one less: {acc}"
    );
    let free = free_starts(&t, &b, day, 1).await;
    assert!(free.contains(&single) && !free.contains(&extra));

    // Write bookings to "appointments".
    let appointments = calendar(&acc, "alice/appointments")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .send(request(
            Method::PATCH,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            Some(json!({"write_calendar_id": appointments})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = consent(&t, &b.slug).await;
    let at = berlin(day + Duration::days(1), 10);
    let r = book(&t, &b, form(&b, &at.to_rfc3339(), &c, "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let booking = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/{USER}/appointments/{booking}.ics");
    let acc = sync(&t, &b, &id).await;
    assert_eq!(acc["pending_writes"], 0, "{acc}");
    assert_eq!(
        event_times(&rad, &path).await,
        Some((z(at), z(at + Duration::minutes(50))))
    );
    assert_eq!(
        calendar(&acc, "alice/appointments")["busy_count"],
        0,
        "our own event does not block as a foreign one"
    );
    // The client's details stay out of the calendar unless the counsellor turns them on.
    let (_, _, body) = rad.call("GET", &path, None, &[]).await;
    assert!(
        !body.contains("Alex") && !body.contains("client.example"),
        "{body}"
    );

    // A reschedule moves it; the worker's round does it without being asked.
    let to = berlin(day + Duration::days(1), 12);
    let resched = link_token(
        &t,
        Purpose::Reschedule,
        &booking,
        sequence_of(&t, &booking).await,
    );
    let r = t
        .post(
            "/api/public/bookings/reschedule",
            None,
            Some(json!({"token": resched, "start": to.to_rfc3339()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    confidant::booking::caldav::sync_due(&t.state.booking, Utc::now().timestamp_millis())
        .await
        .unwrap();
    assert_eq!(
        event_times(&rad, &path).await,
        Some((z(to), z(to + Duration::minutes(50))))
    );

    // Moved in Radicale: detected and shown, not overwritten; put back on request.
    let (_, etag, body) = rad.call("GET", &path, None, &[]).await;
    let elsewhere = to + Duration::hours(3);
    let changed = body
        .replace(
            &format!("DTSTART:{}", z(to)),
            &format!("DTSTART:{}", z(elsewhere)),
        )
        .replace(
            &format!("DTEND:{}", z(to + Duration::minutes(50))),
            &format!("DTEND:{}", z(elsewhere + Duration::minutes(50))),
        );
    assert_ne!(changed, body);
    let (s, _, _) = rad
        .call(
            "PUT",
            &path,
            Some(changed),
            &[("If-Match", etag.as_deref().unwrap())],
        )
        .await;
    assert!(s == 201 || s == 204, "{s}");
    let acc = sync(&t, &b, &id).await;
    let ch = &acc["changed_events"][0];
    assert_eq!(ch["booking_id"], booking.as_str(), "{acc}");
    assert_eq!(ch["change"], "moved");
    assert_eq!(
        DateTime::parse_from_rfc3339(ch["calendar_starts_at"].as_str().unwrap()).unwrap(),
        elsewhere
    );
    assert_eq!(
        DateTime::parse_from_rfc3339(ch["starts_at"].as_str().unwrap()).unwrap(),
        to
    );
    sync(&t, &b, &id).await;
    assert_eq!(
        event_times(&rad, &path).await.unwrap().0,
        z(elsewhere),
        "a detected change is not overwritten by itself"
    );
    let change_id = ch["id"].as_str().unwrap();
    let r = t
        .post(
            &format!("/api/calendar/caldav/{id}/changes/{change_id}"),
            Some(&b.cookie),
            Some(json!({"action": "later"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "action");
    let r = t
        .post(
            &format!("/api/calendar/caldav/{id}/changes/{change_id}"),
            Some(&b.cookie),
            Some(json!({"action": "restore"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["changed_events"].as_array().unwrap().is_empty());
    assert_eq!(
        event_times(&rad, &path).await,
        Some((z(to), z(to + Duration::minutes(50))))
    );

    // Deleted in Radicale: detected; "keep" leaves the calendar without it.
    let (s, _, _) = rad.call("DELETE", &path, None, &[]).await;
    assert_eq!(s, 200);
    let acc = sync(&t, &b, &id).await;
    assert_eq!(acc["changed_events"][0]["change"], "deleted", "{acc}");
    let change_id = acc["changed_events"][0]["id"].as_str().unwrap().to_owned();
    let r = t
        .post(
            &format!("/api/calendar/caldav/{id}/changes/{change_id}"),
            Some(&b.cookie),
            Some(json!({"action": "keep"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    sync(&t, &b, &id).await;
    assert_eq!(
        event_times(&rad, &path).await,
        None,
        "kept as the calendar has it"
    );

    // A cancellation of a written booking removes its event.
    let at2 = berlin(day + Duration::days(2), 10);
    let r = book(&t, &b, form(&b, &at2.to_rfc3339(), &c, "Kim")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let second = r.json()["id"].as_str().unwrap().to_owned();
    let path2 = format!("/{USER}/appointments/{second}.ics");
    sync(&t, &b, &id).await;
    assert!(event_times(&rad, &path2).await.is_some());
    let r = t
        .post(
            &format!("/api/booking/bookings/{second}/cancel"),
            Some(&b.cookie),
            Some(json!({"reason": "krank"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    sync(&t, &b, &id).await;
    assert_eq!(event_times(&rad, &path2).await, None);

    // Radicale down: the error shows, busy times stay, a new booking waits.
    rad.stop();
    let acc = sync(&t, &b, &id).await;
    assert!(
        acc["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("reach") || e.contains("connection")),
        "{acc}"
    );
    assert_eq!(
        calendar(&acc, "alice/work")["busy_count"],
        4,
        "nothing is lost: {acc}"
    );
    assert!(!free_starts(&t, &b, day, 1).await.contains(&extra));
    let at3 = berlin(day + Duration::days(2), 15);
    let r = book(&t, &b, form(&b, &at3.to_rfc3339(), &c, "Sam")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let third = r.json()["id"].as_str().unwrap().to_owned();
    let acc = sync(&t, &b, &id).await;
    assert_eq!(acc["pending_writes"], 1, "{acc}");
    // Back: the worker's next due round (after the backoff) catches up.
    rad.run();
    let later = Utc::now().timestamp_millis() + 10 * 60_000;
    assert_eq!(
        confidant::booking::caldav::sync_due(&t.state.booking, later)
            .await
            .unwrap(),
        1
    );
    let r = t.get("/api/calendar/caldav", Some(&b.cookie)).await;
    let acc = r.json()[0].clone();
    assert_eq!(acc["last_error"], Value::Null, "{acc}");
    assert_eq!(acc["pending_writes"], 0, "{acc}");
    assert_eq!(
        event_times(&rad, &format!("/{USER}/appointments/{third}.ics")).await,
        Some((z(at3), z(at3 + Duration::minutes(50))))
    );

    // Turning "blocks" off for "work" frees its times.
    let work = calendar(&acc, "alice/work")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .send(request(
            Method::PATCH,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            Some(json!({"calendars": [{"id": work, "blocks": false}]})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(calendar(&r.json(), "alice/work")["busy_count"], 0);
    assert!(free_starts(&t, &b, day, 1).await.contains(&extra));

    // Another counsellor sees nothing and cannot touch it; disconnecting keeps the events.
    let other = bookable(&t, "o@example.org", "other", "phone", json!({})).await;
    let r = t.get("/api/calendar/caldav", Some(&other.cookie)).await;
    assert_eq!(r.json(), json!([]));
    let r = t
        .send(request(
            Method::DELETE,
            &format!("/api/calendar/caldav/{id}"),
            Some(&other.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .send(request(
            Method::DELETE,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM caldav_busy")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(
        event_times(&rad, &format!("/{USER}/appointments/{third}.ics"))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn caldav_two_way_sync_with_radicale_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn caldav_two_way_sync_with_radicale_on_postgres() {
    flow(Backend::Postgres).await;
}

/// A calendar the account may only see as free/busy (Radicale's `f` permission: a colleague's
/// calendar shared that way): connected by its URL, read with `free-busy-query`, its busy
/// periods block exactly their slots; nothing is written there.
#[tokio::test]
async fn a_free_busy_only_calendar_blocks_by_its_free_busy_answer() {
    let rights = "[root]\nuser: .+\ncollection:\npermissions: R\n\n[principal]\nuser: .+\ncollection: {user}\npermissions: RW\n\n\
[own]\nuser: .+\ncollection: {user}/[^/]+\npermissions: rw\n\n[alice-sees-bob-as-free-busy]\nuser: alice\ncollection: bob/private\npermissions: f\n";
    let rad = Radicale::start_with(&format!("{USER}:{PASSWORD}\nbob:bob-pass\n"), Some(rights));
    let bob = ("bob", "bob-pass");
    assert_eq!(
        rad.call_as(bob, "MKCALENDAR", "/bob/private/", None, &[])
            .await
            .0,
        201
    );
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let busy = berlin(day, 13);
    let ev = format!("BEGIN:VEVENT\r\nUID:secret@test\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Private\r\nEND:VEVENT\r\n", z(busy), z(busy + Duration::hours(2)));
    assert_eq!(
        rad.call_as(bob, "PUT", "/bob/private/secret.ics", Some(ics(&ev)), &[])
            .await
            .0,
        201
    );
    // Alice may not read the event itself.
    assert_eq!(
        rad.call("GET", "/bob/private/secret.ics", None, &[])
            .await
            .0,
        403
    );

    let before = free_starts(&t, &b, day, 1).await;
    let r = t
        .post(
            "/api/calendar/caldav",
            Some(&b.cookie),
            Some(json!({"url": rad.url("/bob/private/"), "username": USER, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc["last_error"], Value::Null, "{acc}");
    let cal = &acc["calendars"][0];
    assert_eq!(cal["free_busy_only"], true, "{acc}");
    assert_eq!(cal["writable"], false);
    assert_eq!(cal["busy_count"], 1);
    let after = free_starts(&t, &b, day, 1).await;
    let gone: Vec<_> = before
        .iter()
        .filter(|s| !after.contains(s))
        .copied()
        .collect();
    assert_eq!(
        gone,
        [busy, busy + Duration::hours(1)],
        "13:00 and 14:00 are busy, nothing else"
    );
    // It cannot be chosen for writing.
    let id = acc["id"].as_str().unwrap();
    let r = t
        .send(request(
            Method::PATCH,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            Some(json!({"write_calendar_id": cal["id"]})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "write_calendar_id");
}

/// Forwards one request to Radicale on `upstream` and returns its answer; `rewrite` may change
/// the answer's body.
async fn forward(
    upstream: u16,
    req: axum::extract::Request,
    rewrite: impl Fn(String) -> String,
) -> axum::response::Response {
    use axum::body::{to_bytes, Body};
    use axum::response::Response;
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, 16 << 20).await.unwrap();
    let url = format!(
        "http://127.0.0.1:{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut fwd = reqwest::Client::new().request(
        reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap(),
        url,
    );
    for (k, v) in &parts.headers {
        if k != "host" {
            fwd = fwd.header(k.as_str(), v.as_bytes());
        }
    }
    let r = fwd.body(bytes.to_vec()).send().await.unwrap();
    let mut out = Response::builder().status(r.status().as_u16());
    for (k, v) in r.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    out.body(Body::from(rewrite(r.text().await.unwrap())))
        .unwrap()
}

/// Serves `app` on a loopback port; returns the port.
async fn serve(app: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A proxy in front of Radicale that hides `sync-collection`, as servers without RFC 6578 do:
/// it is left out of `supported-report-set` and the report itself is refused.
async fn without_sync_collection(upstream: u16) -> u16 {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    serve(
        axum::Router::new().fallback(move |req: Request| async move {
            if req.method().as_str() == "REPORT" {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
                if String::from_utf8_lossy(&bytes).contains("sync-collection") {
                    return Response::builder()
                        .status(403)
                        .body(Body::from("no sync-collection here"))
                        .unwrap();
                }
                let req = Request::from_parts(parts, Body::from(bytes));
                return forward(upstream, req, |t| t).await;
            }
            forward(upstream, req, |t| {
                t.replace(
                    "<supported-report><report><sync-collection /></report></supported-report>",
                    "",
                )
            })
            .await
        }),
    )
    .await
}

/// A server without `sync-collection`: changes are found by comparing the members' etags
/// (after a cheap `getctag` check), against Radicale behind a proxy that hides the report.
#[tokio::test]
async fn without_sync_tokens_changes_are_found_by_etags() {
    let rad = Radicale::start();
    assert_eq!(
        rad.call("MKCALENDAR", &format!("/{USER}/work/"), None, &[])
            .await
            .0,
        201
    );
    let proxy = without_sync_collection(rad.port).await;
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(json!({"url": format!("http://127.0.0.1:{proxy}/{USER}/"), "username": USER, "password": PASSWORD})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["last_error"], Value::Null, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let supported: Vec<i64> = sqlx::query_scalar("SELECT sync_supported FROM caldav_calendars")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(supported, [0], "the proxy hides sync-collection");
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let at = berlin(day, 10);
    let ev = |start: DateTime<Utc>| {
        ics(&format!(
            "BEGIN:VEVENT\r\nUID:e@test\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n",
            z(start),
            z(start + Duration::hours(1))
        ))
    };
    assert_eq!(
        rad.call("PUT", &format!("/{USER}/work/e.ics"), Some(ev(at)), &[])
            .await
            .0,
        201
    );
    sync(&t, &b, &id).await;
    let free = free_starts(&t, &b, day, 1).await;
    assert!(!free.contains(&at) && free.contains(&(at + Duration::hours(1))));
    // Moved: the old time frees, the new one blocks.
    let (_, etag, _) = rad
        .call("GET", &format!("/{USER}/work/e.ics"), None, &[])
        .await;
    let (s, _, _) = rad
        .call(
            "PUT",
            &format!("/{USER}/work/e.ics"),
            Some(ev(at + Duration::hours(2))),
            &[("If-Match", etag.as_deref().unwrap())],
        )
        .await;
    assert!(s == 201 || s == 204);
    sync(&t, &b, &id).await;
    let free = free_starts(&t, &b, day, 1).await;
    assert!(free.contains(&at) && !free.contains(&(at + Duration::hours(2))));
    // Deleted: free again.
    assert_eq!(
        rad.call("DELETE", &format!("/{USER}/work/e.ics"), None, &[])
            .await
            .0,
        200
    );
    let acc = sync(&t, &b, &id).await;
    assert_eq!(calendar(&acc, "alice/work")["busy_count"], 0, "{acc}");
    let tokens: Vec<Option<String>> = sqlx::query_scalar("SELECT sync_token FROM caldav_calendars")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(tokens, [None], "no sync token was used");
}

/// A write the calendar server refuses (here: Radicale's 409 for a UID already used by another
/// resource in the calendar) is shown and retried; it does not keep the other bookings out.
#[tokio::test]
async fn a_refused_write_is_shown_and_does_not_block_the_others() {
    let rad = Radicale::start();
    assert_eq!(
        rad.call("MKCALENDAR", &format!("/{USER}/appointments/"), None, &[])
            .await
            .0,
        201
    );
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let c = consent(&t, &b.slug).await;
    let mut ids = Vec::new();
    for (h, who) in [(10, "Alex"), (12, "Kim")] {
        let r = book(&t, &b, form(&b, &berlin(day, h).to_rfc3339(), &c, who)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    // Something else in the calendar already uses the UID the first booking's event will have.
    let uid = format!(
        "{}@{}",
        ids[0],
        confidant::booking::feed::uid_host(&t.state.booking)
    );
    let squatter = ics(&format!("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20300101T090000Z\r\nDTEND:20300101T100000Z\r\nEND:VEVENT\r\n"));
    assert_eq!(
        rad.call(
            "PUT",
            &format!("/{USER}/appointments/squatter.ics"),
            Some(squatter),
            &[]
        )
        .await
        .0,
        201
    );

    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(json!({"url": rad.url(&format!("/{USER}/")), "username": USER, "password": PASSWORD})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let cal = r.json()["calendars"][0]["id"].as_str().unwrap().to_owned();
    let r = t
        .send(request(
            Method::PATCH,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            Some(json!({"write_calendar_id": cal})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let acc = r.json();
    assert!(
        acc["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("1 booking(s) could not be written") && e.contains("409")),
        "{acc}"
    );
    assert_eq!(acc["pending_writes"], 1, "{acc}");
    assert_eq!(
        event_times(&rad, &format!("/{USER}/appointments/{}.ics", ids[0])).await,
        None
    );
    assert!(
        event_times(&rad, &format!("/{USER}/appointments/{}.ics", ids[1]))
            .await
            .is_some(),
        "the other booking is written"
    );

    // The conflict is cleared in the calendar: the next round writes it.
    assert_eq!(
        rad.call(
            "DELETE",
            &format!("/{USER}/appointments/squatter.ics"),
            None,
            &[]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        confidant::booking::caldav::sync_due(
            &t.state.booking,
            Utc::now().timestamp_millis() + 10 * 60_000
        )
        .await
        .unwrap(),
        1
    );
    let acc = t.get("/api/calendar/caldav", Some(&b.cookie)).await.json()[0].clone();
    assert_eq!(acc["last_error"], Value::Null, "{acc}");
    assert_eq!(acc["pending_writes"], 0, "{acc}");
    assert!(
        event_times(&rad, &format!("/{USER}/appointments/{}.ics", ids[0]))
            .await
            .is_some()
    );
}

/// Another server on loopback that counts the requests it gets and those that carry
/// credentials (an `Authorization` header): where a redirect must not take the app password.
struct Elsewhere {
    port: u16,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    with_credentials: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Elsewhere {
    async fn start() -> Elsewhere {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let requests = Arc::new(AtomicUsize::new(0));
        let with_credentials = Arc::new(AtomicUsize::new(0));
        let (r, c) = (requests.clone(), with_credentials.clone());
        let port = serve(
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                let (r, c) = (r.clone(), c.clone());
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    if req.headers().contains_key("authorization") {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .await;
        Elsewhere {
            port,
            requests,
            with_credentials,
        }
    }

    fn counts(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        (
            self.requests.load(Ordering::SeqCst),
            self.with_credentials.load(Ordering::SeqCst),
        )
    }
}

/// A proxy in front of Radicale that, once `redirect` is set, answers every request with a
/// redirect to `target` (same path).
async fn redirecting_when(
    upstream: u16,
    target: String,
    redirect: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    use axum::extract::Request;
    use axum::response::{IntoResponse, Response};
    serve(axum::Router::new().fallback(move |req: Request| {
        let (target, redirect) = (target.clone(), redirect.clone());
        async move {
            if redirect.load(std::sync::atomic::Ordering::SeqCst) {
                let to = format!("{target}{}", req.uri().path());
                return (StatusCode::TEMPORARY_REDIRECT, [("location", to)]).into_response();
            }
            let r: Response = forward(upstream, req, |t| t).await;
            r
        }
    }))
    .await
}

/// A calendar server that redirects to another host or port does not get the app password
/// sent there: connecting is refused with an error that names the field and says why, and an
/// account that was fine until its server started redirecting shows the error on the
/// dashboard; the other server never sees a request, let alone credentials.
#[tokio::test]
async fn caldav_credentials_never_follow_a_redirect_to_another_origin() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let rad = Radicale::start();
    assert_eq!(
        rad.call("MKCALENDAR", &format!("/{USER}/work/"), None, &[])
            .await
            .0,
        201
    );
    let elsewhere = Elsewhere::start().await;
    let t = TestApp::build_with(Backend::Sqlite, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;

    // Another port, another host name for the same address, another scheme: each is another
    // origin.
    let always = Arc::new(AtomicBool::new(true));
    for target in [
        format!("http://127.0.0.1:{}", elsewhere.port),
        format!("http://localhost:{}", elsewhere.port),
        format!("https://127.0.0.1:{}", elsewhere.port),
    ] {
        let proxy = redirecting_when(rad.port, target, always.clone()).await;
        let r = t
            .post("/api/calendar/caldav", Some(&b.cookie), Some(json!({"url": format!("http://127.0.0.1:{proxy}/{USER}/"), "username": USER, "password": PASSWORD})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], "url");
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            msg.contains("another server") && msg.contains("only sent to the address you entered"),
            "{msg}"
        );
    }
    assert_eq!(
        elsewhere.counts(),
        (0, 0),
        "nothing at all went to the other server"
    );

    // Connected through a server that answers itself; later it redirects elsewhere.
    let redirect = Arc::new(AtomicBool::new(false));
    let proxy = redirecting_when(
        rad.port,
        format!("http://127.0.0.1:{}", elsewhere.port),
        redirect.clone(),
    )
    .await;
    let r = t
        .post("/api/calendar/caldav", Some(&b.cookie), Some(json!({"url": format!("http://127.0.0.1:{proxy}/{USER}/"), "username": USER, "password": PASSWORD})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["last_error"], Value::Null, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    redirect.store(true, Ordering::SeqCst);
    let acc = sync(&t, &b, &id).await;
    let err = acc["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("another server") && err.contains("only sent to the address you entered"),
        "{acc}"
    );
    assert!(
        !err.contains(&elsewhere.port.to_string()),
        "the stored error names no server: {err}"
    );
    let shown =
        t.get("/api/calendar/caldav", Some(&b.cookie)).await.json()[0]["last_error"].clone();
    assert_eq!(shown.as_str(), Some(err), "the dashboard shows it");
    assert_eq!(
        elsewhere.counts(),
        (0, 0),
        "nothing at all went to the other server"
    );
}

/// `http://` CalDAV would send the app password unencrypted: refused (naming the field) unless
/// `--caldav-allow-http` allows it, before anything is sent to the server.
#[tokio::test]
async fn plain_http_caldav_is_refused_unless_allowed() {
    let elsewhere = Elsewhere::start().await;
    // Without the flag refused; with it (as every other test here runs) the server is asked
    // and refuses the login.
    for (allow, field) in [(false, "url"), (true, "password")] {
        let t = TestApp::build_with(Backend::Sqlite, |c| c.caldav_allow_http = allow).await;
        let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
        let r = t
            .post(
                "/api/calendar/caldav",
                Some(&b.cookie),
                Some(json!({"url": format!("http://127.0.0.1:{}/{USER}/", elsewhere.port), "username": USER, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
        if !allow {
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("https://"),
                "{}",
                r.text()
            );
            assert_eq!(elsewhere.counts(), (0, 0), "nothing was sent");
        }
    }
    assert!(elsewhere.counts().1 > 0);
}

/// Every text a CalDAV table keeps that could carry a URL or href (the display name and the
/// host shown to recognise an account aside), with where it came from.
async fn caldav_texts_at_rest(t: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (table, col) in [
        ("caldav_accounts", "home_url"),
        ("caldav_accounts", "last_error"),
        ("caldav_calendars", "url"),
        ("caldav_events", "calendar_url"),
        ("caldav_events", "href"),
        ("caldav_items", "href"),
        ("caldav_busy", "href"),
    ] {
        let vals: Vec<Option<String>> = sqlx::query_scalar(&format!("SELECT {col} FROM {table}"))
            .fetch_all(&t.state.db)
            .await
            .unwrap();
        out.extend(
            vals.into_iter()
                .flatten()
                .map(|v| (format!("{table}.{col}"), v)),
        );
    }
    out
}

/// Sets a column of every row back to the clear URL its digest stands for (a row as written
/// before migration 0012).
async fn unseal_column(t: &TestApp, table: &str, col: &str, urls: &[String]) {
    for u in urls {
        let key = confidant::booking::caldav::url_key(&t.state.booking, u);
        sqlx::query(&format!("UPDATE {table} SET {col} = $1 WHERE {col} = $2"))
            .bind(u)
            .bind(&key)
            .execute(&t.state.db)
            .await
            .unwrap();
    }
}

/// The discovered CalDAV addresses (they name the user) are not kept in clear: the home, the
/// calendars' and the written events' URLs are sealed, the members' hrefs kept as keyed
/// digests. Rows in the old, clear form (before migration 0012) are sealed when the server
/// starts, and sync goes on from them without losing what it knew: busy times, and the
/// booking it wrote (not written twice; its deletion in the calendar is still noticed).
async fn sealed_at_rest(backend: Backend) {
    let rad = Radicale::start();
    for cal in ["work", "appointments"] {
        assert_eq!(
            rad.call("MKCALENDAR", &format!("/{USER}/{cal}/"), None, &[])
                .await
                .0,
            201
        );
    }
    let day = (Utc::now() + Duration::days(3))
        .with_timezone(&Berlin)
        .date_naive();
    let busy = berlin(day, 11);
    let ev = |uid: &str, at: DateTime<Utc>| {
        ics(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}@test\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n",
            z(at),
            z(at + Duration::hours(1))
        ))
    };
    assert_eq!(
        rad.call(
            "PUT",
            &format!("/{USER}/work/busy.ics"),
            Some(ev("busy", busy)),
            &[]
        )
        .await
        .0,
        201
    );
    let t = TestApp::build_with(backend, |c| c.form_burst = 100).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let c = consent(&t, &b.slug).await;
    let r = book(&t, &b, form(&b, &berlin(day, 15).to_rfc3339(), &c, "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let booking = r.json()["id"].as_str().unwrap().to_owned();
    let r = t
        .post(
            "/api/calendar/caldav",
            Some(&b.cookie),
            Some(json!({"url": rad.url("/"), "username": USER, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let appointments = calendar(&r.json(), "alice/appointments")["id"].clone();
    let r = t
        .send(request(
            Method::PATCH,
            &format!("/api/calendar/caldav/{id}"),
            Some(&b.cookie),
            Some(json!({"write_calendar_id": appointments})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["pending_writes"], 0, "{}", r.text());
    assert!(
        event_times(&rad, &format!("/{USER}/appointments/{booking}.ics"))
            .await
            .is_some()
    );
    assert!(!free_starts(&t, &b, day, 1).await.contains(&busy));

    // Nothing at rest names the user or the server's address.
    let port = rad.port.to_string();
    let texts = caldav_texts_at_rest(&t).await;
    assert!(
        texts.iter().any(|(w, _)| w == "caldav_items.href"),
        "there are members: {texts:?}"
    );
    for (col, v) in &texts {
        assert!(
            !v.contains(USER) && !v.contains(&port) && !v.contains('/'),
            "{col} keeps {v:?} in clear"
        );
    }

    // Put the rows back into the clear form of before migration 0012.
    let home = rad.url(&format!("/{USER}/"));
    let cals: Vec<String> = ["work", "appointments"]
        .iter()
        .map(|c| rad.url(&format!("/{USER}/{c}/")))
        .collect();
    let event = rad.url(&format!("/{USER}/appointments/{booking}.ics"));
    let members = vec![format!("/{USER}/work/busy.ics")];
    let db = &t.state.db;
    sqlx::query("UPDATE caldav_accounts SET home_url = $1, home_sealed = NULL")
        .bind(&home)
        .execute(db)
        .await
        .unwrap();
    unseal_column(&t, "caldav_calendars", "url", &cals).await;
    sqlx::query("UPDATE caldav_calendars SET url_sealed = NULL")
        .execute(db)
        .await
        .unwrap();
    unseal_column(&t, "caldav_events", "calendar_url", &cals).await;
    sqlx::query("UPDATE caldav_events SET href = $1, href_sealed = NULL")
        .bind(&event)
        .execute(db)
        .await
        .unwrap();
    unseal_column(&t, "caldav_items", "href", &members).await;
    unseal_column(&t, "caldav_busy", "href", &members).await;
    let texts = caldav_texts_at_rest(&t).await;
    for clear in [&home, &cals[0], &cals[1], &event, &members[0]] {
        assert!(
            texts.iter().any(|(_, v)| v == clear),
            "{clear} is back in clear: {texts:?}"
        );
    }

    // A start seals them (once).
    let state = confidant::start((*t.state.config).clone()).await.unwrap();
    for (col, v) in &caldav_texts_at_rest(&t).await {
        assert!(
            !v.contains(USER) && !v.contains(&port) && !v.contains('/'),
            "{col} keeps {v:?} in clear after the start"
        );
    }
    assert_eq!(
        confidant::booking::caldav::seal_urls_at_rest(&state.booking)
            .await
            .unwrap(),
        0,
        "nothing left to seal"
    );

    // Sync goes on from what it knew.
    let acc = sync(&t, &b, &id).await;
    assert_eq!(acc["last_error"], Value::Null, "{acc}");
    assert_eq!(acc["pending_writes"], 0, "{acc}");
    assert_eq!(calendar(&acc, "alice/work")["busy_count"], 1, "{acc}");
    let (_, _, listing) = rad
        .call(
            "PROPFIND",
            &format!("/{USER}/appointments/"),
            None,
            &[("Depth", "1")],
        )
        .await;
    assert_eq!(
        listing.matches(".ics").count(),
        1,
        "the booking is not written twice: {listing}"
    );
    // The member known from before is still recognised: deleting it frees its time.
    assert_eq!(
        rad.call("DELETE", &format!("/{USER}/work/busy.ics"), None, &[])
            .await
            .0,
        200
    );
    let acc = sync(&t, &b, &id).await;
    assert_eq!(calendar(&acc, "alice/work")["busy_count"], 0, "{acc}");
    assert!(free_starts(&t, &b, day, 1).await.contains(&busy));
    // And so is the booking's event: deleting it in the calendar is noticed.
    assert_eq!(
        rad.call(
            "DELETE",
            &format!("/{USER}/appointments/{booking}.ics"),
            None,
            &[]
        )
        .await
        .0,
        200
    );
    let acc = sync(&t, &b, &id).await;
    assert_eq!(acc["changed_events"][0]["change"], "deleted", "{acc}");
    assert_eq!(
        acc["changed_events"][0]["booking_id"],
        booking.as_str(),
        "{acc}"
    );
}

#[tokio::test]
async fn caldav_addresses_are_sealed_at_rest_and_old_rows_on_start_on_sqlite() {
    sealed_at_rest(Backend::Sqlite).await;
}

#[tokio::test]
async fn caldav_addresses_are_sealed_at_rest_and_old_rows_on_start_on_postgres() {
    sealed_at_rest(Backend::Postgres).await;
}

/// Without `--calendar-fetch-private`, IPv6 forms that carry a loopback or private IPv4
/// address, or are not public themselves, are refused before anything is sent: a server on
/// loopback reached as `::ffff:127.0.0.1` gets no request.
#[tokio::test]
async fn ipv6_forms_of_non_public_addresses_are_not_contacted() {
    let elsewhere = Elsewhere::start().await;
    let t = TestApp::build_with(Backend::Sqlite, |c| c.calendar_fetch_private = false).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    for host in [
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "fec0::1",
        "2001::1",
        "::ffff:0:7f00:1",
    ] {
        let url = format!("http://[{host}]:{}/{USER}/", elsewhere.port);
        let r = t
            .post(
                "/api/calendar/caldav",
                Some(&b.cookie),
                Some(json!({"url": url, "username": USER, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{host}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["field"], "url", "{host}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not public"),
            "{host}: {}",
            r.text()
        );
    }
    assert_eq!(elsewhere.counts(), (0, 0), "no request left the server");
}
