//! The browser client's files (`web/static/`), embedded in the binary.
//!
//! One folder per capability, plain ES modules (no build step): `shared/` (API client, DOM
//! helpers, i18n, the stylesheet; knows no capability), `call/` (signalling client, media, the
//! call, end-to-end encryption and its worker), `booking/`, `walkin/`, `signature/` (each with its
//! pages, its strings and its dashboard panel), `dashboard/` (login and the workspace that puts
//! the capabilities' panels together) and `landing/` (the front page and the 404 page). A page's
//! module is `/static/{page_folder(name)}/{name}.js`.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::error::AppError;

/// Files under `web/static/`.
#[derive(Embed)]
#[folder = "static/"]
pub struct Assets;

/// The folder under `web/static/` that holds the module `<page>.js` of the page whose
/// `data-page` value is `page`: the folder of the capability the page belongs to.
pub fn page_folder(page: &str) -> &'static str {
    match page {
        "host" | "join" => "call",
        "book" | "booking-link" => "booking",
        "talk" => "walkin",
        "sign" => "signature",
        "login" | "dashboard" => "dashboard",
        _ => "landing",
    }
}

fn content_type(path: &str) -> String {
    // mime_guess says `application/javascript`; browsers want a JavaScript MIME type for
    // modules, and `text/javascript` is the one HTML specifies.
    match path.rsplit('.').next() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8".to_owned(),
        Some("css") => "text/css; charset=utf-8".to_owned(),
        Some("json") => "application/json".to_owned(),
        Some("svg") => "image/svg+xml".to_owned(),
        _ => mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
    }
}

/// An embedded file (JS modules, CSS, images). Served with `Cache-Control: no-cache` and a
/// strong `ETag`, so browsers revalidate and get `304` while the file is unchanged.
#[utoipa::path(get, path = "/static/{*path}", tag = "pages",
    params(("path" = String, Path, description = "File path under `web/static/`, e.g. `shared/app.css`")),
    responses(
        (status = 200, description = "The file"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, description = "No such file", body = crate::error::ErrorBody),
    ))]
pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let file = Assets::get(&path).ok_or(AppError::NotFound)?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag = HeaderValue::from_str(&etag).expect("hex in quotes is a valid header value");
    let no_cache = HeaderValue::from_static("no-cache");
    if cached {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, no_cache)],
        )
            .into_response());
    }
    let ct =
        HeaderValue::from_str(&content_type(&path)).expect("MIME types are valid header values");
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, no_cache),
        ],
        file.data,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_and_style_types() {
        assert_eq!(content_type("call.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("img/logo.png"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn every_page_module_is_embedded() {
        for page in [
            "landing",
            "login",
            "dashboard",
            "host",
            "join",
            "book",
            "booking-link",
            "sign",
            "talk",
        ] {
            let path = format!("{}/{page}.js", page_folder(page));
            assert!(Assets::get(&path).is_some(), "{path}");
        }
    }
}
