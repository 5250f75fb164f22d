//! Server-rendered HTML shells. Each page is a small document that loads one ES module from
//! `/static/` and passes it what it needs in `data-*` attributes on `<body>`:
//!
//! | page | route | `data-page` | module | extra attributes |
//! | --- | --- | --- | --- | --- |
//! | landing | `/` | `landing` | `/static/landing/landing.js` | – |
//! | login | `/login` | `login` | `/static/dashboard/login.js` | – |
//! | dashboard | `/dashboard` | `dashboard` | `/static/dashboard/dashboard.js` | – |
//! | host call | `/s/{session_id}` | `host` | `/static/call/host.js` | `data-session-id` |
//! | join | `/j/{link_token}` | `join` | `/static/call/join.js` | `data-link-token` (valid link) or `data-link-valid="false"` (invalid link, status 404) |
//! | centre booking page | `/book` | `book` | `/static/booking/book.js` | – (lists the counsellors with a booking page) |
//! | counsellor booking page | `/book/{slug}` | `book` | `/static/booking/book.js` | `data-slug` (404 page for an unknown slug) |
//! | team booking page | `/book/team/{slug}` | `book` | `/static/booking/book.js` | `data-team` (404 page for an unknown team) |
//! | booking link | `/booking/cancel`, `/booking/reschedule` | `booking-link` | `/static/booking/booking-link.js` | `data-purpose`; the token stays in the URL fragment |
//! | centre talk-now page | `/talk` | `talk` | `/static/walkin/talk.js` | – (walk-in queue of the whole centre) |
//! | counsellor talk-now page | `/talk/{slug}` | `talk` | `/static/walkin/talk.js` | `data-slug` (404 page for an unknown slug) |
//! | signing page | `/sign/{token}` | `sign` | `/static/signature/sign.js` | `data-sign-token` (usable link) or `data-link-valid="false"` (status 404) |
//!
//! Every page also has `data-protocol-version` (the signalling protocol version) and
//! `data-ws-url` (the websocket URL derived from the public URL), and `data-centre-name`; the
//! public pages (all but dashboard and host) also carry the centre's profile: a server-rendered
//! header and footer (see `Chrome` below) and `data-centre-*` attributes for the modules (`logo`,
//! `emergency-label`, `emergency-phone`, `emergency-text`, `emergency-tel`, `email`, and `book` /
//! `talk` when some counsellor offers booking / walk-ins), each present only when set. No inline script or style:
//! the Content-Security-Policy forbids both.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use confidant_signaling::Directory;

use crate::error::AppError;
use crate::AppState;
use confidant_kit::auth::current_counsellor;

/// Supported page languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// German.
    De,
}

impl Lang {
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            _ => None,
        }
    }
}

/// The page language: the `lang` cookie if it names a supported language, else the supported
/// language with the highest `Accept-Language` quality (earlier wins ties), else English.
pub fn negotiate_lang(headers: &HeaderMap) -> Lang {
    let jar = CookieJar::from_headers(headers);
    if let Some(lang) = jar.get("lang").and_then(|c| Lang::from_tag(c.value())) {
        return lang;
    }
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let Some(lang) = parts.next().and_then(Lang::from_tag) else {
            continue;
        };
        let q = parts
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

pub use confidant_kit::html::escape;

/// Which page to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Landing,
    Login,
    Dashboard,
    Host,
    Join,
    Book,
    BookingLink,
    Sign,
    Talk,
    NotFound,
}

impl Page {
    /// `data-page` value and module name (`/static/<folder>/<name>.js`, folder from `assets::page_folder`).
    fn name(self) -> &'static str {
        match self {
            Page::Landing | Page::NotFound => "landing",
            Page::Login => "login",
            Page::Dashboard => "dashboard",
            Page::Host => "host",
            Page::Join => "join",
            Page::Book => "book",
            Page::BookingLink => "booking-link",
            Page::Sign => "sign",
            Page::Talk => "talk",
        }
    }

    /// Title and the text shown until (or unless) the module runs.
    fn text(self, lang: Lang) -> (&'static str, &'static str) {
        match (self, lang) {
            (Page::Landing, Lang::En) => ("Confidant – private online counselling", "Private online counselling. Counsellors: please log in at /login."),
            (Page::Landing, Lang::De) => ("Confidant – vertrauliche Online-Beratung", "Vertrauliche Online-Beratung. Beraterinnen und Berater: bitte unter /login anmelden."),
            (Page::Login, Lang::En) => ("Log in – Confidant", "Loading the login form…"),
            (Page::Login, Lang::De) => ("Anmelden – Confidant", "Anmeldeformular wird geladen …"),
            (Page::Dashboard, Lang::En) => ("Sessions – Confidant", "Loading your sessions…"),
            (Page::Dashboard, Lang::De) => ("Sitzungen – Confidant", "Ihre Sitzungen werden geladen …"),
            (Page::Host, Lang::En) => ("Session – Confidant", "Loading the session…"),
            (Page::Host, Lang::De) => ("Sitzung – Confidant", "Sitzung wird geladen …"),
            (Page::Join, Lang::En) => ("Join a session – Confidant", "Loading…"),
            (Page::Join, Lang::De) => ("Sitzung beitreten – Confidant", "Wird geladen …"),
            (Page::Book, Lang::En) => ("Book an appointment – Confidant", "Loading the booking page…"),
            (Page::Book, Lang::De) => ("Termin buchen – Confidant", "Buchungsseite wird geladen …"),
            (Page::BookingLink, Lang::En) => ("Your appointment – Confidant", "Loading your appointment…"),
            (Page::BookingLink, Lang::De) => ("Ihr Termin – Confidant", "Ihr Termin wird geladen …"),
            (Page::Sign, Lang::En) => ("Sign a document – Confidant", "Loading the document…"),
            (Page::Sign, Lang::De) => ("Dokument unterschreiben – Confidant", "Dokument wird geladen …"),
            (Page::Talk, Lang::En) => ("Talk now – Confidant", "Loading…"),
            (Page::Talk, Lang::De) => ("Jetzt sprechen – Confidant", "Wird geladen …"),
            (Page::NotFound, Lang::En) => ("Not found – Confidant", "This page does not exist."),
            (Page::NotFound, Lang::De) => ("Nicht gefunden – Confidant", "Diese Seite gibt es nicht."),
        }
    }
}

const INVALID_LINK_TEXT_EN: &str =
    "This link is not valid (any more). Please ask your counsellor for a new one.";
const INVALID_LINK_TEXT_DE: &str = "Dieser Link ist nicht (mehr) gültig. Bitte bitten Sie Ihre Beraterin oder Ihren Berater um einen neuen.";

/// Renders a page shell. `attrs` are extra `data-*` attributes (name without `data-`).
fn shell(
    state: &AppState,
    chrome: &Chrome,
    page: Page,
    lang: Lang,
    attrs: &[(&str, &str)],
    body_text: &str,
) -> String {
    let (title, _) = page.text(lang);
    let name = page.name();
    let mut data = format!(
        r#"data-page="{name}" data-protocol-version="{}" data-ws-url="{}""#,
        confidant_signaling::protocol::PROTOCOL_VERSION,
        escape(&state.config.ws_url()),
    );
    for (k, v) in attrs.iter().copied().chain(chrome.data_attrs(page)) {
        data.push_str(&format!(r#" data-{k}="{}""#, escape(v)));
    }
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/shared/app.css">
<script type="module" src="/static/{folder}/{name}.js"></script>
</head>
<body {data}>
<div id="app">{header}<main class="page" id="main"><p>{text}</p><noscript>{noscript}</noscript></main></div>
{footer}</body>
</html>
"#,
        lang = lang.code(),
        folder = crate::assets::page_folder(name),
        title = escape(title),
        text = escape(body_text),
        header = chrome.header(lang),
        footer = chrome.footer(page, lang),
        noscript = match lang {
            Lang::En => "Confidant needs JavaScript.",
            Lang::De => "Confidant braucht JavaScript.",
        },
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Pages may carry tokens (join links) or personal data: never cache them.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    page: Page,
    attrs: &[(&str, &str)],
) -> Response {
    let lang = negotiate_lang(headers);
    let status = if page == Page::NotFound {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let chrome = Chrome::load(state).await;
    html(
        status,
        shell(state, &chrome, page, lang, attrs, page.text(lang).1),
    )
}

/// The HTML 404 page (also the fallback for unknown non-API paths).
pub async fn not_found(state: &AppState, headers: &HeaderMap) -> Response {
    render(state, headers, Page::NotFound, &[]).await
}

/// Landing page.
#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 200, description = "Landing page", content_type = "text/html", body = String)))]
pub async fn landing(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&state, &headers, Page::Landing, &[]).await
}

/// Counsellor login form.
#[utoipa::path(get, path = "/login", tag = "pages",
    responses((status = 200, description = "Login page", content_type = "text/html", body = String)))]
pub async fn login(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&state, &headers, Page::Login, &[]).await
}

/// The counsellor's dashboard; redirects to `/login` without a valid session cookie.
#[utoipa::path(get, path = "/dashboard", tag = "pages",
    responses(
        (status = 200, description = "Dashboard", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: redirect to `/login`"),
    ))]
pub async fn dashboard(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if current_counsellor(&state.db, &headers).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(render(&state, &headers, Page::Dashboard, &[]).await)
}

/// The counsellor's call page for one of their sessions; redirects to `/login` without a
/// valid session cookie, 404 for a session that is not theirs.
#[utoipa::path(get, path = "/s/{session_id}", tag = "pages",
    params(("session_id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Host call page", content_type = "text/html", body = String),
        (status = 303, description = "Not logged in: redirect to `/login`"),
        (status = 404, description = "No such session of this counsellor", content_type = "text/html", body = String),
    ))]
pub async fn host(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
) -> Result<Response, AppError> {
    let Some(counsellor) = current_counsellor(&state.db, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !crate::sessions::owns(&state.rooms, &counsellor.id, &session_id).await? {
        return Ok(not_found(&state, &headers).await);
    }
    let allow = if counsellor.allow_unencrypted_join {
        "true"
    } else {
        "false"
    };
    Ok(render(
        &state,
        &headers,
        Page::Host,
        &[("session-id", &session_id), ("allow-unencrypted", allow)],
    )
    .await)
}

/// The client's join page. For a link that is unknown, revoked, ended or expired the same
/// page is served with status 404 and `data-link-valid="false"` (and without the token), so
/// the client shows "link invalid" at once.
#[utoipa::path(get, path = "/j/{link_token}", tag = "pages",
    params(("link_token" = String, Path, description = "Join-link token (base64url)")),
    responses(
        (status = 200, description = "Join page", content_type = "text/html", body = String),
        (status = 404, description = "Invalid link page", content_type = "text/html", body = String),
    ))]
pub async fn join(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(link_token): Path<String>,
) -> Result<Response, AppError> {
    let plausible = !link_token.is_empty()
        && link_token.len() <= 128
        && link_token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let target = if plausible {
        state
            .directory
            .resolve_link(&link_token)
            .await
            .map_err(AppError::internal)?
    } else {
        None
    };
    let lang = negotiate_lang(&headers);
    let chrome = Chrome::load(&state).await;
    if let Some(target) = target {
        let allow = if target.policy.allow_unencrypted {
            "true"
        } else {
            "false"
        };
        return Ok(html(
            StatusCode::OK,
            shell(
                &state,
                &chrome,
                Page::Join,
                lang,
                &[("link-token", &link_token), ("allow-unencrypted", allow)],
                Page::Join.text(lang).1,
            ),
        ));
    }
    let text = match lang {
        Lang::En => INVALID_LINK_TEXT_EN,
        Lang::De => INVALID_LINK_TEXT_DE,
    };
    Ok(html(
        StatusCode::NOT_FOUND,
        shell(
            &state,
            &chrome,
            Page::Join,
            lang,
            &[("link-valid", "false")],
            text,
        ),
    ))
}

/// The centre's booking page: every counsellor with a public booking page.
#[utoipa::path(get, path = "/book", tag = "pages",
    responses((status = 200, description = "Centre booking page", content_type = "text/html", body = String)))]
pub async fn book_index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&state, &headers, Page::Book, &[]).await
}

/// A counsellor's public booking page (type → slot → form); the 404 page for an unknown slug.
#[utoipa::path(get, path = "/book/{slug}", tag = "pages",
    params(("slug" = String, Path, description = "Counsellor page slug")),
    responses(
        (status = 200, description = "Booking page", content_type = "text/html", body = String),
        (status = 404, description = "No counsellor with this slug", content_type = "text/html", body = String),
    ))]
pub async fn book(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    match crate::booking::store::host_by_slug(&state.db, &slug).await {
        Ok(host) => {
            let slug = host.slug.unwrap_or_default();
            Ok(render(&state, &headers, Page::Book, &[("slug", &slug)]).await)
        }
        Err(AppError::NotFound) => Ok(not_found(&state, &headers).await),
        Err(e) => Err(e),
    }
}

/// A team's public booking page (a team type is booked with whichever member is free); the
/// 404 page for an unknown team.
#[utoipa::path(get, path = "/book/team/{slug}", tag = "pages",
    params(("slug" = String, Path, description = "Team slug")),
    responses(
        (status = 200, description = "Booking page", content_type = "text/html", body = String),
        (status = 404, description = "No team with this slug", content_type = "text/html", body = String),
    ))]
pub async fn book_team(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let found: Option<String> = sqlx::query_scalar("SELECT slug FROM teams WHERE slug = $1")
        .bind(slug.to_ascii_lowercase())
        .fetch_optional(&state.db)
        .await?;
    Ok(match found {
        Some(slug) => render(&state, &headers, Page::Book, &[("team", &slug)]).await,
        None => not_found(&state, &headers).await,
    })
}

/// The page a cancel link from a booking mail opens. The token is in the fragment, which
/// browsers never send: the page reads it and calls the API.
#[utoipa::path(get, path = "/booking/cancel", tag = "pages",
    responses((status = 200, description = "Cancel page", content_type = "text/html", body = String)))]
pub async fn booking_cancel(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(
        &state,
        &headers,
        Page::BookingLink,
        &[("purpose", "cancel")],
    )
    .await
}

/// The page a reschedule link from a booking mail opens (token in the fragment).
#[utoipa::path(get, path = "/booking/reschedule", tag = "pages",
    responses((status = 200, description = "Reschedule page", content_type = "text/html", body = String)))]
pub async fn booking_reschedule(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(
        &state,
        &headers,
        Page::BookingLink,
        &[("purpose", "reschedule")],
    )
    .await
}

/// The centre's talk-now page: whether anyone is available, name only, the queue.
#[utoipa::path(get, path = "/talk", tag = "pages",
    responses((status = 200, description = "Centre talk-now page", content_type = "text/html", body = String)))]
pub async fn talk_index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render(&state, &headers, Page::Talk, &[]).await
}

/// A counsellor's talk-now page; the 404 page for an unknown slug or one who does not take
/// walk-ins.
#[utoipa::path(get, path = "/talk/{slug}", tag = "pages",
    params(("slug" = String, Path, description = "Counsellor page slug")),
    responses(
        (status = 200, description = "Talk-now page", content_type = "text/html", body = String),
        (status = 404, description = "No counsellor with this slug who takes walk-ins", content_type = "text/html", body = String),
    ))]
pub async fn talk(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let slug = slug.to_ascii_lowercase();
    let known = state.walkin.core().by_slug(&slug).is_some();
    if known {
        render(&state, &headers, Page::Talk, &[("slug", &slug)]).await
    } else {
        not_found(&state, &headers).await
    }
}

/// The signer's page for a signing link: the document, its fields, consent, the signature
/// pad. For a link that is unknown, revoked, expired or archived the same page is served with
/// status 404 and `data-link-valid="false"` (and without the token).
#[utoipa::path(get, path = "/sign/{token}", tag = "pages",
    params(("token" = String, Path, description = "Signing link token (base64url)")),
    responses(
        (status = 200, description = "Signing page", content_type = "text/html", body = String),
        (status = 404, description = "Invalid link page", content_type = "text/html", body = String),
    ))]
pub async fn sign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let lang = negotiate_lang(&headers);
    let chrome = Chrome::load(&state).await;
    if crate::signature::sign::link_valid(&state.signature, &token).await? {
        return Ok(html(
            StatusCode::OK,
            shell(
                &state,
                &chrome,
                Page::Sign,
                lang,
                &[("sign-token", &token)],
                Page::Sign.text(lang).1,
            ),
        ));
    }
    let text = match lang {
        Lang::En => INVALID_LINK_TEXT_EN,
        Lang::De => INVALID_LINK_TEXT_DE,
    };
    Ok(html(
        StatusCode::NOT_FOUND,
        shell(
            &state,
            &chrome,
            Page::Sign,
            lang,
            &[("link-valid", "false")],
            text,
        ),
    ))
}

// ------------------------------------------------------------------ the centre's chrome
//
// Every public page carries the centre's profile (kit/src/centre.rs), rendered here so it is
// there without JavaScript: a header with the logo and name (and the emergency number as a
// `tel:` link), and a footer with the emergency line as a region with a heading, the address,
// opening hours, contact and the imprint and privacy links. Fields that are not set leave no
// trace (no empty boxes). The page modules read the same values from `data-centre-*` attributes
// (`shared/ui.js` `pageHeader`, `shared/centre.js` `nextSteps`).

/// What the public pages show of the centre, and which next steps an end screen may offer.
struct Chrome {
    profile: confidant_kit::centre::Profile,
    /// `tel:` URL of the emergency number, if one is set.
    emergency_tel: Option<String>,
    /// Some counsellor has a public booking page.
    book: bool,
    /// Some counsellor takes walk-ins.
    talk: bool,
}

impl Chrome {
    /// The effective profile. A database failure is logged and the page still renders, with
    /// the configured profile (a client in a crisis must not get an error page for it).
    async fn load(state: &AppState) -> Chrome {
        let site = &state.base.site;
        let profile =
            match confidant_kit::centre::load(&state.db, &state.config.centre_name, &site.centre)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "loading the centre's profile");
                    confidant_kit::centre::Profile {
                        name: state.config.centre_name.clone(),
                        ..Default::default()
                    }
                }
            };
        let book = crate::booking::store::public_hosts(&state.db)
            .await
            .map(|h| !h.is_empty())
            .unwrap_or(true);
        let talk = state.walkin.core().takes_any();
        let emergency_tel = profile
            .emergency_phone
            .as_deref()
            .and_then(confidant_kit::centre::tel_href);
        Chrome {
            profile,
            emergency_tel,
            book,
            talk,
        }
    }

    /// Whether `page` is one clients see (the counsellor's dashboard and call have their own).
    fn public(page: Page) -> bool {
        !matches!(page, Page::Dashboard | Page::Host)
    }

    /// `data-centre-*` attributes for the page modules.
    fn data_attrs(&self, page: Page) -> Vec<(&str, &str)> {
        let p = &self.profile;
        let mut out = vec![("centre-name", p.name.as_str())];
        if !Self::public(page) {
            return out;
        }
        let optional = [
            ("centre-logo", p.logo_url.as_deref()),
            ("centre-emergency-label", p.emergency_label.as_deref()),
            ("centre-emergency-phone", p.emergency_phone.as_deref()),
            ("centre-emergency-text", p.emergency_text.as_deref()),
            ("centre-emergency-tel", self.emergency_tel.as_deref()),
            ("centre-email", p.contact_email.as_deref()),
            ("centre-book", self.book.then_some("/book")),
            ("centre-talk", self.talk.then_some("/talk")),
        ];
        out.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        out
    }

    /// The header the page modules replace with theirs (same brand, plus the language switch).
    fn header(&self, lang: Lang) -> String {
        let p = &self.profile;
        let logo = p.logo_url.as_deref().map_or(String::new(), |url| {
            format!(
                r#"<img class="brand-logo" src="{}" alt="" data-testid="centre-logo">"#,
                escape(url)
            )
        });
        format!(
            r#"<header class="page-header"><a class="brand" href="/">{logo}<span data-testid="centre-name">{}</span></a>{}</header>"#,
            escape(&p.name),
            self.header_emergency(lang),
        )
    }

    /// The emergency number in the header, a `tel:` link (nothing without a number).
    fn header_emergency(&self, lang: Lang) -> String {
        let (Some(tel), Some(phone)) = (&self.emergency_tel, &self.profile.emergency_phone) else {
            return String::new();
        };
        let label = self
            .profile
            .emergency_label
            .as_deref()
            .unwrap_or(match lang {
                Lang::En => "Crisis line",
                Lang::De => "Krisentelefon",
            });
        format!(
            r#"<a class="header-emergency" href="{}" data-testid="header-emergency">{}: {}</a>"#,
            escape(tel),
            escape(label),
            escape(phone)
        )
    }

    /// The footer of a public page; nothing on the counsellor's own pages.
    fn footer(&self, page: Page, lang: Lang) -> String {
        if !Self::public(page) {
            return String::new();
        }
        let p = &self.profile;
        let de = lang == Lang::De;
        let mut out = String::from(r#"<footer class="centre-footer" data-testid="centre-footer">"#);
        if let (Some(tel), Some(phone)) = (&self.emergency_tel, &p.emergency_phone) {
            out.push_str(&format!(
                r#"<section class="centre-emergency" id="centre-emergency" aria-labelledby="centre-emergency-title" data-testid="centre-emergency"><h2 id="centre-emergency-title">{}</h2>"#,
                if de { "Im Notfall" } else { "In an emergency" }
            ));
            if let Some(text) = &p.emergency_text {
                out.push_str(&format!("<p>{}</p>", escape(text)));
            }
            let label = p
                .emergency_label
                .as_deref()
                .map_or(String::new(), |l| format!("{}: ", escape(l)));
            out.push_str(&format!(
                r#"<p class="emergency-call">{label}<a href="{}" data-testid="centre-emergency-phone">{}</a></p></section>"#,
                escape(tel),
                escape(phone)
            ));
        }
        out.push_str(&format!(
            r#"<div class="centre-info"><p class="centre-footer-name">{}</p>"#,
            escape(&p.name)
        ));
        if let Some(address) = &p.address {
            let lines: Vec<String> = address.lines().map(escape).collect();
            out.push_str(&format!(
                r#"<address data-testid="centre-address">{}</address>"#,
                lines.join("<br>")
            ));
        }
        if let Some(hours) = &p.opening_hours {
            let lines: Vec<String> = hours.lines().map(escape).collect();
            out.push_str(&format!(
                r#"<p data-testid="centre-hours">{}: {}</p>"#,
                if de { "Erreichbar" } else { "Opening hours" },
                lines.join("<br>")
            ));
        }
        if let Some(email) = &p.contact_email {
            out.push_str(&format!(
                r#"<p>{}: <a href="mailto:{}" data-testid="centre-email">{}</a></p>"#,
                if de { "Kontakt" } else { "Contact" },
                escape(email),
                escape(email)
            ));
        }
        out.push_str("</div>");
        let links: Vec<String> = [
            (
                &p.imprint_url,
                if de { "Impressum" } else { "Imprint" },
                "centre-imprint",
            ),
            (
                &p.privacy_url,
                if de { "Datenschutz" } else { "Privacy policy" },
                "centre-privacy",
            ),
        ]
        .into_iter()
        .filter_map(|(url, text, testid)| {
            url.as_deref().map(|u| {
                format!(
                    r#"<li><a href="{}" data-testid="{testid}">{text}</a></li>"#,
                    escape(u)
                )
            })
        })
        .collect();
        if !links.is_empty() {
            out.push_str(&format!(
                r#"<nav class="centre-legal" aria-label="{}"><ul>{}</ul></nav>"#,
                if de { "Rechtliches" } else { "Legal" },
                links.concat()
            ));
        }
        out.push_str("</footer>\n");
        out
    }
}

/// `GET /centre/logo/{digest}`: the centre's logo. The digest in the path changes with the
/// logo, so the response is cached for good; an SVG is sandboxed (it can run no script and
/// load nothing, even when opened on its own).
#[utoipa::path(get, path = "/centre/logo/{digest}", tag = "pages",
    params(("digest" = String, Path, description = "Hex SHA-256 of the logo (from the page)")),
    responses(
        (status = 200, description = "The logo (PNG, JPEG or SVG)"),
        (status = 404, description = "No logo with this digest", body = crate::error::ErrorBody),
    ))]
pub async fn centre_logo(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, AppError> {
    let logo = confidant_kit::centre::logo(&state.db, &state.base.site.centre, &digest)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(logo.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'; style-src 'unsafe-inline'"),
            ),
        ],
        logo.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookie_wins_over_accept_language() {
        assert_eq!(
            negotiate_lang(&headers(&[
                ("cookie", "lang=de"),
                ("accept-language", "en")
            ])),
            Lang::De
        );
        assert_eq!(
            negotiate_lang(&headers(&[
                ("cookie", "lang=fr"),
                ("accept-language", "de")
            ])),
            Lang::De
        );
    }

    #[test]
    fn accept_language_by_quality() {
        assert_eq!(
            negotiate_lang(&headers(&[("accept-language", "de-DE,de;q=0.9,en;q=0.8")])),
            Lang::De
        );
        assert_eq!(
            negotiate_lang(&headers(&[("accept-language", "fr, en;q=0.5, de;q=0.7")])),
            Lang::De
        );
        assert_eq!(
            negotiate_lang(&headers(&[(
                "accept-language",
                "fr, en-GB;q=0.9, de;q=0.9"
            )])),
            Lang::En
        );
        assert_eq!(
            negotiate_lang(&headers(&[("accept-language", "de;q=0, en;q=0.1")])),
            Lang::En
        );
        assert_eq!(
            negotiate_lang(&headers(&[("accept-language", "fr")])),
            Lang::En
        );
        assert_eq!(negotiate_lang(&headers(&[])), Lang::En);
    }

    #[test]
    fn escape_covers_attribute_breakers() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
