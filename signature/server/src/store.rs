//! Signature storage: templates, requests, the audit trail and the archive.
// Row structs mirror their tables column by column; the migration documents the columns.
#![allow(missing_docs)]

use confidant_signature::audit::{genesis_hash, AuditChain, AuditEvent, AuditKind};
use confidant_signature::Digest;

use confidant_kit::db::Db;
use confidant_kit::error::AppError;

/// A template as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: String,
    pub counsellor_id: String,
    pub title: String,
    pub body_markdown: String,
    pub fields_json: String,
    pub created_at: i64,
}

pub const TEMPLATE_COLUMNS: &str =
    "id, counsellor_id, title, body_markdown, fields_json, created_at";

/// A signing request as stored (live evidence columns included).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub counsellor_id: String,
    pub template_id: Option<String>,
    pub title: String,
    pub fields_json: String,
    pub document: Option<Vec<u8>>,
    pub document_sha256: String,
    pub token_sealed: Vec<u8>,
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub signed_at: Option<i64>,
    pub archived_at: Option<i64>,
    pub key_id: Option<String>,
    pub bundle_sha256: Option<String>,
    pub form_sealed: Option<Vec<u8>>,
    pub bundle_sealed: Option<Vec<u8>>,
    pub image_sealed: Option<Vec<u8>>,
    pub dynamics_sealed: Option<Vec<u8>>,
    /// 1: a typed name with a declaration may replace the handwritten signature.
    pub allow_typed_name: i64,
    /// `{"name", "email"}` of the recipient, sealed (`<id>/recipient`).
    pub recipient_sealed: Option<Vec<u8>>,
    /// When the signer first opened the link, Unix ms.
    pub opened_at: Option<i64>,
}

pub const REQUEST_COLUMNS: &str = "id, counsellor_id, template_id, title, fields_json, document, \
     document_sha256, token_sealed, status, created_at, expires_at, revoked_at, signed_at, \
     archived_at, key_id, bundle_sha256, form_sealed, bundle_sealed, image_sealed, \
     dynamics_sealed, allow_typed_name, recipient_sealed, opened_at";

/// The sealed evidence of a signed request, live or archived.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvidence {
    pub document: Vec<u8>,
    pub form_sealed: Vec<u8>,
    pub bundle_sealed: Vec<u8>,
    pub image_sealed: Vec<u8>,
    pub dynamics_sealed: Vec<u8>,
}

/// One of `counsellor_id`'s templates.
pub async fn template(db: &Db, counsellor_id: &str, id: &str) -> Result<TemplateRow, AppError> {
    sqlx::query_as::<_, TemplateRow>(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM signature_templates WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(counsellor_id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// One of `counsellor_id`'s requests.
pub async fn own_request(db: &Db, counsellor_id: &str, id: &str) -> Result<RequestRow, AppError> {
    sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {REQUEST_COLUMNS} FROM signature_requests WHERE id = $1 AND counsellor_id = $2"
    ))
    .bind(id)
    .bind(counsellor_id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// The request with id `id`, whoever owns it (for the signer's copy token, which names it).
pub async fn request_by_id(db: &Db, id: &str) -> Result<Option<RequestRow>, AppError> {
    Ok(sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {REQUEST_COLUMNS} FROM signature_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// The request a link token hash belongs to.
pub async fn request_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<RequestRow>, AppError> {
    Ok(sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {REQUEST_COLUMNS} FROM signature_requests WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(db)
    .await?)
}

/// The evidence of a signed (live) or archived request.
pub async fn evidence_of(db: &Db, row: &RequestRow) -> Result<Option<StoredEvidence>, AppError> {
    match row.status.as_str() {
        "signed" => Ok(
            match (
                &row.document,
                &row.form_sealed,
                &row.bundle_sealed,
                &row.image_sealed,
                &row.dynamics_sealed,
            ) {
                (Some(d), Some(f), Some(b), Some(i), Some(y)) => Some(StoredEvidence {
                    document: d.clone(),
                    form_sealed: f.clone(),
                    bundle_sealed: b.clone(),
                    image_sealed: i.clone(),
                    dynamics_sealed: y.clone(),
                }),
                _ => None,
            },
        ),
        "archived" => Ok(sqlx::query_as::<_, StoredEvidence>(
            "SELECT document, form_sealed, bundle_sealed, image_sealed, dynamics_sealed
             FROM signature_archive WHERE request_id = $1",
        )
        .bind(&row.id)
        .fetch_optional(db)
        .await?),
        _ => Ok(None),
    }
}

/// The stored spelling of an audit kind (`document_shown`, …).
pub fn kind_str(kind: AuditKind) -> &'static str {
    match kind {
        AuditKind::DocumentShown => "document_shown",
        AuditKind::ConsentGiven => "consent_given",
        AuditKind::CaptureStarted => "capture_started",
        AuditKind::CaptureEnded => "capture_ended",
        AuditKind::Submitted => "submitted",
        AuditKind::Sealed => "sealed",
        AuditKind::Archived => "archived",
    }
}

/// The audit kind of a stored spelling.
pub fn kind_of(s: &str) -> Option<AuditKind> {
    [
        AuditKind::DocumentShown,
        AuditKind::ConsentGiven,
        AuditKind::CaptureStarted,
        AuditKind::CaptureEnded,
        AuditKind::Submitted,
        AuditKind::Sealed,
        AuditKind::Archived,
    ]
    .into_iter()
    .find(|k| kind_str(*k) == s)
}

/// The audit chain of request `id` as stored (unchecked; verification checks it). The genesis
/// is derived from the request id.
pub async fn chain<'e, E>(db: E, id: &str) -> Result<AuditChain, AppError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<(i64, String, i64, String, String, String)> = sqlx::query_as(
        "SELECT seq, kind, at_ms, detail, prev_hash, hash FROM signature_audit
         WHERE request_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for (seq, kind, at_ms, detail, prev_hash, hash) in rows {
        let bad = || AppError::Internal(format!("audit event {seq} of {id} is malformed"));
        events.push(AuditEvent {
            seq: u64::try_from(seq).map_err(|_| bad())?,
            kind: kind_of(&kind).ok_or_else(bad)?,
            at_ms,
            detail,
            prev_hash: Digest::from_hex(&prev_hash).ok_or_else(bad)?,
            hash: Digest::from_hex(&hash).ok_or_else(bad)?,
        });
    }
    Ok(AuditChain::from_parts(genesis_hash(id), events))
}

/// Inserts audit events. Two writers appending at the same position collide on the primary
/// key, so the chain cannot fork.
pub async fn insert_events(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    events: &[AuditEvent],
) -> Result<(), sqlx::Error> {
    for e in events {
        sqlx::query(
            "INSERT INTO signature_audit (request_id, seq, kind, at_ms, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(i64::try_from(e.seq).unwrap_or(i64::MAX))
        .bind(kind_str(e.kind))
        .bind(e.at_ms)
        .bind(&e.detail)
        .bind(e.prev_hash.to_hex())
        .bind(e.hash.to_hex())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether an error is a primary-key or unique collision.
pub fn is_collision(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
