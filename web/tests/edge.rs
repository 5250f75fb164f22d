//! The web edge over real HTTP (the router served on loopback, requests with the headers a
//! browser sends): state-changing requests from another origin are refused, body-less POSTs
//! included, in addition to the SameSite=Strict cookie; Strict-Transport-Security where the
//! public URL is https; `Cache-Control: no-store` on JSON that carries client data; the CSP's
//! `connect-src` names the server's own websocket origin, not any `ws:`/`wss:` host.

mod common;

use axum::http::StatusCode;
use common::booking::{book, bookable, consent, form, slots};
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// A request to the served app with the given headers; `(status, headers, body)`.
async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap())
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Asserts that the request is refused as `403 cross_origin`, with the security headers.
async fn assert_refused(
    base: &str,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) {
    let what = format!("{method} {path} {headers:?}");
    let (s, h, body) = call(base, method, path, cookie, headers, body).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(code(&body), "cross_origin", "{what}: {body}");
    assert!(
        h.contains_key("content-security-policy"),
        "{what}: a refusal carries the security headers"
    );
}

/// A page on another site (or a sibling subdomain) cannot make the server change anything:
/// not with a JSON body, not with a body-less POST, not a DELETE, not a public form that needs
/// no cookie. The server's own pages (same origin, by Fetch Metadata or by Origin) and
/// clients that are not browsers go on working; reading is not affected.
#[tokio::test]
async fn state_changing_requests_from_another_origin_are_refused() {
    use reqwest::Method;
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let base = format!("http://{addr}");
    let (_, cookie) = t.counsellor("c@example.org", "C").await;
    let cookie = Some(cookie.as_str());
    let evil = [("origin", "https://evil.example")];
    let cross_site = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ];
    let same_site = [
        ("sec-fetch-site", "same-site"),
        ("origin", "https://sub.counsel.example"),
    ];

    // A JSON POST.
    for h in [&evil[..], &cross_site[..], &same_site[..]] {
        assert_refused(
            &base,
            Method::POST,
            "/api/sessions",
            cookie,
            h,
            Some(json!({"title": "x"})),
        )
        .await;
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing was created");

    // A body-less POST: logging out from another site does not end the session.
    for h in [&evil[..], &cross_site[..]] {
        assert_refused(&base, Method::POST, "/api/auth/logout", cookie, h, None).await;
    }
    let (s, _, _) = call(&base, Method::GET, "/api/me", cookie, &cross_site, None).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "still logged in; reading is not affected"
    );

    // From the server's own pages: by Fetch Metadata, by Origin (its address), and from a
    // client that is not a browser.
    let own = base.clone();
    for h in [
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        vec![("origin", own.as_str())],
        vec![],
    ] {
        let (s, _, body) = call(
            &base,
            Method::POST,
            "/api/sessions",
            cookie,
            &h,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{h:?}: {body}");
    }
    let sessions: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 3);

    // A DELETE, and ending a session (body-less), from elsewhere.
    assert_refused(
        &base,
        Method::DELETE,
        &format!("/api/sessions/{}", sessions[0]),
        cookie,
        &cross_site,
        None,
    )
    .await;
    assert_refused(
        &base,
        Method::POST,
        &format!("/api/sessions/{}/end", sessions[0]),
        cookie,
        &evil,
        None,
    )
    .await;

    // A public form needs no cookie, so SameSite does not protect it: Origin does.
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let c = consent(&t, &b.slug).await;
    let start = slots(&t, &b).await[0].clone();
    let path = format!("/api/public/counsellors/{}/bookings", b.slug);
    assert_refused(
        &base,
        Method::POST,
        &path,
        None,
        &cross_site,
        Some(form(&b, &start, &c, "Alex")),
    )
    .await;
    let (s, _, body) = call(
        &base,
        Method::POST,
        &path,
        None,
        &[("sec-fetch-site", "same-origin")],
        Some(form(&b, &start, &c, "Alex")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// `Strict-Transport-Security` on every response when the public URL is https; never on
/// plain http.
#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let t = TestApp::with(|c| c.public_url = Some("https://counsel.example".into())).await;
    for path in ["/", "/api/me", "/static/shared/app.css", "/no/such/page"] {
        let r = t.get(path, None).await;
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let t = TestApp::new().await;
    assert!(t.settings().public_url.starts_with("http://"));
    assert_eq!(
        t.get("/", None).await.header("strict-transport-security"),
        None
    );
}

/// JSON answers (client names, messages, bookings, errors) are not kept in a browser's or a
/// proxy's cache; files and pages keep their own policy.
#[tokio::test]
async fn json_with_client_data_is_not_stored() {
    let t = TestApp::on(Backend::Sqlite).await;
    let b = bookable(&t, "w@example.org", "weiss", "video", json!({})).await;
    let c = consent(&t, &b.slug).await;
    let start = slots(&t, &b).await[0].clone();
    let r = book(&t, &b, form(&b, &start, &c, "Alexandra")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = t.get("/api/booking/bookings", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("Alexandra"), "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for (path, cookie) in [
        ("/api/me", Some(b.cookie.as_str())),
        ("/api/me", None),
        ("/api/sessions", Some(&b.cookie)),
    ] {
        let r = t.get(path, cookie).await;
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{path}"
        );
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "{path} ({})",
            r.status
        );
    }
    assert_eq!(
        t.get("/static/shared/app.css", None)
            .await
            .header("cache-control"),
        Some("no-cache")
    );
}

/// The CSP lets pages connect to this server and its own websocket origin only.
#[tokio::test]
async fn csp_connect_src_names_only_the_servers_own_websocket_origin() {
    for (public, ws) in [
        ("https://counsel.example/", "wss://counsel.example"),
        ("http://127.0.0.1:9000", "ws://127.0.0.1:9000"),
    ] {
        let t = TestApp::with(|c| c.public_url = Some(public.into())).await;
        let csp = t
            .get("/", None)
            .await
            .header("content-security-policy")
            .unwrap()
            .to_owned();
        let connect = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("connect-src"))
            .unwrap()
            .to_owned();
        assert_eq!(connect, format!("connect-src 'self' {ws}"), "{csp}");
    }
}
