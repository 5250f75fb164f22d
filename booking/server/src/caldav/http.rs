//! The CalDAV routes: each handler parses the request, calls the use case in
//! [`super::accounts`] and maps the result to a status and JSON.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::accounts::{self, Account, AccountChange, NewAccount, Resolution};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::error::{AppError, ErrorBody};

/// The counsellor's CalDAV accounts, their calendars, sync state and changed bookings.
#[utoipa::path(get, path = "/api/calendar/caldav", tag = "booking-admin",
    responses(
        (status = 200, description = "Accounts", body = [Account]),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<Json<Vec<Account>>, AppError> {
    Ok(Json(accounts::list(&state, &me).await?))
}

/// Connects an account: finds its calendars (they all block booking times at first; no
/// calendar is written until one is chosen) and syncs it.
#[utoipa::path(post, path = "/api/calendar/caldav", tag = "booking-admin",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Connected and synced (`last_error` says if the first sync failed)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 409, description = "`conflict`: already five accounts", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `url` (unusable or unreachable, no calendars), `password` (refused) or `username`/`label`", body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(req): Json<NewAccount>,
) -> Result<(StatusCode, Json<Account>), AppError> {
    let account = accounts::connect(&state, &me, req).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Changes which calendars block and which is written; syncs at once.
#[utoipa::path(patch, path = "/api/calendar/caldav/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    request_body = AccountChange,
    responses(
        (status = 200, description = "Changed and synced", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `write_calendar_id` (unknown or read-only), `calendars` or `label`", body = ErrorBody),
    ))]
pub async fn change(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(req): Json<AccountChange>,
) -> Result<Json<Account>, AppError> {
    Ok(Json(accounts::change(&state, &me, &id, req).await?))
}

/// Syncs an account now (writes, then reads).
#[utoipa::path(post, path = "/api/calendar/caldav/{id}/sync", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, description = "Synced (or `last_error` says why not)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn sync_now(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<Json<Account>, AppError> {
    Ok(Json(accounts::sync_now(&state, &me, &id).await?))
}

/// Disconnects an account: its busy times stop blocking; events it wrote stay in the calendar.
#[utoipa::path(delete, path = "/api/calendar/caldav/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    accounts::disconnect(&state, &me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decides about a booking whose event was changed in the calendar.
#[utoipa::path(post, path = "/api/calendar/caldav/{id}/changes/{change_id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Account id"), ("change_id" = String, Path, description = "Changed event id")),
    request_body = Resolution,
    responses(
        (status = 200, description = "Decided (and written, for `restore`)", body = Account),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `action`", body = ErrorBody),
    ))]
pub async fn resolve(
    State(state): State<BookingState>,
    me: Counsellor,
    Path((id, change_id)): Path<(String, String)>,
    Json(req): Json<Resolution>,
) -> Result<Json<Account>, AppError> {
    Ok(Json(
        accounts::resolve(&state, &me, &id, &change_id, req).await?,
    ))
}
