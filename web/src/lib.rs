//! The Confidant binary: composition only. It reads the configuration ([`config`]), opens and
//! migrates the database ([`db`]), starts the SFU and the signalling hub, builds each
//! capability's state and merges their routers ([`api_router`]) and background jobs ([`jobs`])
//! into one server, serves the embedded browser client ([`assets`], the page shells in
//! [`pages`]), and carries the edge ([`edge`]: same-origin check, security headers), probes,
//! metrics and the admin CLI ([`admin`], [`signature::cli`]).
//!
//! The capabilities live in their own crates, re-exported here under their old paths:
//! rooms (`signaling/server`: [`sessions`], [`ws`]), [`booking`] (`booking/server`),
//! [`signature`] (`signature/server`), [`walkin`] (`walkin/server`), [`auth`] (`accounts/`);
//! the shared plumbing is the kit's ([`error`], [`extract`], [`mail`], [`ratelimit`],
//! [`tls`]).
//!
//! [`app`] builds the router from an [`AppState`]; [`start`] assembles a state from
//! [`Settings`]; [`serve`] runs it until SIGINT/SIGTERM. The HTTP contract with the browser
//! client is `docs/HTTP-API.md`; the same routes are described by the OpenAPI document at
//! `/api/openapi.json` (committed as `docs/openapi.json`), generated from [`api_router`].
//!
//! **What it must not be:** the home of a capability's store, routes or jobs; those belong in
//! the capability's crate, and this crate only composes them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod assets;
pub use confidant_accounts as auth;
pub use confidant_booking_server as booking;
pub mod config;
pub mod db;
pub mod edge;
pub use confidant_kit::{error, extract};
pub mod health;
pub use confidant_kit::mail;
pub mod metrics;
pub mod pages;
pub use confidant_kit::ratelimit;
pub use confidant_signaling_server::{retention, sessions, ws};
pub mod signature;
pub use confidant_kit::tls;
pub use confidant_walkin_server as walkin;

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use confidant_kit::scheduler::{Scheduler, Shutdown};
use confidant_signaling::{Hub, HubConfig, Tokens, TurnConfig};
use confidant_vault::{Vault, KEY_LEN};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::{Cli, Command, Config, LogFormat, Settings};
pub use error::AppError;

use confidant_signaling_server::{RoomsState, SqlDirectory};

/// How long the SFU may take to answer the readiness probe.
const SFU_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub use confidant_booking_server::{BOOKING_LINK_PURPOSE, BOOKING_PURPOSE, CONTACT_PURPOSE};
pub use confidant_signaling_server::{LINK_PURPOSE, TITLE_PURPOSE};

/// Vault purpose of sealed chat messages (used by signalling).
pub const CHAT_PURPOSE: &str = "chat";

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database (SQLite or PostgreSQL).
    pub db: db::Db,
    /// Its SQL dialect, for the few statements that differ.
    pub dialect: db::Dialect,
    /// The effective configuration.
    pub config: Arc<Settings>,
    /// The signalling hub.
    pub hub: Hub,
    /// The at-rest encryption key.
    pub vault: Arc<Vault>,
    pub(crate) directory: Arc<SqlDirectory>,
    /// The accounts capability's state (login limiters, the device-cookie key).
    pub accounts: auth::AccountsState,
    /// The signature capability's state.
    pub signature: signature::SignatureState,
    /// The walk-in capability's state (presence and queue in memory, profiles).
    pub walkin: walkin::WalkinState,
    /// The rooms capability's state (sessions, the websocket).
    pub rooms: RoomsState,
    /// The booking capability's state.
    pub booking: booking::BookingState,
    sfu: confidant_sfu::SfuHandle,
    /// What the kit's extractors and every capability are given.
    base: confidant_kit::Base,
    /// The outgoing-mail queue.
    pub mailer: mail::Mailer,
}

impl axum::extract::FromRef<AppState> for confidant_kit::Base {
    fn from_ref(state: &AppState) -> Self {
        state.base.clone()
    }
}

impl axum::extract::FromRef<AppState> for RoomsState {
    fn from_ref(state: &AppState) -> Self {
        state.rooms.clone()
    }
}

impl axum::extract::FromRef<AppState> for auth::AccountsState {
    fn from_ref(state: &AppState) -> Self {
        state.accounts.clone()
    }
}

impl axum::extract::FromRef<AppState> for walkin::WalkinState {
    fn from_ref(state: &AppState) -> Self {
        state.walkin.clone()
    }
}

impl axum::extract::FromRef<AppState> for booking::BookingState {
    fn from_ref(state: &AppState) -> Self {
        state.booking.clone()
    }
}

impl axum::extract::FromRef<AppState> for signature::SignatureState {
    fn from_ref(state: &AppState) -> Self {
        state.signature.clone()
    }
}

impl AppState {
    /// Assembles the state: a hub over `sfu` whose join tokens are signed with `jwt_key` and
    /// whose directory is the database.
    pub fn new(
        config: Settings,
        database: db::Database,
        vault: Vault,
        jwt_key: &[u8],
        sfu: confidant_sfu::SfuHandle,
        turn: Option<TurnConfig>,
        signature_keys: signature::SignatureKeys,
    ) -> Self {
        let db::Database { pool: db, dialect } = database;
        let directory = Arc::new(SqlDirectory::new(db.clone(), dialect));
        let hub = Hub::new(
            HubConfig {
                turn,
                max_participants: config.max_participants,
                max_waiting: config.max_lobby,
                chat_cap: config.chat_cap,
                ..HubConfig::default()
            },
            sfu.clone(),
            Tokens::new(jwt_key),
            vault.purpose_key(CHAT_PURPOSE),
            directory.clone(),
        );
        let vault = Arc::new(vault);
        let base = confidant_kit::Base {
            db: db.clone(),
            dialect,
            vault: vault.clone(),
            site: Arc::new(confidant_kit::Site {
                public_url: config.public_url.clone(),
                centre_name: config.centre_name.clone(),
                centre: config.centre.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
            }),
        };
        let mailer = mail::Mailer {
            db: db.clone(),
            dialect,
            key: Arc::new(vault.purpose_key(mail::MAIL_PURPOSE)),
            from: config.mail_from.clone(),
            delivery: config.mail_delivery,
            smtp: config.smtp.clone(),
            trust: config.trust.clone(),
        };
        let rooms = RoomsState::new(
            &base,
            config.rooms_config(),
            hub.clone(),
            directory.clone(),
            config.ws_limits,
        );
        let accounts = auth::AccountsState::new(&base, config.accounts_config());
        let walkin = walkin::WalkinState::new(&base, config.walkin_config(), rooms.clone());
        let booking = booking::BookingState::new(
            &base,
            config.booking_config(),
            mailer.clone(),
            rooms.clone(),
        );
        let signature =
            signature::SignatureState::new(&base, config.signature_config(), signature_keys);
        Self {
            mailer,
            db,
            dialect,
            config: Arc::new(config),
            hub,
            vault,
            directory,
            accounts,
            signature,
            walkin,
            rooms,
            booking,
            sfu,
            base,
        }
    }

    /// Whether the SFU's driver task answers: a round trip through its command queue, asking
    /// to apply an answer for a peer id the hub never assigns. A running SFU answers "unknown
    /// peer" without side effects; a stopped one "shell stopped".
    pub async fn sfu_running(&self) -> bool {
        tokio::time::timeout(SFU_PROBE_TIMEOUT, self.sfu.is_running())
            .await
            .unwrap_or(false)
    }

    /// The SFU this state's hub drives.
    pub fn sfu(&self) -> &confidant_sfu::SfuHandle {
        &self.sfu
    }
}

/// Metadata of the OpenAPI document; the paths come from [`api_router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Confidant",
        description = "HTTP surface of Confidant (private online counselling). Human overview: `docs/HTTP-API.md`."
    ),
    tags(
        (name = "pages", description = "HTML pages and their assets"),
        (name = "auth", description = "Counsellor login"),
        (name = "sessions", description = "Counselling sessions and join links"),
        (name = "signalling", description = "Websocket (protocol: `signaling/PROTOCOL.md`)"),
        (name = "operations", description = "Probes and this document"),
        (name = "signatures", description = "Signatures with stroke dynamics: templates, signing links, evidence and its verification"),
        (name = "walkin", description = "Walk-in conversations: presence, talk-now queue, rings"),
    )
)]
struct ApiDoc;

/// Every route the server serves, each registered together with its OpenAPI description.
/// This is the only place routes are added: [`app`] and [`openapi`] both derive from it.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        // pages
        .routes(routes!(pages::landing))
        .routes(routes!(pages::login))
        .routes(routes!(pages::dashboard))
        .routes(routes!(pages::host))
        .routes(routes!(pages::join))
        .routes(routes!(pages::book_index))
        .routes(routes!(pages::book))
        .routes(routes!(pages::book_team))
        .routes(routes!(pages::booking_cancel))
        .routes(routes!(pages::booking_reschedule))
        .routes(routes!(assets::file))
        .routes(routes!(pages::centre_logo))
        // operations
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        // rooms: sessions and the signalling websocket
        .merge(confidant_signaling_server::router())
        // JSON API
        .merge(auth::router())
        // booking
        .merge(booking::router())
        // signatures
        .routes(routes!(pages::sign))
        .merge(signature::router())
        // walk-ins
        .routes(routes!(pages::talk_index))
        .routes(routes!(pages::talk))
        .merge(walkin::router())
}

/// Turns an axum path template into an OpenAPI one: `{*rest}` becomes `{rest}`.
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// The OpenAPI document of [`api_router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().into_openapi();
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| (openapi_path(&path), item))
        .collect();
    doc
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON.as_str(),
    )
}

/// Unknown paths: the JSON error under `/api/`, the HTML 404 page elsewhere.
async fn fallback(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        AppError::NotFound.into_response()
    } else {
        pages::not_found(&state, &headers).await
    }
}

/// A known path with a method it does not take: the JSON error shape (405), not an empty body.
async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// The security headers set on every response.
fn security_headers(settings: &Settings) -> Vec<(HeaderName, HeaderValue)> {
    let csp = edge::content_security_policy(settings);
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            // Built from the public URL, which `Config::resolve` checked.
            HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self)"),
        ),
    ];
    if let Some(hsts) = edge::strict_transport_security(settings) {
        headers.push((header::STRICT_TRANSPORT_SECURITY, hsts));
    }
    headers
}

/// The request span: method and the matched route *template* (`/j/{link_token}`), never the
/// actual path or query, which carry join tokens.
fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    tracing::info_span!("http", method = %req.method(), route = %route)
}

/// The application router.
pub fn app(state: AppState) -> Router {
    let (router, _) = api_router().split_for_parts();
    let mut router = router
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
        );
    // Inside the header layers, so a refusal carries them too.
    router = router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::same_origin_only,
        ))
        .layer(axum::middleware::from_fn(edge::no_store_json));
    for (name, value) in security_headers(&state.config) {
        // A response may bring a stricter policy of its own (the centre's logo: `sandbox`).
        router = if name == header::CONTENT_SECURITY_POLICY {
            router.layer(SetResponseHeaderLayer::if_not_present(name, value))
        } else {
            router.layer(SetResponseHeaderLayer::overriding(name, value))
        };
    }
    router.with_state(state)
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A configuration value is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Creating the data directory or binding the listener failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Loading or creating a secret failed.
    #[error(transparent)]
    Secret(#[from] confidant_vault::Error),
    /// Opening or migrating the database failed.
    #[error(transparent)]
    Database(#[from] db::DbError),
    /// The SFU did not start.
    #[error("sfu: {0}")]
    Sfu(#[from] confidant_sfu::Error),
}

/// Mode of the data directory and the secrets directory: the server's user only.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of the database files (SQLite's main file, `-wal` and `-shm`): the server's user only.
const PRIVATE_FILE_MODE: u32 = 0o600;
/// The umask set on start, so that whatever the process creates (SQLite's files included, which
/// it creates 0644 less the umask) is private from the first byte, not tightened later.
const PRIVATE_UMASK: u32 = 0o077;

/// Sets the process's umask to [`PRIVATE_UMASK`] (process-wide; done before anything is
/// created or opened).
pub fn set_private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(PRIVATE_UMASK));
}

/// Gives `path` exactly `mode` if it has another: a data directory or database file that
/// someone made readable by others (0755, 0644) is corrected with a warning, and one that
/// cannot be corrected (another owner) is refused with an error that says what to fix.
fn make_private(path: &std::path::Path, mode: u32) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |context: String| move |source| StartError::Io { context, source };
    let current = std::fs::metadata(path)
        .map_err(io(format!("reading the mode of {}", path.display())))?
        .permissions()
        .mode()
        & 0o777;
    if current != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(format!(
            "{} has mode {current:04o} but must be {mode:04o} (only the server's user); changing it \
             failed, so change its owner or mode yourself",
            path.display()
        )))?;
        tracing::warn!(path = %path.display(), was = format!("{current:04o}"), now = format!("{mode:04o}"), "permissions tightened");
    }
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist, and makes an existing one
/// 0700.
pub fn create_data_dir(dir: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|source| StartError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
    make_private(dir, PRIVATE_DIR_MODE)
}

/// The files of the SQLite database at `url` (main, `-wal`, `-shm`); none for PostgreSQL.
fn sqlite_files(url: &str) -> Vec<std::path::PathBuf> {
    use std::str::FromStr;
    if db::Dialect::of_url(url) != Some(db::Dialect::Sqlite) {
        return Vec::new();
    }
    let Ok(options) = sqlx::sqlite::SqliteConnectOptions::from_str(url) else {
        return Vec::new();
    };
    let main = options.get_filename().to_path_buf();
    let with = |suffix: &str| {
        let mut name = main.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    vec![with("-wal"), with("-shm"), main]
}

/// Makes the SQLite files that exist 0600.
fn make_database_files_private(url: &str) -> Result<(), StartError> {
    for file in sqlite_files(url).iter().filter(|f| f.exists()) {
        make_private(file, PRIVATE_FILE_MODE)?;
    }
    Ok(())
}

/// Opens the database of `settings`: sets the private umask, makes the data directory 0700
/// and every SQLite file 0600 (before opening, so that the `-wal` and `-shm` files SQLite
/// creates take the main file's private mode, and again after).
pub async fn open_database(settings: &Settings) -> Result<db::Database, StartError> {
    set_private_umask();
    create_data_dir(&settings.data_dir)?;
    make_database_files_private(&settings.database_url)?;
    let database = db::open(&settings.database_url).await?;
    make_database_files_private(&settings.database_url)?;
    Ok(database)
}

/// Loads (or creates, 0600) the secrets, opens and migrates the database, starts the SFU and
/// the hub.
pub async fn start(settings: Settings) -> Result<AppState, StartError> {
    set_private_umask();
    create_data_dir(&settings.data_dir)?;
    for key_file in [&settings.jwt_key_file, &settings.dek_file] {
        // The secrets directory is private too (the vault creates the files 0600); one that
        // is not inside the data directory is the operator's to arrange.
        if let Some(dir) = key_file.parent().filter(|d| {
            !d.as_os_str().is_empty() && (!d.exists() || d.starts_with(&settings.data_dir))
        }) {
            create_data_dir(dir)?;
        }
    }
    let jwt_key = confidant_vault::load_or_create_secret(&settings.jwt_key_file, KEY_LEN)?;
    let dek = confidant_vault::load_or_create_secret(&settings.dek_file, KEY_LEN)?;
    let mut dek_array = [0u8; KEY_LEN];
    dek_array.copy_from_slice(&dek);
    let vault = Vault::new(dek_array);
    // `Vault::new` took a copy; wipe this one.
    dek_array.fill(0);

    let turn = load_turn(&settings)?;
    let db = open_database(&settings).await?;
    booking::ensure_consent_texts(&db.pool)
        .await
        .map_err(|e| StartError::Io {
            context: "recording consent texts".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    // Port 0 tells the SFU to advertise the port it bound.
    let advertised = SocketAddr::new(
        settings.sfu_advertise_ip,
        settings.sfu_advertise_port.unwrap_or(0),
    );
    let sfu = confidant_sfu::start(confidant_sfu::ShellConfig {
        bind: settings.sfu_bind,
        advertised,
        tcp: settings
            .sfu_tcp_bind
            .map(|bind| confidant_sfu::TcpShellConfig {
                bind,
                advertised_port: 0,
            }),
        workers: settings.sfu_workers,
        loudest_audio: settings.sfu_loudest_audio,
        udp_gso: true,
    })
    .await?;
    tracing::info!(sfu_local = %sfu.local_addr(), sfu_advertised = %sfu.advertised_addr(), sfu_tcp = ?sfu.tcp_local_addr(), "sfu started");
    let signature_keys =
        signature::keys::load_or_create(&settings.signature_config()).map_err(|e| {
            StartError::Io {
                context: "loading the signature keys".into(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    // A name stored with `confidant admin centre set --name` also names the centre in mails
    // (read once here; pages read the profile on every request).
    let mut settings = settings;
    let profile = confidant_kit::centre::load(&db.pool, &settings.centre_name, &settings.centre)
        .await
        .map_err(|e| StartError::Io {
            context: "loading the centre's profile".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    settings.centre_name = profile.name;
    let state = AppState::new(settings, db, vault, &jwt_key, sfu, turn, signature_keys);
    let sealed = booking::seal_urls_at_rest(&state.booking)
        .await
        .map_err(|e| StartError::Io {
            context: "sealing CalDAV addresses".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    if sealed > 0 {
        tracing::info!(accounts = sealed, "CalDAV addresses sealed at rest");
    }
    walkin::load_all(&state.walkin)
        .await
        .map_err(|e| StartError::Io {
            context: "loading walk-in profiles".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(state)
}

/// How long TURN credentials handed to a participant stay valid: the TURN server also checks
/// them when an allocation is refreshed, so they must outlast the longest call.
const TURN_CREDENTIAL_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// Shortest TURN shared secret accepted, in bytes.
const TURN_SECRET_MIN_BYTES: usize = 16;

/// Reads the TURN shared secret when TURN URLs are configured.
fn load_turn(settings: &Settings) -> Result<Option<TurnConfig>, StartError> {
    let Some(path) = settings
        .turn_secret_file
        .as_ref()
        .filter(|_| !settings.turn_urls.is_empty())
    else {
        return Ok(None);
    };
    let raw = std::fs::read(path).map_err(|source| StartError::Io {
        context: format!("reading the TURN secret file {}", path.display()),
        source,
    })?;
    // coturn's secret is text: a trailing newline from an editor is not part of it.
    let secret = raw.trim_ascii().to_vec();
    if secret.len() < TURN_SECRET_MIN_BYTES {
        return Err(config::ConfigError {
            option: "turn-secret-file",
            message: format!("the secret must have at least {TURN_SECRET_MIN_BYTES} bytes"),
        }
        .into());
    }
    Ok(Some(TurnConfig {
        urls: settings.turn_urls.clone(),
        secret,
        ttl: TURN_CREDENTIAL_TTL,
    }))
}

/// Serves `state` on `listener` until `shutdown` is triggered, then drains open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move { stop.triggered().await })
        .await
}

/// How long a background job may take to finish the round it is in at shutdown before it is
/// aborted: longer than one SMTP send or CalDAV request normally takes, short enough that a
/// service manager's stop (systemd waits 90 s by default) is not the one that kills us.
pub const JOB_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Every background job of the server, for the one [`Scheduler`]: mail delivery, calendar
/// sync (busy sources and CalDAV), signature retention and time-stamp retries, chat
/// retention, walk-in sync, audit-log retention. Jobs whose configuration is missing (no SMTP server, no TSA) are
/// left out.
pub fn jobs(state: &AppState) -> Scheduler {
    let mut s = Scheduler::new();
    s.extend(mail::job(state.mailer.clone()))
        .extend(booking::jobs(&state.booking))
        .extend(signature::jobs(&state.signature))
        .extend(confidant_signaling_server::jobs(&state.rooms))
        .extend(walkin::jobs(&state.walkin));
    s.add(confidant_kit::audit::retention_job(
        state.accounts.audit.clone(),
        state.config.audit_retention_days,
    ));
    s
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the moment it is called (so a signal that
/// arrives before the returned future is first polled is not lost); the future resolves on
/// the first of them.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &'static str| {
        let stream = signal(kind)
            .inspect_err(|e| tracing::error!(error = %e, "cannot listen for {name}"))
            .ok();
        async move {
            match stream {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
    };
    let int = listen(SignalKind::interrupt(), "SIGINT");
    let term = listen(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = int => {},
            () = term => {},
        }
        tracing::info!("shutting down");
    }
}

/// `confidant serve`: starts everything and serves until a signal.
pub async fn run_server(settings: Settings) -> Result<(), StartError> {
    settings.log();
    let listen = settings.listen;
    let state = start(settings).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Io {
            context: format!("binding {listen}"),
            source,
        })?;
    let shutdown = Shutdown::new();
    let signal = shutdown_signal();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        trigger.trigger();
    });
    tracing::info!(listen = %listen, "listening");
    let jobs = jobs(&state).start(&shutdown);
    let served = serve(listener, state, &shutdown).await;
    // Also when serving failed: no job outlives the server.
    shutdown.trigger();
    jobs.stop(JOB_STOP_GRACE).await;
    tracing::info!("stopped");
    served.map_err(|source| StartError::Io {
        context: "serving".into(),
        source,
    })
}

/// Installs the global tracing subscriber (`RUST_LOG` filter, default `info`). Colours only
/// when standard error is a terminal and `NO_COLOR` is unset: log files and journald get plain
/// text without ANSI escape codes.
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
