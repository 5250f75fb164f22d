//! Counsellor accounts: login, login sessions and the session cookie, logout, the account's
//! settings, password changes and the password rules, and creating accounts (the admin CLI's
//! `confidant counsellor add` calls [`create_counsellor`]).
//!
//! The cookie `confidant_session` holds 32 random bytes (base64url); the database keeps only
//! their SHA-256. A login session lasts [`SESSION_TTL`] from login (fixed, not sliding): a
//! counsellor logs in once per working day, and a stolen cookie stops working by the next.
//! The extractor that reads it (`Counsellor`) is the kit's, so that every capability can ask
//! who is logged in without depending on this crate.
//!
//! Login is throttled per network and per account. The account limit counts failed attempts
//! (for known and unknown addresses alike, so it reveals nothing): a guesser spread over many
//! networks gets [`ACCOUNT_RATE_LIMIT`] tries. So that such a guesser cannot lock the real
//! counsellor out, a browser that logged in to the account before carries a device cookie
//! (`confidant_device`, HMAC-signed, bound to the account, path `/api/auth/login` only) and is
//! counted in a bucket of its own (the "device cookie" defence of OWASP's authentication
//! cheat sheet).
//!
//! New passwords are checked by zxcvbn (common passwords, names, words, keyboard patterns,
//! dates, and the account's own e-mail and name), not by length alone.
//!
//! [`router`] is what the binary composes; it needs a state from which an [`AccountsState`]
//! and the kit's `Base` can be taken (axum `FromRef`). The organisation (issue 19: first-run
//! set-up, roles, two-factor login, the audit log) lands here.
//!
//! **What it must not depend on:** the binary crate (`confidant`) or any capability's server
//! crate; only the kit, the vault, the text checks and the signalling core (for the name
//! limit).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use ring::hmac;
use sha2::{Digest, Sha256};

use confidant_kit::audit::{self, Action, Actor, AuditLog, NewEntry, Object};
use confidant_kit::db::{now_ms, sha256_hex, Db};
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::{ClientIp, Json};
use confidant_kit::ratelimit::{Network, RateLimitConfig, RateLimiter};
use confidant_kit::Base;

/// Lifetime of a login session, fixed from login.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// Longest password accepted; argon2 hashes anything, this only bounds the work per request.
const MAX_PASSWORD_BYTES: usize = 1024;
/// The object kind of a counsellor's account in the audit log.
const COUNSELLOR_OBJECT: &str = "counsellor";
/// Shortest password accepted when creating an account.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Weakest zxcvbn score accepted for a new password: 3 means about 10^8 guesses or more, safe
/// against online guessing (throttled below) and slows an offline attack on a stolen argon2id
/// hash to years.
const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
/// Failed login attempts per account: 5 at once, then one every minute (7 200 a week for a
/// guesser, against passwords that need 10^8 guesses; the real counsellor's browser has its
/// own bucket through the device cookie).
pub const ACCOUNT_RATE_LIMIT: RateLimitConfig = RateLimitConfig {
    burst: 5,
    refill_every: std::time::Duration::from_secs(60),
};
/// Name of the device cookie: this browser logged in to an account before.
pub const DEVICE_COOKIE: &str = "confidant_device";
/// Lifetime of a device cookie (renewed at each login).
const DEVICE_TTL: chrono::Duration = chrono::Duration::days(180);
/// Vault purpose of the device cookies' HMAC key.
pub const DEVICE_PURPOSE: &str = "login-device";

/// What accounts are configured with.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Cookies get the `Secure` flag (the public URL is https).
    pub secure_cookies: bool,
    /// Login attempts per anonymised network.
    pub login_rate_limit: RateLimitConfig,
    /// Failed login attempts per account (and per browser that logged in to it before).
    pub account_rate_limit: RateLimitConfig,
}

/// The keys accounts sign with.
pub struct AccountKeys {
    /// HMAC key of login device cookies ([`DEVICE_COOKIE`]), the vault's secret for
    /// [`DEVICE_PURPOSE`].
    pub login_device: [u8; 32],
}

/// Everything the account handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AccountsState {
    /// The database.
    pub db: Db,
    /// The configuration.
    pub config: Arc<AccountsConfig>,
    /// Signing keys.
    pub keys: Arc<AccountKeys>,
    /// Login attempts per anonymised network.
    pub login_limiter: Arc<Mutex<RateLimiter>>,
    /// Login attempts per account (key: SHA-256 of the e-mail address or of a device cookie).
    pub account_limiter: Arc<Mutex<RateLimiter<[u8; 32]>>>,
    /// The audit log: logins, failed logins, logouts, password changes, ended sessions.
    pub audit: AuditLog,
}

impl AccountsState {
    /// The state over `base`, with empty limiters and the device-cookie key derived from the
    /// vault (the same purpose as ever, so device cookies already out stay valid).
    pub fn new(base: &Base, config: AccountsConfig) -> Self {
        Self {
            db: base.db.clone(),
            keys: Arc::new(AccountKeys {
                login_device: base.vault.derive_secret(DEVICE_PURPOSE),
            }),
            login_limiter: Arc::new(Mutex::new(RateLimiter::new(config.login_rate_limit))),
            account_limiter: Arc::new(Mutex::new(RateLimiter::new(config.account_rate_limit))),
            audit: AuditLog::new(base),
            config: Arc::new(config),
        }
    }
}

/// The account routes (login, logout, the account and its password), each with its OpenAPI
/// description.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountsState: FromRef<S>,
    Base: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
}

/// A hash of a random password, verified against when the e-mail is unknown so that a login
/// attempt takes about as long whether or not the account exists.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password(&confidant_vault::random_token(32))
        .expect("hashing a fresh random password succeeds")
});

/// Hashes a password with argon2id and the crate's default parameters (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// [`verify_password`] on the blocking pool (argon2 takes tens of milliseconds).
async fn verify_password_off_thread(password: String, phc: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

pub use confidant_kit::auth::normalize_email;

/// Checks a counsellor display name: 1 to 80 characters, no control, bidi override or isolate
/// characters (the one name check, `confidant_text`).
pub fn normalize_name(raw: &str) -> Result<String, AppError> {
    confidant_text::check_name(raw, confidant_signaling::protocol::MAX_NAME_CHARS).map_err(|_| {
        AppError::invalid(
            "name",
            "must be 1 to 80 characters without control or bidi characters",
        )
    })
}

/// Checks a new password: [`MIN_PASSWORD_CHARS`] or more, at most [`MAX_PASSWORD_BYTES`], and
/// hard to guess by zxcvbn's estimate ([`MIN_PASSWORD_SCORE`]), counting `personal` (the
/// account's e-mail address and name) as known to a guesser. `field` names the field in the
/// error.
pub fn check_new_password(field: &str, password: &str, personal: &[&str]) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    // Known to a guesser: the e-mail address, its local part and domain, the name, their words,
    // the words run together ("annaberg"), and the product's name.
    let mut inputs: Vec<String> = vec!["confidant".to_owned()];
    for p in personal {
        let parts: Vec<&str> = p
            .split(['@', '.', ' ', '-', '_'])
            .filter(|w| w.len() > 2)
            .collect();
        inputs.push((*p).to_owned());
        inputs.extend(p.split('@').map(str::to_owned));
        inputs.push(parts.concat());
        inputs.extend(parts.iter().map(|w| (*w).to_owned()));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if estimate.score() < MIN_PASSWORD_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(AppError::invalid(
            field,
            format!("is too easy to guess{why}; use a longer phrase of unrelated words"),
        ));
    }
    Ok(())
}

/// Creates a counsellor. A duplicate e-mail is a [`AppError::Conflict`].
pub async fn create_counsellor(
    db: &Db,
    email: &str,
    name: &str,
    password: &str,
) -> Result<String, AppError> {
    let email = normalize_email(email)?;
    let name = normalize_name(name)?;
    check_new_password("password", password, &[&email, &name])?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    let id = uuid::Uuid::new_v4().to_string();
    let result = sqlx::query("INSERT INTO counsellors (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&email)
        .bind(&name)
        .bind(&hash)
        .bind(now_ms())
        .execute(db)
        .await;
    match result {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AppError::Conflict(
            "a counsellor with this e-mail address already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub use confidant_kit::auth::{Counsellor, SESSION_COOKIE};

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The `Set-Cookie` value of a cookie with the fixed attributes (HttpOnly, SameSite=Strict,
/// Secure when the public URL is https). Values are base64url or `.`-joined base64url and
/// digits, so they need no quoting.
fn cookie_header(
    state: &AccountsState,
    name: &str,
    path: &str,
    value: &str,
    max_age: chrono::Duration,
) -> (HeaderName, HeaderValue) {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.num_seconds()
    );
    // base64url characters, digits, dots and the fixed attributes are all visible ASCII.
    (
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is visible ASCII"),
    )
}

/// The `Set-Cookie` value for the session cookie.
fn session_cookie(
    state: &AccountsState,
    value: &str,
    max_age: chrono::Duration,
) -> [(HeaderName, HeaderValue); 1] {
    [cookie_header(state, SESSION_COOKIE, "/", value, max_age)]
}

/// The per-account limiter's key of an e-mail address (its SHA-256: no address in memory).
fn account_key(email: &str) -> [u8; 32] {
    Sha256::digest(format!("account\0{email}").as_bytes()).into()
}

/// What a device cookie's MAC covers: the account, the expiry (Unix seconds) and the nonce.
fn device_message(account: &[u8; 32], expires: i64, nonce: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64 + nonce.len());
    msg.extend_from_slice(b"confidant-device-v1\0");
    msg.extend_from_slice(account);
    msg.extend_from_slice(&expires.to_be_bytes());
    msg.extend_from_slice(nonce.as_bytes());
    msg
}

/// A new device cookie value for `account`: `{expires}.{nonce}.{mac}`.
fn new_device_cookie(key: &[u8; 32], account: &[u8; 32], now_secs: i64) -> String {
    use base64::Engine;
    let expires = now_secs + DEVICE_TTL.num_seconds();
    let nonce = confidant_vault::random_token(16);
    let mac = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        &device_message(account, expires, &nonce),
    );
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref());
    format!("{expires}.{nonce}.{mac}")
}

/// Whether `value` is an unexpired device cookie for `account`.
fn device_cookie_valid(key: &[u8; 32], account: &[u8; 32], value: &str, now_secs: i64) -> bool {
    use base64::Engine;
    let mut parts = value.splitn(3, '.');
    let (Some(expires), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let Ok(mac) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(mac) else {
        return false;
    };
    if expires <= now_secs {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, &device_message(account, expires, nonce), &mac).is_ok()
}

/// Takes a login attempt from the per-account limiter (a device that logged in to the account
/// before has a bucket of its own). Returns the key to give the attempt back to on success.
fn take_account_attempt(
    state: &AccountsState,
    jar: &CookieJar,
    account: &[u8; 32],
    now: Instant,
) -> Result<[u8; 32], AppError> {
    let now_secs = now_ms() / 1000;
    let key = match jar.get(DEVICE_COOKIE) {
        Some(c) if device_cookie_valid(&state.keys.login_device, account, c.value(), now_secs) => {
            Sha256::digest(format!("device\0{}", c.value()).as_bytes()).into()
        }
        _ => *account,
    };
    let taken = state
        .account_limiter
        .lock()
        .map_err(|_| AppError::Internal("account limiter poisoned".into()))?
        .take(key, now);
    match taken {
        Ok(()) => Ok(key),
        Err(wait) => {
            let device = key != *account;
            tracing::warn!(device, "login throttled for an account");
            Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            })
        }
    }
}

/// Log in with e-mail and password.
///
/// Sets the session cookie `confidant_session` (HttpOnly, SameSite=Strict, Path=/, Secure when
/// the public URL is https), valid for 12 hours from login, and the device cookie
/// `confidant_device` (Path=/api/auth/login, 180 days). Rate limited per client network
/// (IPv4 /24, IPv6 /48) and, for failed attempts, per account: 5 at once, then one a minute,
/// known and unknown addresses alike; a browser with the account's device cookie has a budget
/// of its own, so a guesser elsewhere does not lock the counsellor out.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 204, description = "Logged in; the session and device cookies are set"),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AccountsState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Json(req): Json<LoginRequest>,
) -> Result<impl IntoResponse, AppError> {
    let network = Network::of(ip);
    let limited = state
        .login_limiter
        .lock()
        .map_err(|_| AppError::Internal("login limiter poisoned".into()))?
        .check(ip, Instant::now());
    if let Err(wait) = limited {
        tracing::warn!(%network, "login rate limited");
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil() as u64,
        });
    }
    if req.email.trim().is_empty() {
        return Err(AppError::invalid("email", "must not be empty"));
    }
    if req.password.is_empty() || req.password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            "password",
            format!("must be 1 to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let email = req.email.trim().to_lowercase();
    let account = account_key(&email);
    let bucket = take_account_attempt(&state, &jar, &account, Instant::now())?;
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, password_hash FROM counsellors WHERE email = $1")
            .bind(&email)
            .fetch_optional(&state.db)
            .await?;
    let (id, phc) = match row {
        Some((id, phc)) => (Some(id), phc),
        None => (None, DUMMY_HASH.clone()),
    };
    let ok = verify_password_off_thread(req.password, phc).await?;
    let Some(id) = id.clone().filter(|_| ok) else {
        tracing::info!(%network, "login failed");
        // The account tried, when there is one, is recorded by id (never the address typed).
        let (actor, object) = match id {
            Some(id) => (
                Actor::counsellor(id.clone()),
                Some(Object::new(COUNSELLOR_OBJECT, id)),
            ),
            None => (Actor::Anonymous, None),
        };
        let mut entry = NewEntry::new(now_ms(), actor, Action::LoginFailed).ip(ip);
        entry.object = object;
        state.audit.record(entry).await?;
        return Err(AppError::InvalidCredentials);
    };
    // A correct password does not count against the account.
    if let Ok(mut limiter) = state.account_limiter.lock() {
        limiter.give_back(bucket, Instant::now());
    }

    let token = confidant_vault::random_token(32);
    let now = now_ms();
    // Expired sessions are swept at each login; there is no other writer to them.
    sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&state.db)
        .await?;
    // The session and its audit entry commit together: no login without its record.
    let mut tx = state.db.begin().await?;
    sqlx::query("INSERT INTO auth_sessions (token_hash, counsellor_id, created_at, expires_at, login_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(sha256_hex(&token))
        .bind(&id)
        .bind(now)
        .bind(now + SESSION_TTL.num_milliseconds())
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &state.audit.key,
        NewEntry::new(now, Actor::counsellor(id.clone()), Action::Login)
            .object(Object::new(COUNSELLOR_OBJECT, id.clone()))
            .ip(ip),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(counsellor_id = %id, "logged in");
    let device = new_device_cookie(&state.keys.login_device, &account, now / 1000);
    Ok((
        AppendHeaders([
            cookie_header(&state, SESSION_COOKIE, "/", &token, SESSION_TTL),
            cookie_header(
                &state,
                DEVICE_COOKIE,
                "/api/auth/login",
                &device,
                DEVICE_TTL,
            ),
        ]),
        StatusCode::NO_CONTENT,
    ))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password: 12 characters or more, and hard to guess (zxcvbn score 3 or more,
    /// counting the account's e-mail address and name as known).
    pub new_password: String,
}

/// Change the logged-in counsellor's password.
///
/// Requires the current password (a stolen session cookie alone cannot take the account
/// over); wrong ones count against the account's login budget. On success every other login
/// session of the counsellor ends; this one stays.
#[utoipa::path(
    post, path = "/api/me/password", tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other login sessions have ended"),
        (status = 400, description = "`validation_failed`: malformed body or unknown field", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid session cookie", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `current_password` is wrong or `new_password` too weak", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    )
)]
pub async fn change_password(
    State(state): State<AccountsState>,
    ClientIp(ip): ClientIp,
    counsellor: Counsellor,
    jar: CookieJar,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    if req.current_password.is_empty() || req.current_password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            "current_password",
            format!("must be 1 to {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let account = account_key(&counsellor.email);
    let bucket = take_account_attempt(&state, &jar, &account, Instant::now())?;
    let phc: String = sqlx::query_scalar("SELECT password_hash FROM counsellors WHERE id = $1")
        .bind(&counsellor.id)
        .fetch_one(&state.db)
        .await?;
    let ok = verify_password_off_thread(req.current_password, phc).await?;
    if !ok {
        tracing::info!(counsellor_id = %counsellor.id, "password change: wrong current password");
        return Err(AppError::invalid("current_password", "is not correct"));
    }
    if let Ok(mut limiter) = state.account_limiter.lock() {
        limiter.give_back(bucket, Instant::now());
    }
    check_new_password(
        "new_password",
        &req.new_password,
        &[&counsellor.email, &counsellor.name],
    )?;
    let new = req.new_password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    // The extractor found this cookie, so it is there.
    let this_session = jar
        .get(SESSION_COOKIE)
        .map(|c| sha256_hex(c.value()))
        .unwrap_or_default();
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE counsellors SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(&counsellor.id)
        .execute(&mut *tx)
        .await?;
    let ended =
        sqlx::query("DELETE FROM auth_sessions WHERE counsellor_id = $1 AND token_hash <> $2")
            .bind(&counsellor.id)
            .bind(&this_session)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let now = now_ms();
    let actor = Actor::counsellor(counsellor.id.clone());
    let object = Object::new(COUNSELLOR_OBJECT, counsellor.id.clone());
    audit::append(
        &mut tx,
        &state.audit.key,
        NewEntry::new(now, actor.clone(), Action::PasswordChanged)
            .object(object.clone())
            .ip(ip),
    )
    .await?;
    if ended > 0 {
        audit::append(
            &mut tx,
            &state.audit.key,
            NewEntry::new(now, actor, Action::SessionRevoked)
                .object(object)
                .ip(ip),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(counsellor_id = %counsellor.id, other_sessions_ended = ended, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Log out: deletes the server-side session and clears the cookie. Succeeds (204) also when
/// the session had already expired, so a client can always reach a clean state.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the session cookie is cleared"))
)]
pub async fn logout(
    State(state): State<AccountsState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
) -> Result<impl IntoResponse, AppError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let token_hash = sha256_hex(cookie.value());
        let mut tx = state.db.begin().await?;
        // Writing first takes SQLite's write lock at once (a read first could not upgrade).
        let holder: Option<String> = sqlx::query_scalar(
            "DELETE FROM auth_sessions WHERE token_hash = $1 RETURNING counsellor_id",
        )
        .bind(&token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        // Only a session that still existed is a logout worth recording.
        if let Some(id) = holder {
            audit::append(
                &mut tx,
                &state.audit.key,
                NewEntry::new(now_ms(), Actor::counsellor(id.clone()), Action::Logout)
                    .object(Object::new(COUNSELLOR_OBJECT, id))
                    .ip(ip),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok((
        session_cookie(&state, "", chrono::Duration::zero()),
        StatusCode::NO_CONTENT,
    ))
}

/// The logged-in counsellor.
#[utoipa::path(
    get, path = "/api/me", tag = "auth",
    responses(
        (status = 200, description = "The counsellor", body = Counsellor),
        (status = 401, description = "`unauthorized`: no valid session cookie", body = ErrorBody),
    )
)]
pub async fn me(counsellor: Counsellor) -> axum::Json<Counsellor> {
    axum::Json(counsellor)
}

/// The counsellor's settings that can be changed; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    /// Let clients whose browser cannot encrypt media end to end join unencrypted.
    pub allow_unencrypted_join: Option<bool>,
}

/// Change the logged-in counsellor's settings.
#[utoipa::path(
    patch, path = "/api/me", tag = "auth",
    request_body = SettingsUpdate,
    responses(
        (status = 200, description = "The counsellor, updated", body = Counsellor),
        (status = 400, description = "`validation_failed`: malformed body or unknown field", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid session cookie", body = ErrorBody),
    )
)]
pub async fn update_me(
    State(state): State<AccountsState>,
    mut counsellor: Counsellor,
    Json(req): Json<SettingsUpdate>,
) -> Result<axum::Json<Counsellor>, AppError> {
    if let Some(allow) = req.allow_unencrypted_join {
        sqlx::query("UPDATE counsellors SET allow_unencrypted_join = $1 WHERE id = $2")
            .bind(i64::from(allow))
            .bind(&counsellor.id)
            .execute(&state.db)
            .await?;
        counsellor.allow_unencrypted_join = allow;
        tracing::info!(counsellor_id = %counsellor.id, allow_unencrypted_join = allow, "settings changed");
    }
    Ok(axum::Json(counsellor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(normalize_name(" Dr. Weiß ").unwrap(), "Dr. Weiß");
        assert!(normalize_name("  ").is_err());
        assert!(normalize_name(&"x".repeat(81)).is_err());
        assert!(normalize_name("a\u{7}b").is_err());
        assert!(normalize_name("Dr.\u{202E} Berg").is_err());
        assert!(normalize_name("\u{2066}Berg").is_err());
    }

    #[test]
    fn common_and_personal_passwords_are_refused_not_length_alone() {
        let me = ["anna.berg@beratung.example", "Anna Berg"];
        for weak in [
            "password1234",
            "Passwort12345",
            "qwertzuiop123",
            "123456789012",
            "aaaaaaaaaaaaaaaa",
            "iloveyou1234",
            "annaberg2026!",
            "beratung.example",
            "confidant2026",
        ] {
            let e = check_new_password("password", weak, &me).expect_err(weak);
            assert!(
                matches!(&e, AppError::Validation { field: Some(f), message, .. }
                    if f == "password" && message.contains("too easy to guess")),
                "{weak}: {e}"
            );
        }
        let e = check_new_password("new_password", "short", &me).unwrap_err();
        assert!(
            matches!(&e, AppError::Validation { field: Some(f), .. } if f == "new_password"),
            "{e}"
        );
        for strong in [
            "correct horse battery staple",
            "correct horse battery staple 42",
            "a long enough password",
            "another long password",
            "Lindenblüte Fahrradkette Nebelhorn",
        ] {
            check_new_password("password", strong, &me).unwrap_or_else(|e| panic!("{strong}: {e}"));
        }
    }

    #[test]
    fn device_cookies_are_bound_to_their_account_and_expire() {
        let key = [7u8; 32];
        let anna = account_key("anna@example.org");
        let ben = account_key("ben@example.org");
        let now = 1_800_000_000;
        let cookie = new_device_cookie(&key, &anna, now);
        assert!(device_cookie_valid(&key, &anna, &cookie, now));
        assert!(
            !device_cookie_valid(&key, &ben, &cookie, now),
            "another account"
        );
        assert!(
            !device_cookie_valid(&[8u8; 32], &anna, &cookie, now),
            "another server key"
        );
        assert!(!device_cookie_valid(
            &key,
            &anna,
            &cookie,
            now + DEVICE_TTL.num_seconds()
        ));
        // A forged expiry breaks the MAC.
        let (_, rest) = cookie.split_once('.').unwrap();
        let extended = format!("{}.{rest}", now + 10 * DEVICE_TTL.num_seconds());
        assert!(!device_cookie_valid(&key, &anna, &extended, now));
        for junk in ["", "x", "1.2", "a.b.c", "99999999999.n.!!"] {
            assert!(!device_cookie_valid(&key, &anna, junk, now), "{junk:?}");
        }
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
