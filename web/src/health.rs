//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// Probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `not_ready`.
    pub status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Status, example = json!({"status": "ok"}))))]
pub async fn healthz() -> axum::Json<Status> {
    axum::Json(Status { status: "ok" })
}

/// Readiness: the database answers and the SFU is running.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status, example = json!({"status": "ready"})),
        (status = 503, description = "Not ready", body = Status, example = json!({"status": "not_ready"})),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Status>) {
    let db_ok = sqlx::query("SELECT 1").execute(&state.db).await.is_ok();
    let sfu_ok = state.sfu_running().await;
    if db_ok && sfu_ok {
        (StatusCode::OK, axum::Json(Status { status: "ready" }))
    } else {
        tracing::warn!(db_ok, sfu_ok, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Status {
                status: "not_ready",
            }),
        )
    }
}
