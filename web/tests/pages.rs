//! HTML pages, static assets, security headers and probes.

mod common;

use axum::http::{header, Method, StatusCode};
use common::{link_token, request, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the module of page `page` (its `data-page` value) lives: `web/static/` has one folder
/// per capability.
fn module_path(page: &str) -> String {
    let folder = match page {
        "host" | "join" => "call",
        "book" | "booking-link" => "booking",
        "talk" => "walkin",
        "sign" => "signature",
        "login" | "dashboard" => "dashboard",
        "landing" => "landing",
        other => panic!("no module known for page {other}"),
    };
    format!("/static/{folder}/{page}.js")
}

fn body_attr<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let body = &html[html.find("<body")?..];
    let body = &body[..body.find('>')?];
    let start = body.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&body[start..start + body[start..].find('"')?])
}

#[tokio::test]
async fn pages_are_shells_loading_their_module() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap();
    let token = link_token(&s);
    let cases = [
        ("/".to_owned(), "landing"),
        ("/login".to_owned(), "login"),
        ("/dashboard".to_owned(), "dashboard"),
        (format!("/s/{id}"), "host"),
        (format!("/j/{token}"), "join"),
    ];
    for (path, page) in cases {
        let r = t.get(&path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let html = r.text();
        assert!(
            html.starts_with("<!doctype html>\n<html lang=\"en\">"),
            "{path}"
        );
        assert!(html.contains(r#"<meta name="referrer" content="no-referrer">"#));
        assert!(html.contains(r#"<div id="app">"#));
        assert!(
            html.contains(&format!(
                r#"<script type="module" src="{}"></script>"#,
                module_path(page)
            )),
            "{path}"
        );
        assert!(
            !html.contains("<style") && !html.contains(" style=") && !html.contains("<script>"),
            "no inline code"
        );
        assert_eq!(body_attr(&html, "data-page"), Some(page), "{path}");
        assert_eq!(body_attr(&html, "data-protocol-version"), Some("1"));
        assert_eq!(
            body_attr(&html, "data-ws-url"),
            Some(t.settings().ws_url().as_str())
        );
        let session_attr = if page == "host" { Some(id) } else { None };
        assert_eq!(body_attr(&html, "data-session-id"), session_attr, "{path}");
        let token_attr = if page == "join" {
            Some(token.as_str())
        } else {
            None
        };
        assert_eq!(body_attr(&html, "data-link-token"), token_attr, "{path}");
        // Every module a page loads is embedded.
        let js = t.get(&module_path(page), None).await;
        assert_eq!(js.status, StatusCode::OK, "{page}.js");
    }
}

#[tokio::test]
async fn counsellor_pages_redirect_to_login_without_a_cookie() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let id = t.create_session(&cookie, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/dashboard".to_owned(), format!("/s/{id}")] {
        for c in [None, Some("confidant_session=forged")] {
            let r = t.get(&path, c).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(r.header("location"), Some("/login"));
        }
    }
}

#[tokio::test]
async fn invalid_links_get_the_join_page_marked_invalid() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let revoked = t.create_session(&cookie, None).await;
    let id = revoked["id"].as_str().unwrap();
    t.post(&format!("/api/sessions/{id}/revoke"), Some(&cookie), None)
        .await;
    let bogus = confidant_vault::random_token(32);
    for path in [
        format!("/j/{}", link_token(&revoked)),
        format!("/j/{bogus}"),
        "/j/%3Cscript%3E".to_owned(),
    ] {
        let r = t.get(&path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let html = r.text();
        assert_eq!(body_attr(&html, "data-page"), Some("join"));
        assert_eq!(body_attr(&html, "data-link-valid"), Some("false"));
        assert_eq!(
            body_attr(&html, "data-link-token"),
            None,
            "an invalid token is not echoed"
        );
        assert!(html.contains("not valid"), "{html}");
        assert!(!html.contains("<script>"));
    }
}

#[tokio::test]
async fn language_comes_from_cookie_then_accept_language() {
    let t = TestApp::new().await;
    let lang_of = |html: String| {
        html[html.find("lang=\"").unwrap() + 6..]
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let get = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = request(Method::GET, "/login", None, None);
        for (k, v) in headers {
            req.headers_mut().append(k, v.parse().unwrap());
        }
        t.send(req)
    };
    assert_eq!(lang_of(get(vec![]).await.text()), "en");
    assert_eq!(
        lang_of(
            get(vec![("accept-language", "de-CH, en;q=0.8")])
                .await
                .text()
        ),
        "de"
    );
    assert_eq!(
        lang_of(
            get(vec![("accept-language", "de;q=0.5, en;q=0.9")])
                .await
                .text()
        ),
        "en"
    );
    assert_eq!(
        lang_of(
            get(vec![("cookie", "lang=de"), ("accept-language", "en")])
                .await
                .text()
        ),
        "de"
    );
    assert_eq!(
        lang_of(
            get(vec![("cookie", "lang=en"), ("accept-language", "de")])
                .await
                .text()
        ),
        "en"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let t = TestApp::new().await;
    for path in [
        "/",
        "/healthz",
        "/api/me",
        "/static/shared/app.css",
        "/no/such/page",
        "/api/nothing",
    ] {
        let r = t.get(path, None).await;
        assert_eq!(
            r.header("content-security-policy"),
            Some(confidant::edge::content_security_policy(t.settings()).as_str()),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(
            r.header("permissions-policy"),
            Some("camera=(self), microphone=(self)"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_right_format() {
    let t = TestApp::new().await;
    let r = t.get("/api/nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    let r = t.get("/no/such/page", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = t.get("/static/no-such-file.js", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.get("/static/../Cargo.toml", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_files_have_types_no_cache_and_etags() {
    let t = TestApp::new().await;
    let js = t.get("/static/shared/i18n.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(js.header("cache-control"), Some("no-cache"));
    let etag = js.header("etag").unwrap().to_owned();
    let css = t.get("/static/shared/app.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let mut again = request(Method::GET, "/static/shared/i18n.js", None, None);
    again
        .headers_mut()
        .insert(header::IF_NONE_MATCH, etag.parse().unwrap());
    let r = t.send(again).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn probes_answer() {
    let t = TestApp::new().await;
    let r = t.get("/healthz", None).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );
    let r = t.get("/readyz", None).await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn not_ready_without_database() {
    let t = TestApp::new().await;
    t.state.db.close().await;
    let r = t.get("/readyz", None).await;
    assert_eq!(
        (r.status, r.json()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "not_ready"})
        )
    );
    // Liveness does not depend on the database.
    assert_eq!(t.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn not_ready_without_sfu() {
    let t = TestApp::new().await;
    t.state.sfu().shutdown().await;
    // The driver task stops asynchronously.
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = t.get("/readyz", None).await.status;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn healthz_over_a_real_tcp_connection() {
    let t = TestApp::new().await;
    let addr = t.serve_tcp().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response
        .to_ascii_lowercase()
        .contains("content-security-policy: default-src 'self'"));
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
}

#[tokio::test]
async fn booking_pages_are_shells_and_unknown_slugs_404() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let r = t
        .send(request(
            Method::PUT,
            "/api/booking/profile",
            Some(&cookie),
            Some(serde_json::json!({"slug": "dr-a", "time_zone": "Europe/Berlin", "lang": "de"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cases = [
        ("/book", StatusCode::OK, "book", None, None),
        ("/book/dr-a", StatusCode::OK, "book", Some("dr-a"), None),
        // Slugs are case-insensitive; the page carries the canonical one.
        ("/book/DR-A", StatusCode::OK, "book", Some("dr-a"), None),
        ("/book/nobody", StatusCode::NOT_FOUND, "landing", None, None),
        (
            "/booking/cancel",
            StatusCode::OK,
            "booking-link",
            None,
            Some("cancel"),
        ),
        (
            "/booking/reschedule",
            StatusCode::OK,
            "booking-link",
            None,
            Some("reschedule"),
        ),
    ];
    for (path, status, page, slug, purpose) in cases {
        let r = t.get(path, None).await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        let html = r.text();
        assert_eq!(body_attr(&html, "data-page"), Some(page), "{path}");
        assert_eq!(body_attr(&html, "data-slug"), slug, "{path}");
        assert_eq!(body_attr(&html, "data-purpose"), purpose, "{path}");
        let js = t.get(&module_path(page), None).await;
        assert_eq!(js.status, StatusCode::OK, "{page}.js");
    }
    for module in [
        "booking/booking-ui.js",
        "booking/i18n-booking.js",
        "booking/dashboard-booking.js",
    ] {
        assert_eq!(
            t.get(&format!("/static/{module}"), None).await.status,
            StatusCode::OK,
            "{module}"
        );
    }
}

/// The centre's profile (kit::centre) on both backends: stored values override the flags field
/// by field, are rendered escaped into every public page's shell, and clearing them brings the
/// flags' values back; the logo is served by its digest, and an old digest is gone.
#[tokio::test]
async fn the_centres_profile_is_stored_rendered_and_cleared() {
    use confidant_kit::centre::{check_logo, load, store, store_logo, Field};
    let t = TestApp::new().await;
    let db = &t.state.db;
    let plain = t.get("/book", None).await.text();
    assert!(
        plain.contains(r#"data-centre-name="Beratungsstelle""#),
        "the configured name"
    );
    assert!(
        !plain.contains("centre-emergency"),
        "no emergency region without a number"
    );
    assert!(!plain.contains("<address"), "no empty address");
    assert!(!plain.contains("centre-legal"), "no empty link list");

    store(db, Field::Name, Some("Nord <&> Süd")).await.unwrap();
    store(db, Field::EmergencyPhone, Some("0800 111 0 111"))
        .await
        .unwrap();
    store(db, Field::EmergencyPhone, Some("116 123"))
        .await
        .unwrap();
    store(
        db,
        Field::ImprintUrl,
        Some("https://centre.example/impressum"),
    )
    .await
    .unwrap();
    store(db, Field::Address, Some("Hauptstr. 1\r\n12345 Stadt"))
        .await
        .unwrap();
    let err = store(db, Field::PrivacyUrl, Some("javascript:alert(1)"))
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("privacy_url"), "{err:?}");
    let png = b"\x89PNG\r\n\x1a\n-a-logo".to_vec();
    let logo = check_logo(png.clone()).unwrap();
    store_logo(db, Some(&logo)).await.unwrap();

    let p = load(db, "Beratungsstelle", &Default::default())
        .await
        .unwrap();
    assert_eq!(p.name, "Nord <&> Süd");
    assert_eq!(
        p.emergency_phone.as_deref(),
        Some("116 123"),
        "the later value wins"
    );
    assert_eq!(p.address.as_deref(), Some("Hauptstr. 1\n12345 Stadt"));
    assert_eq!(p.privacy_url, None, "a refused value is not stored");
    assert_eq!(p.logo_url, Some(logo.url()));

    let html = t.get("/talk", None).await.text();
    assert!(html.contains("Nord &lt;&amp;&gt; Süd"), "escaped");
    assert!(!html.contains("Nord <&>"));
    assert!(html.contains(r#"href="tel:116123""#));
    assert!(html.contains("Hauptstr. 1<br>12345 Stadt"));
    assert!(html.contains(r#"href="https://centre.example/impressum""#));
    assert!(html.contains(&format!(r#"src="{}""#, logo.url())));
    // The counsellor's own pages carry the name only, no footer; the login page is public.
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let dashboard = t.get("/dashboard", Some(&cookie)).await.text();
    assert!(dashboard.contains(r#"data-centre-name="Nord &lt;&amp;&gt; Süd""#));
    assert!(!dashboard.contains("centre-footer"));
    assert!(t.get("/login", None).await.text().contains("centre-footer"));
    let served = t.get(&logo.url(), None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, png);
    assert_eq!(served.header("content-type"), Some("image/png"));
    assert!(served
        .header("content-security-policy")
        .is_some_and(|c| c.starts_with("sandbox;")));

    store(db, Field::Name, None).await.unwrap();
    store_logo(db, None).await.unwrap();
    let p = load(db, "Beratungsstelle", &Default::default())
        .await
        .unwrap();
    assert_eq!(p.name, "Beratungsstelle", "back to the configured name");
    assert_eq!(p.logo_url, None);
    assert_eq!(t.get(&logo.url(), None).await.status, StatusCode::NOT_FOUND);
}
