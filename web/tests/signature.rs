//! Signatures with stroke dynamics through the real HTTP stack, on SQLite and PostgreSQL:
//! template → request → the signer's page, events and submission → the counsellor's view with
//! verification; tampering with the document, form data, bundle, seal, audit chain and image
//! gives the matching reason; bad submissions are 422 with their codes; the retention job moves
//! evidence to the archive where it still verifies; the CLI verifies and opens the escrow on
//! files. Issue 18: a typed name with a declaration where the request allows it (sealed and
//! verified as such, refused where not allowed), recipients sealed at rest, and the signer's own
//! copy through a signed, expiring token.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use base64::Engine;
use common::{Backend, Resp, TestApp};
use serde_json::{json, Value};

/// A synthetic two-stroke signature with known timing: stroke 1 has 30 samples 8 ms apart from
/// t = 1000 (232 ms), the pen is up for 300 ms, stroke 2 has 20 samples 10 ms apart (190 ms).
/// Total 232 + 300 + 190 = 722 ms.
fn synthetic_signature() -> Value {
    let s1: Vec<Value> = (0..30)
        .map(|i| {
            let f = f64::from(i);
            json!({"x": 20.0 + 8.0 * f, "y": 60.0 + 20.0 * (f / 3.0).sin(), "t": 1000.0 + 8.0 * f, "pressure": 0.5})
        })
        .collect();
    let s2: Vec<Value> = (0..20)
        .map(|i| {
            let f = f64::from(i);
            json!({"x": 120.0 + 3.0 * f, "y": 20.0 + 5.0 * f, "t": 1532.0 + 10.0 * f, "pressure": 0.6})
        })
        .collect();
    json!({
        "canvas": {"width": 400, "height": 150},
        "device": {"pointer_types": ["pen"], "user_agent": "SignatureTest/1.0", "pixel_ratio": 2},
        "client_started_at_ms": 1_750_000_000_000_i64,
        "strokes": [
            {"pointer_type": "pen", "points": s1},
            {"pointer_type": "pen", "points": s2},
        ]
    })
}

fn submission(signature: Value) -> Value {
    json!({
        "signer_name": "Ana Example",
        "consent": true,
        "fields": {"client_name": "Ana Example", "date_of_birth": "1990-04-01", "consent_recording": true},
        "signature": signature,
    })
}

struct Sent {
    request_id: String,
    token: String,
}

async fn template(t: &TestApp, cookie: &str) -> String {
    let r = t
        .post(
            "/api/signatures/templates",
            Some(cookie),
            Some(json!({
                "title": "Einwilligung in die Beratung",
                "body_markdown": "# Consent\n\nI agree to **online counselling**.\n\n<script>alert(1)</script>\n",
                "fields": [
                    {"name": "client_name", "label": "Full name", "type": "text", "required": true},
                    {"name": "date_of_birth", "label": "Date of birth", "type": "date"},
                    {"name": "consent_recording", "label": "I agree", "type": "checkbox", "required": true},
                ],
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let tpl = r.json();
    assert!(tpl["body_html"]
        .as_str()
        .unwrap()
        .contains("<strong>online counselling</strong>"));
    assert!(!tpl["body_html"].as_str().unwrap().contains("<script"));
    tpl["id"].as_str().unwrap().to_owned()
}

async fn send(t: &TestApp, cookie: &str, template_id: &str) -> Sent {
    let r = t
        .post(
            "/api/signatures/requests",
            Some(cookie),
            Some(json!({"template_id": template_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let req = r.json();
    assert_eq!(req["status"], "pending");
    let url = req["sign_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/sign/", t.settings().public_url)),
        "{url}"
    );
    Sent {
        request_id: req["id"].as_str().unwrap().to_owned(),
        token: url.rsplit('/').next().unwrap().to_owned(),
    }
}

/// Opens the document as the signer's page does; returns its view.
async fn open(t: &TestApp, token: &str) -> Value {
    let r = t.get(&format!("/api/sign/{token}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn event(t: &TestApp, token: &str, kind: &str) -> Resp {
    t.post(
        &format!("/api/sign/{token}/events"),
        None,
        Some(json!({"kind": kind})),
    )
    .await
}

async fn submit(t: &TestApp, token: &str, body: Value) -> Resp {
    t.post(&format!("/api/sign/{token}"), None, Some(body))
        .await
}

async fn verify(t: &TestApp, cookie: &str, document: &[u8], evidence: &Value) -> Value {
    let r = t
        .post(
            "/api/signatures/verify",
            Some(cookie),
            Some(json!({
                "document_base64": base64::engine::general_purpose::STANDARD.encode(document),
                "evidence": evidence,
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn reason(v: &Value) -> &str {
    v["reason"].as_str().unwrap_or("valid")
}

/// A signed request: `(sent, document bytes, evidence)`.
async fn signed(t: &TestApp, cookie: &str) -> (Sent, Vec<u8>, Value) {
    let tpl = template(t, cookie).await;
    let sent = send(t, cookie, &tpl).await;
    open(t, &sent.token).await;
    assert_eq!(
        event(t, &sent.token, "consent_given").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        event(t, &sent.token, "capture_started").await.status,
        StatusCode::NO_CONTENT
    );
    let r = submit(t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let doc = t
        .get(
            &format!("/api/signatures/requests/{}/document", sent.request_id),
            Some(cookie),
        )
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let ev = t
        .get(
            &format!("/api/signatures/requests/{}/evidence", sent.request_id),
            Some(cookie),
        )
        .await;
    assert_eq!(ev.status, StatusCode::OK, "{}", ev.text());
    (sent, doc.body, ev.json())
}

async fn flow(backend: Backend) {
    let t = TestApp::on(backend).await;
    let (_, cookie) = t.counsellor("sig@example.org", "Dr. Sign").await;
    let tpl = template(&t, &cookie).await;
    let sent = send(&t, &cookie, &tpl).await;

    // The signer's page and the document.
    let page = t.get(&format!("/sign/{}", sent.token), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .text()
        .contains(&format!(r#"data-sign-token="{}""#, sent.token)));
    assert!(page.text().contains("/static/signature/sign.js"));
    let view = open(&t, &sent.token).await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["counsellor_name"], "Dr. Sign");
    assert_eq!(view["fields"].as_array().unwrap().len(), 3);
    let html = view["document_html"].as_str().unwrap();
    assert!(
        html.contains("<h1>Einwilligung in die Beratung</h1>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;"),
        "raw HTML is shown as text: {html}"
    );
    assert_eq!(
        confidant_signature::sha256(html.as_bytes()).to_hex(),
        view["document_sha256"].as_str().unwrap()
    );
    assert_eq!(
        event(&t, &sent.token, "consent_given").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        event(&t, &sent.token, "capture_started").await.status,
        StatusCode::NO_CONTENT
    );
    let r = event(&t, &sent.token, "sealed").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "kind");

    // Submit: the server's own dynamics match the synthetic timing.
    let r = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let receipt = r.json();
    assert_eq!(receipt["status"], "signed");
    let d = &receipt["dynamics"];
    assert_eq!(d["stroke_count"], 2);
    assert_eq!(d["point_count"], 50);
    assert!(
        (d["total_time_ms"].as_f64().unwrap() - 722.0).abs() < 1e-6,
        "{d}"
    );
    assert!(
        (d["pause_time_ms"].as_f64().unwrap() - 300.0).abs() < 1e-6,
        "{d}"
    );
    assert!((d["pauses"][0]["duration_ms"].as_f64().unwrap() - 300.0).abs() < 1e-6);
    assert_eq!(receipt["document_sha256"], view["document_sha256"]);

    // Signed: no second submission, no more events; the page still opens (status signed).
    let again = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert_eq!(
        event(&t, &sent.token, "consent_given").await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(open(&t, &sent.token).await["status"], "signed");

    // The counsellor's view: signed, verified, with form data, dynamics and image.
    let list = t
        .get("/api/signatures/requests", Some(&cookie))
        .await
        .json();
    let item = &list[0];
    assert_eq!(item["status"], "signed");
    assert_eq!(item["verification"]["valid"], true, "{item}");
    assert_eq!(item["verification"]["signer_name"], "Ana Example");
    assert_eq!(item["bundle_sha256"], receipt["bundle_sha256"]);
    assert_eq!(item["form_data"]["consent_recording"], "true");
    assert_eq!(item["form_data"]["date_of_birth"], "1990-04-01");
    assert!(item["sign_url"].is_null(), "no link once signed");
    let img = t
        .get(item["image_url"].as_str().unwrap(), Some(&cookie))
        .await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.header("content-type"), Some("image/svg+xml"));
    assert!(img.text().starts_with("<svg"));
    let r = t
        .post(
            &format!("/api/signatures/requests/{}/revoke", sent.request_id),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Audit trail: the ceremony in order, sealed last.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM signature_audit WHERE request_id = $1 ORDER BY seq")
            .bind(&sent.request_id)
            .fetch_all(&t.state.db)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "document_shown",
            "consent_given",
            "capture_started",
            "capture_ended",
            "submitted",
            "sealed"
        ]
    );

    // At rest: nothing the signer typed, and no biometrics, in clear.
    let row: (Vec<u8>, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT form_sealed, bundle_sealed, image_sealed FROM signature_requests WHERE id = $1",
    )
    .bind(&sent.request_id)
    .fetch_one(&t.state.db)
    .await
    .unwrap();
    for blob in [&row.0, &row.1, &row.2] {
        let text = String::from_utf8_lossy(blob);
        assert!(
            !text.contains("Ana Example") && !text.contains("1990-04-01") && !text.contains("<svg")
        );
    }

    // Verification over HTTP, and tampering with each part.
    let doc = t
        .get(
            &format!("/api/signatures/requests/{}/document", sent.request_id),
            Some(&cookie),
        )
        .await;
    assert_eq!(doc.header("content-type"), Some("text/html; charset=utf-8"));
    let document = doc.body;
    assert_eq!(document, html.as_bytes());
    let evidence = t
        .get(
            &format!("/api/signatures/requests/{}/evidence", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    let ok = verify(&t, &cookie, &document, &evidence).await;
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["bundle_sha256"], receipt["bundle_sha256"]);
    // The evidence download and the verification are in the audit log, by id.
    let logged: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT action, object_kind, object_id FROM audit_log \
         WHERE action IN ('client_data_read', 'signature_verified') ORDER BY seq",
    )
    .fetch_all(&t.state.db)
    .await
    .unwrap();
    let id = Some(sent.request_id.clone());
    assert_eq!(
        logged,
        [
            (
                "client_data_read".into(),
                Some("signature_evidence".into()),
                id.clone()
            ),
            (
                "signature_verified".into(),
                Some("signature_request".into()),
                id
            ),
        ]
    );
    tamper_cases(&t, &cookie, &document, &evidence).await;

    // The document as text is accepted too; exactly one of the two.
    let r = t
        .post(
            "/api/signatures/verify",
            Some(&cookie),
            Some(json!({"document": html, "evidence": evidence})),
        )
        .await;
    assert_eq!(r.json()["valid"], true);
    let r = t
        .post(
            "/api/signatures/verify",
            Some(&cookie),
            Some(json!({"evidence": evidence})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "document");
    let r = t
        .post(
            "/api/signatures/verify",
            Some(&cookie),
            Some(json!({"document": "x", "evidence": {"format": "something else"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "evidence");
    let r = t
        .post(
            "/api/signatures/verify",
            None,
            Some(json!({"document": "x", "evidence": evidence})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Tampering with the stored audit trail shows in the counsellor's view.
    sqlx::query("UPDATE signature_audit SET detail = 'edited' WHERE request_id = $1 AND seq = 1")
        .bind(&sent.request_id)
        .execute(&t.state.db)
        .await
        .unwrap();
    let item = t
        .get(
            &format!("/api/signatures/requests/{}", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(item["verification"]["valid"], false);
    assert_eq!(item["verification"]["reason"], "chain_broken");
    assert_eq!(item["verification"]["chain_index"], 1);
    assert_eq!(item["verification"]["chain_fault"], "hash_mismatch");

    // Another counsellor sees none of it.
    let (_, other) = t.counsellor("other@example.org", "Other").await;
    for path in ["", "/document", "/evidence", "/image"] {
        let r = t
            .get(
                &format!("/api/signatures/requests/{}{path}", sent.request_id),
                Some(&other),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = t
        .post(
            "/api/signatures/requests",
            Some(&other),
            Some(json!({"template_id": tpl})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "template_id");
    assert_eq!(
        t.get("/api/signatures/requests", Some(&other)).await.json(),
        json!([])
    );
}

/// An edit of an evidence file.
type Edit = Box<dyn Fn(&mut Value)>;
/// Status and the evidence columns of a live row.
type LiveRow = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every tampered part gives its own reason.
async fn tamper_cases(t: &TestApp, cookie: &str, document: &[u8], evidence: &Value) {
    // Document: one byte changed, one appended.
    let mut d = document.to_vec();
    let mid = d.len() / 2;
    d[mid] ^= 0x01;
    assert_eq!(
        reason(&verify(t, cookie, &d, evidence).await),
        "document_changed"
    );
    let mut d = document.to_vec();
    d.push(b'\n');
    assert_eq!(
        reason(&verify(t, cookie, &d, evidence).await),
        "document_changed"
    );

    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "form value",
            "form_data_changed",
            Box::new(|e| e["form_data"]["client_name"] = json!("Eve Example")),
        ),
        (
            "form field added",
            "form_data_changed",
            Box::new(|e| e["form_data"]["extra"] = json!("")),
        ),
        (
            "form not strings",
            "form_data_changed",
            Box::new(|e| e["form_data"]["consent_recording"] = json!(true)),
        ),
        (
            "bundle field",
            "bundle_changed",
            Box::new(|e| e["sealed"]["bundle"]["signer_name"] = json!("Eve Example")),
        ),
        (
            "bundle field injected",
            "bundle_changed",
            Box::new(|e| e["sealed"]["bundle"]["note"] = json!("x")),
        ),
        (
            "bundle not parsable",
            "bundle_changed",
            Box::new(|e| e["sealed"] = json!("garbage")),
        ),
        (
            "bundle digest",
            "bundle_changed",
            Box::new(|e| {
                let h = e["sealed"]["bundle_sha256"].as_str().unwrap().to_owned();
                let flipped = if h.starts_with('0') { "1" } else { "0" };
                e["sealed"]["bundle_sha256"] = json!(format!("{flipped}{}", &h[1..]));
            }),
        ),
        (
            "bundle edited, digest recomputed",
            "seal_invalid",
            Box::new(|e| {
                e["sealed"]["bundle"]["sealed_at_ms"] =
                    json!(e["sealed"]["bundle"]["sealed_at_ms"].as_i64().unwrap() + 1);
                let bundle: confidant_signature::bundle::EvidenceBundle =
                    serde_json::from_value(e["sealed"]["bundle"].clone()).unwrap();
                e["sealed"]["bundle_sha256"] = json!(bundle.digest().unwrap().to_hex());
            }),
        ),
        (
            "seal signature",
            "seal_invalid",
            Box::new(|e| {
                let engine = base64::engine::general_purpose::STANDARD;
                let mut sig = engine
                    .decode(e["sealed"]["signature"].as_str().unwrap())
                    .unwrap();
                sig[10] ^= 0x01;
                e["sealed"]["signature"] = json!(engine.encode(sig));
            }),
        ),
        (
            "seal key id",
            "unknown_key",
            Box::new(|e| e["sealed"]["key_id"] = json!("0123456789abcdef")),
        ),
        (
            "audit detail",
            "chain_broken",
            Box::new(|e| e["audit"]["events"][2]["detail"] = json!("edited")),
        ),
        (
            "audit event removed",
            "chain_broken",
            Box::new(|e| {
                e["audit"]["events"].as_array_mut().unwrap().remove(1);
            }),
        ),
        (
            "audit not parsable",
            "chain_broken",
            Box::new(|e| e["audit"] = json!([1, 2, 3])),
        ),
        (
            "image",
            "image_changed",
            Box::new(|e| {
                let svg = e["image_svg"]
                    .as_str()
                    .unwrap()
                    .replace("stroke=\"#000\"", "stroke=\"#f00\"");
                e["image_svg"] = json!(svg);
            }),
        ),
    ];
    for (name, expected, edit) in cases {
        let mut e = evidence.clone();
        edit(&mut e);
        let v = verify(t, cookie, document, &e).await;
        assert_eq!(reason(&v), expected, "{name}: {v}");
        assert_eq!(v["valid"], false, "{name}");
    }
    // An image left out is simply not checked.
    let mut e = evidence.clone();
    e.as_object_mut().unwrap().remove("image_svg");
    assert_eq!(verify(t, cookie, document, &e).await["valid"], true);
}

#[tokio::test]
async fn sign_and_verify_on_sqlite() {
    flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn sign_and_verify_on_postgres() {
    if Backend::from_env() != Backend::Postgres {
        return;
    }
    flow(Backend::Postgres).await;
}

fn problems(r: &Resp) -> Vec<(String, String)> {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn bad_submissions_are_422_naming_field_and_code() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("bad@example.org", "Bad").await;
    let tpl = template(&t, &cookie).await;
    let sent = send(&t, &cookie, &tpl).await;
    open(&t, &sent.token).await;

    let with_sig = |edit: &dyn Fn(&mut Value)| {
        let mut s = synthetic_signature();
        edit(&mut s);
        submission(s)
    };
    let cases: Vec<(Value, (&str, &str))> = vec![
        (
            with_sig(&|s| s["strokes"] = json!([])),
            ("signature.strokes", "signature_empty"),
        ),
        (
            with_sig(&|s| s["strokes"][0]["points"][3]["t"] = json!(1.0)),
            ("signature.strokes[0].points[3].t", "time_not_monotonic"),
        ),
        (
            with_sig(&|s| s["strokes"][1]["points"][2]["x"] = json!(5000)),
            ("signature.strokes[1].points[2]", "point_outside_canvas"),
        ),
        (
            with_sig(&|s| s["strokes"][0]["points"][0]["pressure"] = json!(1.5)),
            (
                "signature.strokes[0].points[0].pressure",
                "pressure_out_of_range",
            ),
        ),
        (
            with_sig(&|s| s["strokes"][0]["points"][0]["t"] = json!(-5)),
            ("signature.strokes[0].points[0].t", "time_negative"),
        ),
        (
            with_sig(&|s| s["canvas"]["width"] = json!(0)),
            ("signature.canvas.width", "canvas_invalid"),
        ),
        (
            with_sig(&|s| s["strokes"][0]["points"][0]["speed"] = json!(3)),
            ("signature", "submission_malformed"),
        ),
        (
            with_sig(
                &|s| s["strokes"] = json!([{"pointer_type": "mouse", "points": [{"x": 1, "y": 1, "t": 0}, {"x": 2, "y": 1, "t": 1}]}]),
            ),
            ("signature", "signature_too_few_points"),
        ),
        (
            with_sig(&|s| s["strokes"][1]["points"][19]["t"] = json!(200_000)),
            ("signature", "duration_too_long"),
        ),
    ];
    for (body, (field, code)) in cases {
        let r = submit(&t, &sent.token, body).await;
        assert_eq!(
            problems(&r),
            [(field.to_owned(), code.to_owned())],
            "{}",
            r.text()
        );
    }

    // Every problem of the form at once.
    let r = submit(
        &t,
        &sent.token,
        json!({
            "signer_name": " ",
            "consent": false,
            "fields": {"date_of_birth": "1990-13-01", "nickname": "x"},
            "signature": {"canvas": {"width": 400, "height": 150}, "strokes": []},
        }),
    )
    .await;
    assert_eq!(
        problems(&r),
        [
            ("signer_name", "required"),
            ("consent", "required"),
            ("fields.nickname", "unknown"),
            ("fields.client_name", "required"),
            ("fields.date_of_birth", "invalid"),
            ("fields.consent_recording", "required"),
            ("signature.strokes", "signature_empty"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // Wrong shapes and non-JSON.
    let r = submit(
        &t,
        &sent.token,
        json!({"signer_name": "A", "signature": {}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "consent");
    let raw = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/sign/{}", sent.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(t.send(raw).await.status, StatusCode::BAD_REQUEST);
    let big = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/sign/{}", sent.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b' '; 4 * 1024 * 1024]))
        .unwrap();
    assert_eq!(t.send(big).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing was stored; a good submission still goes through.
    let r = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // Templates are checked too, every problem at once.
    let r = t
        .post(
            "/api/signatures/templates",
            Some(&cookie),
            Some(json!({"title": "", "fields": [{"name": "A b", "label": "x", "type": "text"}, {"name": "ok", "label": "", "type": "date"}]})),
        )
        .await;
    assert_eq!(
        problems(&r),
        [
            ("title", "invalid"),
            ("fields[0].name", "invalid"),
            ("fields[1].label", "invalid")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let r = t
        .post(
            "/api/signatures/templates",
            Some(&cookie),
            Some(
                json!({"title": "x", "fields": [{"name": "a", "label": "x", "type": "signature"}]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "fields[0].type");
}

#[tokio::test]
async fn links_expire_are_revocable_and_need_the_document_shown() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("links@example.org", "Links").await;
    let tpl = template(&t, &cookie).await;

    // Submitting without ever opening the document is refused.
    let sent = send(&t, &cookie, &tpl).await;
    let r = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());

    // Without the page's events, the submission records consent and capture itself.
    open(&t, &sent.token).await;
    let r = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let item = t
        .get(
            &format!("/api/signatures/requests/{}", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(item["verification"]["valid"], true, "{item}");

    // Revoked: the page and the API say "not found".
    let sent = send(&t, &cookie, &tpl).await;
    let r = t
        .post(
            &format!("/api/signatures/requests/{}/revoke", sent.request_id),
            Some(&cookie),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "revoked");
    assert!(r.json()["sign_url"].is_null());
    let page = t.get(&format!("/sign/{}", sent.token), None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text().contains(r#"data-link-valid="false""#));
    assert!(!page.text().contains(&sent.token));
    assert_eq!(
        t.get(&format!("/api/sign/{}", sent.token), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        submit(&t, &sent.token, submission(synthetic_signature()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Expired.
    let sent = send(&t, &cookie, &tpl).await;
    sqlx::query("UPDATE signature_requests SET expires_at = 1 WHERE id = $1")
        .bind(&sent.request_id)
        .execute(&t.state.db)
        .await
        .unwrap();
    assert_eq!(
        t.get(&format!("/api/sign/{}", sent.token), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let item = t
        .get(
            &format!("/api/signatures/requests/{}", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(item["status"], "expired");

    // Unknown and malformed tokens.
    for token in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not%20a%20token",
    ] {
        assert_eq!(
            t.get(&format!("/sign/{token}"), None).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            t.get(&format!("/api/sign/{token}"), None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let r = t
        .post(
            "/api/signatures/requests",
            Some(&cookie),
            Some(json!({"template_id": tpl, "ttl_hours": 0})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "ttl_hours");
}

async fn retention(backend: Backend) {
    let t = TestApp::on(backend).await;
    let (_, cookie) = t.counsellor("keep@example.org", "Keep").await;
    let (sent, document, evidence) = signed(&t, &cookie).await;
    let now = confidant::db::now_ms();

    // Within the live period nothing moves.
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, now + 6 * 86_400_000)
            .await
            .unwrap(),
        0
    );
    // After 7 days it moves, once.
    let later = now + 7 * 86_400_000 + 60_000;
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, later)
            .await
            .unwrap(),
        0
    );

    let live: LiveRow = sqlx::query_as(
        "SELECT status, document, form_sealed, bundle_sealed FROM signature_requests WHERE id = $1",
    )
    .bind(&sent.request_id)
    .fetch_one(&t.state.db)
    .await
    .unwrap();
    assert_eq!(live.0, "archived");
    assert!(
        live.1.is_none() && live.2.is_none() && live.3.is_none(),
        "the live row keeps no evidence"
    );
    let archived: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM signature_archive WHERE request_id = $1")
            .bind(&sent.request_id)
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert_eq!(archived, 1);
    let last: (String, i64) = sqlx::query_as(
        "SELECT kind, at_ms FROM signature_audit WHERE request_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&sent.request_id)
    .fetch_one(&t.state.db)
    .await
    .unwrap();
    assert_eq!(last, ("archived".to_owned(), later));

    // Still verifiable: in the counsellor's view, through the downloads, and the old evidence
    // file (its chain ends before `archived`) too.
    let item = t
        .get(
            &format!("/api/signatures/requests/{}", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(item["status"], "archived");
    assert_eq!(item["verification"]["valid"], true, "{item}");
    assert_eq!(item["form_data"]["client_name"], "Ana Example");
    let doc = t
        .get(
            &format!("/api/signatures/requests/{}/document", sent.request_id),
            Some(&cookie),
        )
        .await;
    assert_eq!(doc.body, document);
    let ev = t
        .get(
            &format!("/api/signatures/requests/{}/evidence", sent.request_id),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(
        ev["audit"]["events"].as_array().unwrap().last().unwrap()["kind"],
        "archived"
    );
    assert_eq!(verify(&t, &cookie, &document, &ev).await["valid"], true);
    assert_eq!(
        verify(&t, &cookie, &document, &evidence).await["valid"],
        true
    );
    let mut d = document.clone();
    d[0] ^= 1;
    assert_eq!(
        reason(&verify(&t, &cookie, &d, &ev).await),
        "document_changed"
    );
    // The signer's link is gone.
    assert_eq!(
        t.get(&format!("/api/sign/{}", sent.token), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn retention_moves_to_the_archive_on_sqlite() {
    retention(Backend::Sqlite).await;
}

#[tokio::test]
async fn retention_moves_to_the_archive_on_postgres() {
    if Backend::from_env() != Backend::Postgres {
        return;
    }
    retention(Backend::Postgres).await;
}

#[tokio::test]
async fn live_days_are_configurable() {
    let t = TestApp::with(|c| c.signature_live_days = 2).await;
    let (_, cookie) = t.counsellor("two@example.org", "Two").await;
    signed(&t, &cookie).await;
    let now = confidant::db::now_ms();
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, now + 86_400_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        confidant::signature::archive_due(&t.state.signature, now + 2 * 86_400_000 + 60_000)
            .await
            .unwrap(),
        1
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn keys_are_created_0600_and_the_escrow_private_key_once() {
    let t = TestApp::on(Backend::Sqlite).await;
    let data = t.dir.path().join("data");
    let sealing = data.join("signature-sealing.pk8");
    let private = data.join("escrow-private-key.MOVE-OFF-THIS-SERVER");
    let public = data.join("signature-escrow-public.key");
    for f in [
        &sealing,
        &private,
        &public,
        &data.join("signature-sealing-public.key"),
    ] {
        assert!(f.exists(), "{}", f.display());
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let private_bytes = std::fs::read(&private).unwrap();
    let key = confidant::signature::keys::parse_key_32(&private_bytes).unwrap();
    assert_eq!(
        confidant_signature::escrow::public_key_from_secret(&key),
        t.state.signature.signature.keys.escrow
    );
    let sealing_bytes = std::fs::read(&sealing).unwrap();
    let sealing_id = t.state.signature.signature.keys.sealing.key_id();

    // A restart keeps the keys; the private key is not written again once it has been moved.
    std::fs::remove_file(&private).unwrap();
    let again = confidant::start(common::config(data.clone()).resolve().unwrap())
        .await
        .unwrap();
    assert!(!private.exists());
    assert_eq!(
        again.signature.signature.keys.escrow,
        t.state.signature.signature.keys.escrow
    );
    assert_eq!(again.signature.signature.keys.sealing.key_id(), sealing_id);
    assert_eq!(std::fs::read(&sealing).unwrap(), sealing_bytes);

    // A configured escrow key: no pair is generated.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("escrow.pub");
    std::fs::write(&key_file, format!("{}\n", hex::encode([9u8; 32]))).unwrap();
    let mut cfg = common::config(dir.path().join("data"));
    cfg.signature_escrow_public_key_file = Some(key_file);
    let s = confidant::start(cfg.resolve().unwrap()).await.unwrap();
    assert_eq!(s.signature.signature.keys.escrow.as_bytes(), &[9u8; 32]);
    assert!(!dir
        .path()
        .join("data/escrow-private-key.MOVE-OFF-THIS-SERVER")
        .exists());
    assert!(!dir.path().join("data/signature-escrow-public.key").exists());
    // A bad key file stops the start with a clear error.
    let bad = dir.path().join("bad.pub");
    std::fs::write(&bad, "nope").unwrap();
    let mut cfg = common::config(dir.path().join("data2"));
    cfg.signature_escrow_public_key_file = Some(bad);
    let err = confidant::start(cfg.resolve().unwrap())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bad.pub") && err.contains("32-byte"), "{err}");
}

fn confidant_cli(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confidant"));
    for var in [
        "DATABASE_URL",
        "CONFIDANT_DATA_DIR",
        "RUST_LOG",
        "CONFIDANT_SIGNATURE_ESCROW_PUBLIC_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn cli_verifies_files_and_opens_the_escrow() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("cli@example.org", "Cli").await;
    let (_, document, evidence) = signed(&t, &cookie).await;
    let data = t.dir.path().join("data");
    let files = tempfile::tempdir().unwrap();
    let doc_path = files.path().join("document.html");
    let ev_path = files.path().join("evidence.json");
    std::fs::write(&doc_path, &document).unwrap();
    std::fs::write(&ev_path, serde_json::to_vec_pretty(&evidence).unwrap()).unwrap();
    let (doc, ev) = (doc_path.to_str().unwrap(), ev_path.to_str().unwrap());

    let out = confidant_cli(&data, &["signature", "verify", doc, ev]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["valid"], true);

    // One byte of the document changed: exit 1 with the reason.
    let mut changed = document.clone();
    changed[document.len() / 3] ^= 0x20;
    let bad_doc = files.path().join("changed.html");
    std::fs::write(&bad_doc, &changed).unwrap();
    let out = confidant_cli(
        &data,
        &["signature", "verify", bad_doc.to_str().unwrap(), ev],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("document_changed"));

    // A tampered chain in the file: exit 1, chain_broken.
    let mut e = evidence.clone();
    e["audit"]["events"][0]["at_ms"] =
        json!(e["audit"]["events"][0]["at_ms"].as_i64().unwrap() - 1);
    let bad_ev = files.path().join("tampered.json");
    std::fs::write(&bad_ev, serde_json::to_vec(&e).unwrap()).unwrap();
    let out = confidant_cli(
        &data,
        &["signature", "verify", doc, bad_ev.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("chain_broken"));

    // Off the server: only the public key, passed explicitly; a wrong key is unknown_key.
    let elsewhere = files.path().join("elsewhere");
    let public = data.join("signature-sealing-public.key");
    let out = confidant_cli(
        &elsewhere,
        &[
            "signature",
            "verify",
            doc,
            ev,
            "--public-key",
            public.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrong = files.path().join("wrong.key");
    std::fs::write(&wrong, hex::encode([3u8; 32])).unwrap();
    let out = confidant_cli(
        &elsewhere,
        &[
            "signature",
            "verify",
            doc,
            ev,
            "--public-key",
            wrong.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown_key"));
    // Usage and I/O errors: exit 2.
    let out = confidant_cli(&elsewhere, &["signature", "verify", doc, ev]);
    assert_eq!(out.status.code(), Some(2), "no key to trust");
    let out = confidant_cli(
        &data,
        &["signature", "verify", doc, "/nonexistent/evidence.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = confidant_cli(&data, &["signature", "verify", doc, doc]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a document is not an evidence file"
    );
    let out = confidant_cli(&data, &["signature", "verify", doc]);
    assert_eq!(out.status.code(), Some(2), "missing argument");

    // The escrow tool: the time series with the synthetic timing.
    let key = data.join("escrow-private-key.MOVE-OFF-THIS-SERVER");
    let out = confidant_cli(
        &elsewhere,
        &[
            "signature",
            "escrow-open",
            "--key",
            key.to_str().unwrap(),
            ev,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: Value = serde_json::from_slice(&out.stdout).unwrap();
    let strokes = opened["time_series"]["strokes"].as_array().unwrap();
    assert_eq!(strokes.len(), 2);
    assert_eq!(strokes[0]["points"].as_array().unwrap().len(), 30);
    assert_eq!(strokes[0]["points"][0]["t"], 0.0);
    assert!((strokes[1]["points"][19]["t"].as_f64().unwrap() - 722.0).abs() < 0.01);
    assert!((opened["dynamics"]["pause_time_ms"].as_f64().unwrap() - 300.0).abs() < 0.01);
    assert!((strokes[0]["points"][1]["x"].as_f64().unwrap() - 28.0).abs() < 0.01);
    // Stdout carries no key material.
    let key_hex = String::from_utf8(std::fs::read(&key).unwrap()).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(key_hex.trim()));
    // The wrong key is refused.
    let out = confidant_cli(
        &elsewhere,
        &[
            "signature",
            "escrow-open",
            "--key",
            wrong.to_str().unwrap(),
            ev,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("escrow key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 26: the evidence is read strictly wherever it is verified (HTTP, command line), the
/// request id is bound through the chain's genesis, and events after the seal are reported as
/// outside it, with the sealed head shown.
#[tokio::test]
async fn evidence_is_read_strictly_and_post_seal_events_are_reported() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("strict@example.org", "Strict").await;
    let (sent, document, evidence) = signed(&t, &cookie).await;
    let text = serde_json::to_string(&evidence).unwrap();
    let verify_text = |text: String| {
        let (t, cookie, document) = (&t, &cookie, &document);
        async move { verify(t, cookie, document, &Value::String(text)).await }
    };

    // Genuine, sent as its exact text: valid; the head shown is the sealed one, and the
    // `sealed` event after it is listed as outside the seal.
    let ok = verify_text(text.clone()).await;
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["audit_head"], evidence["sealed"]["bundle"]["audit_head"]);
    assert_eq!(ok["audit_event_count"], 5);
    assert_eq!(ok["events_after_seal"], json!(["sealed"]));
    assert_eq!(evidence["request_id"], sent.request_id.as_str());

    // A second signer name inside the sealed bundle: bundle_changed, naming the fault.
    let name = evidence["sealed"]["bundle"]["signer_name"]
        .as_str()
        .unwrap();
    let anchor = format!("\"signer_name\":{}", serde_json::to_string(name).unwrap());
    assert!(text.contains(&anchor));
    let dup = text.replacen(&anchor, &format!("{anchor},\"signer_name\":\"Eve\""), 1);
    let r = verify_text(dup.clone()).await;
    assert_eq!(reason(&r), "bundle_changed", "{r}");
    assert_eq!(r["parse_fault"], "duplicate_key");
    assert_eq!(r["parse_path"], "sealed.bundle.signer_name");

    // A form value twice: form_data_changed.
    let dup_form = text.replacen(
        "\"form_data\":{",
        "\"form_data\":{\"client_name\":\"Eve\",",
        1,
    );
    let r = verify_text(dup_form).await;
    assert_eq!(
        (reason(&r), r["parse_path"].as_str()),
        ("form_data_changed", Some("form_data.client_name"))
    );

    // An upper-case key id: bundle_changed when parsing, not unknown_key.
    let key_id = evidence["sealed"]["key_id"].as_str().unwrap();
    let upper = text.replace(key_id, &key_id.to_uppercase());
    let r = verify_text(upper).await;
    assert_eq!(
        (reason(&r), r["parse_fault"].as_str()),
        ("bundle_changed", Some("invalid_value"))
    );

    // Another request id: the genesis no longer matches.
    let mut moved = evidence.clone();
    moved["request_id"] = json!(uuid::Uuid::new_v4().to_string());
    let r = verify(&t, &cookie, &document, &moved).await;
    assert_eq!(
        (reason(&r), r["chain_fault"].as_str()),
        ("chain_broken", Some("genesis_mismatch"))
    );
    assert_eq!(r["chain_index"], 0);

    // The post-seal event dropped, or a forged one appended: still consistent with the seal,
    // and the report says which events the seal does not cover.
    let mut dropped = evidence.clone();
    dropped["audit"]["events"].as_array_mut().unwrap().pop();
    let r = verify(&t, &cookie, &document, &dropped).await;
    assert_eq!(
        (r["valid"].as_bool(), &r["events_after_seal"]),
        (Some(true), &json!([]))
    );
    // A ceremony event after the seal cannot be.
    let events = evidence["audit"]["events"].as_array().unwrap();
    let last = events.last().unwrap();
    let seq = last["seq"].as_u64().unwrap() + 1;
    let at_ms = last["at_ms"].as_i64().unwrap() + 1;
    let prev = confidant_signature::Digest::from_hex(last["hash"].as_str().unwrap()).unwrap();
    let forged = confidant_signature::audit::AuditEvent {
        seq,
        kind: confidant_signature::audit::AuditKind::ConsentGiven,
        at_ms,
        detail: "late".into(),
        prev_hash: prev,
        hash: prev,
    };
    let forged = confidant_signature::audit::AuditEvent {
        hash: forged.compute_hash(),
        ..forged
    };
    let mut appended = evidence.clone();
    appended["audit"]["events"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::to_value(&forged).unwrap());
    let r = verify(&t, &cookie, &document, &appended).await;
    assert_eq!(
        (reason(&r), r["chain_fault"].as_str()),
        ("chain_broken", Some("kind_after_seal"))
    );

    // Submissions: a key twice is refused with 422 naming it (here in a fresh request).
    let tpl = template(&t, &cookie).await;
    let other = send(&t, &cookie, &tpl).await;
    open(&t, &other.token).await;
    let body = serde_json::to_string(&submission(synthetic_signature())).unwrap();
    let body = body.replacen("\"fields\":{", "\"fields\":{\"client_name\":\"Eve\",", 1);
    let body = body.replacen(
        "\"signer_name\":",
        "\"signer_name\":\"Eve\",\"signer_name\":",
        1,
    );
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/api/sign/{}", other.token))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(
        problems(&r)[0],
        ("fields.client_name".to_owned(), "duplicate_key".to_owned())
    );

    // The command line reads the same file the same way.
    let data = t.dir.path().join("data");
    let files = tempfile::tempdir().unwrap();
    let doc_path = files.path().join("document.html");
    let ev_path = files.path().join("evidence.json");
    std::fs::write(&doc_path, &document).unwrap();
    std::fs::write(&ev_path, &dup).unwrap();
    let out = confidant_cli(
        &data,
        &[
            "signature",
            "verify",
            doc_path.to_str().unwrap(),
            ev_path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (reason(&report), report["parse_fault"].as_str()),
        ("bundle_changed", Some("duplicate_key"))
    );
    // A file whose own members are duplicated is not an evidence file: exit 2, named.
    std::fs::write(&ev_path, text.replacen('{', "{\"format\":\"x\",", 1)).unwrap();
    let out = confidant_cli(
        &data,
        &[
            "signature",
            "verify",
            doc_path.to_str().unwrap(),
            ev_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate_key"));
}

/// One evidence file of the corpus: its name, its bytes, and what `confidant signature verify`
/// must say (`valid`, an invalid reason, or `refused` for exit 2).
type CorpusCase = (&'static str, Vec<u8>, &'static str);

fn with(v: &Value, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = v.clone();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// Re-hash (and optionally re-seal) an edited bundle.
fn resealed(
    evidence: &Value,
    key: Option<&confidant_signature::bundle::SealingKey>,
    edit: impl FnOnce(&mut confidant_signature::bundle::EvidenceBundle),
) -> Vec<u8> {
    let mut sealed: confidant_signature::bundle::SealedBundle =
        serde_json::from_value(evidence["sealed"].clone()).unwrap();
    edit(&mut sealed.bundle);
    let sealed = match key {
        Some(key) => {
            sealed.bundle.key_id = key.key_id();
            confidant_signature::bundle::seal(sealed.bundle, key).unwrap()
        }
        None => {
            sealed.bundle_sha256 = sealed.bundle.digest().unwrap();
            sealed
        }
    };
    with(evidence, |e| {
        e["sealed"] = serde_json::to_value(&sealed).unwrap()
    })
}

/// An audit event appended with correct links.
fn appended(evidence: &Value, kind: confidant_signature::audit::AuditKind) -> Vec<u8> {
    let events = evidence["audit"]["events"].as_array().unwrap();
    let last = events.last().unwrap();
    let prev = confidant_signature::Digest::from_hex(last["hash"].as_str().unwrap()).unwrap();
    let mut e = confidant_signature::audit::AuditEvent {
        seq: last["seq"].as_u64().unwrap() + 1,
        kind,
        at_ms: last["at_ms"].as_i64().unwrap() + 1000,
        detail: "appended later".into(),
        prev_hash: prev,
        hash: prev,
    };
    e.hash = e.compute_hash();
    with(evidence, |v| {
        v["audit"]["events"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::to_value(&e).unwrap())
    })
}

/// Issue 26: genuine evidence from the server and tampered variants, each verified by
/// `confidant signature verify` with the published public key; the verdicts are written to
/// `CONFIDANT_EVIDENCE_CORPUS` (default `target/evidence-corpus`) with the files, and
/// `tools/verify_evidence.py --corpus` (run by scripts/test.sh) must agree on every one.
#[tokio::test]
async fn evidence_corpus_for_the_second_verifier() {
    use confidant_signature::audit::AuditKind;
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("corpus@example.org", "Corpus").await;
    let (sent, document, evidence) = signed(&t, &cookie).await;
    let download = t
        .get(
            &format!("/api/signatures/requests/{}/evidence", sent.request_id),
            Some(&cookie),
        )
        .await
        .body;
    let text = serde_json::to_string(&evidence).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let other = confidant_signature::bundle::SealingKey::from_pkcs8(
        &confidant_signature::bundle::SealingKey::generate_pkcs8(&rng).unwrap(),
    )
    .unwrap();
    let name = evidence["sealed"]["bundle"]["signer_name"]
        .as_str()
        .unwrap();
    let name_json = format!("\"signer_name\":{}", serde_json::to_string(name).unwrap());
    let key_id = evidence["sealed"]["key_id"].as_str().unwrap().to_owned();
    let width = evidence["sealed"]["bundle"]["capture_context"]["canvas_width"]
        .as_f64()
        .unwrap();
    let width_text = format!(
        "\"canvas_width\":{}",
        confidant_signature::canonical::f64_text(width)
    );
    assert!(text.contains(&width_text), "{width_text}");

    let mut cases: Vec<CorpusCase> = vec![
        ("genuine-as-downloaded", download, "valid"),
        ("genuine-compact", text.clone().into_bytes(), "valid"),
        (
            "post-seal-event-dropped",
            with(&evidence, |v| {
                v["audit"]["events"].as_array_mut().unwrap().pop();
            }),
            "valid",
        ),
        (
            "post-seal-archived-appended",
            appended(&evidence, AuditKind::Archived),
            "valid",
        ),
        (
            "ceremony-event-after-seal",
            appended(&evidence, AuditKind::ConsentGiven),
            "chain_broken",
        ),
        (
            "request-id-changed",
            with(&evidence, |v| v["request_id"] = json!("another-request")),
            "chain_broken",
        ),
        (
            "genesis-changed",
            with(&evidence, |v| {
                v["audit"]["genesis"] = json!("00".repeat(32))
            }),
            "chain_broken",
        ),
        (
            "event-seq",
            with(&evidence, |v| v["audit"]["events"][2]["seq"] = json!(7)),
            "chain_broken",
        ),
        (
            "event-kind",
            with(&evidence, |v| {
                v["audit"]["events"][1]["kind"] = json!("capture_started")
            }),
            "chain_broken",
        ),
        (
            "event-at-ms",
            with(&evidence, |v| {
                let at = v["audit"]["events"][3]["at_ms"].as_i64().unwrap();
                v["audit"]["events"][3]["at_ms"] = json!(at - 1)
            }),
            "chain_broken",
        ),
        (
            "event-detail",
            with(&evidence, |v| {
                v["audit"]["events"][0]["detail"] = json!("edited")
            }),
            "chain_broken",
        ),
        (
            "event-prev-hash",
            with(&evidence, |v| {
                v["audit"]["events"][4]["prev_hash"] = json!("11".repeat(32))
            }),
            "chain_broken",
        ),
        (
            "event-hash",
            with(&evidence, |v| {
                v["audit"]["events"][4]["hash"] = json!("22".repeat(32))
            }),
            "chain_broken",
        ),
        (
            "event-removed",
            with(&evidence, |v| {
                v["audit"]["events"].as_array_mut().unwrap().remove(1);
            }),
            "chain_broken",
        ),
        (
            "chain-truncated",
            with(&evidence, |v| {
                v["audit"]["events"].as_array_mut().unwrap().truncate(3);
            }),
            "chain_broken",
        ),
        (
            "event-unknown-kind",
            with(&evidence, |v| {
                v["audit"]["events"][1]["kind"] = json!("signed")
            }),
            "chain_broken",
        ),
        (
            "event-unknown-field",
            with(&evidence, |v| v["audit"]["events"][2]["note"] = json!("x")),
            "chain_broken",
        ),
        (
            "signer-name-edited",
            with(&evidence, |v| {
                v["sealed"]["bundle"]["signer_name"] = json!("Eve")
            }),
            "bundle_changed",
        ),
        (
            "signer-name-rehashed",
            resealed(&evidence, None, |b| b.signer_name = "Eve".into()),
            "seal_invalid",
        ),
        (
            "resealed-with-another-key",
            resealed(&evidence, Some(&other), |b| b.signer_name = "Eve".into()),
            "unknown_key",
        ),
        (
            "document-hash-rehashed",
            resealed(&evidence, None, |b| {
                b.document_sha256 = confidant_signature::sha256(b"x")
            }),
            "seal_invalid",
        ),
        (
            "sealed-at-edited",
            with(&evidence, |v| {
                let at = v["sealed"]["bundle"]["sealed_at_ms"].as_i64().unwrap();
                v["sealed"]["bundle"]["sealed_at_ms"] = json!(at + 1)
            }),
            "bundle_changed",
        ),
        (
            "audit-count-edited",
            with(&evidence, |v| {
                v["sealed"]["bundle"]["audit_event_count"] = json!(4)
            }),
            "bundle_changed",
        ),
        (
            "pixel-ratio-edited",
            with(&evidence, |v| {
                v["sealed"]["bundle"]["capture_context"]["pixel_ratio"] = json!(3.5)
            }),
            "bundle_changed",
        ),
        (
            "envelope-nonce-edited",
            with(&evidence, |v| {
                v["sealed"]["bundle"]["biometric_envelope"]["nonce"] = json!("AAAAAAAAAAAAAAAA")
            }),
            "bundle_changed",
        ),
        (
            "bundle-sha-edited",
            with(&evidence, |v| {
                v["sealed"]["bundle_sha256"] = json!("33".repeat(32))
            }),
            "bundle_changed",
        ),
        (
            "signature-edited",
            with(&evidence, |v| {
                let s = v["sealed"]["signature"].as_str().unwrap();
                let mut raw = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
                raw[0] ^= 1;
                v["sealed"]["signature"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(raw));
            }),
            "seal_invalid",
        ),
        (
            "signature-short",
            with(&evidence, |v| {
                let s = v["sealed"]["signature"].as_str().unwrap();
                let raw = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
                v["sealed"]["signature"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(&raw[..63]));
            }),
            "bundle_changed",
        ),
        (
            "key-id-upper-case",
            text.replace(&key_id, &key_id.to_uppercase()).into_bytes(),
            "bundle_changed",
        ),
        (
            "key-id-unknown",
            with(&evidence, |v| {
                v["sealed"]["key_id"] = json!("0123456789abcdef")
            }),
            "unknown_key",
        ),
        (
            "digest-upper-case",
            with(&evidence, |v| {
                let d = v["sealed"]["bundle"]["image_sha256"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                v["sealed"]["bundle"]["image_sha256"] = json!(d)
            }),
            "bundle_changed",
        ),
        (
            "bundle-unknown-field",
            with(&evidence, |v| v["sealed"]["bundle"]["note"] = json!("x")),
            "bundle_changed",
        ),
        (
            "bundle-missing-field",
            with(&evidence, |v| {
                v["sealed"]["bundle"]
                    .as_object_mut()
                    .unwrap()
                    .remove("signer_name");
            }),
            "bundle_changed",
        ),
        (
            "duplicate-signer-name",
            text.replacen(
                &name_json,
                &format!("{name_json},\"signer_name\":\"Eve\""),
                1,
            )
            .into_bytes(),
            "bundle_changed",
        ),
        (
            "duplicate-signer-name-first",
            text.replacen(
                &name_json,
                &format!("\"signer_name\":\"Eve\",{name_json}"),
                1,
            )
            .into_bytes(),
            "bundle_changed",
        ),
        (
            "float-written-as-integer",
            text.replacen(
                &width_text,
                &format!("\"canvas_width\":{}", width as i64),
                1,
            )
            .into_bytes(),
            if width.fract() == 0.0 {
                "bundle_changed"
            } else {
                "valid"
            },
        ),
        (
            "float-with-exponent",
            text.replacen(&width_text, &format!("\"canvas_width\":{width:e}"), 1)
                .into_bytes(),
            "bundle_changed",
        ),
        (
            "integer-as-float",
            with(&evidence, |v| v["sealed"]["bundle"]["version"] = json!(1.0)),
            "bundle_changed",
        ),
        (
            "form-value-edited",
            with(&evidence, |v| v["form_data"]["client_name"] = json!("Eve")),
            "form_data_changed",
        ),
        (
            "form-field-added",
            with(&evidence, |v| v["form_data"]["extra"] = json!("")),
            "form_data_changed",
        ),
        (
            "form-value-not-string",
            with(&evidence, |v| {
                v["form_data"]["consent_recording"] = json!(true)
            }),
            "form_data_changed",
        ),
        (
            "form-duplicate-field",
            text.replacen(
                "\"form_data\":{",
                "\"form_data\":{\"client_name\":\"Eve\",",
                1,
            )
            .into_bytes(),
            "form_data_changed",
        ),
        (
            "audit-duplicate-detail",
            {
                let d = format!(
                    "\"detail\":{}",
                    serde_json::to_string(&evidence["audit"]["events"][2]["detail"]).unwrap()
                );
                let at = text.match_indices(&d).next().unwrap().0 + d.len();
                format!("{},\"detail\":\"x\"{}", &text[..at], &text[at..]).into_bytes()
            },
            "chain_broken",
        ),
        (
            "at-ms-with-exponent",
            {
                let at = evidence["audit"]["events"][1]["at_ms"].as_i64().unwrap();
                text.replacen(
                    &format!("\"at_ms\":{at}"),
                    &format!("\"at_ms\":{:e}", at as f64),
                    1,
                )
                .into_bytes()
            },
            "chain_broken",
        ),
        (
            "image-edited",
            with(&evidence, |v| {
                let s = v["image_svg"]
                    .as_str()
                    .unwrap()
                    .replacen("<path", "<path data-x=\"1\"", 1);
                v["image_svg"] = json!(s)
            }),
            "image_changed",
        ),
        (
            "image-left-out",
            with(&evidence, |v| {
                v.as_object_mut().unwrap().remove("image_svg");
            }),
            "valid",
        ),
        (
            "duplicate-format",
            text.replacen('{', "{\"format\":\"confidant-signature-evidence/1\",", 1)
                .into_bytes(),
            "refused",
        ),
        (
            "unknown-top-level-member",
            with(&evidence, |v| v["note"] = json!("x")),
            "refused",
        ),
        (
            "request-id-missing",
            with(&evidence, |v| {
                v.as_object_mut().unwrap().remove("request_id");
            }),
            "refused",
        ),
        (
            "other-format",
            with(&evidence, |v| {
                v["format"] = json!("confidant-signature-evidence/2")
            }),
            "refused",
        ),
        ("not-json", b"{\"format\":".to_vec(), "refused"),
        ("an-array", b"[]".to_vec(), "refused"),
    ];
    cases.extend(typed_name_corpus(&t, &cookie, &document, &evidence).await);

    let dir = std::env::var_os("CONFIDANT_EVIDENCE_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/evidence-corpus"));
    write_corpus(&t, &dir, &document, cases, None, &[]).await;
}

/// Writes `cases` with the document, the trusted keys (and the TSA certificate) to `dir`,
/// checks each with `confidant signature verify`, and records its verdict in
/// `dir/manifest.json` for `tools/verify_evidence.py --corpus`.
async fn write_corpus(
    t: &TestApp,
    dir: &Path,
    document: &[u8],
    cases: Vec<CorpusCase>,
    tsa_ca: Option<&Path>,
    own_keys: &[(&str, Vec<u8>)],
) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let data = t.dir.path().join("data");
    std::fs::write(dir.join("document.html"), document).unwrap();
    if let Some(ca) = tsa_ca {
        std::fs::copy(ca, dir.join("tsa-ca.pem")).unwrap();
    }
    std::fs::copy(
        data.join("signature-sealing-public.key"),
        dir.join("public.key"),
    )
    .unwrap();
    // And the key document the server publishes, as a second way to name the trusted key.
    let published = t
        .get("/.well-known/confidant-signature-keys.json", None)
        .await
        .body;
    std::fs::write(dir.join("keys.json"), published).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for (i, (name, bytes, want)) in cases.into_iter().enumerate() {
        let file = format!("{i:02}-{name}.json");
        std::fs::write(dir.join(&file), &bytes).unwrap();
        let document_path = dir.join("document.html");
        let file_path = dir.join(&file);
        let public_key = dir.join("public.key");
        let keys_json = dir.join("keys.json");
        let tsa_path = dir.join("tsa-ca.pem");
        // A case may trust its own key document (e.g. one that retires the key) instead.
        let own = own_keys.iter().find(|(n, _)| *n == name).map(|(_, doc)| {
            let keys = format!("{i:02}-{name}.keys.json");
            std::fs::write(dir.join(&keys), doc).unwrap();
            keys
        });
        let own_path = own.as_ref().map(|k| dir.join(k));
        let mut args = vec![
            "signature",
            "verify",
            document_path.to_str().unwrap(),
            file_path.to_str().unwrap(),
        ];
        match &own_path {
            Some(k) => args.extend(["--public-key", k.to_str().unwrap()]),
            None => args.extend([
                "--public-key",
                public_key.to_str().unwrap(),
                "--public-key",
                keys_json.to_str().unwrap(),
            ]),
        }
        if tsa_ca.is_some() {
            args.extend(["--tsa-ca", tsa_path.to_str().unwrap()]);
        }
        let out = confidant_cli(elsewhere.path(), &args);
        let exit = out.status.code().unwrap();
        let mut expected = if exit == 2 {
            json!({})
        } else {
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let got = match exit {
            0 => "valid",
            2 => "refused",
            _ => expected["reason"].as_str().unwrap_or("?"),
        };
        assert_eq!(
            got,
            want,
            "{file}: {expected} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        expected["exit"] = json!(exit);
        let mut case = json!({"file": file, "expected": expected});
        if let Some(k) = own {
            case["public_keys"] = json!([k]);
        }
        manifest.push(case);
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&json!({
            "document": "document.html",
            "public_keys": ["public.key", "keys.json"],
            "tsa_ca": tsa_ca.map(|_| "tsa-ca.pem"),
            "cases": manifest,
        }))
        .unwrap(),
    )
    .unwrap();
}

/// Issue 26: every sealing key, current and retired, is published at a stable public URL; the
/// command line fetches that document from the running server and trusts it; rotating the key
/// keeps the evidence the old key sealed valid; the escrow pair is made off the server.
#[tokio::test]
async fn published_keys_are_fetched_by_the_cli_and_rotation_keeps_evidence_valid() {
    const WELL_KNOWN: &str = "/.well-known/confidant-signature-keys.json";
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("keys@example.org", "Keys").await;
    let (_, document, evidence) = signed(&t, &cookie).await;
    let key_id = evidence["sealed"]["key_id"].as_str().unwrap().to_owned();

    // Public, no login: id, algorithm, public key and validity of each key.
    let r = t.get(WELL_KNOWN, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.header("cache-control").unwrap().starts_with("public"));
    let published = r.json();
    assert_eq!(published["format"], "confidant-signature-keys/1");
    let keys = published["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["key_id"], key_id.as_str());
    assert_eq!(keys[0]["algorithm"], "Ed25519");
    assert!(keys[0]["valid_from_ms"].as_i64().unwrap() > 0);
    assert_eq!(keys[0]["valid_until_ms"], Value::Null);

    let files = tempfile::tempdir().unwrap();
    let doc = files.path().join("document.html");
    let ev = files.path().join("evidence.json");
    std::fs::write(&doc, &document).unwrap();
    std::fs::write(&ev, serde_json::to_vec(&evidence).unwrap()).unwrap();
    let elsewhere = files.path().join("elsewhere");
    let cli = |dir: std::path::PathBuf, args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            confidant_cli(&dir, &args)
        })
    };
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let verify_args = |extra: &[String]| {
        let mut a = vec!["signature".into(), "verify".into(), s(&doc), s(&ev)];
        a.extend_from_slice(extra);
        a
    };

    // Off the server, trusting only what the server publishes, fetched by the CLI.
    let addr = t.serve_tcp().await;
    let url = format!("http://{addr}{WELL_KNOWN}");
    let out = cli(
        elsewhere.clone(),
        verify_args(&["--keys-url".into(), url.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The saved document works as a key file too; one with a key not matching its id does not.
    let saved = files.path().join("keys.json");
    std::fs::write(&saved, published.to_string()).unwrap();
    let out = cli(
        elsewhere.clone(),
        verify_args(&["--public-key".into(), s(&saved)]),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut forged = published.clone();
    forged["keys"][0]["key_id"] = json!("0123456789abcdef");
    std::fs::write(&saved, forged.to_string()).unwrap();
    let out = cli(
        elsewhere.clone(),
        verify_args(&["--public-key".into(), s(&saved)]),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cli(
        elsewhere.clone(),
        verify_args(&["--keys-url".into(), format!("http://{addr}/healthz")]),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "not a key document");

    // Rotation: a new current key; the old one retired but still published and trusted.
    let data = t.dir.path().join("data");
    let out = cli(
        data.clone(),
        vec!["signature".into(), "rotate-sealing-key".into()],
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_ne!(new_id, key_id);
    let out = cli(data.clone(), verify_args(&[])).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "old evidence after rotation: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let keys =
        confidant::signature::keys::load_or_create(&t.settings().signature_config()).unwrap();
    assert_eq!(keys.sealing.key_id(), new_id);
    assert_eq!(keys.trusted.len(), 2);
    assert_eq!(keys.published[0].key_id, key_id);
    assert!(keys.published[0].valid_until_ms.is_some());
    assert_eq!(keys.published[1].key_id, new_id);
    assert_eq!(keys.published[1].valid_until_ms, None);
    let v = confidant_signature::evidence::verify_file(
        &serde_json::to_vec(&evidence).unwrap(),
        &document,
        &keys.trusted,
        None,
    )
    .unwrap();
    assert!(v.is_valid(), "{v:?}");

    // The dashboard's key status: a warning while the generated escrow private key is here.
    let status = t.get("/api/signatures/keys", Some(&cookie)).await.json();
    assert_eq!(status["escrow_private_key_on_server"], true, "{status}");
    assert_eq!(status["keys_url"], WELL_KNOWN);
    std::fs::remove_file(data.join("escrow-private-key.MOVE-OFF-THIS-SERVER")).unwrap();
    let status = t.get("/api/signatures/keys", Some(&cookie)).await.json();
    assert_eq!(status["escrow_private_key_on_server"], false);
    assert_eq!(
        t.get("/api/signatures/keys", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The escrow pair, made on another machine: the private key in a new 0600 file, the
    // public key printed; never over an existing file.
    let private = files.path().join("escrow.key");
    let out = cli(
        elsewhere.clone(),
        vec![
            "signature".into(),
            "escrow-keygen".into(),
            "--private-key-out".into(),
            s(&private),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(mode(&private), 0o600);
    let secret = confidant::signature::keys::read_key_32(&private).unwrap();
    assert_eq!(
        hex::encode(confidant_signature::escrow::public_key_from_secret(&secret).as_bytes()),
        public
    );
    let out = cli(
        elsewhere,
        vec![
            "signature".into(),
            "escrow-keygen".into(),
            "--private-key-out".into(),
            s(&private),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing key file is never overwritten"
    );
}

/// A local RFC 3161 authority: `tools/local_tsa.py` (`openssl ts -reply` behind HTTP, with a
/// throwaway CA) on 127.0.0.1, stopped on drop. `DIR/down` makes it answer 503.
struct LocalTsa {
    child: std::process::Child,
    dir: tempfile::TempDir,
    url: String,
}

impl LocalTsa {
    fn start() -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/local_tsa.py"))
            .arg("--dir")
            .arg(dir.path())
            // genTime with milliseconds, so that both verifiers must read fractions alike.
            .args(["--lifetime-s", "300", "--precision", "3"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("local TSA did not start: {line:?}"))
            .to_owned();
        Self { child, dir, url }
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn down(&self, down: bool) {
        let flag = self.dir.path().join("down");
        if down {
            std::fs::write(flag, b"").unwrap();
        } else {
            std::fs::remove_file(flag).unwrap();
        }
    }

    /// A token for `imprint` straight from `openssl ts -reply` (what an operator could get).
    fn token_for(&self, imprint: &confidant_signature::Digest) -> Vec<u8> {
        let req = confidant_signature::timestamp::request(imprint, [1; 8]);
        let q = self.dir.path().join("manual.tsq");
        let r = self.dir.path().join("manual.tsr");
        std::fs::write(&q, &req.der).unwrap();
        let out = Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(self.dir.path().join("tsa.cnf"))
            .arg("-queryfile")
            .arg(&q)
            .arg("-out")
            .arg(&r)
            .output()
            .unwrap();
        assert!(out.status.success());
        let trust = confidant_signature::timestamp::TsaTrust::from_pem_or_der(
            &std::fs::read(self.ca()).unwrap(),
        )
        .unwrap();
        confidant_signature::timestamp::accept_response(
            &std::fs::read(r).unwrap(),
            &req,
            Some(&trust),
        )
        .unwrap()
        .0
    }
}

impl LocalTsa {
    /// A token for `imprint` signed as a second TSA certificate B (same key, issuer and serial
    /// as a certificate A), with A put in B's place: what ESS signingCertificate guards against.
    fn substituted_token_for(&self, imprint: &confidant_signature::Digest) -> Vec<u8> {
        let p = self.dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(p)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
        };
        let made = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/local_tsa.py"))
            .args(["--init-only", "--substitution-pair", "--dir"])
            .arg(p)
            .status()
            .unwrap();
        assert!(made.success());
        let req = confidant_signature::timestamp::request(imprint, [2; 8]);
        std::fs::write(p.join("b.tsq"), &req.der).unwrap();
        openssl(&[
            "ts",
            "-reply",
            "-config",
            "tsa-b.cnf",
            "-queryfile",
            "b.tsq",
            "-token_out",
            "-out",
            "b.tst",
        ]);
        let mut token = std::fs::read(p.join("b.tst")).unwrap();
        let (a, b) = (
            std::fs::read(p.join("A.der")).unwrap(),
            std::fs::read(p.join("B.der")).unwrap(),
        );
        let at = token
            .windows(b.len())
            .position(|w| w == b.as_slice())
            .unwrap();
        token[at..at + a.len()].copy_from_slice(&a);
        token
    }
}

impl Drop for LocalTsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tsa_app(backend: Backend, tsa: &LocalTsa) -> TestApp {
    let url = tsa.url.clone();
    let ca = tsa.ca();
    TestApp::build_with(backend, move |c| {
        c.signature_tsa_url = Some(url);
        c.signature_tsa_ca_file = Some(ca);
        c.signature_tsa_retry_seconds = 1;
    })
    .await
}

async fn evidence_of(t: &TestApp, cookie: &str, id: &str) -> Value {
    let r = t
        .get(
            &format!("/api/signatures/requests/{id}/evidence"),
            Some(cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn request_view(t: &TestApp, cookie: &str, id: &str) -> Value {
    let r = t
        .get(&format!("/api/signatures/requests/{id}"), Some(cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn seal_imprint_of(evidence: &Value) -> confidant_signature::Digest {
    let sig = base64::engine::general_purpose::STANDARD
        .decode(evidence["sealed"]["signature"].as_str().unwrap())
        .unwrap();
    confidant_signature::timestamp::seal_imprint(&sig)
}

/// `openssl ts -verify -digest HEX -in TOKEN -token_in -CAfile CA` accepts the token?
fn openssl_ts_verifies(evidence: &Value, digest_hex: &str, ca: &Path) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token.der");
    std::fs::write(
        &token,
        base64::engine::general_purpose::STANDARD
            .decode(evidence["seal_timestamp"]["token"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    Command::new("openssl")
        .args(["ts", "-verify", "-digest", digest_hex, "-token_in", "-in"])
        .arg(&token)
        .arg("-CAfile")
        .arg(ca)
        .output()
        .unwrap()
        .status
        .success()
}

/// The server's own sealing key, as an operator re-sealing altered evidence would use it.
fn server_sealing_key(t: &TestApp) -> confidant_signature::bundle::SealingKey {
    confidant::signature::keys::sealing_key(&t.dir.path().join("data"), false).unwrap()
}

/// Issue 26: with a TSA configured every seal gets an RFC 3161 time-stamp that the server,
/// the CLI and plain `openssl ts -verify` accept; altered evidence re-sealed by the operator
/// with the server's key and the old token is reported (`imprint_mismatch`), as is a fresh
/// token on a back-dated seal (`time_mismatch`); a malformed token is a named fault; and with
/// the TSA down sealing goes on, the seal is `pending`, and the job stamps it once the TSA is
/// back (or gives up after 24 hours: `failed`).
async fn timestamp_flow(backend: Backend) {
    use confidant::signature::tsa::stamp_due;
    let tsa = LocalTsa::start();
    let t = tsa_app(backend, &tsa).await;
    let (_, cookie) = t.counsellor("tsa@example.org", "TSA").await;
    let (sent, document, _) = signed(&t, &cookie).await;
    // The submission asked the TSA in the background; the job round makes sure it is done.
    stamp_due(&t.state.signature, confidant::db::now_ms())
        .await
        .unwrap();
    let evidence = evidence_of(&t, &cookie, &sent.request_id).await;
    let token_b64 = evidence["seal_timestamp"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no time-stamp in {}", evidence["seal_timestamp"]));
    assert!(!token_b64.is_empty());
    let view = request_view(&t, &cookie, &sent.request_id).await;
    assert_eq!(
        view["timestamp"]["state"], "stamped",
        "{}",
        view["timestamp"]
    );
    assert_eq!(view["verification"]["valid"], true);

    // The HTTP verify route: valid, with the token's genTime, the chain verified.
    let v = verify(&t, &cookie, &document, &evidence).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["timestamp"]["tsa_chain"], "verified");
    assert_eq!(v["timestamp"]["tsa"], "CN=Confidant test TSA");
    let gen = v["timestamp"]["gen_time_ms"].as_i64().unwrap();
    let sealed_at = evidence["sealed"]["bundle"]["sealed_at_ms"]
        .as_i64()
        .unwrap();
    assert!(
        (gen - sealed_at).abs() < 10 * 60 * 1000,
        "{gen} vs {sealed_at}"
    );

    // Plain openssl agrees, over SHA-256 of the seal signature bytes (FORMAT.md §10).
    let imprint = seal_imprint_of(&evidence);
    assert!(openssl_ts_verifies(&evidence, &imprint.to_hex(), &tsa.ca()));

    // The CLI on files elsewhere: with --tsa-ca the chain is verified, without it not checked.
    let files = tempfile::tempdir().unwrap();
    let doc_path = files.path().join("document.html");
    let ev_path = files.path().join("evidence.json");
    let key_path = files.path().join("public.key");
    std::fs::write(&doc_path, &document).unwrap();
    std::fs::write(&ev_path, serde_json::to_vec(&evidence).unwrap()).unwrap();
    std::fs::copy(
        t.dir.path().join("data/signature-sealing-public.key"),
        &key_path,
    )
    .unwrap();
    let cli = |extra: &[&str], ev: &Path| {
        let mut args = vec![
            "signature",
            "verify",
            doc_path.to_str().unwrap(),
            ev.to_str().unwrap(),
            "--public-key",
            key_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = confidant_cli(files.path(), &args);
        (
            out.status.code().unwrap(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
        )
    };
    let ca = tsa.ca();
    let (code, out) = cli(&["--tsa-ca", ca.to_str().unwrap()], &ev_path);
    assert_eq!(
        (code, &out["timestamp"]["tsa_chain"]),
        (0, &json!("verified")),
        "{out}"
    );
    assert_eq!(out["timestamp"]["gen_time_ms"], gen);
    let (code, out) = cli(&[], &ev_path);
    assert_eq!(
        (code, &out["timestamp"]["tsa_chain"]),
        (0, &json!("not_checked")),
        "{out}"
    );

    // A TSA under another CA is not trusted.
    let stranger = LocalTsa::start();
    let other_ca = stranger.ca();
    let (code, out) = cli(&["--tsa-ca", other_ca.to_str().unwrap()], &ev_path);
    assert_eq!(
        (code, &out["reason"], &out["timestamp_fault"]),
        (1, &json!("timestamp_invalid"), &json!("untrusted_tsa")),
        "{out}"
    );

    // The operator alters the signer's name and re-seals with the server's own key, keeping
    // the token: the token time-stamps the old seal.
    let key = server_sealing_key(&t);
    let stale = resealed(&evidence, Some(&key), |b| b.signer_name = "Eve".into());
    let stale: Value = serde_json::from_slice(&stale).unwrap();
    let v = verify(&t, &cookie, &document, &stale).await;
    assert_eq!(
        (&v["reason"], &v["timestamp_fault"]),
        (&json!("timestamp_invalid"), &json!("imprint_mismatch")),
        "{v}"
    );
    assert!(!openssl_ts_verifies(
        &stale,
        &seal_imprint_of(&stale).to_hex(),
        &tsa.ca()
    ));

    // Back-dated: re-sealed with an earlier sealed_at_ms and a fresh token for the new seal.
    let backdated = resealed(&evidence, Some(&key), |b| {
        b.sealed_at_ms -= 3 * 24 * 60 * 60 * 1000
    });
    let mut backdated: Value = serde_json::from_slice(&backdated).unwrap();
    let fresh = tsa.token_for(&seal_imprint_of(&backdated));
    backdated["seal_timestamp"]["token"] =
        json!(base64::engine::general_purpose::STANDARD.encode(fresh));
    let v = verify(&t, &cookie, &document, &backdated).await;
    assert_eq!(
        (&v["reason"], &v["timestamp_fault"]),
        (&json!("timestamp_invalid"), &json!("time_mismatch")),
        "{v}"
    );

    // Malformed tokens: named, never a panic.
    for (token, fault, parse_fault) in [
        (json!("AAECAw=="), "malformed", None),
        (json!("not base64!"), "malformed", Some("invalid_value")),
        (json!(7), "malformed", Some("invalid_value")),
    ] {
        let bad = with(&evidence, |e| e["seal_timestamp"]["token"] = token.clone());
        let bad: Value = serde_json::from_slice(&bad).unwrap();
        let v = verify(&t, &cookie, &document, &bad).await;
        assert_eq!(v["reason"], "timestamp_invalid", "{v}");
        assert_eq!(v["timestamp_fault"], fault, "{v}");
        assert_eq!(v["parse_fault"].as_str(), parse_fault, "{v}");
    }
    let bad = with(&evidence, |e| e["seal_timestamp"]["note"] = json!("x"));
    let v = verify(
        &t,
        &cookie,
        &document,
        &serde_json::from_slice(&bad).unwrap(),
    )
    .await;
    assert_eq!(
        (&v["reason"], &v["parse_fault"], &v["parse_path"]),
        (
            &json!("timestamp_invalid"),
            &json!("unknown_field"),
            &json!("seal_timestamp.note")
        ),
        "{v}"
    );

    // The TSA is down: signing still succeeds, the seal is pending and says why.
    tsa.down(true);
    let (sent2, document2, evidence2) = signed(&t, &cookie).await;
    let now = confidant::db::now_ms();
    assert_eq!(stamp_due(&t.state.signature, now).await.unwrap(), 0);
    let view = request_view(&t, &cookie, &sent2.request_id).await;
    assert_eq!(
        view["timestamp"]["state"], "pending",
        "{}",
        view["timestamp"]
    );
    assert!(view["timestamp"]["last_error"]
        .as_str()
        .unwrap()
        .contains("HTTP 503"));
    assert_eq!(view["verification"]["valid"], true);
    assert!(evidence2.get("seal_timestamp").is_none(), "{evidence2}");
    assert_eq!(
        verify(&t, &cookie, &document2, &evidence2).await["valid"],
        true
    );
    // Back again: the job's next round stamps it.
    tsa.down(false);
    assert_eq!(
        stamp_due(&t.state.signature, now + 60 * 60 * 1000)
            .await
            .unwrap(),
        1
    );
    let evidence2 = evidence_of(&t, &cookie, &sent2.request_id).await;
    let v = verify(&t, &cookie, &document2, &evidence2).await;
    assert_eq!(v["timestamp"]["tsa_chain"], "verified", "{v}");
    assert_eq!(
        request_view(&t, &cookie, &sent2.request_id).await["timestamp"]["state"],
        "stamped"
    );

    // Down for a day: the job gives up, the evidence stays valid without a time-stamp.
    tsa.down(true);
    let (sent3, _, _) = signed(&t, &cookie).await;
    stamp_due(&t.state.signature, confidant::db::now_ms())
        .await
        .unwrap();
    stamp_due(
        &t.state.signature,
        confidant::db::now_ms() + 24 * 60 * 60 * 1000,
    )
    .await
    .unwrap();
    let view = request_view(&t, &cookie, &sent3.request_id).await;
    assert_eq!(
        view["timestamp"]["state"], "failed",
        "{}",
        view["timestamp"]
    );
    assert_eq!(view["verification"]["valid"], true);
    assert_eq!(
        stamp_due(
            &t.state.signature,
            confidant::db::now_ms() + 48 * 60 * 60 * 1000
        )
        .await
        .unwrap(),
        0
    );
    tsa.down(false);
}

#[tokio::test]
async fn seals_are_time_stamped_by_a_local_tsa_on_sqlite() {
    timestamp_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn seals_are_time_stamped_by_a_local_tsa_on_postgres() {
    if Backend::from_env() != Backend::Postgres {
        return;
    }
    timestamp_flow(Backend::Postgres).await;
}

/// Issue 26: the second verifier's corpus for time-stamps (written to
/// `CONFIDANT_EVIDENCE_CORPUS_TIMESTAMP`, default `target/evidence-corpus-timestamp`, with the
/// local TSA's CA certificate): a genuine time-stamped file, a stale token after a re-seal with
/// the server's key, a back-dated re-seal with a fresh token, a token from a TSA under another
/// CA, a token whose signature was changed, and malformed members.
#[tokio::test]
async fn evidence_corpus_with_time_stamps_for_the_second_verifier() {
    let tsa = LocalTsa::start();
    let t = tsa_app(Backend::Sqlite, &tsa).await;
    let (_, cookie) = t.counsellor("tsa-corpus@example.org", "Corpus").await;
    let (sent, document, _) = signed(&t, &cookie).await;
    confidant::signature::tsa::stamp_due(&t.state.signature, confidant::db::now_ms())
        .await
        .unwrap();
    let evidence = evidence_of(&t, &cookie, &sent.request_id).await;
    let token = base64::engine::general_purpose::STANDARD
        .decode(evidence["seal_timestamp"]["token"].as_str().unwrap())
        .unwrap();
    let b64 = |bytes: &[u8]| json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    let key = server_sealing_key(&t);
    let backdated = {
        let v = resealed(&evidence, Some(&key), |b| {
            b.sealed_at_ms -= 3 * 24 * 60 * 60 * 1000
        });
        let mut v: Value = serde_json::from_slice(&v).unwrap();
        v["seal_timestamp"]["token"] = b64(&tsa.token_for(&seal_imprint_of(&v)));
        serde_json::to_vec(&v).unwrap()
    };
    let stranger = LocalTsa::start();
    let mut flipped = token.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    let cases: Vec<CorpusCase> = vec![
        (
            "time-stamped",
            serde_json::to_vec(&evidence).unwrap(),
            "valid",
        ),
        (
            "time-stamp-null",
            with(&evidence, |v| v["seal_timestamp"] = Value::Null),
            "valid",
        ),
        (
            "stale-token-after-reseal",
            resealed(&evidence, Some(&key), |b| b.signer_name = "Eve".into()),
            "timestamp_invalid",
        ),
        (
            "back-dated-reseal-fresh-token",
            backdated,
            "timestamp_invalid",
        ),
        (
            "token-from-a-tsa-under-another-ca",
            with(&evidence, |v| {
                v["seal_timestamp"]["token"] = b64(&stranger.token_for(&seal_imprint_of(v)))
            }),
            "timestamp_invalid",
        ),
        (
            "token-signature-changed",
            with(&evidence, |v| v["seal_timestamp"]["token"] = b64(&flipped)),
            "timestamp_invalid",
        ),
        (
            "token-not-der",
            with(&evidence, |v| {
                v["seal_timestamp"]["token"] = b64(b"\x30\x03\x02\x01")
            }),
            "timestamp_invalid",
        ),
        (
            "token-not-base64",
            with(&evidence, |v| v["seal_timestamp"]["token"] = json!("AAE")),
            "timestamp_invalid",
        ),
        (
            "time-stamp-unknown-member",
            with(&evidence, |v| v["seal_timestamp"]["genTime"] = json!("x")),
            "timestamp_invalid",
        ),
        (
            "signer-certificate-substituted",
            with(&evidence, |v| {
                v["seal_timestamp"]["token"] = b64(&tsa.substituted_token_for(&seal_imprint_of(v)))
            }),
            "timestamp_invalid",
        ),
        (
            "sealed-after-the-key-was-retired",
            serde_json::to_vec(&evidence).unwrap(),
            "key_retired",
        ),
    ];
    // A key document that says the key was retired a second before this seal.
    let mut retiring: Value = t
        .get("/.well-known/confidant-signature-keys.json", None)
        .await
        .json();
    retiring["keys"][0]["valid_until_ms"] = json!(
        evidence["sealed"]["bundle"]["sealed_at_ms"]
            .as_i64()
            .unwrap()
            - 1000
    );
    let retiring = serde_json::to_vec(&retiring).unwrap();
    let dir = std::env::var_os("CONFIDANT_EVIDENCE_CORPUS_TIMESTAMP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/evidence-corpus-timestamp")
        });
    write_corpus(
        &t,
        &dir,
        &document,
        cases,
        Some(&tsa.ca()),
        &[("sealed-after-the-key-was-retired", retiring)],
    )
    .await;
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let faults: Vec<&str> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["expected"]["timestamp_fault"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        faults,
        [
            "-",
            "-",
            "imprint_mismatch",
            "time_mismatch",
            "untrusted_tsa",
            "signature_invalid",
            "malformed",
            "malformed",
            "malformed",
            "certificate_mismatch",
            "-"
        ]
    );
}

#[test]
fn tsa_options_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |edit: &dyn Fn(&mut confidant::Config)| {
        let mut c = common::config(dir.path().join("data"));
        edit(&mut c);
        c.resolve().err().map(|e| e.to_string()).unwrap_or_default()
    };
    let url = || Some("http://127.0.0.1:9/".to_owned());
    let ca = || Some(dir.path().join("ca.pem"));
    assert!(refused(&|c| c.signature_tsa_url = url()).contains("signature-tsa-ca-file"));
    assert!(refused(&|c| c.signature_tsa_ca_file = ca()).contains("signature-tsa-url"));
    assert!(refused(&|c| {
        c.signature_tsa_url = Some("ftp://tsa.example/".into());
        c.signature_tsa_ca_file = ca();
    })
    .contains("signature-tsa-url"));
    assert!(refused(&|c| c.signature_tsa_retry_seconds = 0).contains("signature-tsa-retry-seconds"));
    assert_eq!(
        refused(&|c| {
            c.signature_tsa_url = url();
            c.signature_tsa_ca_file = ca();
        }),
        ""
    );
}

// ------------------------------------------------------------------ typed name (issue 18)

/// Sends `tpl` allowing (or not) a typed name, to a recipient.
async fn send_with(t: &TestApp, cookie: &str, tpl: &str, allow_typed_name: bool) -> Sent {
    let r = t
        .post(
            "/api/signatures/requests",
            Some(cookie),
            Some(json!({
                "template_id": tpl,
                "allow_typed_name": allow_typed_name,
                "recipient_name": "  Ana Example ",
                "recipient_email": "Ana.Example@Example.org",
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let req = r.json();
    assert_eq!(req["allow_typed_name"], allow_typed_name);
    assert_eq!(
        req["recipient"],
        json!({"name": "Ana Example", "email": "ana.example@example.org"})
    );
    let url = req["sign_url"].as_str().unwrap();
    Sent {
        request_id: req["id"].as_str().unwrap().to_owned(),
        token: url.rsplit('/').next().unwrap().to_owned(),
    }
}

fn typed_submission(accepted: bool, language: &str) -> Value {
    json!({
        "signer_name": "Ana Example",
        "consent": true,
        "fields": {"client_name": "Ana Example", "date_of_birth": "1990-04-01", "consent_recording": true},
        "method": "typed_name",
        "typed_name": {
            "text": " Ana Example ",
            "declaration_accepted": accepted,
            "declaration_language": language,
            "typing_started_at_ms": 1_750_000_000_000_i64,
            "typing_ended_at_ms": 1_750_000_004_000_i64,
            "user_agent": "SignatureTest/1.0",
        },
    })
}

/// A request signed with a typed name: `(sent, document bytes, evidence)`.
async fn typed_signed(t: &TestApp, cookie: &str) -> (Sent, Vec<u8>, Value) {
    let tpl = template(t, cookie).await;
    let sent = send_with(t, cookie, &tpl, true).await;
    open(t, &sent.token).await;
    assert_eq!(
        event(t, &sent.token, "typing_started").await.status,
        StatusCode::NO_CONTENT
    );
    let r = submit(t, &sent.token, typed_submission(true, "de")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["method"], "typed_name");
    assert!(r.json().get("dynamics").is_none(), "{}", r.text());
    let id = &sent.request_id;
    let doc = t
        .get(
            &format!("/api/signatures/requests/{id}/document"),
            Some(cookie),
        )
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let ev = t
        .get(
            &format!("/api/signatures/requests/{id}/evidence"),
            Some(cookie),
        )
        .await;
    assert_eq!(ev.status, StatusCode::OK, "{}", ev.text());
    (sent, doc.body, ev.json())
}

async fn typed_name_flow(backend: Backend) {
    let t = TestApp::on(backend).await;
    let (_, cookie) = t.counsellor("typed@example.org", "Dr. Typed").await;
    let tpl = template(&t, &cookie).await;
    let sent = send_with(&t, &cookie, &tpl, true).await;
    let id = sent.request_id.clone();

    // Sent, not yet opened; the recipient is sealed at rest, not stored in the clear.
    let before = request_view(&t, &cookie, &id).await;
    assert_eq!(before["status"], "pending");
    assert!(before.get("opened_at").is_none(), "{before}");
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT recipient_sealed FROM signature_requests WHERE id = $1")
            .bind(&id)
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    let raw = String::from_utf8_lossy(&sealed);
    assert!(
        !raw.contains("example.org") && !raw.contains("Ana"),
        "{raw}"
    );

    // The page offers the alternative, with the declaration in both languages.
    let view = open(&t, &sent.token).await;
    assert_eq!(view["typed_name_allowed"], true);
    assert_eq!(
        view["typed_name_declarations"]["en"],
        "I declare that typing my name here is my signature on this document."
    );
    assert!(view["typed_name_declarations"]["de"]
        .as_str()
        .unwrap()
        .starts_with("Ich erkläre"));
    // Opened now.
    let list = t
        .get("/api/signatures/requests", Some(&cookie))
        .await
        .json();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert!(mine["opened_at"].is_string(), "{mine}");
    assert_eq!(mine["recipient"]["email"], "ana.example@example.org");

    // Without the declaration, or in a language without one: refused, naming the field.
    let r = submit(&t, &sent.token, typed_submission(false, "en")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problems(&r),
        vec![(
            "typed_name.declaration_accepted".to_owned(),
            "required".to_owned()
        )]
    );
    let r = submit(&t, &sent.token, typed_submission(true, "fr")).await;
    assert_eq!(
        problems(&r),
        vec![(
            "typed_name.declaration_language".to_owned(),
            "invalid".to_owned()
        )]
    );

    assert_eq!(
        event(&t, &sent.token, "typing_started").await.status,
        StatusCode::NO_CONTENT
    );
    let r = submit(&t, &sent.token, typed_submission(true, "en")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let copy = r.json()["copy"].clone();

    // The signer's own copy, without an account: the same document and evidence file the
    // counsellor gets, which the CLI verifies; an altered token is not found.
    let copy_doc = t.get(copy["document_url"].as_str().unwrap(), None).await;
    assert_eq!(copy_doc.status, StatusCode::OK);
    let copy_ev = t.get(copy["evidence_url"].as_str().unwrap(), None).await;
    assert_eq!(copy_ev.status, StatusCode::OK);
    assert_eq!(
        copy_ev.header("content-disposition"),
        Some(format!("attachment; filename=\"evidence-{id}.json\"").as_str())
    );
    let owner_ev = t
        .get(
            &format!("/api/signatures/requests/{id}/evidence"),
            Some(&cookie),
        )
        .await;
    assert_eq!(copy_ev.body, owner_ev.body);
    let url = copy["evidence_url"].as_str().unwrap();
    let token = url
        .trim_start_matches("/api/sign/copy/")
        .trim_end_matches("/evidence");
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .unwrap();
    raw[3] ^= 1; // a later expiry
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let r = t
        .get(&format!("/api/sign/copy/{forged}/evidence"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let copies = tempfile::tempdir().unwrap();
    std::fs::write(copies.path().join("doc.html"), &copy_doc.body).unwrap();
    std::fs::write(copies.path().join("evidence.json"), &copy_ev.body).unwrap();
    let out = confidant_cli(
        &t.dir.path().join("data"),
        &[
            "signature",
            "verify",
            copies.path().join("doc.html").to_str().unwrap(),
            copies.path().join("evidence.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Verified as a typed name, never as a handwritten signature; no image.
    let after = request_view(&t, &cookie, &id).await;
    assert_eq!(after["status"], "signed");
    assert_eq!(after["verification"]["valid"], true, "{after}");
    assert_eq!(after["verification"]["method"], "typed_name");
    assert_eq!(
        after["verification"]["method_summary"],
        "typed name with declaration"
    );
    assert!(after.get("image_url").is_none() && after.get("dynamics").is_none());
    let image = t
        .get(
            &format!("/api/signatures/requests/{id}/image"),
            Some(&cookie),
        )
        .await;
    assert_eq!(image.status, StatusCode::NOT_FOUND);

    // The evidence records it as such: version 2, the text, the declaration shown and its
    // language, the permission; no strokes, no image.
    let evidence = evidence_of(&t, &cookie, &id).await;
    let bundle = &evidence["sealed"]["bundle"];
    assert_eq!(bundle["version"], 2);
    assert_eq!(bundle["method"], "typed_name");
    assert_eq!(bundle["typed_name"]["text"], "Ana Example");
    assert_eq!(
        bundle["typed_name"]["declaration"],
        view["typed_name_declarations"]["en"]
    );
    assert_eq!(bundle["typed_name"]["declaration_language"], "en");
    assert_eq!(bundle["typed_name"]["declaration_accepted"], true);
    assert_eq!(bundle["typed_name"]["allowed_by_request"], true);
    assert_eq!(
        bundle["typed_name"]["client_typing_started_at_ms"],
        1_750_000_000_000_i64
    );
    for absent in [
        "biometric_envelope",
        "capture_context",
        "image_sha256",
        "time_series_format",
    ] {
        assert!(bundle.get(absent).is_none(), "{absent} in {bundle}");
    }
    assert!(evidence.get("image_svg").is_none());
    let kinds: Vec<&str> = evidence["audit"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"capture_started") && kinds.contains(&"capture_ended"));
    let ended = evidence["audit"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "capture_ended")
        .unwrap();
    assert_eq!(
        ended["detail"],
        "typed name of 11 characters with the en declaration"
    );

    // The verify route and the CLI on files agree.
    let document = t
        .get(
            &format!("/api/signatures/requests/{id}/document"),
            Some(&cookie),
        )
        .await
        .body;
    let v = verify(&t, &cookie, &document, &evidence).await;
    assert_eq!(
        (v["valid"].clone(), v["method"].clone()),
        (json!(true), json!("typed_name"))
    );
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("doc.html"), &document).unwrap();
    std::fs::write(
        files.path().join("evidence.json"),
        serde_json::to_vec(&evidence).unwrap(),
    )
    .unwrap();
    let data = t.dir.path().join("data");
    let out = confidant_cli(
        &data,
        &[
            "signature",
            "verify",
            files.path().join("doc.html").to_str().unwrap(),
            files.path().join("evidence.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["method"], "typed_name");
    assert_eq!(report["method_summary"], "typed name with declaration");
    // The escrow tool has nothing to open.
    let key = data.join("escrow-private-key.MOVE-OFF-THIS-SERVER");
    let out = confidant_cli(
        &data,
        &[
            "signature",
            "escrow-open",
            "--key",
            key.to_str().unwrap(),
            files.path().join("evidence.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no biometric envelope"));
}

#[tokio::test]
async fn typed_name_signs_seals_and_verifies_as_such_on_sqlite() {
    typed_name_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn typed_name_signs_seals_and_verifies_as_such_on_postgres() {
    if Backend::from_env() != Backend::Postgres {
        return;
    }
    typed_name_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn typed_name_is_refused_where_the_request_does_not_allow_it() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("strict@example.org", "Dr. Strict").await;
    let tpl = template(&t, &cookie).await;
    let sent = send_with(&t, &cookie, &tpl, false).await;
    let view = open(&t, &sent.token).await;
    assert_eq!(view["typed_name_allowed"], false);
    assert!(view.get("typed_name_declarations").is_none(), "{view}");
    let r = submit(&t, &sent.token, typed_submission(true, "en")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(
        problems(&r),
        vec![("method".to_owned(), "typed_name_not_allowed".to_owned())]
    );
    // Still pending: the pad works.
    let r = submit(&t, &sent.token, submission(synthetic_signature())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = request_view(&t, &cookie, &sent.request_id).await;
    assert_eq!(v["verification"]["method"], "handwritten");
    assert_eq!(
        v["verification"]["method_summary"],
        "handwritten with 2 strokes"
    );
    // Bad recipients are named.
    for (body, field) in [
        (
            json!({"template_id": tpl, "recipient_email": "not an address"}),
            "recipient_email",
        ),
        (
            json!({"template_id": tpl, "recipient_name": "a\nb"}),
            "recipient_name",
        ),
    ] {
        let r = t
            .post("/api/signatures/requests", Some(&cookie), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
}

/// Issue 18: typed-name evidence from the server (same template, so the same document) and
/// tampered variants, some re-sealed with the server's own key (so that only the typed-name
/// checks can refuse them), for the corpus both verifiers must agree on.
async fn typed_name_corpus(
    t: &TestApp,
    cookie: &str,
    document: &[u8],
    handwritten: &Value,
) -> Vec<CorpusCase> {
    use confidant_signature::bundle::SigningMethod;
    let (_, typed_document, typed) = typed_signed(t, cookie).await;
    assert_eq!(typed_document, document, "one template, one document");
    let key = server_sealing_key(t);
    vec![
        (
            "typed-name-genuine",
            serde_json::to_vec(&typed).unwrap(),
            "valid",
        ),
        (
            "typed-name-text-edited",
            with(&typed, |v| {
                v["sealed"]["bundle"]["typed_name"]["text"] = json!("Eve Example")
            }),
            "bundle_changed",
        ),
        (
            "typed-name-permission-edited",
            with(&typed, |v| {
                v["sealed"]["bundle"]["typed_name"]["allowed_by_request"] = json!(false)
            }),
            "bundle_changed",
        ),
        (
            "typed-name-declaration-rehashed",
            resealed(&typed, None, |b| {
                b.typed_name.as_mut().unwrap().declaration = "I agree.".into()
            }),
            "seal_invalid",
        ),
        (
            "typed-name-resealed-not-allowed",
            resealed(&typed, Some(&key), |b| {
                b.typed_name.as_mut().unwrap().allowed_by_request = false
            }),
            "typed_name_not_allowed",
        ),
        (
            "typed-name-resealed-without-declaration",
            resealed(&typed, Some(&key), |b| {
                b.typed_name.as_mut().unwrap().declaration_accepted = false
            }),
            "declaration_missing",
        ),
        (
            "typed-name-resealed-declaration-emptied",
            resealed(&typed, Some(&key), |b| {
                b.typed_name.as_mut().unwrap().declaration = " \u{3000}".into()
            }),
            "declaration_missing",
        ),
        (
            "typed-name-resealed-as-handwritten",
            resealed(&typed, Some(&key), |b| {
                b.method = Some(SigningMethod::Handwritten)
            }),
            "bundle_changed",
        ),
        (
            "typed-name-resealed-as-version-1",
            resealed(&typed, Some(&key), |b| b.version = 1),
            "bundle_changed",
        ),
        (
            "typed-name-with-an-image",
            with(&typed, |v| {
                v["image_svg"] = handwritten["image_svg"].clone()
            }),
            "image_changed",
        ),
        (
            "typed-name-null-capture-context",
            with(&typed, |v| {
                v["sealed"]["bundle"]["capture_context"] = Value::Null
            }),
            "bundle_changed",
        ),
        (
            "typed-name-declaration-member-missing",
            with(&typed, |v| {
                v["sealed"]["bundle"]["typed_name"]
                    .as_object_mut()
                    .unwrap()
                    .remove("declaration");
            }),
            "bundle_changed",
        ),
        (
            "typed-name-method-unknown",
            with(&typed, |v| v["sealed"]["bundle"]["method"] = json!("drawn")),
            "bundle_changed",
        ),
        (
            "handwritten-with-a-method",
            with(handwritten, |v| {
                v["sealed"]["bundle"]["method"] = json!("handwritten")
            }),
            "bundle_changed",
        ),
    ]
}
