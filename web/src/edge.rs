//! The web edge: what every HTTP response and every state-changing request goes through,
//! whatever the route.
//!
//! - **Cross-origin requests that change something are refused** ([`same_origin_only`]), in
//!   addition to the `SameSite=Strict` session cookie (which does not cover requests that need
//!   no cookie: public forms, join links, body-less POSTs a page could fire). The rule is the
//!   one of Go's `net/http.CrossOriginProtection` and of the Fetch Metadata guidance: a request
//!   with a method other than GET, HEAD or OPTIONS is refused when the browser says it comes
//!   from another site or origin (`Sec-Fetch-Site` other than `same-origin` or `none`), or,
//!   from a browser that does not send `Sec-Fetch-Site`, when its `Origin` is not this
//!   server's (the public URL's origin, or the origin of the `Host` it was sent to, not on
//!   plain http when the public URL is https). A request
//!   with neither header does not come from a browser page (curl, scripts, the tests) and
//!   cannot carry a victim's browser state, so it passes.
//! - **Headers**: the Content-Security-Policy ([`content_security_policy`]) lets pages connect
//!   only to this server and its own websocket origin; `Strict-Transport-Security` where the
//!   public URL is https ([`strict_transport_security`]); `Cache-Control: no-store` on every
//!   JSON answer that did not choose its own ([`no_store_json`]), since the API's answers carry
//!   client data (names, messages, bookings) that must not stay in a browser's or proxy's
//!   cache.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Settings;
use crate::error::AppError;
use crate::AppState;

/// How long browsers keep to https after a visit, in seconds: one year, the value HSTS preload
/// lists ask for and long enough that a returning client is never downgraded.
const HSTS_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The origin (`scheme://host[:port]`, default port left out) of an http(s) or ws(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// The Content-Security-Policy of every response: no inline scripts or styles anywhere, and
/// connections only to this server and its own websocket origin (not any `ws:`/`wss:` host).
pub fn content_security_policy(settings: &Settings) -> String {
    let ws = origin_of(&settings.ws_url()).unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self' {ws}; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    )
}

/// `Strict-Transport-Security` when the public URL is https (never on plain http, where a
/// browser ignores it and it would only mislead).
pub fn strict_transport_security(settings: &Settings) -> Option<HeaderValue> {
    settings
        .secure_cookies()
        .then(|| HeaderValue::from_str(&format!("max-age={HSTS_MAX_AGE_SECS}")).ok())
        .flatten()
}

/// Whether a request with `method` and `headers` may go on, for a server whose public origin
/// is `public_origin` (see the module documentation for the rule).
pub fn same_origin_allowed(method: &Method, headers: &HeaderMap, public_origin: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none");
    }
    let Some(origin) = text(header::ORIGIN) else {
        // No browser page sent this.
        return true;
    };
    if origin.eq_ignore_ascii_case(public_origin) {
        return true;
    }
    // The origin of the address the request was sent to (a server reached under another name
    // than its public URL, e.g. on loopback): the browser's Origin must name that same host.
    let Some(host) = text(header::HOST) else {
        return false;
    };
    match origin.split_once("://") {
        // A server whose public URL is https has no pages on plain http (its cookies are
        // Secure, HSTS keeps browsers on https).
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("http") && public_origin.starts_with("https://") =>
        {
            false
        }
        Some((scheme, rest)) => {
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "https" => ":443",
                "http" => ":80",
                _ => return false,
            };
            let rest = rest.strip_suffix(default_port).unwrap_or(rest);
            let host = host.strip_suffix(default_port).unwrap_or(host);
            rest.eq_ignore_ascii_case(host)
        }
        None => false,
    }
}

/// Refuses state-changing requests from another origin (`403 cross_origin`).
pub async fn same_origin_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let public = origin_of(&state.config.public_url).unwrap_or_default();
    if !same_origin_allowed(req.method(), req.headers(), &public) {
        tracing::info!(method = %req.method(), "cross-origin request refused");
        return AppError::CrossOrigin.into_response();
    }
    next.run(req).await
}

/// Adds `Cache-Control: no-store` to JSON answers that set no cache policy of their own.
pub async fn no_store_json(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("application/json") || t.starts_with("application/problem+json")
        });
    if is_json && !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed_for(public: &str, method: Method, pairs: &[(&'static str, &str)]) -> bool {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        same_origin_allowed(&method, &h, public)
    }

    fn allowed(method: Method, pairs: &[(&'static str, &str)]) -> bool {
        allowed_for("https://counsel.example", method, pairs)
    }

    #[test]
    fn safe_methods_pass_whatever_their_origin() {
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(allowed(
                m,
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://evil.example")
                ]
            ));
        }
    }

    #[test]
    fn fetch_metadata_decides_where_the_browser_sends_it() {
        assert!(allowed(Method::POST, &[("sec-fetch-site", "same-origin")]));
        assert!(allowed(Method::POST, &[("sec-fetch-site", "none")]));
        for site in ["same-site", "cross-site", "bogus"] {
            assert!(
                !allowed(Method::POST, &[("sec-fetch-site", site)]),
                "{site}"
            );
            // A matching Origin does not override what the browser said.
            assert!(
                !allowed(
                    Method::DELETE,
                    &[
                        ("sec-fetch-site", site),
                        ("origin", "https://counsel.example")
                    ]
                ),
                "{site}"
            );
        }
    }

    #[test]
    fn without_fetch_metadata_the_origin_must_be_this_server() {
        assert!(allowed(
            Method::POST,
            &[("origin", "https://counsel.example")]
        ));
        assert!(allowed(
            Method::POST,
            &[("origin", "HTTPS://Counsel.Example")]
        ));
        for o in [
            "https://evil.example",
            "null",
            "https://counsel.example.evil",
            "http://counsel.example",
            "https://counsel.example:8443",
        ] {
            assert!(
                !allowed(Method::PATCH, &[("origin", o), ("host", "counsel.example")]),
                "{o}"
            );
        }
        // Reached under another name than its public one (on loopback, a second name).
        let http = "http://counsel.example";
        assert!(allowed_for(
            http,
            Method::POST,
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]
        ));
        assert!(allowed_for(
            http,
            Method::POST,
            &[("origin", "http://localhost"), ("host", "localhost:80")]
        ));
        assert!(allowed(
            Method::POST,
            &[
                ("origin", "https://other-name.example"),
                ("host", "other-name.example")
            ]
        ));
        assert!(!allowed_for(
            http,
            Method::POST,
            &[
                ("origin", "http://127.0.0.1:8081"),
                ("host", "127.0.0.1:8080")
            ]
        ));
        assert!(
            !allowed_for(http, Method::POST, &[("origin", "http://127.0.0.1:8080")]),
            "no Host to compare with"
        );
        // Plain http is not this https server's, whatever the host.
        assert!(!allowed(
            Method::POST,
            &[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]
        ));
    }

    #[test]
    fn requests_without_browser_headers_pass() {
        assert!(allowed(Method::POST, &[]));
        assert!(allowed(Method::DELETE, &[("host", "counsel.example")]));
    }

    #[test]
    fn origins_leave_out_default_ports_and_paths() {
        assert_eq!(
            origin_of("wss://counsel.example/confidant/ws").as_deref(),
            Some("wss://counsel.example")
        );
        assert_eq!(
            origin_of("ws://127.0.0.1:9000/ws").as_deref(),
            Some("ws://127.0.0.1:9000")
        );
        assert_eq!(
            origin_of("https://counsel.example:443").as_deref(),
            Some("https://counsel.example")
        );
    }
}
