//! Signatures with stroke dynamics (issue 7), server side: the HTTP routes, storage and jobs
//! over the `confidant-signature` core.
//!
//! [`router`] and [`jobs`] are what the binary composes; they need a state from which a
//! [`SignatureState`] and the kit's `Base` can be taken (axum `FromRef`).
//!
//! **What it must not depend on:** the binary crate (`confidant`) or another capability;
//! only the signature core, the kit and the vault.
//!
//! - [`manage`]: what counsellors use (form templates, sending a request by link, the list of
//!   requests with their verification status, downloads, verification of evidence files).
//! - [`sign`]: what the signer uses without an account (`/api/sign/{token}`: the document,
//!   ceremony events, the submission).
//! - [`store`]: rows, the audit trail, the archive.
//! - [`document`]: templates rendered to the exact document bytes; form values.
//! - [`keys`]: the sealing key and the escrow key in the data directory.
//! - [`tsa`]: RFC 3161 time-stamps of seals from a configured time-stamping authority.
//! - [`copy`]: the signer's own copy (document and evidence file) through a signed, expiring
//!   token from the receipt.
//!
//! The flow: a counsellor creates a template and sends it; the document bytes are frozen then.
//! The signer opens `/sign/{token}` (audit: `document_shown`), ticks the consent box
//! (`consent_given`), starts drawing (`capture_started`) and submits. The server validates the
//! raw samples, computes the dynamics itself, encrypts the time series to the escrow key, builds
//! and seals the evidence bundle with its Ed25519 key, appends `capture_ended`, `submitted` and
//! `sealed`, and stores the sealed bundle, form data, image and dynamics sealed at rest with the
//! vault. After `--signature-live-days` the retention job ([`archive_due`]) moves the evidence to
//! the archive (audit: `archived`), where it verifies as before.

pub mod copy;
pub mod document;
pub mod keys;
pub mod manage;
pub mod sign;
pub mod store;
pub mod tsa;

use std::time::Duration;

use chrono::{DateTime, Utc};
use confidant_kit::scheduler::{Job, Pace};
use confidant_signature::audit::{AuditChain, AuditKind};
use confidant_signature::bundle::VerifyingKey;
use confidant_signature::dynamics::Dynamics;
use confidant_signature::evidence;
use confidant_signature::timestamp::TsaTrust;
use confidant_signature::verify::{self, InvalidReason, Verification};
use confidant_vault::PurposeKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use confidant_kit::db::now_ms;
use confidant_kit::error::AppError;

pub use keys::SignatureKeys;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::FromRef;
use confidant_kit::Base;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A time-stamping authority for seals (`--signature-tsa-url` and its companions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaSettings {
    /// Where `TimeStampReq`s are POSTed.
    pub url: String,
    /// The certificate(s) its certificate must chain to.
    pub ca_file: PathBuf,
    /// The first retry interval after a failed attempt.
    pub retry: std::time::Duration,
}

/// What the signature capability is configured with.
#[derive(Debug, Clone)]
pub struct SignatureConfig {
    /// Public base URL without trailing slash (signing links).
    pub public_url: String,
    /// The data directory (sealing keys, the escrow key unless configured elsewhere).
    pub data_dir: PathBuf,
    /// `--signature-escrow-public-key-file`: the escrow key kept off this server.
    pub signature_escrow_public_key_file: Option<PathBuf>,
    /// Days evidence stays live before the retention job archives it.
    pub signature_live_days: u32,
    /// The time-stamping authority, if seals are time-stamped.
    pub signature_tsa: Option<TsaSettings>,
}

/// Everything the signature handlers and jobs share. Cheap to clone.
#[derive(Clone)]
pub struct SignatureState {
    /// The database.
    pub db: confidant_kit::db::Db,
    /// The configuration.
    pub config: Arc<SignatureConfig>,
    /// Signature keys (sealing, escrow) and their vault key.
    pub signature: Arc<Service>,
    /// The audit log: verifications and evidence downloads by staff.
    pub audit: confidant_kit::audit::AuditLog,
}

impl SignatureState {
    /// The state over `base`'s database, with `keys`, sealing at rest with `base`'s vault.
    pub fn new(base: &Base, config: SignatureConfig, keys: SignatureKeys) -> Self {
        Self {
            db: base.db.clone(),
            config: Arc::new(config),
            signature: Arc::new(Service::new(keys, &base.vault)),
            audit: confidant_kit::audit::AuditLog::new(base),
        }
    }
}

/// The signature routes, each with its OpenAPI description (the signing page itself is the
/// binary's, with the other pages).
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    SignatureState: FromRef<S>,
    Base: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(sign::get, sign::submit))
        .routes(routes!(sign::event))
        .routes(routes!(copy::document))
        .routes(routes!(copy::evidence))
        .routes(routes!(manage::list_templates, manage::create_template))
        .routes(routes!(manage::list_requests, manage::create_request))
        .routes(routes!(manage::get_request))
        .routes(routes!(manage::revoke_request))
        .routes(routes!(manage::document))
        .routes(routes!(manage::evidence))
        .routes(routes!(manage::image))
        .routes(routes!(manage::verify))
        .routes(routes!(manage::published_keys))
        .routes(routes!(manage::key_status))
}

/// The background jobs: evidence retention, and time-stamp retries when a TSA is configured.
pub fn jobs(state: &SignatureState) -> Vec<Job> {
    let mut jobs = vec![retention_job(state.clone())];
    jobs.extend(tsa::job(state.clone()));
    jobs
}

/// Vault purpose of the sealed signature values (associated data `<request id>/<what>`).
pub const SIGNATURE_PURPOSE: &str = "signature";
/// Random bytes in a signing link token (256 bits).
pub const SIGN_TOKEN_BYTES: usize = 32;
/// `format` of an evidence file.
pub const EVIDENCE_FORMAT: &str = evidence::EVIDENCE_FORMAT;
/// How often the retention job looks for evidence to archive.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// Requests archived per retention round at most (the next round takes the rest).
const ARCHIVE_BATCH: i64 = 500;

/// The signature keys and the vault key of the signature routes.
pub struct Service {
    /// Sealing, trusted and escrow keys.
    pub keys: SignatureKeys,
    seal: PurposeKey,
    /// HMAC key of the signer's copy tokens ([`copy`]).
    pub(crate) copy_key: ring::hmac::Key,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("keys", &self.keys).finish()
    }
}

impl Service {
    /// The service over `keys`, sealing at rest with the vault's [`SIGNATURE_PURPOSE`] key.
    pub fn new(keys: SignatureKeys, vault: &confidant_vault::Vault) -> Self {
        Self {
            keys,
            seal: vault.purpose_key(SIGNATURE_PURPOSE),
            copy_key: copy::copy_key(vault),
        }
    }

    /// Seals `what` of request `id` at rest.
    pub(crate) fn seal(&self, id: &str, what: &str, plain: &[u8]) -> Vec<u8> {
        self.seal.seal(plain, format!("{id}/{what}").as_bytes())
    }

    /// Opens `what` of request `id`.
    pub(crate) fn open(&self, id: &str, what: &str, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
        Ok(self.seal.open(sealed, format!("{id}/{what}").as_bytes())?)
    }
}

/// Milliseconds as a time.
pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The time for the next audit event: now, but never before the chain's last event.
pub(crate) fn next_at(chain: &AuditChain, now: i64) -> i64 {
    chain.events().last().map_or(now, |e| e.at_ms.max(now))
}

/// The outcome of a verification, as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerificationResult {
    /// Whether every check passed.
    pub valid: bool,
    /// When invalid: `document_changed`, `form_data_changed`, `bundle_changed`, `seal_invalid`,
    /// `chain_broken`, `unknown_key`, `key_retired`, `image_changed`, `timestamp_invalid`,
    /// `typed_name_not_allowed` or `declaration_missing` (the first failing check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When invalid: the reason in words (English).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For `chain_broken`: the index of the first bad audit event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_index: Option<u64>,
    /// For `chain_broken`: `seq_mismatch`, `prev_hash_mismatch`, `hash_mismatch`,
    /// `time_went_backwards` or `head_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_fault: Option<String>,
    /// When valid: the sealing key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When valid: SHA-256 of the bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_sha256: Option<String>,
    /// When valid: the signer's name as sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_name: Option<String>,
    /// When valid: how it was signed, `handwritten` or `typed_name` (a typed name with the
    /// signer's declaration, never a handwritten signature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// When valid: the method in words, `handwritten with N strokes` or `typed name with
    /// declaration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method_summary: Option<String>,
    /// When valid: when the bundle was sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_at: Option<DateTime<Utc>>,
    /// When valid: the sealed audit head (the hash of the last event the seal covers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<String>,
    /// When valid: how many audit events the seal covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_event_count: Option<u64>,
    /// When valid: the kinds of the audit events after the sealed head (`sealed`, `archived`);
    /// they link to the sealed head but no seal covers them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_after_seal: Option<Vec<String>>,
    /// When a part does not parse strictly: `duplicate_key`, `unknown_field`, `missing_field`,
    /// `non_canonical_number`, `invalid_value`, `not_canonical` or `syntax`
    /// (`signature/FORMAT.md` §6.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_fault: Option<String>,
    /// With `parse_fault`: the path of the offending value in the evidence file
    /// (`sealed.bundle.signer_name`, `audit.events[2].kind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_path: Option<String>,
    /// When valid and the evidence has a seal time-stamp: what its verified token says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimestampVerdict>,
    /// For `timestamp_invalid`: `malformed`, `unsupported_algorithm`, `imprint_mismatch`,
    /// `signature_invalid`, `certificate_missing`, `certificate_mismatch`, `untrusted_tsa` or
    /// `time_mismatch`
    /// (`signature/FORMAT.md` §10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_fault: Option<String>,
}

/// A verified seal time-stamp (RFC 3161 token), as a verification reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimestampVerdict {
    /// The token's `genTime`.
    pub gen_time: DateTime<Utc>,
    /// `genTime`, Unix ms.
    pub gen_time_ms: i64,
    /// The token's serial number (hex).
    pub serial: String,
    /// The TSA's policy OID.
    pub policy: String,
    /// The signing TSA certificate's subject.
    pub tsa: String,
    /// `verified` (the TSA certificate chains to the trusted TSA certificate) or `not_checked`
    /// (no TSA certificate was given to trust).
    pub tsa_chain: String,
}

impl From<&Verification> for VerificationResult {
    fn from(v: &Verification) -> Self {
        match v {
            Verification::Valid(ok) => Self {
                valid: true,
                reason: None,
                message: None,
                chain_index: None,
                chain_fault: None,
                key_id: Some(ok.key_id.clone()),
                bundle_sha256: Some(ok.bundle_sha256.to_hex()),
                signer_name: Some(ok.signer_name.clone()),
                method: Some(ok.method.code().to_owned()),
                method_summary: Some(ok.method_summary.clone()),
                sealed_at: Some(time(ok.sealed_at_ms)),
                audit_head: Some(ok.audit_head.to_hex()),
                audit_event_count: Some(ok.audit_event_count),
                events_after_seal: Some(
                    ok.events_after_seal
                        .iter()
                        .map(|k| store::kind_str(*k).to_owned())
                        .collect(),
                ),
                parse_fault: None,
                parse_path: None,
                timestamp: ok.timestamp.as_ref().map(|t| TimestampVerdict {
                    gen_time: time(t.gen_time_ms),
                    gen_time_ms: t.gen_time_ms,
                    serial: t.serial_hex.clone(),
                    policy: t.policy.clone(),
                    tsa: t.tsa_subject.clone(),
                    tsa_chain: t.chain.as_str().to_owned(),
                }),
                timestamp_fault: None,
            },
            Verification::Invalid(reason) => {
                let (chain_index, chain_fault) = match reason.chain_position() {
                    Some((index, fault)) => (Some(index as u64), Some(fault.to_owned())),
                    None => (None, None),
                };
                let (parse_fault, parse_path) = match reason {
                    InvalidReason::Malformed { error, .. } => (
                        Some(error.fault.code().to_owned()),
                        Some(error.path.clone()),
                    ),
                    _ => (None, None),
                };
                Self {
                    valid: false,
                    reason: Some(reason.code().to_owned()),
                    message: Some(reason.to_string()),
                    chain_index,
                    chain_fault,
                    key_id: None,
                    bundle_sha256: None,
                    signer_name: None,
                    method: None,
                    method_summary: None,
                    sealed_at: None,
                    audit_head: None,
                    audit_event_count: None,
                    events_after_seal: None,
                    parse_fault,
                    parse_path,
                    timestamp: None,
                    timestamp_fault: reason.timestamp_fault().map(str::to_owned),
                }
            }
        }
    }
}

/// An evidence file: everything needed, besides the document bytes, to verify a signature
/// offline (`confidant signature verify`, `POST /api/signatures/verify`). Written by the server;
/// read strictly by [`confidant_signature::evidence`] (`signature/FORMAT.md` §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceFile {
    /// `confidant-signature-evidence/1`.
    pub format: String,
    /// The signing request: the audit chain's context (its genesis is derived from it).
    pub request_id: String,
    /// The sealed bundle (`signature/FORMAT.md` §7).
    #[schema(value_type = Object)]
    pub sealed: serde_json::Value,
    /// The filled-in form values (an object of strings).
    #[schema(value_type = Object)]
    pub form_data: serde_json::Value,
    /// The audit chain: `{"genesis": hex, "events": [{seq, kind, at_ms, detail, prev_hash, hash}]}`.
    #[schema(value_type = Object)]
    pub audit: serde_json::Value,
    /// The signature image (SVG); checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_svg: Option<String>,
    /// The seal's RFC 3161 time-stamp, `{"token": base64 DER}`, once the TSA gave one
    /// (`signature/FORMAT.md` §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub seal_timestamp: Option<serde_json::Value>,
}

impl EvidenceFile {
    /// Verifies `document` against this evidence and the trusted keys (and a time-stamp's TSA
    /// against `tsa`), as a verifier reading the file's bytes would.
    pub fn verify(
        &self,
        document: &[u8],
        trusted: &[VerifyingKey],
        tsa: Option<&TsaTrust>,
    ) -> Verification {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        evidence::verify_file(&bytes, document, trusted, tsa).unwrap_or_else(|e| {
            // The server's own file always has the shape; should it not, it is not what was
            // sealed.
            Verification::Invalid(InvalidReason::Malformed {
                part: verify::EvidencePart::Sealed,
                error: e,
            })
        })
    }
}

/// The dynamics the server computed, summarised (kept sealed at rest; the full time series is
/// only in the escrow envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DynamicsSummary {
    /// Number of strokes (pen-down … pen-up).
    pub stroke_count: usize,
    /// Number of samples.
    pub point_count: usize,
    /// First to last sample, ms.
    pub total_time_ms: f64,
    /// Pen down, ms.
    pub writing_time_ms: f64,
    /// Pen up between strokes, ms.
    pub pause_time_ms: f64,
    /// Pen-down path, CSS px.
    pub path_length: f64,
    /// Path / writing time, px/ms.
    pub mean_speed: Option<f64>,
    /// Fastest segment, px/ms.
    pub max_speed: Option<f64>,
    /// Largest absolute acceleration, px/ms².
    pub max_abs_acceleration: Option<f64>,
    /// Strokes: start and end (ms from the first sample), samples, path length.
    pub strokes: Vec<StrokeTimes>,
    /// Pen-up gaps.
    pub pauses: Vec<PauseTimes>,
}

/// One stroke of a [`DynamicsSummary`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StrokeTimes {
    /// Pen down, ms from the first sample.
    pub start_ms: f64,
    /// Pen up, ms from the first sample.
    pub end_ms: f64,
    /// Samples.
    pub points: usize,
    /// Path length, px.
    pub path_length: f64,
}

/// One pause of a [`DynamicsSummary`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PauseTimes {
    /// The stroke before the gap.
    pub after_stroke: usize,
    /// Pen up, ms from the first sample.
    pub start_ms: f64,
    /// Length, ms.
    pub duration_ms: f64,
}

impl From<&Dynamics> for DynamicsSummary {
    fn from(d: &Dynamics) -> Self {
        Self {
            stroke_count: d.stroke_count,
            point_count: d.point_count,
            total_time_ms: d.total_time_ms,
            writing_time_ms: d.writing_time_ms,
            pause_time_ms: d.pause_time_ms,
            path_length: d.path_length,
            mean_speed: d.mean_speed,
            max_speed: d.max_speed,
            max_abs_acceleration: d.max_abs_acceleration,
            strokes: d
                .strokes
                .iter()
                .map(|s| StrokeTimes {
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                    points: s.points,
                    path_length: s.path_length,
                })
                .collect(),
            pauses: d
                .pauses
                .iter()
                .map(|p| PauseTimes {
                    after_stroke: p.after_stroke,
                    start_ms: p.start_ms,
                    duration_ms: p.duration_ms,
                })
                .collect(),
        }
    }
}

/// Moves the evidence of every request signed more than `--signature-live-days` before `now`
/// (Unix ms) to the archive, appending `archived` to its audit trail. Returns how many moved.
/// Time is an argument, so tests need not wait.
pub async fn archive_due(state: &SignatureState, now: i64) -> Result<usize, AppError> {
    let cutoff = now.saturating_sub(i64::from(state.config.signature_live_days) * DAY_MS);
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM signature_requests WHERE status = 'signed' AND signed_at <= $1
         ORDER BY signed_at LIMIT $2",
    )
    .bind(cutoff)
    .bind(ARCHIVE_BATCH)
    .fetch_all(&state.db)
    .await?;
    let mut moved = 0;
    for id in due {
        if archive_one(state, &id, now).await? {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Archives one signed request; `false` if it was not (any more) signed and live, or a
/// concurrent audit append won (the next round retries).
async fn archive_one(state: &SignatureState, id: &str, now: i64) -> Result<bool, AppError> {
    let Some(row) = sqlx::query_as::<_, store::RequestRow>(&format!(
        "SELECT {} FROM signature_requests WHERE id = $1 AND status = 'signed'",
        store::REQUEST_COLUMNS
    ))
    .bind(id)
    .fetch_optional(&state.db)
    .await?
    else {
        return Ok(false);
    };
    let Some(evidence) = store::evidence_of(&state.db, &row).await? else {
        return Err(AppError::Internal(format!(
            "signed request {id} lacks its evidence"
        )));
    };
    let mut chain = store::chain(&state.db, id).await?;
    let before = chain.len();
    let days = state.config.signature_live_days;
    chain
        .append(
            AuditKind::Archived,
            next_at(&chain, now),
            &format!("moved to the archive after the live period of {days} days"),
        )
        .map_err(|e| AppError::Internal(format!("audit append: {e}")))?;
    let mut tx = state.db.begin().await?;
    match store::insert_events(&mut tx, id, &chain.events()[before..]).await {
        Ok(()) => {}
        Err(e) if store::is_collision(&e) => {
            tx.rollback().await?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    sqlx::query(
        "INSERT INTO signature_archive (request_id, counsellor_id, document, form_sealed,
             bundle_sealed, image_sealed, dynamics_sealed, signed_at, archived_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&row.counsellor_id)
    .bind(&evidence.document)
    .bind(&evidence.form_sealed)
    .bind(&evidence.bundle_sealed)
    .bind(&evidence.image_sealed)
    .bind(&evidence.dynamics_sealed)
    .bind(row.signed_at.unwrap_or(now))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let updated = sqlx::query(
        "UPDATE signature_requests SET status = 'archived', archived_at = $1, document = NULL,
             form_sealed = NULL, bundle_sealed = NULL, image_sealed = NULL, dynamics_sealed = NULL
         WHERE id = $2 AND status = 'signed'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    tracing::info!(signature_request_id = %id, "signature evidence archived");
    Ok(true)
}

/// The background job that runs [`archive_due`] now and then every [`RETENTION_INTERVAL`].
pub fn retention_job(state: SignatureState) -> Job {
    Job::new("signature-retention", RETENTION_INTERVAL, move || {
        let state = state.clone();
        async move {
            match archive_due(&state, now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(archived = n, "signature retention round"),
                Err(e) => tracing::error!(error = %e, "signature retention round failed"),
            }
            Pace::OnSchedule
        }
    })
}
