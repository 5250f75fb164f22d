//! The counsellor's side of booking: page profile, availability, appointment types, bookings,
//! contact messages.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, Utc};
use confidant_booking::availability::{Availability, DateOverride, WeeklyRule};
use confidant_booking::mail::{render, Lang, MailKind};
use confidant_booking::slots::{AppointmentKind, AppointmentType};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::store::{self, kind_of, kind_str, minutes_of, time_of, BookingRow};
use super::usecases;
use super::{core_error, parse_time};
use crate::BookingState;
use confidant_kit::audit::{Action, Actor, NewEntry, Object};
use confidant_kit::auth::Counsellor;
use confidant_kit::db::now_ms;
use confidant_kit::error::{AppError, ErrorBody};
use confidant_kit::extract::{ClientIp, Json};
use confidant_kit::mail::{enqueue, OutgoingMail};

// ---------------------------------------------------------------------------------------------
// Profile

/// The counsellor's booking profile.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Page slug (`/book/{slug}`): 3–40 of `a-z 0-9 -`; `null`: no public page.
    pub slug: Option<String>,
    /// IANA time zone of the availability.
    pub time_zone: String,
    /// Language of mails to the counsellor (`de`, `en`).
    pub lang: String,
}

/// The counsellor's booking profile.
#[utoipa::path(get, path = "/api/booking/profile", tag = "booking-admin",
    responses((status = 200, description = "Profile", body = Profile), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
pub async fn get_profile(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<Profile>, AppError> {
    let host = store::host_by_id(&state.db, &me.id).await?;
    Ok(axum::Json(Profile {
        slug: host.slug,
        time_zone: host.tz.name().to_owned(),
        lang: host.lang,
    }))
}

pub(crate) fn valid_slug(s: &str) -> bool {
    (3..=40).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Sets slug, time zone and language.
#[utoipa::path(put, path = "/api/booking/profile", tag = "booking-admin",
    request_body = Profile,
    responses(
        (status = 200, description = "Saved", body = Profile),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 409, description = "`conflict`: slug taken", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `slug`, `time_zone` or `lang`", body = ErrorBody),
    ))]
pub async fn put_profile(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(p): Json<Profile>,
) -> Result<axum::Json<Profile>, AppError> {
    let slug = p
        .slug
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty());
    if let Some(s) = &slug {
        if !valid_slug(s) {
            return Err(AppError::invalid(
                "slug",
                "must be 3 to 40 characters of a-z, 0-9 and -",
            ));
        }
    }
    if p.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(AppError::invalid(
            "time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        ));
    }
    if p.lang != "de" && p.lang != "en" {
        return Err(AppError::invalid("lang", "must be de or en"));
    }
    let result =
        sqlx::query("UPDATE counsellors SET slug = $1, time_zone = $2, lang = $3 WHERE id = $4")
            .bind(slug.as_deref())
            .bind(&p.time_zone)
            .bind(&p.lang)
            .bind(&me.id)
            .execute(&state.db)
            .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AppError::Conflict("this page address is taken".into()))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(axum::Json(Profile {
        slug,
        time_zone: p.time_zone,
        lang: p.lang,
    }))
}

// ---------------------------------------------------------------------------------------------
// Availability

/// Hours on a weekday.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// `mon` … `sun`.
    pub weekday: String,
    /// `HH:MM`, local.
    pub start: String,
    /// `HH:MM` (`24:00` for midnight), local.
    pub end: String,
}

/// An interval of a date override.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`.
    pub end: String,
}

/// A date with other hours; none: a day off.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateHours {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// That day's hours; empty: not available.
    #[serde(default)]
    pub hours: Vec<Hours>,
}

/// Weekly hours and date overrides, in the profile's time zone.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    /// Weekly hours.
    pub weekly: Vec<WeeklyHours>,
    /// Date overrides (holidays, other hours).
    #[serde(default)]
    pub overrides: Vec<DateHours>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hm(field: &str, s: &str) -> Result<i64, AppError> {
    let bad = || AppError::invalid(field, "times are HH:MM between 00:00 and 24:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let total = h * 60 + m;
    if !(0..60).contains(&m) || !(0..=1440).contains(&total) {
        return Err(bad());
    }
    Ok(total)
}

fn hm(min: i64) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

/// The counsellor's availability.
#[utoipa::path(get, path = "/api/booking/availability", tag = "booking-admin",
    responses((status = 200, description = "Availability", body = AvailabilityBody), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
pub async fn get_availability(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<AvailabilityBody>, AppError> {
    let host = store::host_by_id(&state.db, &me.id).await?;
    let av = store::availability_of(&state.db, &host).await?;
    Ok(axum::Json(AvailabilityBody {
        weekly: av
            .weekly
            .iter()
            .map(|r| WeeklyHours {
                weekday: WEEKDAYS[r.weekday.num_days_from_monday() as usize].into(),
                start: hm(minutes_of(r.start)),
                end: hm(minutes_of(r.end)),
            })
            .collect(),
        overrides: av
            .overrides
            .iter()
            .map(|o| DateHours {
                date: o.date.format("%Y-%m-%d").to_string(),
                hours: o
                    .intervals
                    .iter()
                    .map(|(s, e)| Hours {
                        start: hm(minutes_of(*s)),
                        end: hm(minutes_of(*e)),
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// Replaces the availability (bookings already made stay).
#[utoipa::path(put, path = "/api/booking/availability", tag = "booking-admin",
    request_body = AvailabilityBody,
    responses(
        (status = 200, description = "Saved", body = AvailabilityBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `weekly` or `overrides`", body = ErrorBody),
    ))]
pub async fn put_availability(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(body): Json<AvailabilityBody>,
) -> Result<axum::Json<AvailabilityBody>, AppError> {
    let host = store::host_by_id(&state.db, &me.id).await?;
    let mut weekly = Vec::new();
    for w in &body.weekly {
        let day = WEEKDAYS
            .iter()
            .position(|d| *d == w.weekday)
            .ok_or_else(|| {
                AppError::invalid(
                    "weekly",
                    "weekday must be mon, tue, wed, thu, fri, sat or sun",
                )
            })?;
        weekly.push((
            day as i64,
            parse_hm("weekly", &w.start)?,
            parse_hm("weekly", &w.end)?,
        ));
    }
    let mut overrides = Vec::new();
    for o in &body.overrides {
        let date = NaiveDate::parse_from_str(&o.date, "%Y-%m-%d")
            .map_err(|_| AppError::invalid("overrides", "dates are YYYY-MM-DD"))?;
        let mut hours = Vec::new();
        for h in &o.hours {
            hours.push((
                parse_hm("overrides", &h.start)?,
                parse_hm("overrides", &h.end)?,
            ));
        }
        overrides.push((date, hours));
    }
    let av = Availability {
        tz: host.tz,
        weekly: weekly
            .iter()
            .map(|(d, s, e)| WeeklyRule {
                weekday: store::weekday_of(*d),
                start: time_of(*s),
                end: time_of(*e),
            })
            .collect(),
        overrides: overrides
            .iter()
            .map(|(date, hours)| DateOverride {
                date: *date,
                intervals: hours
                    .iter()
                    .map(|(s, e)| (time_of(*s), time_of(*e)))
                    .collect(),
            })
            .collect(),
    };
    av.validate().map_err(core_error)?;
    let mut tx = state.db.begin().await?;
    for table in ["availability_rules", "availability_overrides"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE counsellor_id = $1"))
            .bind(&me.id)
            .execute(&mut *tx)
            .await?;
    }
    for (d, s, e) in &weekly {
        sqlx::query("INSERT INTO availability_rules (id, counsellor_id, weekday, start_min, end_min) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&me.id)
            .bind(*d)
            .bind(*s)
            .bind(*e)
            .execute(&mut *tx)
            .await?;
    }
    for (date, hours) in &overrides {
        let day = date.format("%Y-%m-%d").to_string();
        let rows: Vec<(Option<i64>, Option<i64>)> = if hours.is_empty() {
            vec![(None, None)]
        } else {
            hours.iter().map(|(s, e)| (Some(*s), Some(*e))).collect()
        };
        for (s, e) in rows {
            sqlx::query("INSERT INTO availability_overrides (id, counsellor_id, day, start_min, end_min) VALUES ($1, $2, $3, $4, $5)")
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(&me.id)
                .bind(&day)
                .bind(s)
                .bind(e)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    get_availability(State(state), me).await
}

// ---------------------------------------------------------------------------------------------
// Appointment types

/// An appointment type.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeBody {
    /// Id (ignored on create and update).
    #[serde(default)]
    pub id: Option<String>,
    /// Name shown to clients (1–100 characters).
    pub name: String,
    /// `video`, `phone` or `on_site`.
    #[schema(value_type = String)]
    pub kind: AppointmentKind,
    /// Minutes (5–480).
    pub duration_min: u32,
    /// Minutes kept free before (≤ 240).
    #[serde(default)]
    pub buffer_before_min: u32,
    /// Minutes kept free after (≤ 240).
    #[serde(default)]
    pub buffer_after_min: u32,
    /// Minimum notice in minutes.
    #[serde(default)]
    pub min_notice_min: u32,
    /// Booking window in days (1–366) [default: 60].
    #[serde(default = "default_window")]
    pub window_days: u32,
    /// Distance between offered starts; 0: the duration.
    #[serde(default)]
    pub slot_step_min: u32,
    /// Each booking waits for the counsellor's confirmation.
    #[serde(default)]
    pub requires_confirmation: bool,
    /// On-site: the address shown to clients.
    #[serde(default)]
    pub location: Option<String>,
    /// Offered on the public page.
    #[serde(default = "default_true")]
    pub active: bool,
    /// Shown to clients with the type (at most 1000 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// What clients should prepare, on the confirmation page and in the mail (at most 1000
    /// characters); empty or `null`: a default text for the medium.
    #[serde(default)]
    pub preparation: Option<String>,
}

/// Longest type description and preparation text, in characters: a paragraph, not a page.
const TYPE_TEXT_MAX_CHARS: usize = 1000;

/// `None` for an absent or blank text, else the trimmed text.
fn text_of(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn default_window() -> u32 {
    60
}
fn default_true() -> bool {
    true
}

impl TypeBody {
    pub(crate) fn of(t: store::TypeRow) -> Self {
        Self {
            id: Some(t.id.clone()),
            name: t.name.clone(),
            kind: kind_of(&t.kind),
            duration_min: t.core().duration_min,
            buffer_before_min: t.core().buffer_before_min,
            buffer_after_min: t.core().buffer_after_min,
            min_notice_min: t.core().min_notice_min,
            window_days: t.core().window_days,
            slot_step_min: t.core().slot_step_min,
            requires_confirmation: t.requires_confirmation != 0,
            location: t.location,
            active: t.active != 0,
            description: t.description,
            preparation: t.preparation,
        }
    }

    fn check(&self) -> Result<(), AppError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        if let Some(l) = &self.location {
            if l.chars().count() > 500 {
                return Err(AppError::invalid(
                    "location",
                    "must be at most 500 characters",
                ));
            }
        }
        for (field, text) in [
            ("description", &self.description),
            ("preparation", &self.preparation),
        ] {
            if let Some(t) = text_of(text) {
                if t.chars().count() > TYPE_TEXT_MAX_CHARS
                    || t.chars().any(|c| c.is_control() && c != '\n' && c != '\r')
                {
                    return Err(AppError::invalid(
                        field,
                        format!("must be at most {TYPE_TEXT_MAX_CHARS} characters without control characters"),
                    ));
                }
            }
        }
        if self.kind == AppointmentKind::OnSite
            && self.location.as_deref().is_none_or(|l| l.trim().is_empty())
        {
            return Err(AppError::invalid(
                "location",
                "is required for on-site appointments",
            ));
        }
        AppointmentType {
            duration_min: self.duration_min,
            buffer_before_min: self.buffer_before_min,
            buffer_after_min: self.buffer_after_min,
            min_notice_min: self.min_notice_min,
            window_days: self.window_days,
            slot_step_min: self.slot_step_min,
            kind: self.kind,
            requires_confirmation: self.requires_confirmation,
        }
        .validate()
        .map_err(core_error)
    }
}

/// Own appointment types.
#[utoipa::path(get, path = "/api/booking/types", tag = "booking-admin",
    responses((status = 200, description = "Types", body = Vec<TypeBody>), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
pub async fn list_types(
    State(state): State<BookingState>,
    me: Counsellor,
) -> Result<axum::Json<Vec<TypeBody>>, AppError> {
    Ok(axum::Json(
        store::types_of(&state.db, &me.id, false)
            .await?
            .into_iter()
            .map(TypeBody::of)
            .collect(),
    ))
}

/// Creates an appointment type.
#[utoipa::path(post, path = "/api/booking/types", tag = "booking-admin",
    request_body = TypeBody,
    responses(
        (status = 201, description = "Created", body = TypeBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field", body = ErrorBody),
    ))]
pub async fn create_type(
    State(state): State<BookingState>,
    me: Counsellor,
    Json(body): Json<TypeBody>,
) -> Result<(StatusCode, axum::Json<TypeBody>), AppError> {
    let t = insert_type(&state, &me.id, None, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(TypeBody::of(t))))
}

/// Stores a new type of `owner` (for `team`, when given) after checking it.
pub(crate) async fn insert_type(
    state: &BookingState,
    owner: &str,
    team: Option<&str>,
    body: &TypeBody,
) -> Result<store::TypeRow, AppError> {
    body.check()?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO appointment_types (id, counsellor_id, name, kind, duration_min, buffer_before_min,
            buffer_after_min, min_notice_min, window_days, slot_step_min, requires_confirmation,
            location, active, created_at, team_id, description, preparation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&id)
    .bind(owner)
    .bind(body.name.trim())
    .bind(kind_str(body.kind))
    .bind(i64::from(body.duration_min))
    .bind(i64::from(body.buffer_before_min))
    .bind(i64::from(body.buffer_after_min))
    .bind(i64::from(body.min_notice_min))
    .bind(i64::from(body.window_days))
    .bind(i64::from(body.slot_step_min))
    .bind(i64::from(body.requires_confirmation))
    .bind(body.location.as_deref().map(str::trim))
    .bind(i64::from(body.active))
    .bind(now_ms())
    .bind(team)
    .bind(text_of(&body.description))
    .bind(text_of(&body.preparation))
    .execute(&state.db)
    .await?;
    store::type_of(&state.db, owner, &id).await
}

/// Replaces an appointment type (existing bookings keep their times).
#[utoipa::path(put, path = "/api/booking/types/{id}", tag = "booking-admin",
    params(("id" = String, Path, description = "Type id")),
    request_body = TypeBody,
    responses(
        (status = 200, description = "Saved", body = TypeBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming the field", body = ErrorBody),
    ))]
pub async fn update_type(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(body): Json<TypeBody>,
) -> Result<axum::Json<TypeBody>, AppError> {
    store::type_of(&state.db, &me.id, &id).await?;
    body.check()?;
    sqlx::query(
        "UPDATE appointment_types SET name = $1, kind = $2, duration_min = $3, buffer_before_min = $4,
            buffer_after_min = $5, min_notice_min = $6, window_days = $7, slot_step_min = $8,
            requires_confirmation = $9, location = $10, active = $11, description = $12,
            preparation = $13
         WHERE id = $14",
    )
    .bind(body.name.trim())
    .bind(kind_str(body.kind))
    .bind(i64::from(body.duration_min))
    .bind(i64::from(body.buffer_before_min))
    .bind(i64::from(body.buffer_after_min))
    .bind(i64::from(body.min_notice_min))
    .bind(i64::from(body.window_days))
    .bind(i64::from(body.slot_step_min))
    .bind(i64::from(body.requires_confirmation))
    .bind(body.location.as_deref().map(str::trim))
    .bind(i64::from(body.active))
    .bind(text_of(&body.description))
    .bind(text_of(&body.preparation))
    .bind(&id)
    .execute(&state.db)
    .await?;
    Ok(axum::Json(TypeBody::of(
        store::type_of(&state.db, &me.id, &id).await?,
    )))
}

// ---------------------------------------------------------------------------------------------
// Bookings

/// A booking in the counsellor's list, with the client's details.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingView {
    /// Id.
    pub id: String,
    /// `pending`, `confirmed`, `cancelled`, `declined`.
    pub status: String,
    /// Start.
    pub start: chrono::DateTime<Utc>,
    /// End.
    pub end: chrono::DateTime<Utc>,
    /// `video`, `phone`, `on_site`.
    pub kind: String,
    /// Type name.
    pub type_name: String,
    /// Client's first name.
    pub first_name: String,
    /// Client's last name.
    pub last_name: String,
    /// Client's e-mail address.
    pub email: String,
    /// Phone (phone appointments).
    pub phone: Option<String>,
    /// Address (on-site appointments).
    pub address: Option<String>,
    /// The client's message.
    pub message: String,
    /// Video: the room's session id (open it from the dashboard).
    pub session_id: Option<String>,
    /// Who cancelled: `client` or `counsellor`.
    pub cancelled_by: Option<String>,
    /// Why it was cancelled or declined.
    pub reason: Option<String>,
    /// Mail to the client that could not be delivered and nobody has dealt with yet (only in
    /// the list of bookings; empty elsewhere).
    pub mail_failures: Vec<super::mail_failures::MailFailure>,
}

/// `?from=…&to=…`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RangeQuery {
    /// From (RFC 3339) [default: now − 1 day].
    pub from: Option<String>,
    /// To (RFC 3339) [default: from + 60 days; at most 400 days].
    pub to: Option<String>,
}

fn view(state: &BookingState, row: &BookingRow, type_name: &str) -> Result<BookingView, AppError> {
    let c = row.client(state)?;
    Ok(BookingView {
        id: row.id.clone(),
        status: row.status.clone(),
        start: row.start(),
        end: row.end(),
        kind: row.kind.clone(),
        type_name: type_name.to_owned(),
        first_name: c.first_name,
        last_name: c.last_name,
        email: c.email,
        phone: c.phone,
        address: c.address,
        message: c.message,
        session_id: row.session_id.clone(),
        cancelled_by: row.cancelled_by.clone(),
        reason: row.cancel_reason(state)?,
        mail_failures: Vec::new(),
    })
}

/// Own bookings in a range, by start.
#[utoipa::path(get, path = "/api/booking/bookings", tag = "booking-admin",
    params(RangeQuery),
    responses(
        (status = 200, description = "Bookings by start", body = Vec<BookingView>),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `from` or `to`", body = ErrorBody),
    ))]
pub async fn list_bookings(
    State(state): State<BookingState>,
    ClientIp(ip): ClientIp,
    me: Counsellor,
    Query(q): Query<RangeQuery>,
) -> Result<axum::Json<Vec<BookingView>>, AppError> {
    let from = match &q.from {
        Some(s) => parse_time("from", s)?,
        None => Utc::now() - Duration::days(1),
    };
    let to = match &q.to {
        Some(s) => parse_time("to", s)?,
        None => from + Duration::days(60),
    };
    if to <= from || to - from > Duration::days(400) {
        return Err(AppError::invalid(
            "to",
            "must be after from and at most 400 days later",
        ));
    }
    let rows = sqlx::query_as::<_, BookingRow>(&format!(
        "SELECT {} FROM bookings WHERE counsellor_id = $1 AND starts_at < $2 AND ends_at > $3 ORDER BY starts_at",
        store::BOOKING_COLUMNS
    ))
    .bind(&me.id)
    .bind(to.timestamp_millis())
    .bind(from.timestamp_millis())
    .fetch_all(&state.db)
    .await?;
    let types = store::types_visible_to(&state.db, &me.id).await?;
    let name_of = |id: &str| {
        types
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let mut failures = super::mail_failures::on_bookings(&state.db, &me.id).await?;
    record_read(&state, &me, ip, "bookings", rows.len()).await?;
    rows.iter()
        .map(|r| {
            let mut v = view(&state, r, &name_of(&r.type_id))?;
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut failures)
                .into_iter()
                .partition(|f| f.booking_id.as_deref() == Some(r.id.as_str()));
            failures = rest;
            v.mail_failures = mine;
            Ok(v)
        })
        .collect::<Result<Vec<_>, AppError>>()
        .map(axum::Json)
}

/// Confirms a booking that waits for confirmation; the client gets the invitation.
#[utoipa::path(post, path = "/api/booking/bookings/{id}/confirm", tag = "booking-admin",
    params(("id" = String, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Confirmed", body = BookingView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not pending", body = ErrorBody),
    ))]
pub async fn confirm(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
) -> Result<axum::Json<BookingView>, AppError> {
    let (row, t) = usecases::confirm(&state, &me, &id).await?;
    Ok(axum::Json(view(&state, &row, &t.name)?))
}

/// A reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Told to the client (≤ 1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Declines a booking that waits for confirmation; the slot is free again.
#[utoipa::path(post, path = "/api/booking/bookings/{id}/decline", tag = "booking-admin",
    params(("id" = String, Path, description = "Booking id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Declined; the client is told", body = BookingView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not pending", body = ErrorBody),
    ))]
pub async fn decline(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Result<axum::Json<BookingView>, AppError> {
    let reason = usecases::reason_of(&body.reason)?;
    let row = usecases::decline(&state, &me, &id, reason).await?;
    let t = store::type_of(&state.db, &me.id, &row.type_id).await?;
    Ok(axum::Json(view(&state, &row, &t.name)?))
}

/// Cancels a booking with a reason; the client is told (with `METHOD:CANCEL`).
#[utoipa::path(post, path = "/api/booking/bookings/{id}/cancel", tag = "booking-admin",
    params(("id" = String, Path, description = "Booking id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Cancelled; the client is told", body = BookingView),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: not active", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Result<axum::Json<BookingView>, AppError> {
    let reason = usecases::reason_of(&body.reason)?;
    let row = usecases::own_booking(&state, &me, &id).await?;
    let row = usecases::cancel_booking(&state, row, false, reason).await?;
    let t = store::type_of(&state.db, &me.id, &row.type_id).await?;
    Ok(axum::Json(view(&state, &row, &t.name)?))
}

// ---------------------------------------------------------------------------------------------
// Contact messages

/// A message through the contact form.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// Id.
    pub id: String,
    /// Writer's name.
    pub name: String,
    /// Writer's address (shown; replies go through the platform).
    pub email: String,
    /// The message.
    pub message: String,
    /// When it arrived.
    pub created_at: chrono::DateTime<Utc>,
    /// When it was answered.
    pub answered_at: Option<chrono::DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ContactDoc {
    name: String,
    email: String,
    message: String,
}

/// Contact messages to the counsellor, newest first.
#[utoipa::path(get, path = "/api/booking/messages", tag = "booking-admin",
    responses((status = 200, description = "Messages", body = Vec<ContactView>), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<BookingState>,
    ClientIp(ip): ClientIp,
    me: Counsellor,
) -> Result<axum::Json<Vec<ContactView>>, AppError> {
    let rows: Vec<(String, Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, sealed, created_at, answered_at FROM contact_messages WHERE counsellor_id = $1 ORDER BY created_at DESC LIMIT 500",
    )
    .bind(&me.id)
    .fetch_all(&state.db)
    .await?;
    let mut out = Vec::new();
    for (id, sealed, created, answered) in rows {
        let doc: ContactDoc =
            serde_json::from_slice(&state.keys.contact.open(&sealed, id.as_bytes())?)
                .map_err(|e| AppError::Internal(format!("contact message: {e}")))?;
        out.push(ContactView {
            id,
            name: doc.name,
            email: doc.email,
            message: doc.message,
            created_at: super::time_ms(created),
            answered_at: answered.map(super::time_ms),
        });
    }
    record_read(&state, &me, ip, "contact_messages", out.len()).await?;
    Ok(axum::Json(out))
}

/// Records that `me` read clients' data (`kind`: the list, its id: whose list it is) when the
/// answer holds any; an empty list showed no one's data. A failure to record fails the read.
async fn record_read(
    state: &BookingState,
    me: &Counsellor,
    ip: std::net::IpAddr,
    kind: &str,
    count: usize,
) -> Result<(), AppError> {
    if count == 0 {
        return Ok(());
    }
    state
        .audit
        .record(
            NewEntry::new(
                now_ms(),
                Actor::counsellor(me.id.clone()),
                Action::ClientDataRead,
            )
            .object(Object::new(kind, me.id.clone()))
            .ip(ip),
        )
        .await?;
    Ok(())
}

/// A reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The answer (1–5000 characters); sent by mail from the platform's address.
    pub text: String,
}

/// Answers a contact message by mail through the platform.
#[utoipa::path(post, path = "/api/booking/messages/{id}/reply", tag = "booking-admin",
    params(("id" = String, Path, description = "Message id")),
    request_body = ReplyBody,
    responses(
        (status = 202, description = "Queued"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`validation_failed` naming `text`", body = ErrorBody),
    ))]
pub async fn reply(
    State(state): State<BookingState>,
    me: Counsellor,
    Path(id): Path<String>,
    Json(body): Json<ReplyBody>,
) -> Result<StatusCode, AppError> {
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 5000 {
        return Err(AppError::invalid("text", "must be 1 to 5000 characters"));
    }
    let row: Option<(Vec<u8>, String)> = sqlx::query_as(
        "SELECT sealed, lang FROM contact_messages WHERE id = $1 AND counsellor_id = $2",
    )
    .bind(&id)
    .bind(&me.id)
    .fetch_optional(&state.db)
    .await?;
    let (sealed, lang) = row.ok_or(AppError::NotFound)?;
    let doc: ContactDoc = serde_json::from_slice(&state.keys.contact.open(&sealed, id.as_bytes())?)
        .map_err(|e| AppError::Internal(format!("contact message: {e}")))?;
    let host = store::host_by_id(&state.db, &me.id).await?;
    let d = usecases::host_mail_data(&state, &host, &doc.name, Some(text.to_owned()));
    let m = render(MailKind::ContactReply, Lang::parse(&lang), &d);
    let to = lettre::message::Mailbox::new(
        Some(doc.name.clone()),
        doc.email
            .parse()
            .map_err(|_| AppError::Internal("stored address".into()))?,
    );
    let mut tx = state.db.begin().await?;
    enqueue(
        &mut tx,
        &state.mailer,
        &OutgoingMail {
            kind: "contact_reply",
            booking_id: None,
            to,
            reply_to: None,
            subject: m.subject,
            text: m.text,
            html: m.html,
            ics: None,
            due_at: now_ms(),
            counsellor_id: None,
        },
    )
    .await?;
    sqlx::query("UPDATE contact_messages SET answered_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED)
}
