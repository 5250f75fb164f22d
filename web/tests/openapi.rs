//! The OpenAPI document describes exactly the routes the app serves, and those are exactly
//! the routes of the contract in `docs/HTTP-API.md`.

mod common;

use std::collections::BTreeSet;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use common::{request, TestApp};
use tower::ServiceExt;
use utoipa::openapi::path::HttpMethod;

/// `(METHOD, /openapi/{template})` of every operation in the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc = confidant::openapi();
    let mut ops = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            (HttpMethod::Get, item.get.is_some()),
            (HttpMethod::Post, item.post.is_some()),
            (HttpMethod::Put, item.put.is_some()),
            (HttpMethod::Patch, item.patch.is_some()),
            (HttpMethod::Delete, item.delete.is_some()),
            (HttpMethod::Head, item.head.is_some()),
            (HttpMethod::Options, item.options.is_some()),
            (HttpMethod::Trace, item.trace.is_some()),
        ];
        for (m, present) in methods {
            if present {
                let name = serde_json::to_value(&m)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                ops.insert((name, path.clone()));
            }
        }
    }
    ops
}

/// `(METHOD, /path/{template})` of every route in the contract's tables.
fn contract() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/HTTP-API.md"))
        .unwrap();
    let mut ops = BTreeSet::new();
    for line in text.lines() {
        let Some(cell) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((route, _)) = cell.split_once('`') else {
            continue;
        };
        let Some((method, path)) = route.split_once(' ') else {
            continue;
        };
        if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method) && path.starts_with('/') {
            ops.insert((method.to_owned(), path.to_owned()));
        }
    }
    ops
}

#[test]
fn openapi_document_matches_the_contract() {
    let contract = contract();
    assert!(
        contract.len() >= 18,
        "contract parsing found only {contract:?}"
    );
    let documented = documented();
    let undocumented: Vec<_> = contract.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&contract).collect();
    assert!(
        undocumented.is_empty(),
        "in docs/HTTP-API.md but not in the OpenAPI document: {undocumented:?}"
    );
    assert!(
        extra.is_empty(),
        "in the OpenAPI document but not in docs/HTTP-API.md: {extra:?}"
    );
}

#[test]
fn openapi_document_is_3_1_and_describes_the_error_shape() {
    let doc = serde_json::to_value(confidant::openapi()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["schemas"]["Session"].is_object());
}

/// Routes are only added through `api_router()` and the capability crates' `router()` with
/// `routes!`, which documents them; any other way of adding a route to a router in this crate
/// or a capability's server crate is refused here. `api_router()` merges the capabilities'
/// routers, each as `.merge(NAME::router())` on a line of its own.
#[test]
fn no_route_bypasses_the_documented_router() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let forbidden = [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".merge(",
        "Router::new(",
    ];
    let mut offenders = Vec::new();
    let mut files = Vec::new();
    let mut dirs = vec![
        std::path::PathBuf::from(root).join("web/src"),
        std::path::PathBuf::from(root).join("accounts/src"),
    ];
    for entry in std::fs::read_dir(root).unwrap() {
        let server = entry.unwrap().path().join("server/src");
        if server.is_dir() {
            dirs.push(server);
        }
    }
    assert!(
        dirs.iter().any(|d| d.ends_with("signature/server/src")),
        "capability server crates are scanned"
    );
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("booking/server/src/caldav/http.rs")),
        "subdirectories are scanned"
    );
    for path in files {
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text: String = text
                .lines()
                .filter(|line| {
                    let line = line.trim();
                    let merged = line
                        .strip_prefix(".merge(")
                        .and_then(|rest| rest.strip_suffix("::router())"));
                    !merged.is_some_and(|name| {
                        name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                })
                .collect::<Vec<_>>()
                .join("\n")
                // A documented router (utoipa's) is what routes are meant to be added to.
                .replace("OpenApiRouter::new(", "");
            for f in forbidden {
                if text.contains(f) {
                    offenders.push(format!("{}: {f}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes added outside api_router()/routes!: {offenders:?}"
    );
}

/// Records the route template that matched, if any, on the response.
#[derive(Clone)]
struct Matched(Option<String>);

async fn record_match(req: Request, next: Next) -> Response {
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(Matched(matched));
    resp
}

#[tokio::test]
async fn every_documented_operation_is_served_by_its_route() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&cookie, None).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let token = common::link_token(&s);
    let app = confidant::app(t.state.clone()).layer(middleware::from_fn(record_match));

    let ops = documented();
    assert!(!ops.is_empty());
    for (method, template) in ops {
        let path = template
            .replace("{id}", &id)
            .replace("{session_id}", &id)
            .replace("{change_id}", &id)
            .replace("{mail_id}", &id)
            .replace("{link_token}", &token)
            .replace("{slug}", "no-such-page")
            .replace("{token}", "no-such-token")
            .replace("{sha256}", &"0".repeat(64))
            .replace("{path}", "shared/app.css")
            .replace("{digest}", "no-such-logo");
        assert!(
            !path.contains('{'),
            "no example value for a parameter in {template}"
        );
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app
            .clone()
            .oneshot(request(method.clone(), &path, Some(&cookie), None))
            .await
            .unwrap();
        let matched = resp.extensions().get::<Matched>().and_then(|m| m.0.clone());
        assert_eq!(
            matched.as_deref().map(confidant::openapi_path),
            Some(template.clone()),
            "{method} {path} was not routed to {template}"
        );
        // The matched template above proves the route; a 404 here comes from the handler
        // (the example id names nothing of that kind), never from the fallback.
        assert_ne!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            !resp.status().is_server_error(),
            "{method} {path}: {}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn openapi_json_is_served() {
    let t = TestApp::new().await;
    let r = t.get("/api/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        serde_json::to_value(confidant::openapi()).unwrap()
    );
}

/// A known path with a method it does not take answers 405 in the documented JSON shape (and
/// says which methods it does take), not axum's empty 405.
#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_a_json_405() {
    let t = TestApp::new().await;
    for (method, path) in [
        (Method::DELETE, "/api/auth/login"),
        (Method::PUT, "/api/calendar/caldav"),
        (Method::POST, "/healthz"),
    ] {
        let r = t.send(request(method.clone(), path, None, None)).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(
            r.error_code(),
            "method_not_allowed",
            "{method} {path}: {}",
            r.text()
        );
        assert!(
            r.header("allow").is_some_and(|a| !a.is_empty()),
            "{method} {path}: Allow header"
        );
    }
}

/// Where the committed OpenAPI document lives.
const COMMITTED_OPENAPI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// The first JSON pointer at which `a` and `b` differ (objects compared as maps, arrays in
/// order), with both values there.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, &here),
                    (p, q) => Some(format!("{here}: committed {p:?}, now {q:?}")),
                }
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{at}: committed {a}, now {b}")),
    }
}

/// The API the server describes is the committed `docs/openapi.json`: a restructuring (issue
/// 17 moved routes into capability crates) must not change it, and a deliberate change shows
/// in review as a change of that file. Regenerate it with
/// `CONFIDANT_UPDATE_OPENAPI=1 cargo test -p confidant --test openapi`.
#[test]
fn openapi_document_equals_the_committed_one() {
    let now = serde_json::to_value(confidant::openapi()).unwrap();
    if std::env::var_os("CONFIDANT_UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&now).unwrap() + "\n";
        std::fs::write(COMMITTED_OPENAPI, text).unwrap();
        return;
    }
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(COMMITTED_OPENAPI)
            .expect("docs/openapi.json exists (see this test's doc comment)"),
    )
    .unwrap();
    if let Some(difference) = first_difference(&committed, &now, "") {
        panic!(
            "the OpenAPI document differs from docs/openapi.json at {difference}; if the change \
             is intended, regenerate it (see this test's doc comment)"
        );
    }
}
