//! Sessions: create, list, get, revoke, end, host token, ownership, and what join links
//! resolve to through the signalling directory.

mod common;

use axum::http::StatusCode;
use common::{link_token, TestApp};
use confidant_signaling::{ChatGap, Directory, LinkTarget, StoredChat};
use confidant_signaling_server::SqlDirectory;
use serde_json::{json, Value};

fn directory(t: &TestApp) -> SqlDirectory {
    SqlDirectory::new(t.state.db.clone(), t.state.dialect)
}

async fn resolves_to(t: &TestApp, session: &Value) -> Option<String> {
    directory(t)
        .resolve_link(&link_token(session))
        .await
        .unwrap()
        .map(|LinkTarget { room, .. }| room)
}

#[tokio::test]
async fn create_gives_an_active_session_with_a_join_link() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t
        .create_session(
            &cookie,
            Some(json!({"title": "  Erstgespräch  ", "ttl_minutes": 60})),
        )
        .await;
    assert_eq!(s["status"], "active");
    assert_eq!(s["title"], "Erstgespräch");
    assert!(s["ended_at"].is_null());
    let id = s["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    let join_url = s["join_url"].as_str().unwrap();
    let prefix = format!("{}/j/", t.settings().public_url);
    assert!(join_url.starts_with(&prefix), "{join_url}");
    assert_eq!(link_token(&s).len(), 43, "32 random bytes in base64url");
    let created = chrono::DateTime::parse_from_rfc3339(s["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_minutes(), 60);

    // The link resolves to the session's room.
    assert_eq!(resolves_to(&t, &s).await.as_deref(), Some(id));
    // Neither the token nor the title is stored in the clear.
    let (hash, sealed_link, sealed_title): (String, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT link_hash, link_sealed, title_sealed FROM sessions")
            .fetch_one(&t.state.db)
            .await
            .unwrap();
    assert_eq!(hash, confidant::db::sha256_hex(&link_token(&s)));
    let token = link_token(&s);
    assert!(!sealed_link
        .windows(token.len())
        .any(|w| w == token.as_bytes()));
    assert!(!sealed_title.windows(6).any(|w| w == b"Erstge"));
}

#[tokio::test]
async fn create_accepts_an_empty_body_with_defaults() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&cookie, None).await;
    assert!(s["title"].is_null());
    let created = chrono::DateTime::parse_from_rfc3339(s["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_minutes(), 1440);
}

#[tokio::test]
async fn create_validates_title_and_ttl() {
    let t = TestApp::new().await;
    let (_, cookie) = t.counsellor("a@example.org", "A").await;
    for (body, field) in [
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": 5}), "title"),
        (json!({"ttl_minutes": 4}), "ttl_minutes"),
        (json!({"ttl_minutes": 10081}), "ttl_minutes"),
        (json!({"ttl_minutes": -1}), "ttl_minutes"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let r = t
            .post("/api/sessions", Some(&cookie), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json()["error"]["code"], "validation_failed");
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    // Limits themselves are fine.
    t.create_session(
        &cookie,
        Some(json!({"title": "y".repeat(200), "ttl_minutes": 5})),
    )
    .await;
    t.create_session(&cookie, Some(json!({"ttl_minutes": 10080})))
        .await;
}

#[tokio::test]
async fn list_is_newest_first_and_own_only() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let (_, b) = t.counsellor("b@example.org", "B").await;
    let first = t.create_session(&a, Some(json!({"title": "first"}))).await;
    let second = t.create_session(&a, Some(json!({"title": "second"}))).await;
    t.create_session(&b, None).await;
    let list = t.get("/api/sessions", Some(&a)).await.json();
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|s| &s["id"]).collect();
    assert_eq!(ids, vec![&second["id"], &first["id"]]);
    // The dashboard can show the link again.
    assert_eq!(list[1]["join_url"], first["join_url"]);
}

#[tokio::test]
async fn other_counsellors_sessions_are_not_found() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let (_, b) = t.counsellor("b@example.org", "B").await;
    let s = t.create_session(&a, None).await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/api/sessions/{id}"), Some(&b)).await.status,
        StatusCode::NOT_FOUND
    );
    for action in ["revoke", "end", "host-token"] {
        let r = t
            .post(&format!("/api/sessions/{id}/{action}"), Some(&b), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
        assert_eq!(r.error_code(), "not_found");
    }
    // B's attempts changed nothing.
    assert_eq!(
        t.get(&format!("/api/sessions/{id}"), Some(&a)).await.json()["status"],
        "active"
    );
    assert_eq!(resolves_to(&t, &s).await.as_deref(), Some(id));
    // Host page: 404 for B, 200 for A.
    assert_eq!(
        t.get(&format!("/s/{id}"), Some(&b)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&format!("/s/{id}"), Some(&a)).await.status,
        StatusCode::OK
    );
    // Not a UUID, unknown UUID: 404 as well.
    assert_eq!(
        t.get("/api/sessions/not-a-uuid", Some(&a)).await.status,
        StatusCode::NOT_FOUND
    );
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        t.get(&format!("/api/sessions/{unknown}"), Some(&a))
            .await
            .error_code(),
        "not_found"
    );
}

#[tokio::test]
async fn revoke_invalidates_the_link_but_keeps_the_room_open() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&a, None).await;
    let id = s["id"].as_str().unwrap();
    let r = t
        .post(&format!("/api/sessions/{id}/revoke"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "revoked");
    assert_eq!(resolves_to(&t, &s).await, None);
    assert!(
        directory(&t).room_policy(id).await.unwrap().is_some(),
        "people in the room stay"
    );
    // The host may still (re)join a revoked session.
    assert_eq!(
        t.post(&format!("/api/sessions/{id}/host-token"), Some(&a), None)
            .await
            .status,
        StatusCode::OK
    );
    // Idempotent.
    assert_eq!(
        t.post(&format!("/api/sessions/{id}/revoke"), Some(&a), None)
            .await
            .json()["status"],
        "revoked"
    );
}

#[tokio::test]
async fn end_invalidates_link_and_room_and_refuses_host_tokens() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&a, None).await;
    let id = s["id"].as_str().unwrap();
    let r = t
        .post(&format!("/api/sessions/{id}/end"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ended = r.json();
    assert_eq!(ended["status"], "ended");
    assert!(ended["ended_at"].is_string());
    assert_eq!(resolves_to(&t, &s).await, None);
    assert!(directory(&t).room_policy(id).await.unwrap().is_none());
    let r = t
        .post(&format!("/api/sessions/{id}/host-token"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "conflict");
    // Ending again keeps the first end time.
    let again = t
        .post(&format!("/api/sessions/{id}/end"), Some(&a), None)
        .await
        .json();
    assert_eq!(again["ended_at"], ended["ended_at"]);
}

#[tokio::test]
async fn expired_session_link_is_invalid_and_host_token_refused() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&a, None).await;
    let id = s["id"].as_str().unwrap();
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
        .bind(confidant::db::now_ms() - 1)
        .bind(id)
        .execute(&t.state.db)
        .await
        .unwrap();
    assert_eq!(resolves_to(&t, &s).await, None);
    assert!(directory(&t).room_policy(id).await.unwrap().is_none());
    assert_eq!(
        t.get(&format!("/api/sessions/{id}"), Some(&a)).await.json()["status"],
        "expired"
    );
    assert_eq!(
        t.post(&format!("/api/sessions/{id}/host-token"), Some(&a), None)
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn host_token_opens_the_sessions_room_as_host() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "Anna Berg").await;
    let s = t.create_session(&a, None).await;
    let id = s["id"].as_str().unwrap();
    let r = t
        .post(&format!("/api/sessions/{id}/host-token"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["room"], id);
    // The token is signed with the key in data/secrets/jwt.key.
    let key = std::fs::read(&t.settings().jwt_key_file).unwrap();
    let claims = confidant_signaling::Tokens::new(&key)
        .verify(body["token"].as_str().unwrap(), id)
        .unwrap();
    assert_eq!(claims.role, confidant_signaling::protocol::Role::Host);
    assert_eq!(claims.name, "Anna Berg");
}

#[tokio::test]
async fn unknown_links_resolve_to_nothing() {
    let t = TestApp::new().await;
    let d = directory(&t);
    assert_eq!(d.resolve_link("").await.unwrap(), None);
    assert_eq!(
        d.resolve_link(&confidant_vault::random_token(32))
            .await
            .unwrap(),
        None
    );
    assert!(d
        .room_policy(&uuid::Uuid::new_v4().to_string())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn directory_ends_rooms_and_keeps_chat_in_order() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&a, None).await;
    let room = s["id"].as_str().unwrap().to_owned();
    let d = directory(&t);
    let chats: Vec<StoredChat> = (0..3)
        .map(|i| StoredChat {
            id: uuid::Uuid::new_v4().to_string(),
            room: room.clone(),
            sealed: vec![i; 40],
            sent_at: format!("2030-01-01T00:00:0{i}Z"),
        })
        .collect();
    let cap = confidant_signaling::DEFAULT_CHAT_CAP;
    for c in &chats {
        assert!(d.save_chat(c.clone(), cap).await.unwrap());
    }
    assert_eq!(
        d.load_chat(&room, None, None, 10).await.unwrap(),
        Some(chats.clone())
    );
    assert_eq!(
        d.load_chat(&uuid::Uuid::new_v4().to_string(), None, None, 10)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    // Pages: the latest `limit` before a message, oldest first.
    assert_eq!(
        d.load_chat(&room, None, None, 2).await.unwrap(),
        Some(chats[1..].to_vec())
    );
    assert_eq!(
        d.load_chat(&room, Some(&chats[2].id), None, 1)
            .await
            .unwrap(),
        Some(chats[1..2].to_vec())
    );
    assert_eq!(
        d.load_chat(&room, Some(&chats[0].id), None, 10)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    assert_eq!(
        d.load_chat(&room, Some("no-such-id"), None, 10)
            .await
            .unwrap(),
        None
    );
    // The cap: by count, and by stored bytes.
    let fourth = StoredChat {
        id: uuid::Uuid::new_v4().to_string(),
        room: room.clone(),
        sealed: vec![9; 40],
        sent_at: "2030-01-01T00:00:09Z".into(),
    };
    let three = confidant_signaling::ChatCap {
        max_messages: 3,
        max_bytes: 1_000_000,
    };
    assert!(!d.save_chat(fourth.clone(), three).await.unwrap());
    let bytes = confidant_signaling::ChatCap {
        max_messages: 100,
        max_bytes: 159,
    };
    assert!(!d.save_chat(fourth.clone(), bytes).await.unwrap());
    let bytes = confidant_signaling::ChatCap {
        max_messages: 100,
        max_bytes: 160,
    };
    assert!(d.save_chat(fourth, bytes).await.unwrap());

    // A host's `end_session` over the websocket ends the session like the HTTP call.
    d.end_room(&room).await.unwrap();
    assert_eq!(resolves_to(&t, &s).await, None);
    assert_eq!(
        t.get(&format!("/api/sessions/{room}"), Some(&a))
            .await
            .json()["status"],
        "ended"
    );
}

/// A guest's view through the database: the gap between the latest share and its admission is
/// left out of every page; the share is kept with the session and only moves forward.
#[tokio::test]
async fn directory_leaves_out_a_guests_gap_and_keeps_the_latest_share() {
    let t = TestApp::new().await;
    let (_, a) = t.counsellor("a@example.org", "A").await;
    let s = t.create_session(&a, None).await;
    let room = s["id"].as_str().unwrap().to_owned();
    let d = directory(&t);
    let chats: Vec<StoredChat> = (0..4)
        .map(|i| StoredChat {
            id: uuid::Uuid::new_v4().to_string(),
            room: room.clone(),
            sealed: vec![i; 40],
            sent_at: format!("2030-01-01T00:00:0{i}.000Z"),
        })
        .collect();
    for c in &chats {
        assert!(d
            .save_chat(c.clone(), confidant_signaling::DEFAULT_CHAT_CAP)
            .await
            .unwrap());
    }
    // Admitted at second 2, nothing shared: seconds 2 and 3 only.
    let gap = ChatGap {
        shared_until: None,
        admitted_at: "2030-01-01T00:00:02.000Z".into(),
    };
    assert_eq!(
        d.load_chat(&room, None, Some(&gap), 10).await.unwrap(),
        Some(chats[2..].to_vec())
    );
    assert_eq!(
        d.load_chat(&room, Some(&chats[2].id), Some(&gap), 10)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    // Shared until second 0: that one too, and paging reaches it past the gap.
    assert_eq!(d.chat_shared_until(&room).await.unwrap(), None);
    d.share_chat(&room, "2030-01-01T00:00:00.000Z")
        .await
        .unwrap();
    let shared = d.chat_shared_until(&room).await.unwrap();
    assert_eq!(shared.as_deref(), Some("2030-01-01T00:00:00.000Z"));
    let gap = ChatGap {
        shared_until: shared,
        ..gap
    };
    assert_eq!(
        d.load_chat(&room, Some(&chats[2].id), Some(&gap), 10)
            .await
            .unwrap(),
        Some(chats[..1].to_vec())
    );
    assert_eq!(
        d.load_chat(&room, None, Some(&gap), 2).await.unwrap(),
        Some(chats[2..].to_vec())
    );
    // A share never moves back.
    d.share_chat(&room, "2029-01-01T00:00:00.000Z")
        .await
        .unwrap();
    assert_eq!(
        d.chat_shared_until(&room).await.unwrap().as_deref(),
        Some("2030-01-01T00:00:00.000Z")
    );
}
