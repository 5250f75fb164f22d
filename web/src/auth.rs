//! Counsellor accounts, login sessions and the session cookie.
//!
//! The cookie `confidant_session` holds 32 random bytes (base64url); the database keeps only
//! their SHA-256. A login session lasts [`SESSION_TTL`] from login (fixed, not sliding): a
//! counsellor logs in once per working day, and a stolen cookie stops working by the next.

use std::sync::LazyLock;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{now_ms, sha256_hex};
use crate::error::{AppError, ErrorBody};
use crate::extract::{ClientIp, Json};
use crate::ratelimit::Network;
use crate::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "confidant_session";
/// Lifetime of a login session, fixed from login.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// Longest e-mail address accepted (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// Longest password accepted; argon2 hashes anything, this only bounds the work per request.
const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password accepted when creating an account.
pub const MIN_PASSWORD_CHARS: usize = 12;

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

/// Normalises and checks an e-mail address (trimmed, lower-cased, one `@`, no spaces).
pub fn normalize_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_lowercase();
    let valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid("email", "must be an e-mail address"))
    }
}

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

/// Creates a counsellor. A duplicate e-mail is a [`AppError::Conflict`].
pub async fn create_counsellor(
    db: &crate::db::Db,
    email: &str,
    name: &str,
    password: &str,
) -> Result<String, AppError> {
    let email = normalize_email(email)?;
    let name = normalize_name(name)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
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

/// The logged-in counsellor. As an extractor, rejects with 401 without a valid cookie.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counsellor {
    /// Counsellor id (UUID).
    pub id: String,
    /// Login e-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Clients whose browser cannot encrypt media end to end may join this counsellor's
    /// sessions unencrypted (everyone then sees the session is not end-to-end encrypted).
    pub allow_unencrypted_join: bool,
    /// The login session this request came with (a random id, not the cookie): host join
    /// tokens are bound to it, so they end with it.
    #[serde(skip)]
    pub login_id: String,
}

/// The counsellor whose valid session cookie comes with `headers`, if any.
pub async fn current_counsellor(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Counsellor>, AppError> {
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Ok(None);
    };
    let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
        "SELECT c.id, c.email, c.name, c.allow_unencrypted_join, s.login_id
         FROM auth_sessions s JOIN counsellors c ON c.id = s.counsellor_id
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(sha256_hex(cookie.value()))
    .bind(now_ms())
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(
        |(id, email, name, allow_unencrypted_join, login_id)| Counsellor {
            id,
            email,
            name,
            allow_unencrypted_join: allow_unencrypted_join != 0,
            login_id,
        },
    ))
}

impl FromRequestParts<AppState> for Counsellor {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current_counsellor(state, &parts.headers)
            .await?
            .ok_or(AppError::Unauthorized)
    }
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The `Set-Cookie` value for the session cookie. The token is base64url, so it needs no
/// quoting.
fn session_cookie(
    state: &AppState,
    value: &str,
    max_age: chrono::Duration,
) -> [(HeaderName, HeaderValue); 1] {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.num_seconds()
    );
    // base64url characters and the fixed attributes are all visible ASCII.
    [(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is visible ASCII"),
    )]
}

/// Log in with e-mail and password.
///
/// Sets the session cookie `confidant_session` (HttpOnly, SameSite=Strict, Path=/, Secure when
/// the public URL is https), valid for 12 hours from login. Rate limited per client network
/// (IPv4 /24, IPv6 /48).
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 204, description = "Logged in; the session cookie is set"),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
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
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, password_hash FROM counsellors WHERE email = $1")
            .bind(&email)
            .fetch_optional(&state.db)
            .await?;
    let (id, phc) = match row {
        Some((id, phc)) => (Some(id), phc),
        None => (None, DUMMY_HASH.clone()),
    };
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(id) = id.filter(|_| ok) else {
        tracing::info!(%network, "login failed");
        return Err(AppError::InvalidCredentials);
    };

    let token = confidant_vault::random_token(32);
    let now = now_ms();
    // Expired sessions are swept at each login; there is no other writer to them.
    sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&state.db)
        .await?;
    sqlx::query("INSERT INTO auth_sessions (token_hash, counsellor_id, created_at, expires_at, login_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(sha256_hex(&token))
        .bind(&id)
        .bind(now)
        .bind(now + SESSION_TTL.num_milliseconds())
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&state.db)
        .await?;
    tracing::info!(counsellor_id = %id, "logged in");
    Ok((
        session_cookie(&state, &token, SESSION_TTL),
        StatusCode::NO_CONTENT,
    ))
}

/// Log out: deletes the server-side session and clears the cookie. Succeeds (204) also when
/// the session had already expired, so a client can always reach a clean state.
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the session cookie is cleared"))
)]
pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<impl IntoResponse, AppError> {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
            .bind(sha256_hex(cookie.value()))
            .execute(&state.db)
            .await?;
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
    State(state): State<AppState>,
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
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Anna@Example.ORG ").unwrap(),
            "anna@example.org"
        );
        for bad in [
            "",
            "anna",
            "@example.org",
            "anna@",
            "an na@example.org",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

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
    fn hashes_verify_only_their_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
