//! Failed mail, where counsellors see it: on its booking (mail to the client) and in the
//! workspace (notifications to the counsellor). The counsellor corrects the client's address
//! and resends, or records that the client was reached another way; either resolves the
//! failure, and the row records who did so and when (`resolved_by`, `resolved_at`,
//! `resolution`). Views carry the reason as a code and an SMTP status, never an address.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::notify::{self, Ctx};
use super::store::ClientDetails;
use super::usecases::{context_parts, own_booking};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::{now_ms, Db};
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::Json;

/// A failed mail, as the dashboard shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MailFailure {
    /// Outbox id of the mail.
    pub id: String,
    /// What it was (`confirmation`, `reminder`, `counsellor_new`, …).
    pub kind: String,
    /// Why, for plain words in the dashboard: `address_rejected` (the recipient's server does
    /// not know the address: typically mistyped), `rejected` (refused for another reason),
    /// `unreachable` (no delivery for `--mail-retry-hours`).
    pub reason: String,
    /// The SMTP status, if the server answered (`550`).
    pub smtp_code: Option<u16>,
    /// When it failed (RFC 3339).
    pub failed_at: String,
    /// The booking, for client mail.
    pub booking_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct FailureRow {
    id: String,
    kind: String,
    last_failure: Option<String>,
    last_error: Option<String>,
    failed_at: Option<i64>,
    booking_id: Option<String>,
}

/// The SMTP code in a stored error (`permanent failure (SMTP 550)`).
fn smtp_code(error: &str) -> Option<u16> {
    let rest = error.split("SMTP ").nth(1)?;
    rest.get(..3)?.parse().ok()
}

/// The reason code of a failure class and SMTP code.
pub fn reason(last_failure: Option<&str>, code: Option<u16>) -> &'static str {
    match (last_failure, code) {
        (Some("permanent"), Some(550 | 551 | 553 | 501 | 510 | 511)) => "address_rejected",
        (Some("permanent"), _) => "rejected",
        _ => "unreachable",
    }
}

impl From<FailureRow> for MailFailure {
    fn from(r: FailureRow) -> Self {
        let code = r.last_error.as_deref().and_then(smtp_code);
        MailFailure {
            reason: reason(r.last_failure.as_deref(), code).to_owned(),
            smtp_code: code,
            failed_at: super::time_ms(r.failed_at.unwrap_or(0)).to_rfc3339(),
            id: r.id,
            kind: r.kind,
            booking_id: r.booking_id,
        }
    }
}

const FAILURE_COLUMNS: &str =
    "m.id, m.kind, m.last_failure, m.last_error, m.failed_at, m.booking_id";

/// Open failures of client mail on `counsellor_id`'s bookings.
pub async fn on_bookings(db: &Db, counsellor_id: &str) -> Result<Vec<MailFailure>, AppError> {
    let rows: Vec<FailureRow> = sqlx::query_as(&format!(
        "SELECT {FAILURE_COLUMNS} FROM mail_outbox m JOIN bookings b ON b.id = m.booking_id
         WHERE b.counsellor_id = $1 AND m.state = 'failed' AND m.resolved_at IS NULL
           AND m.counsellor_id IS NULL
         ORDER BY m.failed_at, m.id"
    ))
    .bind(counsellor_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(MailFailure::from).collect())
}

/// Notifications to the counsellor that could not be delivered (their own address failed).
#[utoipa::path(get, path = "/api/mail/failures", tag = "booking-admin",
    responses(
        (status = 200, description = "Open failures of mail to the signed-in counsellor", body = Vec<MailFailure>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn own_failures(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<MailFailure>>, AppError> {
    let rows: Vec<FailureRow> = sqlx::query_as(&format!(
        "SELECT {FAILURE_COLUMNS} FROM mail_outbox m
         WHERE m.counsellor_id = $1 AND m.state = 'failed' AND m.resolved_at IS NULL
         ORDER BY m.failed_at, m.id"
    ))
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(
        rows.into_iter().map(MailFailure::from).collect(),
    ))
}

/// Marks an open failure resolved; `false` if it is not open (or not this mail).
async fn resolve(
    conn: &mut sqlx::AnyConnection,
    mail_id: &str,
    resolution: &str,
    by: &str,
) -> Result<bool, AppError> {
    Ok(sqlx::query(
        "UPDATE mail_outbox SET resolved_at = $1, resolution = $2, resolved_by = $3
         WHERE id = $4 AND state = 'failed' AND resolved_at IS NULL",
    )
    .bind(now_ms())
    .bind(resolution)
    .bind(by)
    .bind(mail_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// The open failure `mail_id` of client mail on booking `booking_id`, or 404.
async fn failed_client_mail(db: &Db, booking_id: &str, mail_id: &str) -> Result<String, AppError> {
    sqlx::query_scalar(
        "SELECT kind FROM mail_outbox WHERE id = $1 AND booking_id = $2 AND state = 'failed'
           AND resolved_at IS NULL AND counsellor_id IS NULL",
    )
    .bind(mail_id)
    .bind(booking_id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// A corrected address to resend to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    /// The client's e-mail address (corrected, or the same to try again).
    pub email: String,
}

/// Resends a failed client mail, to the corrected address (which the booking keeps from now
/// on). The failure is resolved (`resent`); the new mail goes through the queue as any other.
#[utoipa::path(post, path = "/api/booking/bookings/{id}/mail/{mail_id}/resend", tag = "booking-admin",
    params(("id" = String, Path, description = "Booking id"), ("mail_id" = String, Path, description = "The failed mail")),
    request_body = ResendBody,
    responses(
        (status = 202, description = "Queued again to the address given"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such booking or no open failure of this mail", body = ErrorBody),
        (status = 409, description = "`conflict`: the booking has changed since; this mail no longer applies", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `email`", body = ErrorBody),
    ))]
pub async fn resend(
    State(state): State<BookingState>,
    me: Counsellor,
    Path((id, mail_id)): Path<(String, String)>,
    Json(body): Json<ResendBody>,
) -> Result<axum::http::StatusCode, AppError> {
    let email = body.email.trim().to_owned();
    if !confidant_booking::form::is_email(&email) {
        return Err(AppError::invalid("email", "is not a valid e-mail address"));
    }
    let row = own_booking(&state, &me, &id).await?;
    let kind = failed_client_mail(&state.db, &id, &mail_id).await?;
    let (host, t, client, join_url) = context_parts(&state, &row).await?;
    let client = ClientDetails { email, ..client };
    let plain = serde_json::to_vec(&client)
        .map_err(|e| AppError::Internal(format!("booking details: {e}")))?;
    let sealed = state.keys.booking.seal(&plain, id.as_bytes());
    let mut tx = state.db.begin().await?;
    if !resolve(&mut tx, &mail_id, "resent", &me.id).await? {
        return Err(AppError::NotFound);
    }
    sqlx::query("UPDATE bookings SET client_sealed = $1, updated_at = $2 WHERE id = $3")
        .bind(sealed)
        .bind(now_ms())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    notify::resend(
        &mut tx,
        &state,
        &Ctx {
            row: &row,
            client: &client,
            host: &host,
            kind: &t,
            join_url,
        },
        &kind,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(booking_id = %id, mail_id = %mail_id, "failed mail resent to a corrected address");
    Ok(axum::http::StatusCode::ACCEPTED)
}

/// Records that the client of a failed mail was reached another way (phone, in person).
#[utoipa::path(post, path = "/api/booking/bookings/{id}/mail/{mail_id}/reached", tag = "booking-admin",
    params(("id" = String, Path, description = "Booking id"), ("mail_id" = String, Path, description = "The failed mail")),
    responses(
        (status = 204, description = "Resolved (`reached_otherwise`)"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such booking or no open failure of this mail", body = ErrorBody),
    ))]
pub async fn reached(
    State(state): State<BookingState>,
    me: Counsellor,
    Path((id, mail_id)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, AppError> {
    own_booking(&state, &me, &id).await?;
    failed_client_mail(&state.db, &id, &mail_id).await?;
    let mut conn = state.db.acquire().await?;
    if !resolve(&mut conn, &mail_id, "reached_otherwise", &me.id).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(booking_id = %id, mail_id = %mail_id, "client of a failed mail reached another way");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Acknowledges a failed notification to the signed-in counsellor (after checking their
/// address in the settings).
#[utoipa::path(post, path = "/api/mail/failures/{mail_id}/acknowledge", tag = "booking-admin",
    params(("mail_id" = String, Path, description = "The failed mail")),
    responses(
        (status = 204, description = "Resolved (`acknowledged`)"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no open failure of a mail to you", body = ErrorBody),
    ))]
pub async fn acknowledge(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(mail_id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    let mine: Option<String> =
        sqlx::query_scalar("SELECT id FROM mail_outbox WHERE id = $1 AND counsellor_id = $2")
            .bind(&mail_id)
            .bind(&me.id)
            .fetch_optional(&state.db)
            .await?;
    let mut conn = state.db.acquire().await?;
    if mine.is_none() || !resolve(&mut conn, &mail_id, "acknowledged", &me.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_plain_words_come_from_the_smtp_code() {
        assert_eq!(smtp_code("permanent failure (SMTP 550)"), Some(550));
        assert_eq!(smtp_code("connection failure (no SMTP status)"), None);
        assert_eq!(reason(Some("permanent"), Some(550)), "address_rejected");
        assert_eq!(reason(Some("permanent"), Some(554)), "rejected");
        assert_eq!(reason(Some("expired"), None), "unreachable");
    }
}
