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
use confidant_signature::bundle::{
    self, BundleInput, SigningMethod, TypedNameEvidence, TypedNameInput, MAX_SIGNER_NAME,
};
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

/// The declaration a signer ticks to make a typed name their signature, by language (the
/// signing page shows the text of its language; the evidence records the text and language
/// shown, `signature/FORMAT.md` §6.4).
pub const TYPED_NAME_DECLARATIONS: [(&str, &str); 2] = [
    (
        "en",
        "I declare that typing my name here is my signature on this document.",
    ),
    (
        "de",
        "Ich erkläre, dass mein hier eingetippter Name meine Unterschrift unter dieses Dokument ist.",
    ),
];

/// The declaration text of `language`, if there is one.
pub fn declaration_of(language: &str) -> Option<&'static str> {
    TYPED_NAME_DECLARATIONS
        .iter()
        .find(|(l, _)| *l == language)
        .map(|(_, text)| *text)
}

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
    /// Whether the request's owner allows a typed name with a declaration instead of the pad.
    pub typed_name_allowed: bool,
    /// When allowed: the declaration to show, by language (`en`, `de`); the submission names
    /// the language it showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typed_name_declarations: Option<BTreeMap<String, String>>,
}

/// A ceremony event from the signer's page.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignEvent {
    /// `consent_given` (the consent box was ticked), `capture_started` (the pen went down on
    /// the pad for the first time since it was last cleared) or `typing_started` (the first
    /// key in the typed-name field; recorded as `capture_started`). No samples are sent.
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
    /// `handwritten` (the default: `signature` holds the pad's samples) or `typed_name`
    /// (`typed_name` holds the typed name and declaration; only where the request allows it).
    #[serde(default)]
    pub method: Option<String>,
    /// `{canvas: {width, height}, device: {pointer_types, user_agent, pixel_ratio},
    /// client_started_at_ms, strokes: [{pointer_type, points: [{x, y, t, pressure?, tilt_x?,
    /// tilt_y?}]}]}`; required for `handwritten`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub signature: Option<serde_json::Value>,
    /// The typed name and its declaration; required for `typed_name`.
    #[serde(default)]
    pub typed_name: Option<TypedNameSubmit>,
}

/// A typed name instead of a handwritten signature.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypedNameSubmit {
    /// The name as typed (1..=256 bytes after trimming, no control characters).
    pub text: String,
    /// The signer ticked the declaration shown (`SignView.typed_name_declarations`); must be
    /// `true`.
    pub declaration_accepted: bool,
    /// The language of the declaration shown: `en` or `de`.
    pub declaration_language: String,
    /// When typing started, Unix ms, by the client's clock (recorded as a claim).
    #[serde(default)]
    pub typing_started_at_ms: Option<i64>,
    /// When typing ended, Unix ms, by the client's clock (recorded as a claim).
    #[serde(default)]
    pub typing_ended_at_ms: Option<i64>,
    /// The browser's user agent (≤ 512 bytes).
    #[serde(default)]
    pub user_agent: Option<String>,
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
    /// `handwritten` or `typed_name`.
    pub method: String,
    /// The dynamics the server computed from the samples (handwritten only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<DynamicsSummary>,
    /// Where the signer downloads their own copy (document and evidence file), for 7 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<super::copy::SignerCopy>,
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
        sqlx::query(
            "UPDATE signature_requests SET opened_at = $1 WHERE id = $2 AND opened_at IS NULL",
        )
        .bind(now_ms())
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    }
    let typed_name_allowed = row.allow_typed_name != 0;
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
        typed_name_allowed,
        typed_name_declarations: typed_name_allowed.then(|| {
            TYPED_NAME_DECLARATIONS
                .iter()
                .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
                .collect()
        }),
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
        "typing_started" => (
            AuditKind::CaptureStarted,
            "typing started in the typed-name field",
        ),
        _ => {
            return Err(AppError::invalid(
                "kind",
                "must be consent_given, capture_started or typing_started",
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
        (status = 422, description = "`validation_failed`; `fields` names each problem: `signer_name`, `consent`, `fields.NAME`, `signature…` with the signature codes of `signature/FORMAT.md` (`signature_empty`, `time_not_monotonic`, …), `method` (`typed_name_not_allowed` where the request does not allow a typed name), `typed_name.text`, `typed_name.declaration_accepted`, `typed_name.declaration_language`", body = ErrorBody),
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
    let capture = capture_of(&req, &row, &mut problems);
    let (Some(form), Some(capture), true) = (form, capture, problems.is_empty()) else {
        return Err(AppError::Fields(problems));
    };

    let form_canonical = form_data_canonical(&form);
    let document = row.document.clone().ok_or(AppError::NotFound)?;
    let summary = match &capture {
        Capture::Handwritten(valid) => Some(DynamicsSummary::from(&dynamics::compute(valid))),
        Capture::TypedName(_) => None,
    };
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
        complete_ceremony(&mut chain, received_at, &capture.ended_detail())?;
        let sealed_at_ms = next_at(&chain, now_ms());
        let built = match &capture {
            Capture::Handwritten(valid) => bundle::build_bundle(
                &BundleInput {
                    document: &document,
                    form_data_canonical: &form_canonical,
                    signature: valid,
                    signer_name: &signer_name,
                    escrow_key: &keys.escrow,
                    server_received_at_ms: received_at,
                    sealed_at_ms,
                    audit: &chain,
                },
                &keys.sealing.key_id(),
                &rng,
            )
            .map(|p| (p.bundle, p.svg)),
            // No strokes, so no image: the evidence never shows a typed name as a drawing.
            Capture::TypedName(typed) => bundle::build_typed_name_bundle(
                &TypedNameInput {
                    document: &document,
                    form_data_canonical: &form_canonical,
                    typed_name: typed,
                    signer_name: &signer_name,
                    server_received_at_ms: received_at,
                    sealed_at_ms,
                    audit: &chain,
                },
                &keys.sealing.key_id(),
            )
            .map(|b| (b, String::new())),
        };
        let (built, svg) =
            built.map_err(|e| AppError::Internal(format!("building the evidence bundle: {e}")))?;
        let sealed = bundle::seal(built, &keys.sealing)
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
        .bind(s.seal(&row.id, "image", svg.as_bytes()))
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
            method = capture.method().code(),
            strokes = summary.as_ref().map_or(0, |d| d.stroke_count),
            points = summary.as_ref().map_or(0, |d| d.point_count),
            "signature sealed"
        );
        return Ok((
            StatusCode::CREATED,
            axum::Json(Signed {
                status: RequestStatus::Signed,
                signed_at: time(signed_at),
                document_sha256: row.document_sha256.clone(),
                bundle_sha256,
                method: capture.method().code().to_owned(),
                dynamics: summary,
                copy: super::copy::links(&state, &row.id, now_ms()),
            }),
        ));
    }
    Err(AppError::Conflict(
        "too many concurrent requests; please try again".into(),
    ))
}

/// Appends what the submission itself attests: consent and the start of capture (if the page
/// did not record them after the document was shown), the end of capture and the submission.
fn complete_ceremony(chain: &mut AuditChain, at: i64, ended: &str) -> Result<(), AppError> {
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
    append(chain, AuditKind::CaptureEnded, ended)?;
    append(chain, AuditKind::Submitted, "submitted by the signer")?;
    Ok(())
}

/// What the signer signed with, checked.
enum Capture {
    /// The pad's samples.
    Handwritten(submission::ValidSignature),
    /// A typed name with its declaration.
    TypedName(TypedNameEvidence),
}

impl Capture {
    fn method(&self) -> SigningMethod {
        match self {
            Capture::Handwritten(_) => SigningMethod::Handwritten,
            Capture::TypedName(_) => SigningMethod::TypedName,
        }
    }

    /// The detail of the `capture_ended` event (no personal data: counts only).
    fn ended_detail(&self) -> String {
        match self {
            Capture::Handwritten(valid) => format!(
                "{} strokes, {} points, {} ms on the pad clock",
                valid.strokes().len(),
                valid.point_count(),
                (valid.last_t() - valid.first_t()).round()
            ),
            Capture::TypedName(t) => format!(
                "typed name of {} characters with the {} declaration",
                t.text.chars().count(),
                t.declaration_language
            ),
        }
    }
}

/// The checked capture of a submission, or its problems added to `problems`. A typed name is
/// refused (`method`, `typed_name_not_allowed`) unless the request's owner allowed it.
fn capture_of(req: &Submit, row: &RequestRow, problems: &mut Vec<FieldProblem>) -> Option<Capture> {
    match req
        .method
        .as_deref()
        .unwrap_or(SigningMethod::Handwritten.code())
    {
        "handwritten" => {
            if req.typed_name.is_some() {
                problems.push(problem(
                    "typed_name",
                    "unexpected",
                    "only with method typed_name",
                ));
            }
            let Some(signature) = &req.signature else {
                problems.push(problem("signature", "required", "draw your signature"));
                return None;
            };
            let json = serde_json::to_vec(signature).unwrap_or_default();
            match submission::parse(&json).and_then(|s| submission::validate(&s)) {
                Ok(v) => Some(Capture::Handwritten(v)),
                Err(e) => {
                    problems.push(problem(&signature_field(&e), e.code(), e.to_string()));
                    None
                }
            }
        }
        "typed_name" => {
            if row.allow_typed_name == 0 {
                problems.push(problem(
                    "method",
                    "typed_name_not_allowed",
                    "this request does not allow a typed name: sign on the pad",
                ));
                return None;
            }
            if req.signature.is_some() {
                problems.push(problem(
                    "signature",
                    "unexpected",
                    "a typed name has no pad samples",
                ));
            }
            let Some(t) = &req.typed_name else {
                problems.push(problem("typed_name", "required", "type your name"));
                return None;
            };
            typed_name_of(t, problems).map(Capture::TypedName)
        }
        _ => {
            problems.push(problem(
                "method",
                "invalid",
                "must be handwritten or typed_name",
            ));
            None
        }
    }
}

/// The typed-name record of a submission (allowed by the request), or its problems.
fn typed_name_of(
    t: &TypedNameSubmit,
    problems: &mut Vec<FieldProblem>,
) -> Option<TypedNameEvidence> {
    let before = problems.len();
    let text = t.text.trim();
    if text.is_empty() {
        problems.push(problem("typed_name.text", "required", "type your name"));
    } else if text.len() > bundle::MAX_TYPED_NAME || confidant_text::has_forbidden(text, false) {
        problems.push(problem(
            "typed_name.text",
            "invalid",
            format!(
                "must be at most {} bytes without control characters",
                bundle::MAX_TYPED_NAME
            ),
        ));
    }
    if !t.declaration_accepted {
        problems.push(problem(
            "typed_name.declaration_accepted",
            "required",
            "tick the declaration that your typed name is your signature",
        ));
    }
    let declaration = declaration_of(&t.declaration_language);
    if declaration.is_none() {
        problems.push(problem(
            "typed_name.declaration_language",
            "invalid",
            "must be en or de",
        ));
    }
    if t.user_agent
        .as_deref()
        .is_some_and(|u| u.len() > bundle::MAX_USER_AGENT || u.chars().any(char::is_control))
    {
        problems.push(problem(
            "typed_name.user_agent",
            "invalid",
            format!(
                "must be at most {} bytes without control characters",
                bundle::MAX_USER_AGENT
            ),
        ));
    }
    let (Some(declaration), true) = (declaration, problems.len() == before) else {
        return None;
    };
    Some(TypedNameEvidence {
        text: text.to_owned(),
        declaration: declaration.to_owned(),
        declaration_language: t.declaration_language.clone(),
        declaration_accepted: true,
        allowed_by_request: true,
        client_typing_started_at_ms: t.typing_started_at_ms,
        client_typing_ended_at_ms: t.typing_ended_at_ms,
        user_agent: t.user_agent.clone(),
    })
}
