//! Login, logout, the session cookie, authentication of the API, the login rate limit, and
//! the JSON error shape of bad requests.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use common::{request, session_cookie, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_me_answers() {
    let t = TestApp::new().await;
    let id = t.create_counsellor("Anna@Example.org", "Anna Berg").await;
    // E-mail matching ignores case and surrounding space.
    let r = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": " anna@EXAMPLE.org ", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let set_cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(set_cookie.starts_with("confidant_session="), "{set_cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attr), "{attr} missing in {set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain http public URL: no Secure flag: {set_cookie}"
    );
    // 32 random bytes, base64url without padding.
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("confidant_session=");
    assert_eq!(value.len(), 43);

    let me = t
        .get("/api/me", Some(&session_cookie(&r.headers).unwrap()))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json(),
        json!({"id": id, "email": "anna@example.org", "name": "Anna Berg", "allow_unencrypted_join": false})
    );
}

#[tokio::test]
async fn counsellor_allows_unencrypted_joins_and_the_pages_say_so() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("anna@example.org", "Anna").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let join_path = format!("/j/{}", common::link_token(&s));
    assert!(t
        .get(&join_path, None)
        .await
        .text()
        .contains(r#"data-allow-unencrypted="false""#));
    assert!(t
        .get(&format!("/s/{id}"), Some(&cookie))
        .await
        .text()
        .contains(r#"data-allow-unencrypted="false""#));

    let r = t
        .send(common::request(
            axum::http::Method::PATCH,
            "/api/me",
            Some(&cookie),
            Some(json!({"allow_unencrypted_join": true})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["allow_unencrypted_join"], true);
    assert_eq!(
        t.get("/api/me", Some(&cookie)).await.json()["allow_unencrypted_join"],
        true
    );
    assert!(t
        .get(&join_path, None)
        .await
        .text()
        .contains(r#"data-allow-unencrypted="true""#));

    // Unknown fields and wrong types are refused with the JSON error shape; no cookie, 401.
    let bad = t
        .send(common::request(
            axum::http::Method::PATCH,
            "/api/me",
            Some(&cookie),
            Some(json!({"allow_unencrypted_join": "yes"})),
        ))
        .await;
    assert!(bad.status.is_client_error());
    assert!(bad.json()["error"]["code"].is_string());
    let anon = t
        .send(common::request(
            axum::http::Method::PATCH,
            "/api/me",
            None,
            Some(json!({"allow_unencrypted_join": true})),
        ))
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn database_keeps_only_the_hash_of_the_session_token() {
    let t = TestApp::new().await;
    t.create_counsellor("a@example.org", "A").await;
    let cookie = t.login("a@example.org", PASSWORD).await;
    let token = cookie.trim_start_matches("confidant_session=");
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM auth_sessions")
        .fetch_all(&t.state.db)
        .await
        .unwrap();
    assert_eq!(stored, vec![confidant::db::sha256_hex(token)]);
}

#[tokio::test]
async fn cookie_is_secure_when_the_public_url_is_https() {
    let t = TestApp::with(|c| c.public_url = Some("https://counsel.example".into())).await;
    t.create_counsellor("a@example.org", "A").await;
    let r = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": "a@example.org", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let t = TestApp::new().await;
    t.create_counsellor("a@example.org", "A").await;
    for (email, password) in [
        ("a@example.org", "wrong password"),
        ("nobody@example.org", PASSWORD),
    ] {
        let r = t
            .post(
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error_code(), "invalid_credentials");
        assert!(r.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn logout_deletes_the_session_and_clears_the_cookie() {
    let t = TestApp::new().await;
    t.create_counsellor("a@example.org", "A").await;
    let cookie = t.login("a@example.org", PASSWORD).await;
    let r = t.post("/api/auth/logout", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cleared = r.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("confidant_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The old cookie no longer works, even if the browser kept it.
    let me = t.get("/api/me", Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_sessions")
        .fetch_one(&t.state.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // Logging out again is harmless.
    assert_eq!(
        t.post("/api/auth/logout", Some(&cookie), None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn expired_login_session_is_refused() {
    let t = TestApp::new().await;
    t.create_counsellor("a@example.org", "A").await;
    let cookie = t.login("a@example.org", PASSWORD).await;
    sqlx::query("UPDATE auth_sessions SET expires_at = 0")
        .execute(&t.state.db)
        .await
        .unwrap();
    assert_eq!(
        t.get("/api/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_needs_a_valid_cookie() {
    let t = TestApp::new().await;
    let some_id = "3f1c2f47-3c4a-4a39-9f0e-6f5e2d7e9b10";
    let cases = [
        (Method::GET, "/api/me".to_owned()),
        (Method::GET, "/api/sessions".to_owned()),
        (Method::POST, "/api/sessions".to_owned()),
        (Method::GET, format!("/api/sessions/{some_id}")),
        (Method::POST, format!("/api/sessions/{some_id}/revoke")),
        (Method::POST, format!("/api/sessions/{some_id}/end")),
        (Method::POST, format!("/api/sessions/{some_id}/host-token")),
    ];
    for cookie in [None, Some("confidant_session=forged"), Some("other=1")] {
        for (method, path) in &cases {
            let r = t.send(request(method.clone(), path, cookie, None)).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {cookie:?}"
            );
            assert_eq!(
                r.json(),
                json!({"error": {"code": "unauthorized", "message": "authentication required"}})
            );
        }
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let t = TestApp::new().await;
    let r = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": "a@example.org"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["code"], "validation_failed");
    assert_eq!(r.json()["error"]["field"], "password");

    let r = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": 42, "password": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "email");

    let r = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": " ", "password": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "email");
}

#[tokio::test]
async fn bad_json_gets_the_json_error_shape() {
    let t = TestApp::new().await;
    let bad = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"email\": "))
        .unwrap();
    let r = t.send(bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "validation_failed");
    assert!(r.json()["error"].get("field").is_none());
    assert_eq!(r.header("content-type"), Some("application/json"));

    let no_type = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .body(Body::from(r#"{"email":"a@example.org","password":"x"}"#))
        .unwrap();
    let r = t.send(no_type).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "validation_failed");
}

fn login_from(ip: &str) -> Request<Body> {
    let mut req = request(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"email": "", "password": ""})),
    );
    req.extensions_mut()
        .insert(ConnectInfo::<std::net::SocketAddr>(
            format!("{ip}:40000").parse().unwrap(),
        ));
    req
}

#[tokio::test]
async fn login_is_rate_limited_per_network() {
    let t = TestApp::new().await;
    let burst = t.settings().login_rate_limit.burst;
    for _ in 0..burst {
        // Every attempt counts, also one that fails validation.
        assert_eq!(
            t.send(login_from("198.51.100.7")).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // Same /24, other host: limited too.
    let r = t.send(login_from("198.51.100.200")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry), "{retry}");
    // Another network is not affected.
    assert_eq!(
        t.send(login_from("203.0.113.1")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

fn login_via(peer: &str, forwarded_for: &str) -> axum::http::Request<axum::body::Body> {
    let mut req = login_from(peer);
    req.headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    req
}

/// Behind a trusted reverse proxy each client has its own login limit (from X-Forwarded-For);
/// from anyone else the header is ignored, so it cannot be used to dodge the limit.
#[tokio::test]
async fn login_limits_follow_x_forwarded_for_only_from_trusted_proxies() {
    let t = TestApp::with(|c| c.trusted_proxies = vec!["192.0.2.10".into()]).await;
    let burst = t.settings().login_rate_limit.burst;
    for i in 0..burst {
        // A forged left part changes nothing: the proxy appended the real client.
        let r = t
            .send(login_via(
                "192.0.2.10",
                &format!("10.9.{i}.1, 198.51.100.7"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = t.send(login_via("192.0.2.10", "198.51.100.8")).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the client's /24 is limited"
    );
    // Another client through the same proxy is not.
    assert_eq!(
        t.send(login_via("192.0.2.10", "203.0.113.1")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A direct, untrusted peer cannot pick its bucket with the header.
    for _ in 0..burst {
        t.send(login_via("233.252.0.1", "203.0.113.99")).await;
    }
    assert_eq!(
        t.send(login_via("233.252.0.2", "100.64.1.1")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        t.send(login_via("192.0.2.10", "203.0.113.2")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

fn login_as(ip: &str, email: &str, password: &str, device: Option<&str>) -> Request<Body> {
    let mut req = request(
        Method::POST,
        "/api/auth/login",
        device,
        Some(json!({"email": email, "password": password})),
    );
    req.extensions_mut()
        .insert(ConnectInfo::<std::net::SocketAddr>(
            format!("{ip}:40000").parse().unwrap(),
        ));
    req
}

/// `confidant_device=<value>` from a login response, and the cookie's attributes.
fn device_cookie(headers: &axum::http::HeaderMap) -> (String, String) {
    let full = headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("confidant_device="))
        .expect("a device cookie")
        .to_owned();
    (full.split(';').next().unwrap().to_owned(), full)
}

/// A guesser spread over many networks gets a handful of tries per account; the answer is the
/// same for an unknown address; the counsellor's own browser (device cookie from an earlier
/// login) still logs in while the account is throttled for everyone else.
#[tokio::test]
async fn a_guesser_is_throttled_per_account_without_locking_the_counsellor_out() {
    let t = TestApp::new().await;
    t.create_counsellor("anna@example.org", "Anna Berg").await;
    t.create_counsellor("ben@example.org", "Ben").await;
    // Anna logged in from her office before: her browser has a device cookie.
    let r = t
        .send(login_as("192.0.2.5", "anna@example.org", PASSWORD, None))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (anna_device, attributes) = device_cookie(&r.headers);
    assert!(
        attributes.contains("Path=/api/auth/login") && attributes.contains("HttpOnly"),
        "{attributes}"
    );
    assert!(attributes.contains("SameSite=Strict"), "{attributes}");
    let r = t
        .send(login_as("192.0.2.5", "ben@example.org", PASSWORD, None))
        .await;
    let (ben_device, _) = device_cookie(&r.headers);

    let burst = confidant::auth::ACCOUNT_RATE_LIMIT.burst;
    for target in ["anna@example.org", "nobody@example.org"] {
        // Each guess from another network: the per-network limit never bites.
        for i in 0..burst {
            let r = t
                .send(login_as(
                    &format!("203.0.{i}.9"),
                    target,
                    "guess guess guess",
                    None,
                ))
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{target} guess {i}");
            assert_eq!(r.error_code(), "invalid_credentials");
        }
        let r = t
            .send(login_as("198.51.100.1", target, "one more guess", None))
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{target}: {}",
            r.text()
        );
        assert_eq!(r.error_code(), "rate_limited");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    // Even the right password is held back from a browser the account does not know (and from
    // one that carries another account's device cookie)…
    let r = t
        .send(login_as("198.51.100.2", "anna@example.org", PASSWORD, None))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = t
        .send(login_as(
            "198.51.100.2",
            "anna@example.org",
            PASSWORD,
            Some(&ben_device),
        ))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // …but Anna's own browser logs in, from home, and gets a fresh device cookie.
    let r = t
        .send(login_as(
            "100.64.7.7",
            "anna@example.org",
            PASSWORD,
            Some(&anna_device),
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(session_cookie(&r.headers).is_some());
    device_cookie(&r.headers);
    // Another account is not affected by the guessing at Anna's.
    let r = t
        .send(login_as("198.51.100.3", "ben@example.org", PASSWORD, None))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A forged device cookie counts as none.
    let forged = format!("{}x", anna_device);
    let r = t
        .send(login_as(
            "198.51.100.4",
            "anna@example.org",
            PASSWORD,
            Some(&forged),
        ))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_counsellor_changes_their_password_with_the_current_one_and_other_sessions_end() {
    let t = TestApp::new().await;
    t.create_counsellor("anna@example.org", "Anna Berg").await;
    let here = t.login("anna@example.org", PASSWORD).await;
    let elsewhere = t.login("anna@example.org", PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let new_password = "Lindenblüte Fahrradkette Nebelhorn";

    let r = t
        .post(
            "/api/me/password",
            None,
            Some(change(PASSWORD, new_password)),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t
        .post(
            "/api/me/password",
            Some(&here),
            Some(change("not my password", new_password)),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["error"]["field"],
        "current_password",
        "{}",
        r.text()
    );
    for weak in ["password1234", "annaberg2026!", "short"] {
        let r = t
            .post(
                "/api/me/password",
                Some(&here),
                Some(change(PASSWORD, weak)),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert_eq!(
            r.json()["error"]["field"],
            "new_password",
            "{weak}: {}",
            r.text()
        );
    }
    let r = t
        .post(
            "/api/me/password",
            Some(&here),
            Some(json!({"new_password": new_password})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    // Nothing changed so far.
    assert_eq!(
        t.get("/api/me", Some(&elsewhere)).await.status,
        StatusCode::OK
    );

    let r = t
        .post(
            "/api/me/password",
            Some(&here),
            Some(change(PASSWORD, new_password)),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(
        t.get("/api/me", Some(&here)).await.status,
        StatusCode::OK,
        "this session stays"
    );
    assert_eq!(
        t.get("/api/me", Some(&elsewhere)).await.status,
        StatusCode::UNAUTHORIZED,
        "others end"
    );
    let old = t
        .post(
            "/api/auth/login",
            None,
            Some(json!({"email": "anna@example.org", "password": PASSWORD})),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    t.login("anna@example.org", new_password).await;
}

/// Wrong current passwords count against the account like failed logins: a stolen session
/// cookie does not give unlimited guesses at the password.
#[tokio::test]
async fn wrong_current_passwords_are_throttled() {
    let t = TestApp::new().await;
    t.create_counsellor("anna@example.org", "Anna Berg").await;
    let cookie = t.login("anna@example.org", PASSWORD).await;
    let burst = confidant::auth::ACCOUNT_RATE_LIMIT.burst;
    let body = json!({"current_password": "guess guess", "new_password": "Lindenblüte Fahrradkette Nebelhorn"});
    for _ in 0..burst {
        let r = t
            .post("/api/me/password", Some(&cookie), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = t.post("/api/me/password", Some(&cookie), Some(body)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}
