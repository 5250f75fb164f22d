//! Who is asking: the logged-in counsellor behind a request's session cookie, as an
//! extractor every capability's handlers use.
//!
//! The cookie `confidant_session` holds 32 random bytes (base64url); the database keeps only
//! their SHA-256 (`auth_sessions`). Logging in and out, and the accounts themselves, are the
//! accounts capability's; this module only reads a session.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::CookieJar;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{now_ms, sha256_hex, Db};
use crate::error::AppError;
use crate::Base;

/// Name of the login session cookie.
pub const SESSION_COOKIE: &str = "confidant_session";

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

/// Longest e-mail address accepted (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// Normalises and checks an e-mail address (trimmed, lower-cased, one `@`, no spaces): the one
/// check for logins, accounts and team invitations.
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

/// The counsellor whose valid session cookie comes with `headers`, if any.
pub async fn current_counsellor(
    db: &Db,
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
    .fetch_optional(db)
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

impl<S> FromRequestParts<S> for Counsellor
where
    S: Send + Sync,
    Base: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        current_counsellor(&Base::from_ref(state).db, &parts.headers)
            .await?
            .ok_or(AppError::Unauthorized)
    }
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
}
