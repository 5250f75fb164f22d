//! The one audit log (kit/src/audit.rs) through the real database and the real server: the
//! chain verifies, tampering in SQL is found at its entry, concurrent appends do not fork it,
//! logins and password changes through the HTTP API are recorded with the anonymised network
//! and no e-mail address, the centre CLI records its change, retention keeps the rest
//! verifiable, and `confidant admin audit verify` exits non-zero naming the broken entry.

mod common;

use std::process::{Command, Output};

use axum::http::StatusCode;
use common::{TestApp, PASSWORD};
use confidant_kit::audit::{self, Action, Actor, BreakKind, Filter, NewEntry, Object};

fn entry(at_ms: i64, n: u32) -> NewEntry {
    NewEntry::new(at_ms, Actor::counsellor(format!("c{n}")), Action::Login)
        .object(Object::new("counsellor", format!("c{n}")))
        .ip("198.51.100.23".parse().unwrap())
}

async fn append_n(app: &TestApp, n: u32, at_ms: i64) {
    for i in 0..n {
        app.state
            .accounts
            .audit
            .record(entry(at_ms, i))
            .await
            .unwrap();
    }
}

/// Runs `statement` directly, as someone with write access to the database would.
async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement).execute(&app.state.db).await.unwrap();
}

async fn hash_of(app: &TestApp, seq: i64) -> String {
    sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn verify(app: &TestApp) -> Result<audit::Verified, audit::Break> {
    let log = &app.state.accounts.audit;
    audit::verify(&log.db, &log.key).await.unwrap()
}

async fn all(app: &TestApp) -> Vec<audit::Entry> {
    let filter = Filter {
        limit: 10_000,
        ..Filter::default()
    };
    audit::list(&app.state.db, &filter).await.unwrap()
}

#[test]
fn the_migrations_start_the_chain_at_the_kit_s_genesis_hash() {
    for sql in [
        include_str!("../migrations/sqlite/0020_audit_log.sql"),
        include_str!("../migrations/postgres/0020_audit_log.sql"),
    ] {
        assert!(sql.contains(&audit::genesis_hash()));
    }
}

#[tokio::test]
async fn appended_entries_verify_and_keep_only_the_network() {
    let app = TestApp::new().await;
    assert_eq!(verify(&app).await.unwrap().entries, 0);
    append_n(&app, 5, 1_000).await;
    let v = verify(&app).await.unwrap();
    assert_eq!((v.first_seq, v.last_seq, v.entries), (1, 5, 5));
    let entries = all(&app).await;
    assert_eq!(entries.len(), 5);
    assert!(entries
        .iter()
        .all(|e| e.ip_network.as_deref() == Some("198.51.100.0/24")));
    assert_eq!(entries[0].seq, 5, "newest first");
}

#[tokio::test]
async fn a_field_updated_in_sql_is_found_at_its_entry() {
    let app = TestApp::new().await;
    append_n(&app, 5, 1_000).await;
    sql(
        &app,
        "UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 3",
    )
    .await;
    let b = verify(&app).await.unwrap_err();
    assert_eq!((b.seq, b.kind), (3, BreakKind::Altered));
}

#[tokio::test]
async fn a_deleted_entry_is_found_at_its_number() {
    let app = TestApp::new().await;
    append_n(&app, 5, 1_000).await;
    sql(&app, "DELETE FROM audit_log WHERE seq = 2").await;
    let b = verify(&app).await.unwrap_err();
    assert_eq!((b.seq, b.kind), (2, BreakKind::Missing));
}

#[tokio::test]
async fn the_last_entry_deleted_with_the_head_moved_back_is_found() {
    let app = TestApp::new().await;
    append_n(&app, 4, 1_000).await;
    let hash = hash_of(&app, 3).await;
    sql(&app, "DELETE FROM audit_log WHERE seq = 4").await;
    sqlx::query("UPDATE audit_head SET last_seq = 3, last_hash = $1")
        .bind(hash)
        .execute(&app.state.db)
        .await
        .unwrap();
    let b = verify(&app).await.unwrap_err();
    assert_eq!((b.seq, b.kind), (4, BreakKind::HeadMismatch));
}

#[tokio::test]
async fn a_chain_recomputed_in_sql_without_the_key_is_found_at_the_forged_entry() {
    let app = TestApp::new().await;
    append_n(&app, 5, 1_000).await;
    // The forger changes entry 2 and recomputes every hash after it (they know the
    // algorithm, not the key), including the head.
    let mut entries = all(&app).await;
    entries.reverse();
    let mut prev = entries[0].hash.clone();
    for e in entries.iter_mut().skip(1) {
        if e.seq == 2 {
            e.actor = Actor::counsellor("someone-else");
        }
        e.prev_hash = prev.clone();
        e.hash = audit::entry_hash(e);
        sqlx::query("UPDATE audit_log SET actor_id = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
            .bind(match &e.actor {
                Actor::Person { id, .. } => id.clone(),
                _ => unreachable!(),
            })
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq as i64)
            .execute(&app.state.db)
            .await
            .unwrap();
        prev = e.hash.clone();
    }
    sqlx::query("UPDATE audit_head SET last_hash = $1")
        .bind(&prev)
        .execute(&app.state.db)
        .await
        .unwrap();
    let b = verify(&app).await.unwrap_err();
    assert_eq!((b.seq, b.kind), (2, BreakKind::NotSigned));
}

#[tokio::test]
async fn fifty_concurrent_appends_leave_one_unbroken_chain() {
    let app = TestApp::new().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let log = app.state.accounts.audit.clone();
        tasks.push(tokio::spawn(
            async move { log.record(entry(1_000, i)).await },
        ));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());
    let v = verify(&app).await.unwrap();
    assert_eq!((v.last_seq, v.entries), (50, 50));
}

#[tokio::test]
async fn retention_removes_old_entries_and_the_rest_still_verifies() {
    let app = TestApp::new().await;
    append_n(&app, 3, 1_000).await;
    append_n(&app, 2, 50_000).await;
    let log = &app.state.accounts.audit;
    let removed = audit::prune(&log.db, &log.key, 10_000, 60_000)
        .await
        .unwrap();
    assert_eq!(removed, 3);
    let v = verify(&app).await.unwrap();
    // Entries 4 and 5 remain, and the pruning itself is entry 6.
    assert_eq!((v.first_seq, v.last_seq, v.entries), (4, 6, 3));
    assert_eq!(all(&app).await[0].action, "audit_pruned");
    // Nothing older left: a second round removes nothing and still verifies.
    assert_eq!(
        audit::prune(&log.db, &log.key, 10_000, 61_000)
            .await
            .unwrap(),
        0
    );
    verify(&app).await.unwrap();
    // Moving the checkpoint in SQL to hide entry 4 is found.
    let hash = hash_of(&app, 4).await;
    sql(&app, "DELETE FROM audit_log WHERE seq = 4").await;
    sqlx::query("UPDATE audit_head SET base_seq = 5, base_hash = $1")
        .bind(hash)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        verify(&app).await.unwrap_err().kind,
        BreakKind::HeadMismatch
    );
}

/// An app whose in-process requests come from a trusted proxy (the harness's peer is
/// 0.0.0.0), so `X-Forwarded-For` gives the client's address.
async fn behind_proxy() -> TestApp {
    TestApp::with(|c| c.trusted_proxies = vec!["0.0.0.0/32".into()]).await
}

async fn post_from(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    body: serde_json::Value,
) -> common::Resp {
    let mut req = common::request(axum::http::Method::POST, path, cookie, Some(body));
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.77".parse().unwrap());
    app.send(req).await
}

#[tokio::test]
async fn logins_failures_password_changes_and_logouts_are_recorded_without_pii() {
    let app = behind_proxy().await;
    let id = app
        .create_counsellor("anna@example.org", "Anna Beispiel")
        .await;
    let login = serde_json::json!({"email": "anna@example.org", "password": PASSWORD});
    let wrong = serde_json::json!({"email": "anna@example.org", "password": "wrong password"});
    let unknown = serde_json::json!({"email": "nobody@example.org", "password": "x"});
    assert_eq!(
        post_from(&app, "/api/auth/login", None, wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_from(&app, "/api/auth/login", None, unknown)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = post_from(&app, "/api/auth/login", None, login.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let cookie = common::session_cookie(&r.headers).unwrap();
    // A second session, which the password change ends.
    app.login("anna@example.org", PASSWORD).await;
    let change = serde_json::json!({
        "current_password": PASSWORD,
        "new_password": "a much longer passphrase for anna 1987",
    });
    let r = post_from(&app, "/api/me/password", Some(&cookie), change).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = post_from(
        &app,
        "/api/auth/logout",
        Some(&cookie),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    let mut entries = all(&app).await;
    entries.reverse();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "login_failed",
            "login_failed",
            "login",
            "login",
            "password_changed",
            "session_revoked",
            "logout"
        ]
    );
    let me = Actor::counsellor(id.clone());
    assert_eq!(
        entries[0].actor, me,
        "a failed login names the account tried by id"
    );
    assert_eq!(
        entries[1].actor,
        Actor::Anonymous,
        "an unknown address is nobody"
    );
    for e in [
        &entries[0],
        &entries[2],
        &entries[4],
        &entries[5],
        &entries[6],
    ] {
        assert_eq!(e.ip_network.as_deref(), Some("203.0.113.0/24"), "{e:?}");
    }
    assert_eq!(entries[2].actor, me);
    assert_eq!(entries[4].object.as_ref().unwrap().id, id);
    // No e-mail address, name or full address anywhere in the stored rows.
    let dump = serde_json::to_string(&entries).unwrap();
    for pii in ["example.org", "anna", "Anna", "203.0.113.77"] {
        assert!(!dump.contains(pii), "{pii} in {dump}");
    }
    verify(&app).await.unwrap();
}

fn confidant(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confidant"));
    for var in ["DATABASE_URL", "CONFIDANT_DATA_DIR", "RUST_LOG"] {
        cmd.env_remove(var);
    }
    cmd.env("DATABASE_URL", &app.settings().database_url)
        .arg("--data-dir")
        .arg(&app.settings().data_dir)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_centre_cli_records_its_change_and_audit_verify_exits_by_the_chain() {
    let app = TestApp::new().await;
    let out = confidant(&app, &["admin", "centre", "set", "--name", "Beratung Nord"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = all(&app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, Action::CentreProfileChanged.code());
    assert_eq!(entries[0].actor, Actor::System);
    assert_eq!(
        entries[0].object,
        Some(Object::new("centre_profile", "name")),
        "the field changed, not its value"
    );
    append_n(&app, 3, 2_000).await;

    let out = confidant(&app, &["admin", "audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 entries"));

    let out = confidant(
        &app,
        &[
            "admin",
            "audit",
            "list",
            "--action",
            "centre_profile_changed",
            "--json",
        ],
    );
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let out = confidant(&app, &["admin", "audit", "list", "--action", "nonsense"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid action"));

    sql(&app, "UPDATE audit_log SET at_ms = at_ms + 1 WHERE seq = 3").await;
    let out = confidant(&app, &["admin", "audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken at entry 3"), "{err}");
    let out = confidant(&app, &["admin", "audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["broken"]["seq"], 3);
    assert_eq!(doc["broken"]["kind"], "altered");
}

#[tokio::test]
async fn audit_verify_says_where_the_chain_starts_after_retention() {
    let app = TestApp::new().await;
    append_n(&app, 3, 1_000).await;
    append_n(&app, 1, 50_000).await;
    let log = &app.state.accounts.audit;
    audit::prune(&log.db, &log.key, 10_000, 60_000)
        .await
        .unwrap();
    let out = confidant(&app, &["admin", "audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("2 entries, 4 to 5"), "{text}");
    assert!(text.contains("removed by retention"), "{text}");
    let out = confidant(&app, &["admin", "audit", "verify", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verified"]["first_seq"], 4);
}

#[tokio::test]
async fn a_counsellor_reading_bookings_is_recorded_only_when_they_show_clients() {
    use common::booking::{book, bookable, consent, form, slots};
    let app = TestApp::new().await;
    let b = bookable(
        &app,
        "reader@example.org",
        "reader",
        "video",
        serde_json::json!({}),
    )
    .await;
    let empty = app.get("/api/booking/bookings", Some(&b.cookie)).await;
    assert_eq!(empty.status, StatusCode::OK);
    let reads = |entries: Vec<audit::Entry>| {
        entries
            .into_iter()
            .filter(|e| e.action == Action::ClientDataRead.code())
            .collect::<Vec<_>>()
    };
    assert!(
        reads(all(&app).await).is_empty(),
        "no client shown, nothing read"
    );
    let start = slots(&app, &b).await[0].clone();
    let c = consent(&app, "reader").await;
    let r = book(&app, &b, form(&b, &start, &c, "Klara")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let to = (chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339();
    let listed = app
        .get(
            &format!("/api/booking/bookings?to={}", urlencode(&to)),
            Some(&b.cookie),
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    let reads = reads(all(&app).await);
    assert_eq!(reads.len(), 1);
    let Actor::Person { id, .. } = &reads[0].actor else {
        panic!("{:?}", reads[0].actor)
    };
    assert_eq!(reads[0].object, Some(Object::new("bookings", id.clone())));
    assert!(!serde_json::to_string(&reads).unwrap().contains("Klara"));

    // Contact messages likewise: nothing while there are none, one entry per read after.
    let none = app.get("/api/booking/messages", Some(&b.cookie)).await;
    assert_eq!(none.status, StatusCode::OK);
    let c = common::booking::contact_consent(&app, "reader").await;
    let r = app
        .post(
            "/api/public/counsellors/reader/contact",
            None,
            Some(
                serde_json::json!({"name": "Kim", "email": "kim@client.example",
                "message": "Hallo", "consent_sha256": c, "lang": "de"}),
            ),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text());
    let msgs = app.get("/api/booking/messages", Some(&b.cookie)).await;
    assert_eq!(msgs.json().as_array().unwrap().len(), 1);
    let entries = all(&app).await;
    assert_eq!(entries[0].action, Action::ClientDataRead.code());
    assert_eq!(
        entries[0].object,
        Some(Object::new("contact_messages", id.clone()))
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == Action::ClientDataRead.code())
            .count(),
        2
    );
    verify(&app).await.unwrap();
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn a_log_longer_than_one_read_page_verifies_and_a_break_beyond_it_is_found() {
    let app = TestApp::new().await;
    let log = &app.state.accounts.audit;
    let mut tx = log.db.begin().await.unwrap();
    for i in 0..1_050 {
        audit::append(&mut tx, &log.key, entry(1_000, i))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(verify(&app).await.unwrap().entries, 1_050);
    sql(
        &app,
        "UPDATE audit_log SET action = 'logout' WHERE seq = 1020",
    )
    .await;
    let b = verify(&app).await.unwrap_err();
    assert_eq!((b.seq, b.kind), (1_020, BreakKind::Altered));
}
