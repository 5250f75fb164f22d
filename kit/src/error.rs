//! The one error type of every capability's HTTP side and its mapping to HTTP responses:
//! errors map to HTTP here and nowhere else.
//!
//! Every JSON error has the shape of the contract in `docs/HTTP-API.md`:
//! `{"error": {"code": "validation_failed", "message": "…", "field": "email"}}`.
//! Internal errors are logged with a random id and shown to the client only as `internal`
//! with that id, never with their cause.

use axum::extract::rejection::PathRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The request is well-formed JSON but a value is not acceptable (422), or the body is not
    /// JSON at all (400).
    #[error("{message}")]
    Validation {
        /// 400 or 422.
        status: StatusCode,
        /// The offending field, where one field is at fault.
        field: Option<String>,
        /// Human-readable description (English).
        message: String,
    },
    /// No valid session cookie.
    #[error("authentication required")]
    Unauthorized,
    /// Wrong e-mail or password.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// Authenticated, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// A state-changing request from another origin (see `edge::same_origin_only`).
    #[error("requests that change something must come from this server's own pages")]
    CrossOrigin,
    /// No such resource, or not one the caller may see.
    #[error("not found")]
    NotFound,
    /// The path exists, but not with this HTTP method.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// Several fields are at fault (422); the first is also named as `field`.
    #[error("{}", .0.first().map(|f| f.message.as_str()).unwrap_or("invalid input"))]
    Fields(Vec<FieldProblem>),
    /// The resource is in a state that does not allow the action.
    #[error("{0}")]
    Conflict(String),
    /// The chosen appointment slot was taken (by someone else, or by a concurrent request).
    #[error("this time is no longer available; please choose another one")]
    SlotTaken,
    /// Too many attempts; retry after this many seconds.
    #[error("too many requests")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Opening a sealed value failed (wrong key or tampered row).
    #[error("vault: {0}")]
    Vault(#[from] confidant_vault::Error),
    /// Any other internal failure.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// An internal failure (500, logged with an id, never shown): for errors of lower layers
    /// (signalling, signature) that have no HTTP meaning of their own.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A 422 naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// A 400 for a body that cannot be read as JSON at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Validation {
            status: StatusCode::BAD_REQUEST,
            field: None,
            message: message.into(),
        }
    }

    /// HTTP status and contract code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Validation { status, .. } => (*status, "validation_failed"),
            Self::Fields(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::SlotTaken => (StatusCode::CONFLICT, "slot_taken"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Database(_) | Self::Vault(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// The JSON error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: `validation_failed`, `unauthorized`, `invalid_credentials`,
    /// `forbidden`, `cross_origin`, `not_found`, `method_not_allowed`, `conflict`, `slot_taken`,
    /// `rate_limited`, `internal`.
    pub code: String,
    /// Human-readable description (English); the client shows its own translation by code.
    pub message: String,
    /// The request field at fault, where one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field at fault, when there are several (public forms check all at once).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

/// One field at fault.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The request field (`email`, `phone`, …).
    pub field: String,
    /// Machine-readable reason (`required`, `too_long`, `invalid`, …).
    pub code: String,
    /// Human-readable description (English).
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            let error_id = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(error_id = %error_id, error = %self, "internal error");
            format!("internal error (id {error_id})")
        } else {
            self.to_string()
        };
        let (field, fields) = match &self {
            Self::Validation { field, .. } => (field.clone(), Vec::new()),
            Self::Fields(fields) => (fields.first().map(|f| f.field.clone()), fields.clone()),
            _ => (None, Vec::new()),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
                fields,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        resp
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A path parameter that does not decode names nothing that exists.
        Self::NotFound
    }
}
