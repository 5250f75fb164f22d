//! What the signer uses, without an account, through the link `/sign/{token}`: the document,
//! the ceremony's events, and the submission of the signature.
//!
//! An unknown, revoked or expired link (or one whose evidence is archived) is "not found"; a
//! signed one answers with `status: signed` and takes no more events or submissions (409).

use std::collections::BTreeMap;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum_extra::extract::WithRejection;
use chrono::{DateTime, Utc};
use confidant_signature::audit::{AuditChain, AuditKind};
use confidant_signature::bundle::{self, BundleInput, MAX_SIGNER_NAME};
use confidant_signature::canonical::form_data_canonical;
use confidant_signature::dynamics;
use confidant_signature::strict::StrictFault;
use confidant_signature::submission::{self, SubmissionError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::FieldDef;
use super::manage::{json_body, RequestStatus};
use super::store::{self, RequestRow};
use super::{next_at, time, DynamicsSummary};
use crate::SignatureState;
use confidant_kit::db::{now_ms, sha256_hex};
use confidant_kit::error::{AppError, ErrorBody, FieldProblem};
use confidant_kit::extract::{parse_json, Json};

/// Largest submission body, bytes (the pad's samples are at most 2 MiB).
pub const MAX_SUBMISSION_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Events the signer's page may record before submitting (views, consent, capture starts);
/// more are accepted but not recorded, so a looping client cannot grow the trail without end.
pub const MAX_SIGNER_EVENTS: usize = 64;
/// Attempts at appending to the audit trail when a concurrent request took the position.
const APPEND_ATTEMPTS: usize = 5;

/// What the signer's page shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignView {
    /// `pending` (may be signed) or `signed`.
    pub status: RequestStatus,
    /// Title of the document.
    pub title: String,
    /// The exact document bytes (HTML, see `docs/HTTP-API.md`) the signature is bound to.
    pub document_html: String,
    /// SHA-256 of those bytes (hex).
    pub document_sha256: String,
    /// The fields to fill in.
    pub fields: Vec<FieldDef>,
    /// The counsellor who sent it (display name).
    pub counsellor_name: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<DateTime<Utc>>,
}

/// A ceremony event from the signer's page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignEvent {
    /// `consent_given` (the consent box was ticked) or `capture_started` (the pen went down on
    /// the pad for the first time since it was last cleared). No samples are sent.
    pub kind: String,
}

/// The submission (schema; `signature` is the pad's raw samples, `signature/FORMAT.md` §1).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// The signer's full name (1..=256 bytes, no control characters).
    pub signer_name: String,
    /// The signer agrees to sign electronically and to the capture of the stroke dynamics; must
    /// be `true`.
    pub consent: bool,
    /// Values by field name: strings for text and date (`YYYY-MM-DD`), booleans for
    /// checkboxes.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// `{canvas: {width, height}, device: {pointer_types, user_agent, pixel_ratio},
    /// client_started_at_ms, strokes: [{pointer_type, points: [{x, y, t, pressure?, tilt_x?,
    /// tilt_y?}]}]}`.
    #[schema(value_type = Object)]
    pub signature: serde_json::Value,
}

/// The receipt of a submission.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Signed {
    /// `signed`.
    pub status: RequestStatus,
    /// When the bundle was sealed.
    pub signed_at: DateTime<Utc>,
    /// SHA-256 of the document signed (hex).
    pub document_sha256: String,
    /// SHA-256 of the sealed bundle (hex).
    pub bundle_sha256: String,
    /// The dynamics the server computed from the samples.
    pub dynamics: DynamicsSummary,
}

/// Whether a link token has the shape of one (base64url, at most 128 characters).
fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request of a link that still works for the signer: pending, or signed and live.
pub(crate) async fn usable(
    state: &SignatureState,
    token: &str,
) -> Result<Option<RequestRow>, AppError> {
    if !plausible(token) {
        return Ok(None);
    }
    let Some(row) = store::request_by_token_hash(&state.db, &sha256_hex(token)).await? else {
        return Ok(None);
    };
    Ok(match row.status_at(now_ms()) {
        RequestStatus::Pending | RequestStatus::Signed => Some(row),
        _ => None,
    })
}

/// Whether `/sign/{token}` should show the signing page (for the page shell).
pub async fn link_valid(state: &SignatureState, token: &str) -> Result<bool, AppError> {
    Ok(usable(state, token).await?.is_some())
}

/// Appends one signer event (if the trail has room), retrying when a concurrent request took
/// the position.
async fn record(
    state: &SignatureState,
    row: &RequestRow,
    kind: AuditKind,
    detail: &str,
) -> Result<(), AppError> {
    for _ in 0..APPEND_ATTEMPTS {
        let mut chain = store::chain(&state.db, &row.id).await?;
        if chain.len() >= MAX_SIGNER_EVENTS {
            return Ok(());
        }
        let before = chain.len();
        chain
            .append(kind, next_at(&chain, now_ms()), detail)
            .map_err(|e| AppError::Internal(format!("audit append: {e}")))?;
        let mut conn = state.db.acquire().await?;
        match store::insert_events(&mut conn, &row.id, &chain.events()[before..]).await {
            Ok(()) => return Ok(()),
            Err(e) if store::is_collision(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Conflict(
        "too many concurrent requests; please try again".into(),
    ))
}

type TokenPath = WithRejection<Path<String>, AppError>;

/// The document to sign. Records `document_shown` in the audit trail while pending.
#[utoipa::path(get, path = "/api/sign/{token}", tag = "signatures",
    params(("token" = String, Path, description = "Signing link token (base64url)")),
    responses(
        (status = 200, description = "The document and its fields", body = SignView),
        (status = 404, description = "`not_found`: unknown, revoked, expired or archived link", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<SignatureState>,
    WithRejection(Path(token), _): TokenPath,
) -> Result<axum::Json<SignView>, AppError> {
    let row = usable(&state, &token).await?.ok_or(AppError::NotFound)?;
    let status = row.status_at(now_ms());
    if status == RequestStatus::Pending {
        let short = row.document_sha256.get(..16).unwrap_or_default();
        record(
            &state,
            &row,
            AuditKind::DocumentShown,
            &format!("document sha256 {short}… shown"),
        )
        .await?;
    }
    let counsellor_name: String = sqlx::query_scalar("SELECT name FROM counsellors WHERE id = $1")
        .bind(&row.counsellor_id)
        .fetch_optional(&state.db)
        .await?
        .unwrap_or_default();
    let document = row.document.clone().ok_or(AppError::NotFound)?;
    Ok(axum::Json(SignView {
        status,
        title: row.title.clone(),
        document_html: String::from_utf8(document)
            .map_err(|_| AppError::Internal("document is not UTF-8".into()))?,
        document_sha256: row.document_sha256.clone(),
        fields: row.fields()?,
        counsellor_name,
        expires_at: time(row.expires_at),
        signed_at: row.signed_at.map(time),
    }))
}

/// Record a ceremony event: `consent_given` or `capture_started` (server time).
#[utoipa::path(post, path = "/api/sign/{token}/events", tag = "signatures",
    params(("token" = String, Path, description = "Signing link token (base64url)")),
    request_body = SignEvent,
    responses(
        (status = 204, description = "Recorded"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already signed", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `kind`", body = ErrorBody),
    ))]
pub async fn event(
    State(state): State<SignatureState>,
    WithRejection(Path(token), _): TokenPath,
    Json(req): Json<SignEvent>,
) -> Result<StatusCode, AppError> {
    let (kind, detail) = match req.kind.as_str() {
        "consent_given" => (AuditKind::ConsentGiven, "consent box ticked"),
        "capture_started" => (AuditKind::CaptureStarted, "pen down on the pad"),
        _ => {
            return Err(AppError::invalid(
                "kind",
                "must be consent_given or capture_started",
            ))
        }
    };
    let row = usable(&state, &token).await?.ok_or(AppError::NotFound)?;
    if row.status_at(now_ms()) != RequestStatus::Pending {
        return Err(AppError::Conflict(
            "the document has already been signed".into(),
        ));
    }
    record(&state, &row, kind, detail).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The request field a signature problem is about.
fn signature_field(e: &SubmissionError) -> String {
    use SubmissionError as E;
    let point = |s: &usize, p: &usize| format!("signature.strokes[{s}].points[{p}]");
    match e {
        E::InvalidCanvas { field, .. } => format!("signature.canvas.{field}"),
        E::InvalidDevice { field, .. } => format!("signature.device.{field}"),
        E::EmptySignature | E::TooManyStrokes { .. } => "signature.strokes".into(),
        E::EmptyStroke { stroke } => format!("signature.strokes[{stroke}]"),
        E::NonFinite {
            stroke,
            point: p,
            field,
        } => format!("{}.{field}", point(stroke, p)),
        E::NegativeTime {
            stroke, point: p, ..
        }
        | E::NonMonotonicTime {
            stroke, point: p, ..
        } => {
            format!("{}.t", point(stroke, p))
        }
        E::OutsideCanvas {
            stroke, point: p, ..
        } => point(stroke, p),
        E::PressureOutOfRange {
            stroke, point: p, ..
        } => format!("{}.pressure", point(stroke, p)),
        E::TiltOutOfRange {
            stroke,
            point: p,
            field,
            ..
        } => format!("{}.{field}", point(stroke, p)),
        _ => "signature".into(),
    }
}

fn problem(field: &str, code: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Submit the signature: checked (every problem at once, each with its field and code), the
/// dynamics computed from the raw samples, the time series encrypted to the escrow key, the
/// evidence bundle built and sealed, and everything stored sealed at rest.
#[utoipa::path(post, path = "/api/sign/{token}", tag = "signatures",
    params(("token" = String, Path, description = "Signing link token (base64url)")),
    request_body = Submit,
    responses(
        (status = 201, description = "Signed and sealed", body = Signed),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 404, description = "`not_found`: unknown, revoked or expired link", body = ErrorBody),
        (status = 409, description = "`conflict`: already signed, or the document was never shown", body = ErrorBody),
        (status = 413, description = "Body larger than 3 MiB", body = ErrorBody),
        (status = 422, description = "`validation_failed`; `fields` names each problem: `signer_name`, `consent`, `fields.NAME`, `signature…` with the signature codes of `signature/FORMAT.md` (`signature_empty`, `time_not_monotonic`, …)", body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<SignatureState>,
    WithRejection(Path(token), _): TokenPath,
    req: Request,
) -> Result<(StatusCode, axum::Json<Signed>), AppError> {
    let row = usable(&state, &token).await?.ok_or(AppError::NotFound)?;
    if row.status_at(now_ms()) != RequestStatus::Pending {
        return Err(AppError::Conflict(
            "the document has already been signed".into(),
        ));
    }
    let body = json_body(req, MAX_SUBMISSION_BODY_BYTES).await?;
    let received_at = now_ms();
    // A key twice (a second `full_name` in `fields`, a second `x` in a point) would be read
    // differently by different parsers: refused, naming where. Number spellings are free here.
    if let Some(dup) = confidant_signature::strict::read(&body).ok().and_then(|r| {
        r.faults
            .into_iter()
            .find(|f| f.fault == StrictFault::DuplicateKey)
    }) {
        return Err(AppError::Fields(vec![problem(
            &dup.path,
            StrictFault::DuplicateKey.code(),
            dup.message,
        )]));
    }
    let req: Submit = parse_json(&body)?;

    let mut problems = Vec::new();
    let signer_name = req.signer_name.trim().to_owned();
    if signer_name.is_empty() {
        problems.push(problem("signer_name", "required", "must be filled in"));
    } else if signer_name.len() > MAX_SIGNER_NAME
        || confidant_text::has_forbidden(&signer_name, false)
    {
        problems.push(problem(
            "signer_name",
            "invalid",
            format!("must be at most {MAX_SIGNER_NAME} bytes without control characters"),
        ));
    }
    if !req.consent {
        problems.push(problem("consent", "required", "must be given"));
    }
    let fields = row.fields()?;
    let form = match super::document::form_data(&fields, &req.fields) {
        Ok(form) => Some(form),
        Err(more) => {
            problems.extend(more);
            None
        }
    };
    let signature_json = serde_json::to_vec(&req.signature).unwrap_or_default();
    let valid = match submission::parse(&signature_json).and_then(|s| submission::validate(&s)) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(problem(&signature_field(&e), e.code(), e.to_string()));
            None
        }
    };
    let (Some(form), Some(valid), true) = (form, valid, problems.is_empty()) else {
        return Err(AppError::Fields(problems));
    };

    let form_canonical = form_data_canonical(&form);
    let document = row.document.clone().ok_or(AppError::NotFound)?;
    let dynamics = dynamics::compute(&valid);
    let summary = DynamicsSummary::from(&dynamics);
    let summary_json =
        serde_json::to_vec(&summary).map_err(|e| AppError::Internal(e.to_string()))?;
    let keys = &state.signature.keys;
    let rng = ring::rand::SystemRandom::new();

    for _ in 0..APPEND_ATTEMPTS {
        let mut chain = store::chain(&state.db, &row.id).await?;
        let before = chain.len();
        if !chain
            .events()
            .iter()
            .any(|e| e.kind == AuditKind::DocumentShown)
        {
            return Err(AppError::Conflict(
                "the document was never shown: open the signing page first".into(),
            ));
        }
        complete_ceremony(&mut chain, received_at, &valid)?;
        let prepared = bundle::build_bundle(
            &BundleInput {
                document: &document,
                form_data_canonical: &form_canonical,
                signature: &valid,
                signer_name: &signer_name,
                escrow_key: &keys.escrow,
                server_received_at_ms: received_at,
                sealed_at_ms: next_at(&chain, now_ms()),
                audit: &chain,
            },
            &keys.sealing.key_id(),
            &rng,
        )
        .map_err(|e| AppError::Internal(format!("building the evidence bundle: {e}")))?;
        let sealed = bundle::seal(prepared.bundle, &keys.sealing)
            .map_err(|e| AppError::Internal(format!("sealing: {e}")))?;
        let sealed_json = sealed
            .to_json()
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let signed_at = sealed.bundle.sealed_at_ms;
        let bundle_sha256 = sealed.bundle_sha256.to_hex();
        chain
            .append(
                AuditKind::Sealed,
                signed_at,
                &format!(
                    "sealed with key {}; bundle sha256 {}…",
                    sealed.key_id,
                    bundle_sha256.get(..16).unwrap_or_default()
                ),
            )
            .map_err(|e| AppError::Internal(format!("audit append: {e}")))?;

        let s = &state.signature;
        let mut tx = state.db.begin().await?;
        match store::insert_events(&mut tx, &row.id, &chain.events()[before..]).await {
            Ok(()) => {}
            Err(e) if store::is_collision(&e) => {
                tx.rollback().await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let updated = sqlx::query(
            "UPDATE signature_requests SET status = 'signed', signed_at = $1, key_id = $2,
                 bundle_sha256 = $3, form_sealed = $4, bundle_sealed = $5, image_sealed = $6,
                 dynamics_sealed = $7
             WHERE id = $8 AND status = 'pending' AND revoked_at IS NULL AND expires_at > $9",
        )
        .bind(signed_at)
        .bind(&sealed.key_id)
        .bind(&bundle_sha256)
        .bind(s.seal(&row.id, "form", &form_canonical))
        .bind(s.seal(&row.id, "bundle", &sealed_json))
        .bind(s.seal(&row.id, "image", prepared.svg.as_bytes()))
        .bind(s.seal(&row.id, "dynamics", &summary_json))
        .bind(&row.id)
        .bind(received_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Err(AppError::Conflict(
                "the document has already been signed, or the link was revoked".into(),
            ));
        }
        // With a TSA configured the seal is time-stamped after this commit; the row makes the
        // job retry should the TSA not answer now (sealing never waits for it).
        let stamp = state.config.signature_tsa.is_some();
        if stamp {
            super::tsa::record_pending(
                &mut tx,
                &row.id,
                &confidant_signature::timestamp::seal_imprint(&sealed.signature),
                signed_at,
            )
            .await?;
        }
        tx.commit().await?;
        if stamp {
            super::tsa::spawn_stamp(state.clone(), row.id.clone());
        }
        tracing::info!(
            signature_request_id = %row.id,
            strokes = summary.stroke_count,
            points = summary.point_count,
            "signature sealed"
        );
        return Ok((
            StatusCode::CREATED,
            axum::Json(Signed {
                status: RequestStatus::Signed,
                signed_at: time(signed_at),
                document_sha256: row.document_sha256.clone(),
                bundle_sha256,
                dynamics: summary,
            }),
        ));
    }
    Err(AppError::Conflict(
        "too many concurrent requests; please try again".into(),
    ))
}

/// Appends what the submission itself attests: consent and the start of capture (if the page
/// did not record them after the document was shown), the end of capture and the submission.
fn complete_ceremony(
    chain: &mut AuditChain,
    at: i64,
    valid: &submission::ValidSignature,
) -> Result<(), AppError> {
    let append = |chain: &mut AuditChain, kind, detail: &str| {
        let at = next_at(chain, at);
        chain
            .append(kind, at, detail)
            .map(|_| ())
            .map_err(|e| AppError::Internal(format!("audit append: {e}")))
    };
    let shown = chain
        .events()
        .iter()
        .position(|e| e.kind == AuditKind::DocumentShown)
        .unwrap_or(0);
    let after = |chain: &AuditChain, kind: AuditKind, from: usize| {
        chain.events()[from..]
            .iter()
            .position(|e| e.kind == kind)
            .map(|i| i + from)
    };
    let consent = match after(chain, AuditKind::ConsentGiven, shown) {
        Some(i) => i,
        None => {
            append(
                chain,
                AuditKind::ConsentGiven,
                "consent given with the submission",
            )?;
            chain.len() - 1
        }
    };
    if after(chain, AuditKind::CaptureStarted, consent).is_none() {
        append(
            chain,
            AuditKind::CaptureStarted,
            "capture start recorded with the submission",
        )?;
    }
    let duration = (valid.last_t() - valid.first_t()).round();
    append(
        chain,
        AuditKind::CaptureEnded,
        &format!(
            "{} strokes, {} points, {duration} ms on the pad clock",
            valid.strokes().len(),
            valid.point_count()
        ),
    )?;
    append(chain, AuditKind::Submitted, "submitted by the signer")?;
    Ok(())
}
