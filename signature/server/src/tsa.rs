//! RFC 3161 time-stamps of seals from the time-stamping authority (TSA) configured with
//! `--signature-tsa-url` (`signature/FORMAT.md` §10).
//!
//! Sealing never waits for the TSA and never fails because of it: the sealing transaction
//! writes a `pending` row (`signature_timestamps`) holding the seal's imprint, the submission
//! then asks the TSA in the background ([`spawn_stamp`]), and the time-stamp job
//! ([`stamp_due`], every `--signature-tsa-retry-seconds`) retries what is still pending with a
//! doubling back-off up to [`MAX_RETRY_INTERVAL`]. A response is stored only after it was
//! checked completely (status granted, imprint, nonce, the CMS signature, the TSA certificate's
//! chain to `--signature-tsa-ca-file` and its `timeStamping` usage, `genTime` within the window
//! of `FORMAT.md` §10). Once that window ([`TIMESTAMP_MAX_DELAY_MS`] after sealing) has passed
//! the row is `failed` and the evidence stays without a time-stamp. The evidence file carries
//! the token as `seal_timestamp` once stamped; the counsellor's view shows the state.

use std::time::Duration;

use confidant_kit::scheduler::{Job, Pace};
use confidant_signature::timestamp::{
    accept_response, check_time, request, TIMESTAMP_CLOCK_SKEW_MS, TIMESTAMP_MAX_DELAY_MS,
    TIMESTAMP_QUERY_MEDIA_TYPE, TIMESTAMP_REPLY_MEDIA_TYPE,
};
use confidant_signature::Digest;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::SignatureState;
use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;

/// How long one request to the TSA may take (connect, send, answer).
pub const TSA_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest TSA response read, bytes (a token with a certificate chain is a few KiB).
pub const MAX_TSA_RESPONSE_BYTES: usize = 64 * 1024;
/// The back-off between attempts doubles up to this.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Seals tried per job round at most (the next round takes the rest).
const STAMP_BATCH: i64 = 100;
/// Stop trying this long before the window closes, so that a token obtained at the last
/// attempt still has `genTime` inside it despite the TSA's clock skew (5 minutes).
const GIVE_UP_MARGIN_MS: i64 = TIMESTAMP_CLOCK_SKEW_MS;

/// The time-stamp state of a seal, as the counsellor's view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimestampStatus {
    /// `pending` (not yet time-stamped; the job retries), `stamped` or `failed` (the TSA did
    /// not give a valid token within 24 hours of sealing).
    pub state: String,
    /// When stamped: the token's `genTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gen_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure: a fault code and detail (`unreachable: …`, `untrusted_tsa: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    state: String,
    imprint_sha256: String,
    sealed_at: i64,
    token: Option<Vec<u8>>,
    gen_time: Option<i64>,
    attempts: i64,
    last_error: Option<String>,
}

const COLUMNS: &str = "state, imprint_sha256, sealed_at, token, gen_time, attempts, last_error";

/// Records a seal to be time-stamped, in the sealing transaction (only with a TSA configured).
pub(crate) async fn record_pending(
    conn: &mut sqlx::AnyConnection,
    request_id: &str,
    imprint: &Digest,
    sealed_at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signature_timestamps (request_id, state, imprint_sha256, sealed_at,
             next_attempt_at) VALUES ($1, 'pending', $2, $3, $3)",
    )
    .bind(request_id)
    .bind(imprint.to_hex())
    .bind(sealed_at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

async fn row(state: &SignatureState, request_id: &str) -> Result<Option<Row>, AppError> {
    Ok(sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS} FROM signature_timestamps WHERE request_id = $1"
    ))
    .bind(request_id)
    .fetch_optional(&state.db)
    .await?)
}

/// The stored token of a stamped seal.
pub(crate) async fn token_of(
    state: &SignatureState,
    request_id: &str,
) -> Result<Option<Vec<u8>>, AppError> {
    Ok(row(state, request_id)
        .await?
        .filter(|r| r.state == "stamped")
        .and_then(|r| r.token))
}

/// The time-stamp state of a seal (`None`: no time-stamp was asked for).
pub(crate) async fn status_of(
    state: &SignatureState,
    request_id: &str,
) -> Result<Option<TimestampStatus>, AppError> {
    Ok(row(state, request_id).await?.map(|r| TimestampStatus {
        state: r.state,
        gen_time: r.gen_time.map(super::time),
        attempts: r.attempts,
        last_error: r.last_error,
    }))
}

/// Asks the TSA for a token now, in the background (the signer is not kept waiting).
pub(crate) fn spawn_stamp(state: SignatureState, request_id: String) {
    tokio::spawn(async move {
        if let Err(e) = stamp_one(&state, &request_id, now_ms()).await {
            tracing::warn!(signature_request_id = %request_id, error = %e, "time-stamping failed");
        }
    });
}

/// Tries every pending seal whose next attempt is due at `now` (Unix ms). Returns how many got
/// their token. Time is an argument, so tests need not wait.
pub async fn stamp_due(state: &SignatureState, now: i64) -> Result<usize, AppError> {
    if state.config.signature_tsa.is_none() {
        return Ok(0);
    }
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT request_id FROM signature_timestamps
         WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(STAMP_BATCH)
    .fetch_all(&state.db)
    .await?;
    let mut stamped = 0;
    for id in due {
        if stamp_one(state, &id, now).await? {
            stamped += 1;
        }
    }
    Ok(stamped)
}

/// One attempt for one pending seal: `true` when it is stamped now.
async fn stamp_one(state: &SignatureState, request_id: &str, now: i64) -> Result<bool, AppError> {
    let (Some(tsa), Some(trust)) = (
        state.config.signature_tsa.as_ref(),
        state.signature.keys.tsa_trust.as_ref(),
    ) else {
        return Ok(false);
    };
    let Some(r) = row(state, request_id)
        .await?
        .filter(|r| r.state == "pending")
    else {
        return Ok(false);
    };
    let imprint = Digest::from_hex(&r.imprint_sha256)
        .ok_or_else(|| AppError::Internal("stored imprint is not a digest".into()))?;
    let mut nonce = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| AppError::Internal("no randomness for the TSA nonce".into()))?;
    let req = request(&imprint, nonce);
    let outcome = match ask(&tsa.url, &req.der).await {
        Err(e) => Err(format!("unreachable: {e}")),
        Ok(bytes) => accept_response(&bytes, &req, Some(trust))
            .and_then(|(token, stamp)| check_time(&stamp, r.sealed_at).map(|()| (token, stamp)))
            .map_err(|e| e.to_string()),
    };
    let attempts = r.attempts + 1;
    match outcome {
        Ok((token, stamp)) => {
            sqlx::query(
                "UPDATE signature_timestamps SET state = 'stamped', token = $1, gen_time = $2,
                     attempts = $3, last_error = NULL
                 WHERE request_id = $4 AND state = 'pending'",
            )
            .bind(&token)
            .bind(stamp.gen_time_ms)
            .bind(attempts)
            .bind(request_id)
            .execute(&state.db)
            .await?;
            tracing::info!(signature_request_id = %request_id, attempts, "seal time-stamped");
            Ok(true)
        }
        Err(error) => {
            let give_up = now >= r.sealed_at + TIMESTAMP_MAX_DELAY_MS - GIVE_UP_MARGIN_MS;
            let next = now.saturating_add(backoff_ms(tsa.retry, attempts));
            sqlx::query(
                "UPDATE signature_timestamps SET state = $1, attempts = $2, last_error = $3,
                     next_attempt_at = $4
                 WHERE request_id = $5 AND state = 'pending'",
            )
            .bind(if give_up { "failed" } else { "pending" })
            .bind(attempts)
            .bind(&error)
            .bind(next)
            .bind(request_id)
            .execute(&state.db)
            .await?;
            tracing::warn!(signature_request_id = %request_id, attempts, give_up, error = %error,
                "time-stamp attempt failed");
            Ok(false)
        }
    }
}

/// The wait after `attempts` failed attempts: `first`, doubled per further attempt, at most
/// [`MAX_RETRY_INTERVAL`].
fn backoff_ms(first: Duration, attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let wait = first.saturating_mul(1 << doublings).min(MAX_RETRY_INTERVAL);
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
}

/// POSTs the request; the response body if the TSA answered 200 with a time-stamp reply.
async fn ask(url: &str, der: &[u8]) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .timeout(TSA_REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, TIMESTAMP_QUERY_MEDIA_TYPE)
        .body(der.to_vec())
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let media = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media.eq_ignore_ascii_case(TIMESTAMP_REPLY_MEDIA_TYPE) {
        return Err(format!(
            "answered {media:?}, not {TIMESTAMP_REPLY_MEDIA_TYPE}"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > MAX_TSA_RESPONSE_BYTES {
            return Err(format!(
                "response larger than {MAX_TSA_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The background job that runs [`stamp_due`] every `--signature-tsa-retry-seconds`, while a
/// TSA is configured.
pub fn job(state: SignatureState) -> Option<Job> {
    let tsa = state.config.signature_tsa.clone()?;
    Some(Job::new(
        "signature-timestamp-retry",
        tsa.retry,
        move || {
            let state = state.clone();
            async move {
                match stamp_due(&state, now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(stamped = n, "time-stamp round"),
                    Err(e) => tracing::error!(error = %e, "time-stamp round failed"),
                }
                Pace::OnSchedule
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_interval_up_to_an_hour() {
        let first = Duration::from_secs(60);
        assert_eq!(backoff_ms(first, 1), 60_000);
        assert_eq!(backoff_ms(first, 2), 120_000);
        assert_eq!(backoff_ms(first, 3), 240_000);
        assert_eq!(backoff_ms(first, 40), 3_600_000);
    }
}
