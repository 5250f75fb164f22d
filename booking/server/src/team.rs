//! Teams: counsellors who share appointment types, booked on the team's page with whoever is
//! free (issue 5: "appointment types per counsellor or team").
//!
//! A team type's free slots are the union of its members' free slots (each member's own hours,
//! bookings and external calendars). Booking one assigns the member with the fewest upcoming
//! bookings among those free at that time; the booking is theirs, so the database's
//! no-overlap rule per counsellor keeps holding, and a member lost to a concurrent request
//! passes the booking to the next free member. Any counsellor may create a team (and is its
//! first member); members invite colleagues by login e-mail, and only the invited counsellor,
//! by accepting on their dashboard, becomes a member. The inviter gets the same answer whether
//! or not an account has the address. Roles will narrow this later.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lang_of;
use super::manage::{insert_type, valid_slug, TypeBody};
use super::public::{
    check_honeypot, rate_limit, slot_range, slots_for, BookingPage, Consent, LangQuery, PublicType,
    SlotQuery, SlotView, Slots,
};
use super::store::{self, Host};
use super::usecases::{book_with, BookingRequest, PublicBooking};
use crate::BookingState;
use confidant_kit::auth::Counsellor;
use confidant_kit::db::now_ms;
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::{ClientIp, Json};

/// Most members of one team.
const MAX_MEMBERS: i64 = 50;

type TeamRow = (String, String, String);

async fn team_by_slug(state: &BookingState, slug: &str) -> Result<TeamRow, AppError> {
    sqlx::query_as("SELECT id, slug, name FROM teams WHERE slug = $1")
        .bind(slug.to_ascii_lowercase())
        .fetch_optional(&state.db)
        .await?
        .ok_or(AppError::NotFound)
}

/// The members of a team, as booking hosts.
async fn members(state: &BookingState, team_id: &str) -> Result<Vec<Host>, AppError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT counsellor_id FROM team_members WHERE team_id = $1 ORDER BY added_at",
    )
    .bind(team_id)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(store::host_by_id(&state.db, &id).await?);
    }
    Ok(out)
}

async fn is_member(
    state: &BookingState,
    team_id: &str,
    counsellor_id: &str,
) -> Result<bool, AppError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND counsellor_id = $2",
    )
    .bind(team_id)
    .bind(counsellor_id)
    .fetch_one(&state.db)
    .await?;
    Ok(n > 0)
}

/// A team as its members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Team {
    /// Id.
    pub id: String,
    /// Page slug: `/book/team/{slug}`.
    pub slug: String,
    /// Name shown to clients.
    pub name: String,
    /// Members' names.
    pub members: Vec<String>,
    /// Open invitations (not yet accepted, declined, withdrawn or expired).
    pub invitations: Vec<SentInvitation>,
    /// The team's appointment types.
    pub types: Vec<TypeBody>,
}

async fn team_view(state: &BookingState, (id, slug, name): TeamRow) -> Result<Team, AppError> {
    let members = members(state, &id)
        .await?
        .into_iter()
        .map(|h| h.name)
        .collect();
    let types = store::team_types(&state.db, &id, false)
        .await?
        .into_iter()
        .map(TypeBody::of)
        .collect();
    let invitations: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id, email, expires_at FROM team_invitations
         WHERE team_id = $1 AND expires_at > $2 ORDER BY created_at",
    )
    .bind(&id)
    .bind(now_ms())
    .fetch_all(&state.db)
    .await?;
    let invitations = invitations
        .into_iter()
        .map(|(id, email, expires)| SentInvitation {
            id,
            email,
            expires_at: super::time_ms(expires),
        })
        .collect();
    Ok(Team {
        id,
        slug,
        name,
        members,
        invitations,
        types,
    })
}

/// The teams I belong to.
#[utoipa::path(get, path = "/api/booking/teams", tag = "booking-admin",
    responses(
        (status = 200, description = "Teams with members and types", body = [Team]),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn my_teams(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<Team>>, AppError> {
    let rows: Vec<TeamRow> = sqlx::query_as(
        "SELECT t.id, t.slug, t.name FROM teams t JOIN team_members m ON m.team_id = t.id
         WHERE m.counsellor_id = $1 ORDER BY t.name",
    )
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(team_view(&state, r).await?);
    }
    Ok(axum::Json(out))
}

/// A new team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// 3–40 of `a-z 0-9 -`.
    pub slug: String,
    /// 1–100 characters.
    pub name: String,
}

/// Creates a team; the creator is its first member.
#[utoipa::path(post, path = "/api/booking/teams", tag = "booking-admin",
    request_body = NewTeam,
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 409, description = "`conflict`: the address is taken", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `slug` or `name`", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(req): Json<NewTeam>,
) -> Result<(StatusCode, axum::Json<Team>), AppError> {
    let slug = req.slug.trim().to_ascii_lowercase();
    if !valid_slug(&slug) {
        return Err(AppError::invalid(
            "slug",
            "must be 3 to 40 characters of a-z, 0-9 and -",
        ));
    }
    let name = confidant_text::check_name(&req.name, 100).map_err(|_| {
        AppError::invalid(
            "name",
            "must be 1 to 100 characters without control or bidi characters",
        )
    })?;
    let name = name.as_str();
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    match sqlx::query("INSERT INTO teams (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&slug)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await
    {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AppError::Conflict("this team address is taken".into()))
        }
        Err(e) => return Err(e.into()),
    }
    sqlx::query("INSERT INTO team_members (team_id, counsellor_id, added_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&me.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(team_id = %id, counsellor_id = %me.id, "team created");
    Ok((
        StatusCode::CREATED,
        axum::Json(team_view(&state, (id, slug, name.to_owned())).await?),
    ))
}

async fn my_team(state: &BookingState, me: &Counsellor, slug: &str) -> Result<TeamRow, AppError> {
    let team = team_by_slug(state, slug).await?;
    if !is_member(state, &team.0, &me.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(team)
}

/// A colleague to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Their login e-mail.
    pub email: String,
}

/// An invitation as the team's members see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentInvitation {
    /// Id.
    pub id: String,
    /// The invited login e-mail.
    pub email: String,
    /// Until when it can be accepted.
    pub expires_at: chrono::DateTime<Utc>,
}

/// How long an invitation can be accepted.
const INVITATION_TTL: chrono::Duration = chrono::Duration::days(14);

/// Invites a colleague (by login e-mail) into one of my teams.
///
/// The answer is the same whether or not a counsellor has this address, and whether or not they
/// are already a member (nothing about other accounts can be learnt here). Only an account with
/// the address can accept; it is told by mail (without content) and on its dashboard. Inviting
/// the same address again renews the invitation.
#[utoipa::path(post, path = "/api/booking/teams/{slug}/invitations", tag = "booking-admin",
    params(("slug" = String, Path, description = "Team slug")),
    request_body = NewInvitation,
    responses(
        (status = 202, description = "Invited; the team with its pending invitations", body = Team),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: not a team of mine", body = ErrorBody),
        (status = 409, description = "`conflict`: the team is full", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `email`: not an e-mail address", body = ErrorBody),
    ))]
pub async fn invite(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(slug): Path<String>,
    Json(req): Json<NewInvitation>,
) -> Result<(StatusCode, axum::Json<Team>), AppError> {
    let team = my_team(&state, &me, &slug).await?;
    let email = confidant_kit::auth::normalize_email(&req.email)?;
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM team_members WHERE team_id = $1)
              + (SELECT COUNT(*) FROM team_invitations WHERE team_id = $2 AND expires_at > $3)",
    )
    .bind(&team.0)
    .bind(&team.0)
    .bind(now_ms())
    .fetch_one(&state.db)
    .await?;
    if n >= MAX_MEMBERS {
        return Err(AppError::Conflict(format!(
            "a team has at most {MAX_MEMBERS} members and open invitations"
        )));
    }
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    // One invitation per team and address: a renewed one replaces the old.
    sqlx::query("DELETE FROM team_invitations WHERE team_id = $1 AND email = $2")
        .bind(&team.0)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO team_invitations (id, team_id, email, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&team.0)
    .bind(&email)
    .bind(&me.id)
    .bind(now)
    .bind(now + INVITATION_TTL.num_milliseconds())
    .execute(&mut *tx)
    .await?;
    // A counsellor with the address learns of it by mail; nobody else gets mail from here.
    let invitee: Option<String> = sqlx::query_scalar("SELECT id FROM counsellors WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(invitee) = invitee.filter(|i| *i != me.id) {
        let host = store::host_by_id(&state.db, &invitee).await?;
        let d = super::usecases::host_mail_data(&state, &host, "", None);
        let d = confidant_booking::mail::MailData {
            type_name: team.2.clone(),
            ..d
        };
        super::notify::to_host(
            &mut tx,
            &state,
            &host,
            confidant_booking::mail::MailKind::TeamInvitation,
            &d,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(team_id = %team.0, invitation_id = %id, counsellor_id = %me.id, "team invitation sent");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(team_view(&state, team).await?),
    ))
}

/// Withdraws an invitation of one of my teams.
#[utoipa::path(delete, path = "/api/booking/teams/{slug}/invitations/{id}", tag = "booking-admin",
    params(("slug" = String, Path, description = "Team slug"), ("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: not a team of mine, or no such invitation", body = ErrorBody),
    ))]
pub async fn withdraw(
    State(state): State<BookingState>,
    me: Counsellor,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let team = my_team(&state, &me, &slug).await?;
    let gone = sqlx::query("DELETE FROM team_invitations WHERE id = $1 AND team_id = $2")
        .bind(&id)
        .bind(&team.0)
        .execute(&state.db)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// An invitation as the invited counsellor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedInvitation {
    /// Id.
    pub id: String,
    /// The team's slug.
    pub team_slug: String,
    /// The team's name.
    pub team_name: String,
    /// Who invited (display name), if their account still exists.
    pub invited_by: Option<String>,
    /// Until when it can be accepted.
    pub expires_at: chrono::DateTime<Utc>,
}

type ReceivedRow = (String, String, String, Option<String>, i64);

/// Invitations into teams for my login e-mail, not yet expired.
#[utoipa::path(get, path = "/api/booking/invitations", tag = "booking-admin",
    responses(
        (status = 200, description = "Open invitations, newest first", body = [ReceivedInvitation]),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ))]
pub async fn my_invitations(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<ReceivedInvitation>>, AppError> {
    let rows: Vec<ReceivedRow> = sqlx::query_as(
        "SELECT i.id, t.slug, t.name, c.name, i.expires_at
         FROM team_invitations i JOIN teams t ON t.id = i.team_id
         LEFT JOIN counsellors c ON c.id = i.invited_by
         WHERE i.email = $1 AND i.expires_at > $2
           AND NOT EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = i.team_id AND m.counsellor_id = $3)
         ORDER BY i.created_at DESC",
    )
    .bind(&me.email)
    .bind(now_ms())
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(
                |(id, team_slug, team_name, invited_by, expires)| ReceivedInvitation {
                    id,
                    team_slug,
                    team_name,
                    invited_by,
                    expires_at: super::time_ms(expires),
                },
            )
            .collect(),
    ))
}

/// My open invitation `id`: the team's id (404 for any other, expired or not mine).
async fn my_invitation(
    state: &BookingState,
    me: &Counsellor,
    id: &str,
) -> Result<String, AppError> {
    sqlx::query_scalar(
        "SELECT team_id FROM team_invitations WHERE id = $1 AND email = $2 AND expires_at > $3",
    )
    .bind(id)
    .bind(&me.email)
    .bind(now_ms())
    .fetch_optional(&state.db)
    .await?
    .ok_or(AppError::NotFound)
}

/// Accepts an invitation: I become a member of the team.
#[utoipa::path(post, path = "/api/booking/invitations/{id}/accept", tag = "booking-admin",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "The team I joined", body = Team),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no open invitation of mine with this id", body = ErrorBody),
        (status = 409, description = "`conflict`: the team is full", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<axum::Json<Team>, AppError> {
    let team_id = my_invitation(&state, &me, &id).await?;
    let mut tx = state.db.begin().await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1")
        .bind(&team_id)
        .fetch_one(&mut *tx)
        .await?;
    if n >= MAX_MEMBERS {
        return Err(AppError::Conflict(format!(
            "a team has at most {MAX_MEMBERS} members"
        )));
    }
    let taken = sqlx::query("DELETE FROM team_invitations WHERE id = $1 AND email = $2")
        .bind(&id)
        .bind(&me.email)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if taken == 0 {
        return Err(AppError::NotFound); // accepted or withdrawn meanwhile
    }
    let member: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND counsellor_id = $2",
    )
    .bind(&team_id)
    .bind(&me.id)
    .fetch_one(&mut *tx)
    .await?;
    if member == 0 {
        sqlx::query(
            "INSERT INTO team_members (team_id, counsellor_id, added_at) VALUES ($1, $2, $3)",
        )
        .bind(&team_id)
        .bind(&me.id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(team_id = %team_id, counsellor_id = %me.id, "team invitation accepted");
    let team: TeamRow = sqlx::query_as("SELECT id, slug, name FROM teams WHERE id = $1")
        .bind(&team_id)
        .fetch_one(&state.db)
        .await?;
    Ok(axum::Json(team_view(&state, team).await?))
}

/// Declines an invitation.
#[utoipa::path(post, path = "/api/booking/invitations/{id}/decline", tag = "booking-admin",
    params(("id" = String, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Declined"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no open invitation of mine with this id", body = ErrorBody),
    ))]
pub async fn decline(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    my_invitation(&state, &me, &id).await?;
    sqlx::query("DELETE FROM team_invitations WHERE id = $1 AND email = $2")
        .bind(&id)
        .bind(&me.email)
        .execute(&state.db)
        .await?;
    tracing::info!(invitation_id = %id, counsellor_id = %me.id, "team invitation declined");
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an appointment type of one of my teams.
#[utoipa::path(post, path = "/api/booking/teams/{slug}/types", tag = "booking-admin",
    params(("slug" = String, Path, description = "Team slug")),
    request_body = TypeBody,
    responses(
        (status = 201, description = "Created", body = TypeBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: not a team of mine", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field", body = ErrorBody),
    ))]
pub async fn create_type(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(slug): Path<String>,
    Json(body): Json<TypeBody>,
) -> Result<(StatusCode, axum::Json<TypeBody>), AppError> {
    let team = my_team(&state, &me, &slug).await?;
    let t = insert_type(&state, &me.id, Some(&team.0), &body).await?;
    Ok((StatusCode::CREATED, axum::Json(TypeBody::of(t))))
}

// ---------------------------------------------------------------------------------------------
// Public

/// A team on the centre's booking page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTeam {
    /// Page slug: `/book/team/{slug}`.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// Teams with at least one bookable type (the centre's page).
#[utoipa::path(get, path = "/api/public/teams", tag = "booking",
    responses((status = 200, description = "Teams, by name", body = [PublicTeam])))]
pub async fn public_teams(
    State(state): State<BookingState>,
) -> Result<axum::Json<Vec<PublicTeam>>, AppError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT slug, name FROM teams t
         WHERE EXISTS (SELECT 1 FROM appointment_types a WHERE a.team_id = t.id AND a.active = 1)
         ORDER BY name",
    )
    .fetch_all(&state.db)
    .await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|(slug, name)| PublicTeam { slug, name })
            .collect(),
    ))
}

/// A team's page data: name, types, consent text. `time_zone` is the first member's (times are
/// shown in the viewer's zone anyway).
#[utoipa::path(get, path = "/api/public/teams/{slug}", tag = "booking",
    params(("slug" = String, Path, description = "Team slug"), LangQuery),
    responses(
        (status = 200, description = "Page data", body = BookingPage),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn page(
    State(state): State<BookingState>,
    Path(slug): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<axum::Json<BookingPage>, AppError> {
    let (id, slug, name) = team_by_slug(&state, &slug).await?;
    let lang = lang_of(q.lang.as_deref());
    let zone = members(&state, &id)
        .await?
        .first()
        .map(|h| h.tz.name().to_owned())
        .unwrap_or_else(|| "UTC".into());
    let types = store::team_types(&state.db, &id, true)
        .await?
        .into_iter()
        .map(PublicType::of)
        .collect();
    Ok(axum::Json(BookingPage {
        slug,
        name,
        time_zone: zone,
        types,
        consent: Consent::shown(lang),
        contact_consent: None,
        profile: None,
    }))
}

async fn team_type(
    state: &BookingState,
    team_id: &str,
    type_id: &str,
) -> Result<store::TypeRow, AppError> {
    store::team_types(&state.db, team_id, true)
        .await?
        .into_iter()
        .find(|t| t.id == type_id)
        .ok_or(AppError::NotFound)
}

/// Free slots of a team type: any member free.
#[utoipa::path(get, path = "/api/public/teams/{slug}/slots", tag = "booking",
    params(("slug" = String, Path, description = "Team slug"), SlotQuery),
    responses(
        (status = 200, description = "Free slots (a start appears once, whoever is free)", body = Slots),
        (status = 404, description = "`not_found`: no such team or type", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `from` or `to`", body = ErrorBody),
    ))]
pub async fn slots(
    State(state): State<BookingState>,
    Path(slug): Path<String>,
    Query(q): Query<SlotQuery>,
) -> Result<axum::Json<Slots>, AppError> {
    let (id, _, _) = team_by_slug(&state, &slug).await?;
    let t = team_type(&state, &id, &q.type_id).await?;
    let (from, to) = slot_range(q.from.as_deref(), q.to.as_deref())?;
    let hosts = members(&state, &id).await?;
    let mut all: Vec<SlotView> = Vec::new();
    for h in &hosts {
        all.extend(slots_for(&state, h, &t, from, to, "").await?);
    }
    all.sort_by_key(|s| (s.start, s.end));
    all.dedup_by_key(|s| s.start);
    Ok(axum::Json(Slots {
        time_zone: hosts
            .first()
            .map(|h| h.tz.name().to_owned())
            .unwrap_or_else(|| "UTC".into()),
        slots: all,
    }))
}

/// Books a team type with a free member (fewest upcoming bookings first). Of concurrent
/// requests for one time, at most one per free member succeeds; the rest get `409 slot_taken`.
#[utoipa::path(post, path = "/api/public/teams/{slug}/bookings", tag = "booking",
    params(("slug" = String, Path, description = "Team slug")),
    request_body = BookingRequest,
    responses(
        (status = 201, description = "Booked with a member; mails are queued", body = PublicBooking),
        (status = 404, description = "`not_found`: no such team", body = ErrorBody),
        (status = 409, description = "`slot_taken`: nobody is free at that time any more", body = ErrorBody),
        (status = 422, description = "`validation_failed` with `fields`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with `Retry-After`", body = ErrorBody),
    ))]
pub async fn book(
    State(state): State<BookingState>,
    ClientIp(ip): ClientIp,
    Path(slug): Path<String>,
    Json(req): Json<BookingRequest>,
) -> Result<(StatusCode, axum::Json<PublicBooking>), AppError> {
    rate_limit(&state, ip)?;
    check_honeypot(&req.website)?;
    let (id, _, _) = team_by_slug(&state, &slug).await?;
    let t = team_type(&state, &id, &req.type_id)
        .await
        .map_err(|_| AppError::invalid("type_id", "is not an appointment type of this team"))?;
    // Fewest upcoming active bookings first; ties in membership order.
    let now = Utc::now().timestamp_millis();
    let mut ranked = Vec::new();
    for (i, h) in members(&state, &id).await?.into_iter().enumerate() {
        let load: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bookings WHERE counsellor_id = $1 AND active = 1 AND starts_at > $2",
        )
        .bind(&h.id)
        .bind(now)
        .fetch_one(&state.db)
        .await?;
        ranked.push((load, i, h));
    }
    ranked.sort_by_key(|(load, i, _)| (*load, *i));
    let mut last = AppError::SlotTaken;
    for (_, _, host) in &ranked {
        match book_with(&state, host, &t, &req).await {
            Ok(b) => return Ok((StatusCode::CREATED, axum::Json(b))),
            // Taken or outside this member's hours: try the next member.
            Err(e @ AppError::SlotTaken) => last = e,
            Err(AppError::Validation { field: Some(f), .. }) if f == "start" => {}
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
