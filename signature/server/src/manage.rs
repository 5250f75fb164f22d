//! What counsellors use: form templates, signing requests sent by link, the list of requests
//! with their verification status, downloads of the document, evidence and image, and the
//! verification of an evidence file against document bytes.
//!
//! A counsellor sees and acts on their own templates and requests only; anyone else's is "not
//! found".

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::WithRejection;
use base64::Engine;
use chrono::{DateTime, Utc};
use confidant_signature::strict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::{self, FieldDef};
use super::store::{self, RequestRow, TemplateRow};
use super::{time, DynamicsSummary, EvidenceFile, VerificationResult, EVIDENCE_FORMAT};
use crate::SignatureState;
use confidant_kit::audit::{Action, Actor, NewEntry, Object};
use confidant_kit::auth::Counsellor;
use confidant_kit::db::{now_ms, sha256_hex};
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::{parse_json, ClientIp, Json};

/// Default lifetime of a signing link, hours (7 days).
pub const DEFAULT_TTL_HOURS: u32 = 168;
/// Allowed link lifetimes, hours (1 hour to 30 days).
pub const TTL_HOURS: std::ops::RangeInclusive<u32> = 1..=720;
/// Most requests listed.
const LIST_LIMIT: i64 = 200;
/// Longest recipient name, characters (as a signer name may be at most 256 bytes).
pub const MAX_RECIPIENT_NAME_CHARS: usize = 200;
/// Largest body of `POST /api/signatures/verify`, bytes (document and evidence, base64 and all).
pub const MAX_VERIFY_BODY_BYTES: usize = 12 * 1024 * 1024;

/// A form template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Template {
    /// Template id.
    pub id: uuid::Uuid,
    /// Title, also the document's heading.
    pub title: String,
    /// The body, Markdown (CommonMark with tables).
    pub body_markdown: String,
    /// What the signer fills in.
    pub fields: Vec<FieldDef>,
    /// The body rendered as it will appear in the document.
    pub body_html: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Request to create a template.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// 1..=200 characters.
    pub title: String,
    /// Markdown, at most 50 000 bytes; raw HTML is shown as text.
    #[serde(default)]
    pub body_markdown: String,
    /// At most 30 fields.
    #[serde(default)]
    pub fields: Vec<FieldDef>,
}

/// State of a signing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for the signature; the link works.
    Pending,
    /// Signed; the evidence is live.
    Signed,
    /// Signed; the evidence has moved to the archive.
    Archived,
    /// Revoked by the counsellor before it was signed.
    Revoked,
    /// The link expired before it was signed.
    Expired,
}

/// A signing request as the counsellor sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureRequest {
    /// Request id.
    pub id: uuid::Uuid,
    /// The template it was made from (unless deleted).
    pub template_id: Option<uuid::Uuid>,
    /// Title of the document.
    pub title: String,
    /// Current state.
    pub status: RequestStatus,
    /// The link to send to the signer (while pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_url: Option<String>,
    /// Whether the signer may type their name with a declaration instead of drawing
    /// (`signature/FORMAT.md` §6.4).
    pub allow_typed_name: bool,
    /// Whom the link was sent to, as the counsellor entered it (when they did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
    /// When the signer first opened the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    /// SHA-256 of the frozen document bytes (hex).
    pub document_sha256: String,
    /// The fields, as frozen with the document.
    pub fields: Vec<FieldDef>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was signed (sealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<DateTime<Utc>>,
    /// When the evidence moved to the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
    /// SHA-256 of the sealed bundle (hex), once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_sha256: Option<String>,
    /// The stored evidence verified now against the server's key, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationResult>,
    /// The signer's name as sealed, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_name: Option<String>,
    /// The filled-in values, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_data: Option<std::collections::BTreeMap<String, String>>,
    /// The dynamics the server computed, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<DynamicsSummary>,
    /// Where the signature image (SVG) is, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// When a time-stamping authority is configured: the seal's time-stamp state (`pending`
    /// until the TSA answered, `stamped`, or `failed` after 24 hours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<super::tsa::TimestampStatus>,
}

/// Whom a signing link was sent to (personal data: sealed at rest, never logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Name as entered (trimmed; may be empty when only an address was given).
    #[serde(default)]
    pub name: String,
    /// E-mail address as entered (normalised; may be empty when only a name was given).
    #[serde(default)]
    pub email: String,
}

/// Request to send a template for signing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The template.
    pub template_id: uuid::Uuid,
    /// Lifetime of the link in hours (1..=720, default 168).
    #[schema(minimum = 1, maximum = 720)]
    pub ttl_hours: Option<u32>,
    /// Allow a typed name with an explicit declaration instead of a handwritten signature, for
    /// signers who cannot use the pad (default `false`).
    #[serde(default)]
    pub allow_typed_name: bool,
    /// Whom the link is for (shown in the counsellor's list; optional).
    pub recipient_name: Option<String>,
    /// The recipient's e-mail address (shown in the counsellor's list; optional).
    pub recipient_email: Option<String>,
}

impl CreateRequest {
    /// The recipient as entered and checked, if any was given.
    fn recipient(&self) -> Result<Option<Recipient>, AppError> {
        let name = self.recipient_name.as_deref().unwrap_or_default().trim();
        if name.chars().count() > MAX_RECIPIENT_NAME_CHARS
            || confidant_text::has_forbidden(name, false)
        {
            return Err(AppError::invalid(
                "recipient_name",
                format!("must be at most {MAX_RECIPIENT_NAME_CHARS} characters on one line"),
            ));
        }
        let email = match self.recipient_email.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(raw) => confidant_kit::auth::normalize_email(raw)
                .map_err(|_| AppError::invalid("recipient_email", "must be an e-mail address"))?,
        };
        Ok((!name.is_empty() || !email.is_empty()).then(|| Recipient {
            name: name.to_owned(),
            email,
        }))
    }
}

/// Document bytes and an evidence file to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The document bytes, standard base64 (exactly one of `document_base64` and `document`).
    pub document_base64: Option<String>,
    /// The document as UTF-8 text.
    pub document: Option<String>,
    /// The evidence file (`GET /api/signatures/requests/{id}/evidence`): its exact text as a
    /// string, or the file itself as a JSON object. Read strictly either way (duplicate keys,
    /// non-canonical numbers, … are reported), so a client that re-serialises the file must
    /// keep its spelling (JavaScript's `JSON.stringify` writes `400.0` as `400`: send the text).
    pub evidence: serde_json::Value,
}

fn template_of(row: TemplateRow) -> Result<Template, AppError> {
    let fields: Vec<FieldDef> = serde_json::from_str(&row.fields_json)
        .map_err(|e| AppError::Internal(format!("template fields: {e}")))?;
    Ok(Template {
        id: row
            .id
            .parse()
            .map_err(|_| AppError::Internal("template id is not a UUID".into()))?,
        title: row.title,
        body_html: document::render_markdown(&row.body_markdown),
        body_markdown: row.body_markdown,
        fields,
        created_at: time(row.created_at),
    })
}

impl RequestRow {
    /// The state at `now`.
    pub fn status_at(&self, now: i64) -> RequestStatus {
        match self.status.as_str() {
            "signed" => RequestStatus::Signed,
            "archived" => RequestStatus::Archived,
            _ if self.revoked_at.is_some() => RequestStatus::Revoked,
            _ if self.expires_at <= now => RequestStatus::Expired,
            _ => RequestStatus::Pending,
        }
    }

    /// The frozen fields.
    pub fn fields(&self) -> Result<Vec<FieldDef>, AppError> {
        serde_json::from_str(&self.fields_json)
            .map_err(|e| AppError::Internal(format!("request fields: {e}")))
    }
}

/// The opened evidence of a signed request.
pub(crate) struct Opened {
    pub(crate) document: Vec<u8>,
    pub(crate) form_canonical: Vec<u8>,
    pub(crate) sealed_json: Vec<u8>,
    pub(crate) svg: Vec<u8>,
    pub(crate) dynamics: Vec<u8>,
}

/// Opens the stored evidence of `row` (live or archived), if it is signed.
pub(crate) async fn open_evidence(
    state: &SignatureState,
    row: &RequestRow,
) -> Result<Option<Opened>, AppError> {
    let Some(e) = store::evidence_of(&state.db, row).await? else {
        return Ok(None);
    };
    let s = &state.signature;
    Ok(Some(Opened {
        form_canonical: s.open(&row.id, "form", &e.form_sealed)?,
        sealed_json: s.open(&row.id, "bundle", &e.bundle_sealed)?,
        svg: s.open(&row.id, "image", &e.image_sealed)?,
        dynamics: s.open(&row.id, "dynamics", &e.dynamics_sealed)?,
        document: e.document,
    }))
}

/// The evidence file of an opened request.
async fn evidence_file(
    state: &SignatureState,
    row: &RequestRow,
    opened: &Opened,
) -> Result<EvidenceFile, AppError> {
    let chain = store::chain(&state.db, &row.id).await?;
    let bad = |what: &str, e: serde_json::Error| AppError::Internal(format!("stored {what}: {e}"));
    Ok(EvidenceFile {
        format: EVIDENCE_FORMAT.to_owned(),
        request_id: row.id.clone(),
        sealed: serde_json::from_slice(&opened.sealed_json).map_err(|e| bad("bundle", e))?,
        form_data: serde_json::from_slice(&opened.form_canonical).map_err(|e| bad("form", e))?,
        audit: serde_json::to_value(&chain).map_err(|e| bad("audit", e))?,
        // A typed name has no image (its bundle has no `image_sha256`).
        image_svg: (!opened.svg.is_empty())
            .then(|| String::from_utf8_lossy(&opened.svg).into_owned()),
        seal_timestamp: super::tsa::token_of(state, &row.id)
            .await?
            .map(|token| serde_json::json!({"token": base64::engine::general_purpose::STANDARD.encode(token)})),
    })
}

/// The evidence file of an opened request as it is downloaded (pretty JSON).
pub(crate) async fn evidence_json(
    state: &SignatureState,
    row: &RequestRow,
    opened: &Opened,
) -> Result<Vec<u8>, AppError> {
    let file = evidence_file(state, row, opened).await?;
    serde_json::to_vec_pretty(&file).map_err(|e| AppError::Internal(e.to_string()))
}

/// The request as the counsellor sees it, its evidence verified now.
pub(crate) async fn view(
    state: &SignatureState,
    row: RequestRow,
) -> Result<SignatureRequest, AppError> {
    let now = now_ms();
    let status = row.status_at(now);
    let sign_url = if status == RequestStatus::Pending {
        let token = state.signature.open(&row.id, "token", &row.token_sealed)?;
        let token = String::from_utf8(token)
            .map_err(|_| AppError::Internal("sealed token is not UTF-8".into()))?;
        Some(format!("{}/sign/{token}", state.config.public_url))
    } else {
        None
    };
    let mut out = SignatureRequest {
        id: row
            .id
            .parse()
            .map_err(|_| AppError::Internal("request id is not a UUID".into()))?,
        template_id: row.template_id.as_deref().and_then(|t| t.parse().ok()),
        title: row.title.clone(),
        status,
        sign_url,
        allow_typed_name: row.allow_typed_name != 0,
        recipient: row
            .recipient_sealed
            .as_ref()
            .map(|sealed| state.signature.open(&row.id, "recipient", sealed))
            .transpose()?
            .and_then(|json| serde_json::from_slice(&json).ok()),
        opened_at: row.opened_at.map(time),
        document_sha256: row.document_sha256.clone(),
        fields: row.fields()?,
        created_at: time(row.created_at),
        expires_at: time(row.expires_at),
        revoked_at: row.revoked_at.map(time),
        signed_at: row.signed_at.map(time),
        archived_at: row.archived_at.map(time),
        bundle_sha256: row.bundle_sha256.clone(),
        verification: None,
        signer_name: None,
        form_data: None,
        dynamics: None,
        image_url: None,
        timestamp: None,
    };
    if let Some(opened) = open_evidence(state, &row).await? {
        let file = evidence_file(state, &row, &opened).await?;
        let verification = file.verify(
            &opened.document,
            &state.signature.keys.trusted,
            state.signature.keys.tsa_trust.as_ref(),
        );
        out.timestamp = super::tsa::status_of(state, &row.id).await?;
        out.verification = Some(VerificationResult::from(&verification));
        out.signer_name = file.sealed["bundle"]["signer_name"]
            .as_str()
            .map(str::to_owned);
        out.form_data = serde_json::from_slice(&opened.form_canonical).ok();
        out.dynamics = serde_json::from_slice(&opened.dynamics).ok();
        if !opened.svg.is_empty() {
            out.image_url = Some(format!("/api/signatures/requests/{}/image", row.id));
        }
    }
    Ok(out)
}

type IdPath = WithRejection<Path<String>, AppError>;

async fn own(state: &SignatureState, me: &Counsellor, id: &str) -> Result<RequestRow, AppError> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    store::own_request(&state.db, &me.id, &id).await
}

/// The counsellor's form templates, newest first.
#[utoipa::path(get, path = "/api/signatures/templates", tag = "signatures",
    responses(
        (status = 200, description = "Own templates", body = Vec<Template>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list_templates(
    State(state): State<SignatureState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<Template>>, AppError> {
    let rows = sqlx::query_as::<_, TemplateRow>(&format!(
        "SELECT {} FROM signature_templates WHERE counsellor_id = $1 ORDER BY created_at DESC, id",
        store::TEMPLATE_COLUMNS
    ))
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(template_of)
            .collect::<Result<_, _>>()?,
    ))
}

/// Create a form template: a title, a Markdown body and the fields the signer fills in.
#[utoipa::path(post, path = "/api/signatures/templates", tag = "signatures",
    request_body = CreateTemplate,
    responses(
        (status = 201, description = "Created", body = Template),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed`; `fields` lists every problem (`title`, `body_markdown`, `fields[i].name`, …)", body = ErrorBody),
    ))]
pub async fn create_template(
    State(state): State<SignatureState>,
    me: Counsellor,
    Json(req): Json<CreateTemplate>,
) -> Result<(StatusCode, axum::Json<Template>), AppError> {
    let problems = document::check_template(&req.title, &req.body_markdown, &req.fields);
    if !problems.is_empty() {
        return Err(AppError::Fields(problems));
    }
    let fields: Vec<FieldDef> = req
        .fields
        .into_iter()
        .map(|f| FieldDef {
            label: f.label.trim().to_owned(),
            ..f
        })
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO signature_templates (id, counsellor_id, title, body_markdown, fields_json, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&me.id)
    .bind(req.title.trim())
    .bind(&req.body_markdown)
    .bind(serde_json::to_string(&fields).map_err(|e| AppError::Internal(e.to_string()))?)
    .bind(now_ms())
    .execute(&state.db)
    .await?;
    tracing::info!(signature_template_id = %id, counsellor_id = %me.id, "signature template created");
    let row = store::template(&state.db, &me.id, &id).await?;
    Ok((StatusCode::CREATED, axum::Json(template_of(row)?)))
}

/// The counsellor's signing requests, newest first, each signed one verified now.
#[utoipa::path(get, path = "/api/signatures/requests", tag = "signatures",
    responses(
        (status = 200, description = "Own requests (the newest 200)", body = Vec<SignatureRequest>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list_requests(
    State(state): State<SignatureState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<SignatureRequest>>, AppError> {
    let rows = sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {} FROM signature_requests WHERE counsellor_id = $1
         ORDER BY created_at DESC, id LIMIT $2",
        store::REQUEST_COLUMNS
    ))
    .bind(&me.id)
    .bind(LIST_LIMIT)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view(&state, row).await?);
    }
    Ok(axum::Json(out))
}

/// Send a template for signing: the document is rendered and frozen now, and a new link is
/// made.
#[utoipa::path(post, path = "/api/signatures/requests", tag = "signatures",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created; `sign_url` is the link for the signer", body = SignatureRequest),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `template_id`, `ttl_hours`, `recipient_name` or `recipient_email`", body = ErrorBody),
    ))]
pub async fn create_request(
    State(state): State<SignatureState>,
    me: Counsellor,
    Json(req): Json<CreateRequest>,
) -> Result<(StatusCode, axum::Json<SignatureRequest>), AppError> {
    let ttl_hours = req.ttl_hours.unwrap_or(DEFAULT_TTL_HOURS);
    if !TTL_HOURS.contains(&ttl_hours) {
        return Err(AppError::invalid("ttl_hours", "must be between 1 and 720"));
    }
    let recipient = req.recipient()?;
    let template = match store::template(&state.db, &me.id, &req.template_id.to_string()).await {
        Err(AppError::NotFound) => {
            return Err(AppError::invalid("template_id", "no such template"))
        }
        other => other?,
    };
    let fields: Vec<FieldDef> = serde_json::from_str(&template.fields_json)
        .map_err(|e| AppError::Internal(format!("template fields: {e}")))?;
    let doc = document::document_bytes(&template.title, &template.body_markdown, &fields);
    let id = uuid::Uuid::new_v4().to_string();
    let token = confidant_vault::random_token(super::SIGN_TOKEN_BYTES);
    let now = now_ms();
    sqlx::query(
        "INSERT INTO signature_requests (id, counsellor_id, template_id, title, fields_json,
             document, document_sha256, token_hash, token_sealed, status, created_at, expires_at,
             allow_typed_name, recipient_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(&me.id)
    .bind(&template.id)
    .bind(&template.title)
    .bind(&template.fields_json)
    .bind(&doc)
    .bind(confidant_signature::sha256(&doc).to_hex())
    .bind(sha256_hex(&token))
    .bind(state.signature.seal(&id, "token", token.as_bytes()))
    .bind(now)
    .bind(now + i64::from(ttl_hours) * 3_600_000)
    .bind(i64::from(req.allow_typed_name))
    .bind(
        recipient
            .as_ref()
            .map(|r| {
                serde_json::to_vec(r).map(|json| state.signature.seal(&id, "recipient", &json))
            })
            .transpose()
            .map_err(|e| AppError::Internal(e.to_string()))?,
    )
    .execute(&state.db)
    .await?;
    // Ids only: the recipient is personal data.
    tracing::info!(signature_request_id = %id, counsellor_id = %me.id, ttl_hours,
        allow_typed_name = req.allow_typed_name, "signature request created");
    let row = store::own_request(&state.db, &me.id, &id).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, row).await?)))
}

/// One signing request, its evidence verified now.
#[utoipa::path(get, path = "/api/signatures/requests/{id}", tag = "signatures",
    params(("id" = uuid::Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request", body = SignatureRequest),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn get_request(
    State(state): State<SignatureState>,
    me: Counsellor,
    WithRejection(Path(id), _): IdPath,
) -> Result<axum::Json<SignatureRequest>, AppError> {
    let row = own(&state, &me, &id).await?;
    Ok(axum::Json(view(&state, row).await?))
}

/// Revoke a request's link before it is signed. Idempotent; 409 once signed.
#[utoipa::path(post, path = "/api/signatures/requests/{id}/revoke", tag = "signatures",
    params(("id" = uuid::Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The request, revoked", body = SignatureRequest),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already signed", body = ErrorBody),
    ))]
pub async fn revoke_request(
    State(state): State<SignatureState>,
    me: Counsellor,
    WithRejection(Path(id), _): IdPath,
) -> Result<axum::Json<SignatureRequest>, AppError> {
    let row = own(&state, &me, &id).await?;
    let changed = sqlx::query(
        "UPDATE signature_requests SET revoked_at = COALESCE(revoked_at, $1)
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_ms())
    .bind(&row.id)
    .execute(&state.db)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(AppError::Conflict(
            "the document has already been signed".into(),
        ));
    }
    tracing::info!(signature_request_id = %row.id, "signature request revoked");
    let row = store::own_request(&state.db, &me.id, &row.id).await?;
    Ok(axum::Json(view(&state, row).await?))
}

pub(crate) fn download(body: Vec<u8>, content_type: &'static str, filename: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// The state of the signature keys, for the dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyStatus {
    /// The current sealing key's id.
    pub sealing_key_id: String,
    /// The escrow public key's id.
    pub escrow_key_id: String,
    /// Whether the generated escrow private key is still in the data directory (the dashboard
    /// warns until it is moved off the server).
    pub escrow_private_key_on_server: bool,
    /// Where the sealing keys are published.
    pub keys_url: String,
}

/// The state of the signature keys: ids, where they are published, and whether the escrow
/// private key is still on this server.
#[utoipa::path(get, path = "/api/signatures/keys", tag = "signatures",
    responses(
        (status = 200, description = "Key status", body = KeyStatus),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn key_status(
    State(state): State<SignatureState>,
    _me: Counsellor,
) -> axum::Json<KeyStatus> {
    let keys = &state.signature.keys;
    axum::Json(KeyStatus {
        sealing_key_id: keys.sealing.key_id(),
        escrow_key_id: keys.escrow.key_id(),
        escrow_private_key_on_server: super::keys::escrow_private_key_left(&state.config).is_some(),
        keys_url: "/.well-known/confidant-signature-keys.json".to_owned(),
    })
}

/// Seconds a published key document may be cached (a rotation shows within this time).
const KEY_DOCUMENT_MAX_AGE_SECS: u32 = 300;

/// Every sealing key of this server, current and retired, with its id, algorithm and validity:
/// what a court expert or a lawyer trusts to verify evidence (`confidant signature verify
/// --keys-url`). Public, no personal data.
#[utoipa::path(get, path = "/.well-known/confidant-signature-keys.json", tag = "signatures",
    responses(
        (status = 200, description = "The key document", body = super::keys::KeyDocument),
    ))]
pub async fn published_keys(State(state): State<SignatureState>) -> Response {
    let doc = super::keys::KeyDocument {
        format: super::keys::KEY_DOCUMENT_FORMAT.to_owned(),
        keys: state.signature.keys.published.clone(),
    };
    let mut resp = axum::Json(doc).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={KEY_DOCUMENT_MAX_AGE_SECS}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// The exact document bytes that were (or are to be) signed, as a download.
#[utoipa::path(get, path = "/api/signatures/requests/{id}/document", tag = "signatures",
    params(("id" = uuid::Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The document bytes (HTML, attachment)", content_type = "text/html", body = String),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn document(
    State(state): State<SignatureState>,
    me: Counsellor,
    WithRejection(Path(id), _): IdPath,
) -> Result<Response, AppError> {
    let row = own(&state, &me, &id).await?;
    let bytes = match &row.document {
        Some(d) => d.clone(),
        None => store::evidence_of(&state.db, &row)
            .await?
            .map(|e| e.document)
            .ok_or(AppError::NotFound)?,
    };
    Ok(download(
        bytes,
        "text/html; charset=utf-8",
        format!("document-{}.html", row.id),
    ))
}

/// The evidence file of a signed request (sealed bundle, form data, audit chain, image), for
/// `confidant signature verify` or `POST /api/signatures/verify`.
#[utoipa::path(get, path = "/api/signatures/requests/{id}/evidence", tag = "signatures",
    params(("id" = uuid::Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The evidence file (attachment)", body = EvidenceFile),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not signed", body = ErrorBody),
    ))]
pub async fn evidence(
    State(state): State<SignatureState>,
    ClientIp(ip): ClientIp,
    me: Counsellor,
    WithRejection(Path(id), _): IdPath,
) -> Result<Response, AppError> {
    let row = own(&state, &me, &id).await?;
    let opened = open_evidence(&state, &row)
        .await?
        .ok_or(AppError::NotFound)?;
    let body = evidence_json(&state, &row, &opened).await?;
    // The evidence holds the client's signature and form data: a read of client data.
    state
        .audit
        .record(
            NewEntry::new(now_ms(), Actor::counsellor(me.id), Action::ClientDataRead)
                .object(Object::new("signature_evidence", row.id.clone()))
                .ip(ip),
        )
        .await?;
    Ok(download(
        body,
        "application/json",
        format!("evidence-{}.json", row.id),
    ))
}

/// The signature image (SVG) of a signed request.
#[utoipa::path(get, path = "/api/signatures/requests/{id}/image", tag = "signatures",
    params(("id" = uuid::Uuid, Path, description = "Request id")),
    responses(
        (status = 200, description = "The signature as SVG", content_type = "image/svg+xml", body = String),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such request, not signed, or signed with a typed name (no image)", body = ErrorBody),
    ))]
pub async fn image(
    State(state): State<SignatureState>,
    me: Counsellor,
    WithRejection(Path(id), _): IdPath,
) -> Result<Response, AppError> {
    let row = own(&state, &me, &id).await?;
    let opened = open_evidence(&state, &row)
        .await?
        .filter(|o| !o.svg.is_empty())
        .ok_or(AppError::NotFound)?;
    let mut resp = (StatusCode::OK, opened.svg).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Reads a JSON body of at most `limit` bytes.
pub(crate) async fn json_body(req: Request, limit: usize) -> Result<Bytes, AppError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(AppError::bad_request(
            "expected Content-Type: application/json",
        ));
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| AppError::Validation {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            field: None,
            message: format!("request body is larger than {limit} bytes"),
        })
}

/// Verify document bytes against an evidence file: valid, or invalid with the first failing
/// check (`document_changed`, `form_data_changed`, `bundle_changed`, `seal_invalid`,
/// `chain_broken`, `unknown_key`, `image_changed`). Trusts this server's sealing key.
#[utoipa::path(post, path = "/api/signatures/verify", tag = "signatures",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The outcome (also when invalid)", body = VerificationResult),
        (status = 400, description = "Body is not JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 413, description = "Body larger than 12 MiB", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `document`, `document_base64` or `evidence`", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<SignatureState>,
    ClientIp(ip): ClientIp,
    me: Counsellor,
    req: Request,
) -> Result<axum::Json<VerificationResult>, AppError> {
    let body = json_body(req, MAX_VERIFY_BODY_BYTES).await?;
    // Read strictly, so that the evidence is checked as sent (a duplicated key inside it is
    // reported, not silently resolved by the JSON parser).
    let read = strict::read(&body)
        .map_err(|e| AppError::bad_request(format!("request body is not valid JSON: {e}")))?;
    if let Some(fault) = read
        .faults
        .iter()
        .find(|f| !strict::is_under(&f.path, "evidence"))
    {
        return Err(AppError::invalid(&fault.path, fault.to_string()));
    }
    let req: VerifyRequest = parse_json(&body)?;
    let document = match (req.document_base64, req.document) {
        (Some(b64), None) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| AppError::invalid("document_base64", "must be standard base64"))?,
        (None, Some(text)) => text.into_bytes(),
        _ => {
            return Err(AppError::invalid(
                "document",
                "give exactly one of document_base64 and document",
            ))
        }
    };
    // Which request the evidence claims to be for, for the audit log (only a well-formed id is
    // kept: the body is the caller's and its text is not logged).
    let claimed_request = match &req.evidence {
        serde_json::Value::String(text) => serde_json::from_str::<serde_json::Value>(text).ok(),
        other => Some(other.clone()),
    }
    .and_then(|v| v.get("request_id")?.as_str().map(str::to_owned))
    .and_then(|id| uuid::Uuid::parse_str(&id).ok());
    // The file's exact text as a string is the form a JavaScript client should send: parsing
    // and re-serialising it in JavaScript re-spells floats (`400.0` becomes `400`).
    let evidence = match &req.evidence {
        serde_json::Value::String(text) => strict::read(text.as_bytes())
            .map_err(|e| AppError::invalid("evidence", format!("is not JSON: {e}")))?,
        _ => read
            .member("evidence")
            .ok_or_else(|| AppError::invalid("evidence", "is required"))?,
    };
    let verification = confidant_signature::evidence::verify_read(
        &evidence,
        &document,
        &state.signature.keys.trusted,
        state.signature.keys.tsa_trust.as_ref(),
    )
    .map_err(|e| {
        AppError::invalid(
            "evidence",
            format!("must be an evidence file ({EVIDENCE_FORMAT}: format, request_id, sealed, form_data, audit, image_svg, seal_timestamp): {e}"),
        )
    })?;
    let mut entry = NewEntry::new(
        now_ms(),
        Actor::counsellor(me.id),
        Action::SignatureVerified,
    )
    .ip(ip);
    entry.object = claimed_request.map(|id| Object::new("signature_request", id.to_string()));
    state.audit.record(entry).await?;
    Ok(axum::Json(VerificationResult::from(&verification)))
}
