//! The signer's own copy of what they signed: the exact document and the evidence file, the
//! same pair the counsellor downloads, which `confidant signature verify` and
//! `tools/verify_evidence.py` accept. The signer has no account, so the copy is reached through
//! a signed, expiring token handed out with the receipt of the submission.
//!
//! Token layout before base64url (no padding): `version (1) | expires_at (i64 BE, Unix ms, 8) |
//! request id (UTF-8, 36) | HMAC-SHA256 over everything before (32)`, keyed with a vault-derived
//! secret of its own ([`COPY_SECRET_PURPOSE`]). The signature is checked (in constant time)
//! before anything inside the token is believed; then the expiry.

use axum::extract::{Path, State};
use axum::response::Response;
use axum_extra::extract::WithRejection;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::hmac;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::manage::{download, evidence_json, open_evidence};
use super::{store, time, SignatureState};
use confidant_kit::db::now_ms;
use confidant_kit::error::{AppError, ErrorBody};

/// How long the signer's copy can be downloaded after signing: a week, the default live period
/// of the evidence (`--signature-live-days`), long enough to come back to it from another device.
pub const COPY_TTL_MS: i64 = 7 * 86_400_000;
/// Vault purpose of the copy tokens' HMAC key.
pub const COPY_SECRET_PURPOSE: &str = "signature-signer-copy";
const VERSION: u8 = 1;
/// Length of a request id (a hyphenated UUID).
const ID_LEN: usize = 36;
const TAG_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + 8 + ID_LEN + TAG_LEN;

/// Where the signer downloads their copy, and until when.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignerCopy {
    /// The exact document bytes signed (HTML).
    pub document_url: String,
    /// The evidence file (JSON) for `confidant signature verify`.
    pub evidence_url: String,
    /// When the links stop working.
    pub expires_at: DateTime<Utc>,
}

/// The HMAC key of copy tokens.
pub(crate) fn copy_key(vault: &confidant_vault::Vault) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &vault.derive_secret(COPY_SECRET_PURPOSE))
}

/// A token for the copy of request `id`, valid until `expires_at_ms`.
pub(crate) fn sign_token(key: &hmac::Key, id: &str, expires_at_ms: i64) -> Option<String> {
    if id.len() != ID_LEN {
        return None;
    }
    let mut data = Vec::with_capacity(TOKEN_LEN);
    data.push(VERSION);
    data.extend_from_slice(&expires_at_ms.to_be_bytes());
    data.extend_from_slice(id.as_bytes());
    let tag = hmac::sign(key, &data);
    data.extend_from_slice(tag.as_ref());
    Some(URL_SAFE_NO_PAD.encode(data))
}

/// The request id of a valid, unexpired token at `now_ms`.
pub(crate) fn open_token(key: &hmac::Key, token: &str, now_ms: i64) -> Option<String> {
    if token.len() > 2 * TOKEN_LEN {
        return None;
    }
    let data = URL_SAFE_NO_PAD.decode(token).ok()?;
    if data.len() != TOKEN_LEN || data[0] != VERSION {
        return None;
    }
    let (signed, tag) = data.split_at(TOKEN_LEN - TAG_LEN);
    hmac::verify(key, signed, tag).ok()?;
    let expires_at = i64::from_be_bytes(signed[1..9].try_into().ok()?);
    if now_ms >= expires_at {
        return None;
    }
    String::from_utf8(signed[9..].to_vec()).ok()
}

/// The copy links of request `id`, signed now.
pub(crate) fn links(state: &SignatureState, id: &str, now: i64) -> Option<SignerCopy> {
    let expires_at = now + COPY_TTL_MS;
    let token = sign_token(&state.signature.copy_key, id, expires_at)?;
    Some(SignerCopy {
        document_url: format!("/api/sign/copy/{token}/document"),
        evidence_url: format!("/api/sign/copy/{token}/evidence"),
        expires_at: time(expires_at),
    })
}

type TokenPath = WithRejection<Path<String>, AppError>;

/// The signed request a copy token names, with its evidence opened; 404 otherwise.
async fn opened(
    state: &SignatureState,
    token: &str,
) -> Result<(store::RequestRow, super::manage::Opened), AppError> {
    let id = open_token(&state.signature.copy_key, token, now_ms()).ok_or(AppError::NotFound)?;
    let row = store::request_by_id(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let opened = open_evidence(state, &row)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((row, opened))
}

/// The signer's copy of the document signed (the exact bytes the signature is bound to).
#[utoipa::path(get, path = "/api/sign/copy/{token}/document", tag = "signatures",
    params(("token" = String, Path, description = "Copy token from the receipt (signed, expires after 7 days)")),
    responses(
        (status = 200, description = "The document bytes (HTML, attachment)", content_type = "text/html", body = String),
        (status = 404, description = "`not_found`: unknown, altered or expired token", body = ErrorBody),
    ))]
pub async fn document(
    State(state): State<SignatureState>,
    WithRejection(Path(token), _): TokenPath,
) -> Result<Response, AppError> {
    let (row, opened) = opened(&state, &token).await?;
    Ok(download(
        opened.document,
        "text/html; charset=utf-8",
        format!("document-{}.html", row.id),
    ))
}

/// The signer's copy of the evidence file, for `confidant signature verify`.
#[utoipa::path(get, path = "/api/sign/copy/{token}/evidence", tag = "signatures",
    params(("token" = String, Path, description = "Copy token from the receipt (signed, expires after 7 days)")),
    responses(
        (status = 200, description = "The evidence file (attachment)", body = super::EvidenceFile),
        (status = 404, description = "`not_found`: unknown, altered or expired token", body = ErrorBody),
    ))]
pub async fn evidence(
    State(state): State<SignatureState>,
    WithRejection(Path(token), _): TokenPath,
) -> Result<Response, AppError> {
    let (row, opened) = opened(&state, &token).await?;
    let body = evidence_json(&state, &row, &opened).await?;
    Ok(download(
        body,
        "application/json",
        format!("evidence-{}.json", row.id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b0c2d5e-4f7a-4b1e-9c3d-2a1b0c9d8e7f";

    fn key(b: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[b; 32])
    }

    #[test]
    fn copy_token_opens_until_it_expires() {
        let token = sign_token(&key(1), ID, 1_000).expect("token");
        assert_eq!(open_token(&key(1), &token, 999).as_deref(), Some(ID));
        assert_eq!(open_token(&key(1), &token, 1_000), None, "expired");
    }

    #[test]
    fn altered_or_foreign_copy_tokens_are_refused() {
        let token = sign_token(&key(1), ID, 1_000).expect("token");
        assert_eq!(open_token(&key(2), &token, 0), None, "another key");
        let mut raw = URL_SAFE_NO_PAD.decode(&token).expect("b64");
        // A later expiry, or another request id, without the key: the tag no longer holds.
        raw[8] ^= 1;
        assert_eq!(open_token(&key(1), &URL_SAFE_NO_PAD.encode(&raw), 0), None);
        raw[8] ^= 1;
        raw[20] ^= 1;
        assert_eq!(open_token(&key(1), &URL_SAFE_NO_PAD.encode(&raw), 0), None);
        for bad in ["", "!!", &token[..token.len() - 1], &"A".repeat(400)] {
            assert_eq!(open_token(&key(1), bad, 0), None, "{bad}");
        }
        assert_eq!(sign_token(&key(1), "short", 1_000), None);
    }
}
