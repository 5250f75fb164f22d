//! Start-up: data directory, secrets, migrations, restart with the same data.

mod common;

use std::os::unix::fs::PermissionsExt;

use axum::http::StatusCode;
use common::{config, Backend, TestApp, PASSWORD};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn fresh_data_dir_gets_secrets_0600_and_a_migrated_database() {
    let t = TestApp::on(Backend::Sqlite).await;
    let data = t.dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("secrets")), 0o700);
    for key in ["secrets/jwt.key", "secrets/dek.key"] {
        let path = data.join(key);
        assert_eq!(std::fs::read(&path).unwrap().len(), 32, "{key}");
        assert_eq!(mode(&path), 0o600, "{key}");
    }
    assert_ne!(
        std::fs::read(data.join("secrets/jwt.key")).unwrap(),
        std::fs::read(data.join("secrets/dek.key")).unwrap()
    );
    assert!(data.join("confidant.db").exists());
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&t.state.db)
            .await
            .unwrap();
    let known: Vec<i64> = confidant::db::SQLITE_MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, known);
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(
        tables,
        [
            "appointment_types",
            "audit_head",
            "audit_log",
            "auth_sessions",
            "availability_overrides",
            "availability_rules",
            "booking_profiles",
            "bookings",
            "busy_intervals",
            "busy_sources",
            "caldav_accounts",
            "caldav_busy",
            "caldav_calendars",
            "caldav_events",
            "caldav_items",
            "calendar_feeds",
            "centre_logo",
            "centre_profile",
            "chat_messages",
            "consent_texts",
            "contact_messages",
            "counsellors",
            "mail_outbox",
            "sessions",
            "signature_archive",
            "signature_audit",
            "signature_requests",
            "signature_templates",
            "signature_timestamps",
            "team_invitations",
            "team_members",
            "teams",
            "walkin_profiles"
        ]
    );
}

#[tokio::test]
async fn restart_reuses_secrets_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().join("data"));
    let jwt_path = dir.path().join("data/secrets/jwt.key");
    let dek_path = dir.path().join("data/secrets/dek.key");

    let first = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    let (jwt, dek) = (
        std::fs::read(&jwt_path).unwrap(),
        std::fs::read(&dek_path).unwrap(),
    );
    confidant::auth::create_counsellor(&first.db, "a@example.org", "A", PASSWORD)
        .await
        .unwrap();
    let t1 = TestApp {
        dir,
        state: first.clone(),
        app: confidant::app(first.clone()),
    };
    let cookie = t1.login("a@example.org", PASSWORD).await;
    let session = t1
        .create_session(&cookie, Some(serde_json::json!({"title": "kept"})))
        .await;
    first.db.close().await;

    // A key file opened by someone else is tightened back to 0600.
    std::fs::set_permissions(&dek_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    assert_eq!(std::fs::read(&jwt_path).unwrap(), jwt);
    assert_eq!(std::fs::read(&dek_path).unwrap(), dek);
    assert_eq!(mode(&dek_path), 0o600);
    let t2 = TestApp {
        dir: t1.dir,
        state: second.clone(),
        app: confidant::app(second),
    };
    // Login sessions survive, and sealed values open with the reloaded key.
    let r = t2
        .get(
            &format!("/api/sessions/{}", session["id"].as_str().unwrap()),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["join_url"], session["join_url"]);
    assert_eq!(r.json()["title"], "kept");
}

#[tokio::test]
async fn secrets_can_come_from_given_files() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("elsewhere/jwt");
    let dek = dir.path().join("elsewhere/dek");
    std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
    std::fs::write(&jwt, [1u8; 32]).unwrap();
    std::fs::write(&dek, [2u8; 32]).unwrap();
    let mut cfg = config(dir.path().join("data"));
    cfg.jwt_key_file = Some(jwt.clone());
    cfg.dek_file = Some(dek.clone());
    let state = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    assert!(!dir.path().join("data/secrets").exists());
    assert_eq!(std::fs::read(&jwt).unwrap(), [1u8; 32]);
    // Join tokens are signed with the given key.
    let token = state.hub.host_token("room", "Name", "login").unwrap();
    confidant_signaling::Tokens::new(&[1u8; 32])
        .verify(&token, "room")
        .unwrap();

    // A key of the wrong length is refused at start.
    std::fs::write(&dek, [2u8; 16]).unwrap();
    let err = confidant::start(cfg.resolve().unwrap())
        .await
        .err()
        .expect("short key refused");
    assert!(err.to_string().contains("expected 32"), "{err}");
}

#[tokio::test]
async fn database_url_may_point_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path().join("data"));
    let db_path = dir.path().join("other.db");
    cfg.database_url = Some(format!("sqlite://{}?mode=rwc", db_path.display()));
    let state = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    assert!(db_path.exists());
    assert!(!dir.path().join("data/confidant.db").exists());
    sqlx::query("SELECT 1 FROM counsellors")
        .fetch_optional(&state.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_database_is_migrated_with_the_same_tables() {
    let t = TestApp::on(Backend::Postgres).await;
    assert_eq!(t.state.dialect, confidant::db::Dialect::Postgres);
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&t.state.db)
            .await
            .unwrap();
    let known: Vec<i64> = confidant::db::POSTGRES_MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, known);
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::TEXT FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY table_name",
    )
    .fetch_all(&t.state.db)
    .await
    .unwrap();
    let sqlite = TestApp::on(Backend::Sqlite).await;
    let sqlite_tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name")
        .fetch_all(&sqlite.state.db)
        .await
        .unwrap();
    assert_eq!(tables, sqlite_tables);
}

/// Both dialects must carry the same migrations (same versions, same descriptions), or a
/// schema change would reach only one of them.
#[test]
fn sqlite_and_postgres_migrations_stay_in_step() {
    let describe = |m: &sqlx::migrate::Migrator| -> Vec<(i64, String)> {
        m.iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    };
    assert_eq!(
        describe(&confidant::db::SQLITE_MIGRATOR),
        describe(&confidant::db::POSTGRES_MIGRATOR)
    );
}

/// Every file under `dir` with its mode, and every directory (`dir` included).
fn modes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut out = vec![(dir.to_path_buf(), true, mode(dir))];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(modes_under(&path));
        } else {
            out.push((path.clone(), false, mode(&path)));
        }
    }
    out
}

/// Directories 0700, files 0600, under the data directory.
fn assert_private(data: &std::path::Path) {
    for (path, is_dir, m) in modes_under(data) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(m, want, "{} is {m:04o}", path.display());
    }
}

/// Whatever the server creates in its data directory is private from the start: the
/// directories 0700, every file (database, `-wal`, `-shm`, keys) 0600, by the umask it sets
/// before it creates or opens anything.
#[tokio::test]
async fn everything_created_in_the_data_dir_is_private() {
    let t = TestApp::on(Backend::Sqlite).await;
    t.create_counsellor("a@example.org", "A").await;
    let data = t.dir.path().join("data");
    for f in ["confidant.db", "confidant.db-wal", "confidant.db-shm"] {
        assert!(
            data.join(f).exists(),
            "{f} exists while the database is open"
        );
    }
    assert_private(&data);
}

/// A data directory someone opened up (0755, files 0644: a copied backup, a careless chmod)
/// is made private again on the next start, the SQLite files (with `-wal` and `-shm`) before
/// the database is opened.
#[tokio::test]
async fn a_data_dir_made_readable_by_others_is_made_private_again_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().join("data"));
    let data = dir.path().join("data");
    let first = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    confidant::auth::create_counsellor(&first.db, "a@example.org", "A", PASSWORD)
        .await
        .unwrap();
    let files = ["confidant.db", "confidant.db-wal", "confidant.db-shm"];
    for f in files {
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    first.db.close().await;
    for d in [&data, &data.join("secrets")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Left behind open (as after a crash): the next start must not keep them readable.
    for f in files.iter().skip(1) {
        if !data.join(f).exists() {
            std::fs::write(data.join(f), b"").unwrap();
        }
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(
        data.join("confidant.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let second = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    sqlx::query("SELECT 1 FROM counsellors")
        .fetch_all(&second.db)
        .await
        .unwrap();
    assert_private(&data);
}

/// With PostgreSQL there are no database files here, but the data directory still holds the
/// keys: it is made 0700 too.
#[tokio::test]
async fn with_postgres_the_data_dir_is_made_private_too() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cfg = config(data.clone());
    cfg.database_url = Some(common::fresh_postgres_database().await);
    let _state = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    assert!(!data.join("confidant.db").exists());
    assert_private(&data);
}

/// The real binary, asked to stop with SIGTERM (as systemd does): it stops serving, every
/// background job of the scheduler stops (none aborted), and the process exits with status 0.
#[test]
fn sigterm_stops_every_background_job_and_the_server_exits() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    // An SMTP server, so that the mail job runs too; nothing is queued, so it is never
    // contacted.
    let extra = [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        "9",
        "--smtp-tls",
        "none",
    ];
    let mut child = common::server_command(dir.path(), &extra).spawn().unwrap();
    // Every log line, as it comes, from a thread (so each wait below is bounded).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take(10_000)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.iter().any(|l: &String| l.contains("listening listen=")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start:\n{}", log.join("\n"));
            }
        }
    }

    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // The pipe closed with the process: the rest of the log is there.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        log.push(line);
    }
    let log = log.join("\n");
    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{log}"));
    assert!(status.success(), "{status}:\n{log}");
    for job in [
        "mail-delivery",
        "calendar-sources-sync",
        "caldav-sync",
        "signature-retention",
        "chat-retention",
        "walkin-sync",
        "audit-retention",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("background job stopped") && l.contains(job)),
            "{job} did not stop:\n{log}"
        );
    }
    assert!(!log.contains("aborted"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
}
