//! Booking storage: rows, sealing of client details, and the database-enforced no-overlap rule.
// Row structs mirror their tables column by column; the migrations document the columns.
#![allow(missing_docs)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use confidant_booking::availability::{Availability, DateOverride, WeeklyRule};
use confidant_booking::slots::{AppointmentKind, AppointmentType, Interval};
use serde::{Deserialize, Serialize};

use crate::BookingState;
use confidant_kit::db::{now_ms, Db};
use confidant_kit::error::AppError;

/// A counsellor as the booking pages see them.
#[derive(Debug, Clone)]
pub struct Host {
    /// Counsellor id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Login e-mail: where booking notifications go.
    pub email: String,
    /// Public page slug, if they take bookings.
    pub slug: Option<String>,
    /// Their time zone.
    pub tz: Tz,
    /// Language of mails to them (`de`, `en`).
    pub lang: String,
}

type HostRow = (String, String, String, Option<String>, String, String);

fn host_of(row: HostRow) -> Host {
    let (id, name, email, slug, tz, lang) = row;
    Host {
        id,
        name,
        email,
        slug,
        // Only valid zone names are ever stored (checked on update); fall back defensively.
        tz: tz.parse().unwrap_or(chrono_tz::Europe::Berlin),
        lang,
    }
}

const HOST_COLUMNS: &str = "id, name, email, slug, time_zone, lang";

/// The counsellor whose public slug is `slug`.
pub async fn host_by_slug(db: &Db, slug: &str) -> Result<Host, AppError> {
    let row: Option<HostRow> = sqlx::query_as(&format!(
        "SELECT {HOST_COLUMNS} FROM counsellors WHERE slug = $1"
    ))
    .bind(slug.to_ascii_lowercase())
    .fetch_optional(db)
    .await?;
    row.map(host_of).ok_or(AppError::NotFound)
}

/// The counsellor `id`.
pub async fn host_by_id(db: &Db, id: &str) -> Result<Host, AppError> {
    let row: Option<HostRow> = sqlx::query_as(&format!(
        "SELECT {HOST_COLUMNS} FROM counsellors WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(host_of).ok_or(AppError::NotFound)
}

/// Counsellors with a public booking page, by name (the centre's page).
pub async fn public_hosts(db: &Db) -> Result<Vec<Host>, AppError> {
    let rows: Vec<HostRow> = sqlx::query_as(&format!(
        "SELECT {HOST_COLUMNS} FROM counsellors WHERE slug IS NOT NULL ORDER BY name"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(host_of).collect())
}

/// An appointment type as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TypeRow {
    pub id: String,
    pub counsellor_id: String,
    pub name: String,
    pub kind: String,
    pub duration_min: i64,
    pub buffer_before_min: i64,
    pub buffer_after_min: i64,
    pub min_notice_min: i64,
    pub window_days: i64,
    pub slot_step_min: i64,
    pub requires_confirmation: i64,
    pub location: Option<String>,
    pub active: i64,
    /// The team that offers it (`None`: the counsellor's own).
    pub team_id: Option<String>,
    /// Shown to clients with the type.
    pub description: Option<String>,
    /// What to prepare (`None`: the medium's default).
    pub preparation: Option<String>,
}

pub const TYPE_COLUMNS: &str = "id, counsellor_id, name, kind, duration_min, buffer_before_min, \
     buffer_after_min, min_notice_min, window_days, slot_step_min, requires_confirmation, \
     location, active, team_id, description, preparation";

fn u32_of(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// The kind of a stored kind string.
pub fn kind_of(s: &str) -> AppointmentKind {
    match s {
        "phone" => AppointmentKind::Phone,
        "on_site" => AppointmentKind::OnSite,
        _ => AppointmentKind::Video,
    }
}

/// The stored string of a kind.
pub fn kind_str(k: AppointmentKind) -> &'static str {
    match k {
        AppointmentKind::Video => "video",
        AppointmentKind::Phone => "phone",
        AppointmentKind::OnSite => "on_site",
    }
}

impl TypeRow {
    /// The booking core's view of this type.
    pub fn core(&self) -> AppointmentType {
        AppointmentType {
            duration_min: u32_of(self.duration_min),
            buffer_before_min: u32_of(self.buffer_before_min),
            buffer_after_min: u32_of(self.buffer_after_min),
            min_notice_min: u32_of(self.min_notice_min),
            window_days: u32_of(self.window_days),
            slot_step_min: u32_of(self.slot_step_min),
            kind: kind_of(&self.kind),
            requires_confirmation: self.requires_confirmation != 0,
        }
    }
}

/// A counsellor's own appointment types (not their teams').
pub async fn types_of(
    db: &Db,
    counsellor_id: &str,
    only_active: bool,
) -> Result<Vec<TypeRow>, AppError> {
    Ok(sqlx::query_as::<_, TypeRow>(&format!(
        "SELECT {TYPE_COLUMNS} FROM appointment_types WHERE counsellor_id = $1 AND team_id IS NULL {}
         ORDER BY created_at",
        if only_active { "AND active = 1" } else { "" }
    ))
    .bind(counsellor_id)
    .fetch_all(db)
    .await?)
}

/// Every type a counsellor serves: their own and their teams'.
pub async fn types_visible_to(db: &Db, counsellor_id: &str) -> Result<Vec<TypeRow>, AppError> {
    Ok(sqlx::query_as::<_, TypeRow>(&format!(
        "SELECT {TYPE_COLUMNS} FROM appointment_types
         WHERE counsellor_id = $1 OR team_id IN (SELECT team_id FROM team_members WHERE counsellor_id = $1)
         ORDER BY created_at"
    ))
    .bind(counsellor_id)
    .fetch_all(db)
    .await?)
}

/// The types of a team.
pub async fn team_types(
    db: &Db,
    team_id: &str,
    only_active: bool,
) -> Result<Vec<TypeRow>, AppError> {
    Ok(sqlx::query_as::<_, TypeRow>(&format!(
        "SELECT {TYPE_COLUMNS} FROM appointment_types WHERE team_id = $1 {} ORDER BY created_at",
        if only_active { "AND active = 1" } else { "" }
    ))
    .bind(team_id)
    .fetch_all(db)
    .await?)
}

/// One appointment type a counsellor serves: their own, or one of a team they belong to.
pub async fn type_of(db: &Db, counsellor_id: &str, type_id: &str) -> Result<TypeRow, AppError> {
    sqlx::query_as::<_, TypeRow>(&format!(
        "SELECT {TYPE_COLUMNS} FROM appointment_types
         WHERE id = $2 AND (counsellor_id = $1
            OR team_id IN (SELECT team_id FROM team_members WHERE counsellor_id = $1))"
    ))
    .bind(counsellor_id)
    .bind(type_id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// Weekday of a stored number (0 = Monday).
pub fn weekday_of(n: i64) -> Weekday {
    match n {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

/// Local time of stored minutes after midnight (1440 is the end of the day).
pub fn time_of(min: i64) -> NaiveTime {
    if min >= 1440 {
        // The end of the day: the last representable instant, so `end > start` holds.
        NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap_or(NaiveTime::MIN)
    } else {
        let m = u32::try_from(min.max(0)).unwrap_or(0);
        NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap_or(NaiveTime::MIN)
    }
}

/// Minutes after midnight of a local time (the end of day counts as 1440).
pub fn minutes_of(t: NaiveTime) -> i64 {
    use chrono::Timelike;
    if t.hour() == 23 && t.minute() == 59 && t.second() == 59 {
        1440
    } else {
        i64::from(t.hour() * 60 + t.minute())
    }
}

/// The counsellor's availability, in their zone.
pub async fn availability_of(db: &Db, host: &Host) -> Result<Availability, AppError> {
    let rules: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT weekday, start_min, end_min FROM availability_rules WHERE counsellor_id = $1
         ORDER BY weekday, start_min",
    )
    .bind(&host.id)
    .fetch_all(db)
    .await?;
    let overrides: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT day, start_min, end_min FROM availability_overrides WHERE counsellor_id = $1
         ORDER BY day, start_min",
    )
    .bind(&host.id)
    .fetch_all(db)
    .await?;
    let weekly = rules
        .into_iter()
        .map(|(d, s, e)| WeeklyRule {
            weekday: weekday_of(d),
            start: time_of(s),
            end: time_of(e),
        })
        .collect();
    let mut days: Vec<DateOverride> = Vec::new();
    for (day, start, end) in overrides {
        let Ok(date) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
            continue;
        };
        if days.last().is_none_or(|d| d.date != date) {
            days.push(DateOverride {
                date,
                intervals: Vec::new(),
            });
        }
        if let (Some(s), Some(e), Some(last)) = (start, end, days.last_mut()) {
            last.intervals.push((time_of(s), time_of(e)));
        }
    }
    Ok(Availability {
        tz: host.tz,
        weekly,
        overrides: days,
    })
}

/// Blocked intervals (appointments widened by their buffers) of a counsellor's active bookings
/// that overlap `[from, to)`, and busy times from their external calendars.
pub async fn busy_of(
    db: &Db,
    counsellor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Interval>, AppError> {
    busy_except(db, counsellor_id, from, to, "").await
}

/// Like [`busy_of`], leaving out the booking `except` (a booking being moved does not block
/// the times it may move to).
pub async fn busy_except(
    db: &Db,
    counsellor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: &str,
) -> Result<Vec<Interval>, AppError> {
    // Active bookings (with their buffers) and the busy times read from the counsellor's
    // external calendars.
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT blocked_from, blocked_until FROM bookings
         WHERE counsellor_id = $1 AND active = 1 AND blocked_from < $2 AND blocked_until > $3
           AND id <> $4
         UNION ALL
         SELECT starts_at, ends_at FROM busy_intervals
         WHERE counsellor_id = $1 AND starts_at < $2 AND ends_at > $3
         UNION ALL
         SELECT starts_at, ends_at FROM caldav_busy
         WHERE counsellor_id = $1 AND starts_at < $2 AND ends_at > $3",
    )
    .bind(counsellor_id)
    .bind(to.timestamp_millis())
    .bind(from.timestamp_millis())
    .bind(except)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, b)| {
            Some(Interval {
                start: Utc.timestamp_millis_opt(a).single()?,
                end: Utc.timestamp_millis_opt(b).single()?,
            })
        })
        .collect())
}

/// Busy times from the counsellor's external calendars overlapping `[from, to)`.
pub async fn external_busy_of(
    db: &Db,
    counsellor_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Interval>, AppError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT starts_at, ends_at FROM busy_intervals
         WHERE counsellor_id = $1 AND starts_at < $2 AND ends_at > $3
         UNION ALL
         SELECT starts_at, ends_at FROM caldav_busy
         WHERE counsellor_id = $1 AND starts_at < $2 AND ends_at > $3",
    )
    .bind(counsellor_id)
    .bind(to.timestamp_millis())
    .bind(from.timestamp_millis())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, b)| {
            Some(Interval {
                start: Utc.timestamp_millis_opt(a).single()?,
                end: Utc.timestamp_millis_opt(b).single()?,
            })
        })
        .collect())
}

/// What the client typed, sealed as one document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientDetails {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default)]
    pub message: String,
}

impl ClientDetails {
    /// "First Last".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A booking as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingRow {
    pub id: String,
    pub counsellor_id: String,
    pub type_id: String,
    pub kind: String,
    pub status: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub client_sealed: Vec<u8>,
    pub lang: String,
    pub session_id: Option<String>,
    pub ics_sequence: i64,
    pub cancel_reason_sealed: Option<Vec<u8>>,
    pub cancelled_by: Option<String>,
    pub created_at: i64,
}

pub const BOOKING_COLUMNS: &str = "id, counsellor_id, type_id, kind, status, starts_at, ends_at, \
     client_sealed, lang, session_id, ics_sequence, cancel_reason_sealed, cancelled_by, created_at";

impl BookingRow {
    /// The client's details, opened.
    pub fn client(&self, state: &BookingState) -> Result<ClientDetails, AppError> {
        let plain = state
            .keys
            .booking
            .open(&self.client_sealed, self.id.as_bytes())?;
        serde_json::from_slice(&plain)
            .map_err(|e| AppError::Internal(format!("sealed booking details: {e}")))
    }

    /// The cancellation reason, opened.
    pub fn cancel_reason(&self, state: &BookingState) -> Result<Option<String>, AppError> {
        let Some(sealed) = &self.cancel_reason_sealed else {
            return Ok(None);
        };
        let aad = format!("{}/reason", self.id);
        let plain = state.keys.booking.open(sealed, aad.as_bytes())?;
        Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
    }

    /// Start as a time.
    pub fn start(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.starts_at)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// End as a time.
    pub fn end(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.ends_at)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether it still holds its time.
    pub fn is_active(&self) -> bool {
        self.status == "pending" || self.status == "confirmed"
    }
}

/// One booking by id.
pub async fn booking(db: &Db, id: &str) -> Result<BookingRow, AppError> {
    sqlx::query_as::<_, BookingRow>(&format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

/// Whether a database error is the no-overlap rule refusing a booking: the SQLite trigger's
/// `RAISE(ABORT, 'booking_overlap')` or PostgreSQL's exclusion violation (SQLSTATE 23P01).
pub fn is_overlap(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23P01") || db.message().contains("booking_overlap")
        }
        _ => false,
    }
}

/// Maps the no-overlap refusal to [`AppError::SlotTaken`].
pub fn overlap_to_conflict(e: sqlx::Error) -> AppError {
    if is_overlap(&e) {
        AppError::SlotTaken
    } else {
        AppError::Database(e)
    }
}

/// Records the consent text (idempotent) and returns its hash.
pub async fn record_consent(
    conn: &mut sqlx::AnyConnection,
    version: &str,
    lang: &str,
    body: &str,
    sha256: &str,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO consent_texts (sha256, version, lang, body, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(version)
    .bind(lang)
    .bind(body)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a new booking, active, with the interval it blocks and the hash of the consent text
/// shown (given at `row.created_at`). The database refuses an overlap with another active
/// booking of the counsellor (`409 slot_taken`).
pub async fn insert_booking(
    conn: &mut sqlx::AnyConnection,
    row: &BookingRow,
    blocked: Interval,
    consent_sha256: &str,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO bookings (id, counsellor_id, type_id, kind, status, active, starts_at, ends_at,
            blocked_from, blocked_until, client_sealed, lang, consent_sha256, consent_at,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&row.id)
    .bind(&row.counsellor_id)
    .bind(&row.type_id)
    .bind(&row.kind)
    .bind(&row.status)
    .bind(row.starts_at)
    .bind(row.ends_at)
    .bind(blocked.start.timestamp_millis())
    .bind(blocked.end.timestamp_millis())
    .bind(&row.client_sealed)
    .bind(&row.lang)
    .bind(consent_sha256)
    .bind(row.created_at)
    .bind(row.created_at)
    .bind(row.created_at)
    .execute(&mut *conn)
    .await
    .map_err(overlap_to_conflict)?;
    Ok(())
}

/// Links a booking to the room of its video session.
pub async fn set_booking_session(
    conn: &mut sqlx::AnyConnection,
    booking_id: &str,
    session_id: &str,
) -> Result<(), AppError> {
    sqlx::query("UPDATE bookings SET session_id = $1 WHERE id = $2")
        .bind(session_id)
        .bind(booking_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Confirms a pending booking; how many rows changed (0: it was not pending).
pub async fn confirm_pending(
    conn: &mut sqlx::AnyConnection,
    booking_id: &str,
    now: i64,
) -> Result<u64, AppError> {
    Ok(sqlx::query(
        "UPDATE bookings SET status = 'confirmed', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(booking_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Moves an active booking that is still at `row.ics_sequence` to `[start, end)` (blocking
/// `blocked`), raising its sequence; how many rows changed (0: it changed meanwhile). The
/// database refuses an overlap (`409 slot_taken`).
pub async fn move_booking(
    conn: &mut sqlx::AnyConnection,
    row: &BookingRow,
    slot: Interval,
    blocked: Interval,
    now: i64,
) -> Result<u64, AppError> {
    Ok(sqlx::query(
        "UPDATE bookings SET starts_at = $1, ends_at = $2, blocked_from = $3, blocked_until = $4,
            ics_sequence = ics_sequence + 1, updated_at = $5
         WHERE id = $6 AND active = 1 AND ics_sequence = $7",
    )
    .bind(slot.start.timestamp_millis())
    .bind(slot.end.timestamp_millis())
    .bind(blocked.start.timestamp_millis())
    .bind(blocked.end.timestamp_millis())
    .bind(now)
    .bind(&row.id)
    .bind(row.ics_sequence)
    .execute(&mut *conn)
    .await
    .map_err(overlap_to_conflict)?
    .rows_affected())
}

/// Ends an active booking that is still at `row.ics_sequence` (`status` `cancelled` or
/// `declined`, `by` whom, the sealed reason), raising its sequence; how many rows changed (0:
/// it changed meanwhile).
pub async fn end_booking(
    conn: &mut sqlx::AnyConnection,
    row: &BookingRow,
    status: &str,
    by: &str,
    sealed_reason: &Option<Vec<u8>>,
    now: i64,
) -> Result<u64, AppError> {
    Ok(sqlx::query(
        "UPDATE bookings SET status = $1, active = 0, cancelled_by = $2, cancel_reason_sealed = $3,
            ics_sequence = ics_sequence + 1, updated_at = $4
         WHERE id = $5 AND active = 1 AND ics_sequence = $6",
    )
    .bind(status)
    .bind(by)
    .bind(sealed_reason)
    .bind(now)
    .bind(&row.id)
    .bind(row.ics_sequence)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The sealed join link of a booking's room, if the room still exists.
pub async fn room_link_sealed(db: &Db, session_id: &str) -> Result<Option<Vec<u8>>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT link_sealed FROM sessions WHERE id = $1")
            .bind(session_id)
            .fetch_optional(db)
            .await?,
    )
}

/// A moved booking's room stays open until `expires_at`.
pub async fn extend_room(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    expires_at: i64,
) -> Result<(), AppError> {
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id = $2")
        .bind(expires_at)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An ended booking's room closes (keeping an earlier revocation time).
pub async fn revoke_room(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A counsellor's booking profile (what their page shows about them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRow {
    /// A short text.
    pub about: String,
    /// Languages spoken.
    pub languages: Vec<String>,
    /// Topics.
    pub topics: Vec<String>,
    /// Hex SHA-256 of the photo, if there is one.
    pub photo_sha256: Option<String>,
}

/// The booking profile of `counsellor_id` (empty when none was saved).
pub async fn profile_of(db: &Db, counsellor_id: &str) -> Result<ProfileRow, AppError> {
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT about, languages, topics, photo_sha256 FROM booking_profiles WHERE counsellor_id = $1",
    )
    .bind(counsellor_id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => ProfileRow::default(),
        Some((about, languages, topics, photo_sha256)) => ProfileRow {
            about,
            // Written by `save_profile` only; an unreadable list shows as empty.
            languages: serde_json::from_str(&languages).unwrap_or_default(),
            topics: serde_json::from_str(&topics).unwrap_or_default(),
            photo_sha256,
        },
    })
}

/// Makes sure `counsellor_id` has a profile row (so the updates below have one to change).
async fn ensure_profile(db: &Db, counsellor_id: &str) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO booking_profiles (counsellor_id, updated_at) VALUES ($1, $2)
         ON CONFLICT (counsellor_id) DO NOTHING",
    )
    .bind(counsellor_id)
    .bind(now_ms())
    .execute(db)
    .await?;
    Ok(())
}

/// Saves text, languages and topics (checked by the caller); the photo stays.
pub async fn save_profile(db: &Db, counsellor_id: &str, p: &ProfileRow) -> Result<(), AppError> {
    ensure_profile(db, counsellor_id).await?;
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "UPDATE booking_profiles SET about = $1, languages = $2, topics = $3, updated_at = $4
         WHERE counsellor_id = $5",
    )
    .bind(&p.about)
    .bind(json(&p.languages))
    .bind(json(&p.topics))
    .bind(now_ms())
    .bind(counsellor_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Sets (`Some((bytes, media type, hex sha256))`) or removes (`None`) the photo.
pub async fn set_photo(
    db: &Db,
    counsellor_id: &str,
    photo: Option<(&[u8], &str, &str)>,
) -> Result<(), AppError> {
    ensure_profile(db, counsellor_id).await?;
    let (bytes, mime, digest) = match photo {
        Some((b, m, d)) => (Some(b.to_vec()), Some(m), Some(d)),
        None => (None, None, None),
    };
    sqlx::query(
        "UPDATE booking_profiles SET photo = $1, photo_type = $2, photo_sha256 = $3, updated_at = $4
         WHERE counsellor_id = $5",
    )
    .bind(bytes)
    .bind(mime)
    .bind(digest)
    .bind(now_ms())
    .bind(counsellor_id)
    .execute(db)
    .await?;
    Ok(())
}

/// A photo by its digest, if a counsellor with a public page uses it: `(bytes, media type)`.
pub async fn public_photo(db: &Db, sha256: &str) -> Result<(Vec<u8>, String), AppError> {
    let row: Option<(Vec<u8>, String)> = sqlx::query_as(
        "SELECT p.photo, p.photo_type FROM booking_profiles p JOIN counsellors c ON c.id = p.counsellor_id
         WHERE p.photo_sha256 = $1 AND p.photo IS NOT NULL AND p.photo_type IS NOT NULL
           AND c.slug IS NOT NULL",
    )
    .bind(sha256)
    .fetch_optional(db)
    .await?;
    row.ok_or(AppError::NotFound)
}
