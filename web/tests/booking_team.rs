//! Team appointment types (issue 5): booked on the team's page with whichever member is free,
//! fewest upcoming bookings first; concurrent requests for one time get at most one member
//! each. On SQLite and PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::booking::{bookable, consent, form};
use common::{Backend, TestApp};
use serde_json::{json, Value};

async fn team_slots(t: &TestApp, type_id: &str) -> Vec<String> {
    let from = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let r = t
        .get(
            &format!("/api/public/teams/beratung/slots?type_id={type_id}&from={from}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

/// `inviter` invites `email` into team `slug`; the counsellor with `invitee` accepts.
async fn join(t: &TestApp, slug: &str, inviter: &str, invitee: &str, email: &str) {
    let r = t
        .post(
            &format!("/api/booking/teams/{slug}/invitations"),
            Some(inviter),
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let open = t
        .get("/api/booking/invitations", Some(invitee))
        .await
        .json();
    let id = open
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["team_slug"] == slug)
        .expect("an invitation")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(invitee),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
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
    let a_id = t.get("/api/me", Some(&a.cookie)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_id = t.get("/api/me", Some(&b.cookie)).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A team, its members, its type.
    let r = t
        .post(
            "/api/booking/teams",
            Some(&a.cookie),
            Some(json!({"slug": "Beratung", "name": "Erziehungsberatung"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["slug"], "beratung");
    let r = t
        .post(
            "/api/booking/teams",
            Some(&b.cookie),
            Some(json!({"slug": "beratung", "name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .post(
            "/api/booking/teams",
            Some(&b.cookie),
            Some(json!({"slug": "X!", "name": "x"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "slug");
    // Not a member yet: B cannot invite people or add types.
    let r = t
        .post(
            "/api/booking/teams/beratung/invitations",
            Some(&b.cookie),
            Some(json!({"email": "b@example.org"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    join(&t, "beratung", &a.cookie, &b.cookie, "B@example.org").await;
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
    assert_eq!(
        t.get("/api/public/teams", None).await.json(),
        json!([{"slug": "beratung", "name": "Erziehungsberatung"}])
    );
    let page = t
        .get("/api/public/teams/beratung?lang=en", None)
        .await
        .json();
    assert_eq!(page["types"].as_array().unwrap().len(), 1);
    let own = t.get("/api/public/counsellors/anna", None).await.json();
    assert!(own["types"]
        .as_array()
        .unwrap()
        .iter()
        .all(|ty| ty["id"] != type_id.as_str()));
    assert_eq!(
        t.get("/api/public/teams/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/book/team/beratung", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/book/team/nope", None).await.status,
        StatusCode::NOT_FOUND
    );

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
        async move {
            t.post("/api/public/teams/beratung/bookings", None, Some(body))
                .await
        }
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
    let r = t
        .post("/api/public/counsellors/ben/bookings", None, Some(own))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(team_slots(&t, &type_id).await.contains(&free[3]));
    let r = book(team_form(&free[3], "Jo")).await;
    assert_eq!(owner_of(&t, r.json()["id"].as_str().unwrap()).await, a_id);
    assert!(
        !team_slots(&t, &type_id).await.contains(&free[3]),
        "nobody is free there any more"
    );
    let r = book(team_form(&free[3], "Lu")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "slot_taken");

    // Ten concurrent requests for one time: one booking per member, the rest 409.
    let results =
        futures::future::join_all((0..10).map(|i| book(team_form(&free[5], &format!("Racer{i}")))))
            .await;
    let ok: Vec<&common::Resp> = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        ok.len(),
        2,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(results
        .iter()
        .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT));
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
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|x| x["type_name"] == "Teamtermin"),
        "{list}"
    );
}

#[tokio::test]
async fn team_types_go_to_a_free_member_on_sqlite() {
    team_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn team_types_go_to_a_free_member_on_postgres() {
    team_flow(Backend::Postgres).await;
}

/// Membership needs the invited counsellor's consent, and the inviter learns nothing about
/// which addresses have accounts.
async fn invitation_flow(backend: Backend) {
    let t = TestApp::on(backend).await;
    let (_, anna) = t.counsellor("anna@example.org", "Anna").await;
    let (_, ben) = t.counsellor("ben@example.org", "Ben").await;
    let (_, cleo) = t.counsellor("cleo@example.org", "Cleo").await;
    let r = t
        .post(
            "/api/booking/teams",
            Some(&anna),
            Some(json!({"slug": "familie", "name": "Familienberatung"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // Known and unknown addresses get the same answer (status, shape, message).
    let invite = |email: &str| {
        t.post(
            "/api/booking/teams/familie/invitations",
            Some(&anna),
            Some(json!({"email": email})),
        )
    };
    let known = invite("Ben@Example.org").await;
    let unknown = invite("nobody@example.org").await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text());
    assert_eq!(unknown.status, known.status);
    assert_eq!(
        known.json()["members"],
        json!(["Anna"]),
        "an invitation adds nobody"
    );
    assert_eq!(known.json()["invitations"].as_array().unwrap().len(), 1);
    let emails: Vec<String> = unknown.json()["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["ben@example.org", "nobody@example.org"]);
    let bad = invite("not an address").await;
    assert_eq!(bad.json()["error"]["field"], "email");

    // Ben is not a member until he accepts; Cleo sees no invitation and cannot take Ben's.
    assert_eq!(
        t.get("/api/booking/teams", Some(&ben)).await.json(),
        json!([])
    );
    assert_eq!(
        t.get("/api/booking/invitations", Some(&cleo)).await.json(),
        json!([])
    );
    let open = t.get("/api/booking/invitations", Some(&ben)).await.json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["team_name"], "Familienberatung");
    assert_eq!(open[0]["invited_by"], "Anna");
    let id = open[0]["id"].as_str().unwrap().to_owned();
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(&cleo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .post(&format!("/api/booking/invitations/{id}/accept"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Ben's colleague-to-be could not add a type to the team either.
    let r = t
        .post(
            "/api/booking/teams/familie/types",
            Some(&ben),
            Some(json!({"name": "x", "kind": "video", "duration_min": 50})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(&ben),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["members"], json!(["Anna", "Ben"]));
    assert_eq!(
        r.json()["invitations"].as_array().unwrap().len(),
        1,
        "only nobody@ is still open"
    );
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(&ben),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an invitation is used once"
    );
    assert_eq!(
        t.get("/api/booking/invitations", Some(&ben)).await.json(),
        json!([])
    );

    // Cleo declines hers; an invitation withdrawn by the team cannot be accepted.
    invite("cleo@example.org").await;
    let id = t.get("/api/booking/invitations", Some(&cleo)).await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/decline"),
            Some(&cleo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(&cleo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    invite("cleo@example.org").await;
    let id = t.get("/api/booking/invitations", Some(&cleo)).await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .send(common::request(
            axum::http::Method::DELETE,
            &format!("/api/booking/teams/familie/invitations/{id}"),
            Some(&ben),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = t
        .post(
            &format!("/api/booking/invitations/{id}/accept"),
            Some(&cleo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let team = &t.get("/api/booking/teams", Some(&anna)).await.json()[0];
    assert_eq!(team["members"], json!(["Anna", "Ben"]));

    // Only the known invitees were mailed (without content); the unknown address got nothing.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM mail_outbox WHERE kind = 'team_invitation'")
            .fetch_all(&t.state.db)
            .await
            .unwrap();
    assert_eq!(kinds.len(), 3, "Ben once, Cleo twice");
}

#[tokio::test]
async fn team_membership_only_by_accepted_invitation_on_sqlite() {
    invitation_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn team_membership_only_by_accepted_invitation_on_postgres() {
    invitation_flow(Backend::Postgres).await;
}
