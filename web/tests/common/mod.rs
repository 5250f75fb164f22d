//! Test harness: the real app over a fresh database, a real SFU on an ephemeral port and the
//! real hub.
//!
//! The database is a fresh SQLite file in a temporary directory, or, when
//! `CONFIDANT_TEST_BACKEND=postgres`, a fresh database created for the test on the PostgreSQL
//! server at `CONFIDANT_TEST_PG_URL` (the test command starts a throwaway one and runs the
//! suite on both). Tests that must run on both backends whatever the setting use
//! [`TestApp::on`].
#![allow(dead_code)]

pub mod booking;
pub mod smtp;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use confidant::{AppState, Config, LogFormat, Settings};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A password long enough for account creation.
pub const PASSWORD: &str = "correct horse battery staple";

/// Configuration as the command line would give it, without reading the environment.
pub fn config(data_dir: PathBuf) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        public_url: None,
        database_url: None,
        jwt_key_file: None,
        dek_file: None,
        sfu_bind: "127.0.0.1:0".parse().unwrap(),
        sfu_advertise: "127.0.0.1".into(),
        sfu_tcp: "on".into(),
        sfu_workers: 0,
        sfu_loudest_audio: confidant_sfu::DEFAULT_LOUDEST_AUDIO,
        trusted_proxies: Vec::new(),
        link_ttl_minutes: 1440,
        log_format: LogFormat::Human,
        turn_url: Vec::new(),
        turn_secret_file: None,
        smtp_host: None,
        smtp_port: None,
        smtp_tls: confidant::config::SmtpTls::None,
        smtp_user: None,
        smtp_password_file: None,
        mail_from: Some("Beratungsstelle <termine@confidant.test>".into()),
        centre_name: None,
        centre_logo: None,
        centre_address: None,
        centre_imprint_url: None,
        centre_privacy_url: None,
        centre_emergency_label: None,
        centre_emergency_phone: None,
        centre_emergency_text: None,
        centre_opening_hours: None,
        centre_contact_email: None,
        client_calendar_title: None,
        reminder_minutes: 1440,
        mail_retry_hours: 72,
        mail_rate_per_minute: 240,
        smtp_timeout_secs: 20,
        form_burst: 5,
        calendar_fetch_private: true,
        caldav_allow_http: true,
        ca_file: None,
        max_participants: 16,
        max_lobby: 50,
        chat_max_messages: 1000,
        chat_max_bytes: 1024 * 1024,
        chat_retention_days: 0,
        audit_retention_days: confidant::config::DEFAULT_AUDIT_RETENTION_DAYS,
        ws_max_per_address: 64,
        ws_max_connections: 10_000,
        signature_escrow_public_key_file: None,
        signature_live_days: 7,
        signature_tsa_url: None,
        signature_tsa_ca_file: None,
        signature_tsa_retry_seconds: 60,
        walkin_ring_seconds: 30,
        walkin_max_wait_minutes: 30,
        walkin_show_count: false,
    }
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
}

/// A response, body read.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of a contract-shaped JSON error.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.text()))
            .to_owned()
    }
}

/// Which database a [`TestApp`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend chosen by `CONFIDANT_TEST_BACKEND` (default SQLite).
    pub fn from_env() -> Self {
        match std::env::var("CONFIDANT_TEST_BACKEND").as_deref() {
            Ok("postgres") => Self::Postgres,
            Ok("sqlite") | Err(_) => Self::Sqlite,
            Ok(other) => panic!("CONFIDANT_TEST_BACKEND={other}: expected sqlite or postgres"),
        }
    }
}

/// Creates a fresh, empty database on the test PostgreSQL server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin_url = std::env::var("CONFIDANT_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "CONFIDANT_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts a \
             throwaway PostgreSQL, or point it at a server where this user may CREATE DATABASE \
             (postgres://USER@HOST:PORT/postgres)"
        )
    });
    let name = format!("confidant_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to CONFIDANT_TEST_PG_URL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("CONFIDANT_TEST_PG_URL ends in /DATABASE");
    format!("{base}/{name}")
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// An app on `backend`, whatever `CONFIDANT_TEST_BACKEND` says.
    pub async fn on(backend: Backend) -> Self {
        Self::build_with(backend, |_| {}).await
    }

    /// An app whose configuration `tweak` may change first.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::build_with(Backend::from_env(), tweak).await
    }

    /// An app on `backend` whose configuration `tweak` may change first.
    pub async fn build_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        // `TEST_LOG=debug cargo test …` shows the server's log of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("TEST_LOG"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path().join("data"));
        if backend == Backend::Postgres {
            cfg.database_url = Some(fresh_postgres_database().await);
        }
        tweak(&mut cfg);
        let state = confidant::start(cfg.resolve().unwrap()).await.unwrap();
        let app = confidant::app(state.clone());
        Self { dir, state, app }
    }

    pub fn settings(&self) -> &Settings {
        &self.state.config
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.send(request(Method::GET, path, cookie, None)).await
    }

    pub async fn post(&self, path: &str, cookie: Option<&str>, body: Option<Value>) -> Resp {
        self.send(request(Method::POST, path, cookie, body)).await
    }

    pub async fn create_counsellor(&self, email: &str, name: &str) -> String {
        confidant::auth::create_counsellor(&self.state.db, email, name, PASSWORD)
            .await
            .unwrap()
    }

    /// Logs in and returns the `Cookie` header value for the session.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/login",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        session_cookie(&r.headers).expect("login sets the session cookie")
    }

    /// A counsellor, logged in: `(id, cookie)`.
    pub async fn counsellor(&self, email: &str, name: &str) -> (String, String) {
        let id = self.create_counsellor(email, name).await;
        (id, self.login(email, PASSWORD).await)
    }

    /// Creates a session and returns it as JSON.
    pub async fn create_session(&self, cookie: &str, body: Option<Value>) -> Value {
        let r = self.post("/api/sessions", Some(cookie), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// Serves the app on an ephemeral TCP port.
    pub async fn serve_tcp(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        tokio::spawn(async move {
            let service = confidant::app(state).into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service).await.unwrap();
        });
        addr
    }
}

pub fn request(
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// `confidant_session=<value>` from a login response, for a `Cookie` header.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("confidant_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// The link token of a session's `join_url`.
pub fn link_token(session: &Value) -> String {
    session["join_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The real `confidant serve` binary on loopback ports over `data_dir`, with none of the
/// developer's `CONFIDANT_*`/`RUST_LOG` settings, its standard error a pipe (as under systemd)
/// and `extra` arguments after the rest.
pub fn server_command(data_dir: &std::path::Path, extra: &[&str]) -> std::process::Command {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confidant"));
    for var in [
        "DATABASE_URL",
        "CONFIDANT_DATA_DIR",
        "CONFIDANT_PUBLIC_URL",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--sfu-bind",
        "127.0.0.1:0",
        "--sfu-tcp",
        "off",
    ])
    .args(extra)
    .arg("--data-dir")
    .arg(data_dir)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}
