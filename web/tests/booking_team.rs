//! Team appointment types (issue 5): booked on the team's page with whichever member is free,
//! fewest upcoming bookings first; concurrent requests for one time get at most one member
//! each. On SQLite and PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::booking::{bookable, consent, form};
use common::{Backend, TestApp};
use serde_json::{json, Value};

async fn team_slots(t: &TestApp, type_id: &str) -> Vec<String> {
    let from = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%dT00:00:00Z").to_string();
    let r = t.get(&format!("/api/public/teams/beratung/slots?type_id={type_id}&from={from}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap().to_owned()).collect()
}

async fn owner_of(t: &TestApp, booking_id: &str) -> String {
    sqlx::query_scalar("SELECT counsellor_id FROM bookings WHERE id = $1")
        .bind(booking_id)
        .fetch_one(&t.state.db)
        .await
        .unwrap()
}

async fn team_flow(backend: Backend) {
    let t = TestApp::build_with(backend, |c| c.form_burst = 1000).await;
    let a = bookable(&t, "a@example.org", "anna", "video", json!({})).await;
    let b = bookable(&t, "b@example.org", "ben", "phone", json!({})).await;
    let a_id = t.get("/api/me", Some(&a.cookie)).await.json()["id"].as_str().unwrap().to_owned();
    let b_id = t.get("/api/me", Some(&b.cookie)).await.json()["id"].as_str().unwrap().to_owned();

    // A team, its members, its type.
    let r = t.post("/api/booking/teams", Some(&a.cookie), Some(json!({"slug": "Beratung", "name": "Erziehungsberatung"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["slug"], "beratung");
    let r = t.post("/api/booking/teams", Some(&b.cookie), Some(json!({"slug": "beratung", "name": "x"}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t.post("/api/booking/teams", Some(&b.cookie), Some(json!({"slug": "X!", "name": "x"}))).await;
    assert_eq!(r.json()["error"]["field"], "slug");
    // Not a member yet: B cannot add people or types.
    let r = t.post("/api/booking/teams/beratung/members", Some(&b.cookie), Some(json!({"email": "b@example.org"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.post("/api/booking/teams/beratung/members", Some(&a.cookie), Some(json!({"email": "nobody@example.org"}))).await;
    assert_eq!(r.json()["error"]["field"], "email");
    let r = t.post("/api/booking/teams/beratung/members", Some(&a.cookie), Some(json!({"email": "B@example.org"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 2);
    let r = t
        .post(
            "/api/booking/teams/beratung/types",
            Some(&b.cookie),
            Some(json!({"name": "Teamtermin", "kind": "video", "duration_min": 50, "buffer_after_min": 10, "slot_step_min": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let type_id = r.json()["id"].as_str().unwrap().to_owned();
    let mine: Value = t.get("/api/booking/teams", Some(&a.cookie)).await.json();
    assert_eq!(mine[0]["types"][0]["id"], type_id.as_str());

    // The team type is on the team's page and the centre's list, not on a member's own page.
    assert_eq!(t.get("/api/public/teams", None).await.json(), json!([{"slug": "beratung", "name": "Erziehungsberatung"}]));
    let page = t.get("/api/public/teams/beratung?lang=en", None).await.json();
    assert_eq!(page["types"].as_array().unwrap().len(), 1);
    let own = t.get("/api/public/counsellors/anna", None).await.json();
    assert!(own["types"].as_array().unwrap().iter().all(|ty| ty["id"] != type_id.as_str()));
    assert_eq!(t.get("/api/public/teams/nope", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/book/team/beratung", None).await.status, StatusCode::OK);
    assert_eq!(t.get("/book/team/nope", None).await.status, StatusCode::NOT_FOUND);

    let free = team_slots(&t, &type_id).await;
    assert!(free.len() > 20);
    let c = consent(&t, &a.slug).await;
    let team_form = |start: &str, who: &str| {
        let mut f = form(&a, start, &c, who);
        f["type_id"] = json!(type_id);
        f
    };
    let book = |body: Value| {
        let t = &t;
        async move { t.post("/api/public/teams/beratung/bookings", None, Some(body)).await }
    };

    // Equal load: membership order (A); then B, who has fewer upcoming bookings.
    let r = book(team_form(&free[0], "Alex")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(owner_of(&t, r.json()["id"].as_str().unwrap()).await, a_id);
    let r = book(team_form(&free[1], "Kim")).await;
    assert_eq!(owner_of(&t, r.json()["id"].as_str().unwrap()).await, b_id);

    // B is busy at free[3] with an appointment of their own: the team time stays on offer
    // (A is free) and goes to A.
    let own = form(&b, &free[3], &consent(&t, &b.slug).await, "Sam");
    let mut own = own;
    own["phone"] = json!("+49 30 1234567");
    let r = t.post("/api/public/counsellors/ben/bookings", None, Some(own)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(team_slots(&t, &type_id).await.contains(&free[3]));
    let r = book(team_form(&free[3], "Jo")).await;
    assert_eq!(owner_of(&t, r.json()["id"].as_str().unwrap()).await, a_id);
    assert!(!team_slots(&t, &type_id).await.contains(&free[3]), "nobody is free there any more");
    let r = book(team_form(&free[3], "Lu")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "slot_taken");

    // Ten concurrent requests for one time: one booking per member, the rest 409.
    let results = futures::future::join_all((0..10).map(|i| book(team_form(&free[5], &format!("Racer{i}"))))).await;
    let ok: Vec<&common::Resp> = results.iter().filter(|r| r.status == StatusCode::CREATED).collect();
    assert_eq!(ok.len(), 2, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT));
    let mut owners = Vec::new();
    for r in ok {
        owners.push(owner_of(&t, r.json()["id"].as_str().unwrap()).await);
    }
    owners.sort();
    let mut both = vec![a_id.clone(), b_id.clone()];
    both.sort();
    assert_eq!(owners, both);

    // Each member sees their team bookings with the type's name.
    let list = t.get("/api/booking/bookings", Some(&b.cookie)).await.json();
    assert!(list.as_array().unwrap().iter().any(|x| x["type_name"] == "Teamtermin"), "{list}");
}

#[tokio::test]
async fn team_types_go_to_a_free_member_on_sqlite() {
    team_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn team_types_go_to_a_free_member_on_postgres() {
    team_flow(Backend::Postgres).await;
}
