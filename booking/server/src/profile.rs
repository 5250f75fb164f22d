//! The counsellor's profile on their booking page: a short text, languages, topics and a
//! photo. The counsellor edits it on the dashboard; clients see it on the booking page.
//!
//! A photo is accepted by its content, not its name or declared type
//! ([`confidant_booking::confirm::sniff_photo`]: PNG, JPEG or WebP, at most 1 MiB; SVG, which
//! can carry script, never), and served under its SHA-256, so its address changes with it and
//! browsers may keep it for a year.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use confidant_booking::confirm::{sniff_photo, PhotoError, PHOTO_MAX_BYTES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, ProfileRow};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::Json;

/// Longest "about" text, in characters: a short introduction, not a CV.
const ABOUT_MAX_CHARS: usize = 1000;
/// Most languages listed.
const LANGUAGES_MAX: usize = 12;
/// Most topics listed.
const TOPICS_MAX: usize = 20;
/// Longest language or topic, in characters.
const ITEM_MAX_CHARS: usize = 60;
/// How long browsers keep a photo, in seconds (a year: its address changes with it).
const PHOTO_CACHE_SECS: u32 = 365 * 24 * 3600;

/// The counsellor's profile as they edit it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AboutBody {
    /// A short text about them and their way of working (at most 1000 characters).
    #[serde(default)]
    pub about: String,
    /// Languages spoken (at most 12, each at most 60 characters).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Topics (at most 20, each at most 60 characters).
    #[serde(default)]
    pub topics: Vec<String>,
    /// The photo's address (read-only; set with `PUT /api/booking/profile/photo`).
    #[serde(default, skip_deserializing)]
    pub photo_url: Option<String>,
}

impl AboutBody {
    fn of(p: ProfileRow) -> Self {
        Self {
            about: p.about,
            languages: p.languages,
            topics: p.topics,
            photo_url: p.photo_sha256.map(|d| format!("/api/public/photos/{d}")),
        }
    }
}

/// Trimmed, non-empty, deduplicated list items, or the error naming `field`.
fn items(field: &str, raw: &[String], max: usize) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if item.chars().count() > ITEM_MAX_CHARS || item.chars().any(char::is_control) {
            return Err(AppError::invalid(
                field,
                format!("each entry must be at most {ITEM_MAX_CHARS} characters on one line"),
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(item)) {
            out.push(item.to_owned());
        }
    }
    if out.len() > max {
        return Err(AppError::invalid(
            field,
            format!("must have at most {max} entries"),
        ));
    }
    Ok(out)
}

/// The counsellor's page profile.
#[utoipa::path(get, path = "/api/booking/profile/about", tag = "booking-admin",
    responses((status = 200, description = "Profile", body = AboutBody), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
pub async fn get_about(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<AboutBody>, AppError> {
    Ok(axum::Json(AboutBody::of(
        store::profile_of(&state.db, &me.id).await?,
    )))
}

/// Sets the text, languages and topics of the counsellor's page (the photo stays).
#[utoipa::path(put, path = "/api/booking/profile/about", tag = "booking-admin",
    request_body = AboutBody,
    responses(
        (status = 200, description = "Saved", body = AboutBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `about`, `languages` or `topics`", body = ErrorBody),
    ))]
pub async fn put_about(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(body): Json<AboutBody>,
) -> Result<axum::Json<AboutBody>, AppError> {
    let about = body.about.trim();
    if about.chars().count() > ABOUT_MAX_CHARS
        || about
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(AppError::invalid(
            "about",
            format!("must be at most {ABOUT_MAX_CHARS} characters without control characters"),
        ));
    }
    let row = ProfileRow {
        about: about.replace("\r\n", "\n"),
        languages: items("languages", &body.languages, LANGUAGES_MAX)?,
        topics: items("topics", &body.topics, TOPICS_MAX)?,
        photo_sha256: None,
    };
    store::save_profile(&state.db, &me.id, &row).await?;
    tracing::info!(counsellor_id = %me.id, "booking profile saved");
    get_about(State(state), me).await
}

/// Sets the photo: the raw image as the body (PNG, JPEG or WebP by content, at most 1 MiB).
#[utoipa::path(put, path = "/api/booking/profile/photo", tag = "booking-admin",
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image's bytes"),
    responses(
        (status = 200, description = "Saved", body = AboutBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `photo`: empty, over 1 MiB, or not a PNG, JPEG or WebP image (SVG is refused)", body = ErrorBody),
    ))]
pub async fn put_photo(
    State(state): State<BookingState>,
    me: Counsellor,
    body: Body,
) -> Result<axum::Json<AboutBody>, AppError> {
    let bytes = axum::body::to_bytes(body, PHOTO_MAX_BYTES + 1)
        .await
        .map_err(|_| AppError::invalid("photo", PhotoError::TooLarge.to_string()))?;
    let kind = sniff_photo(&bytes).map_err(|e| AppError::invalid("photo", e.to_string()))?;
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    store::set_photo(&state.db, &me.id, Some((&bytes, kind.mime(), &digest))).await?;
    tracing::info!(counsellor_id = %me.id, bytes = bytes.len(), "booking profile photo set");
    get_about(State(state), me).await
}

/// Removes the photo.
#[utoipa::path(delete, path = "/api/booking/profile/photo", tag = "booking-admin",
    responses(
        (status = 200, description = "Removed", body = AboutBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn delete_photo(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<AboutBody>, AppError> {
    store::set_photo(&state.db, &me.id, None).await?;
    get_about(State(state), me).await
}

/// A counsellor's photo by its SHA-256 (from `profile.photo_url` of the page data), served
/// with its sniffed type, `nosniff`, a sandboxing CSP and a year's caching.
#[utoipa::path(get, path = "/api/public/photos/{sha256}", tag = "booking",
    params(("sha256" = String, Path, description = "Hex SHA-256 of the photo")),
    responses(
        (status = 200, description = "The image (`image/png`, `image/jpeg` or `image/webp`)", content_type = "image/*", body = Vec<u8>),
        (status = 404, description = "`not_found`: no photo of a counsellor with a booking page has this digest", body = ErrorBody),
    ))]
pub async fn photo(
    State(state): State<BookingState>,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let (bytes, mime) = store::public_photo(&state.db, &sha256.to_ascii_lowercase()).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CACHE_CONTROL,
                format!("public, max-age={PHOTO_CACHE_SECS}, immutable"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}
