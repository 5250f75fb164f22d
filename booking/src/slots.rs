//! Appointment types and free slots.
//!
//! A slot is offered when
//! - `[start, start + duration)` lies inside one availability interval (buffers may reach
//!   outside availability: a counsellor available 09:00–12:00 with a 10-minute buffer can still
//!   be booked at 09:00),
//! - its *blocked interval* — the appointment widened by the type's buffers — overlaps no busy
//!   interval (other bookings' blocked intervals, external calendar events),
//! - it starts no earlier than `now + minimum notice` and before `now + booking window`.
//!
//! Starts are the interval's start and every step after it, in real minutes (so a DST change
//! inside an interval neither loses nor doubles a slot). The database stores each booking's
//! blocked interval and refuses overlaps of active bookings, so two bookings conflict exactly
//! when [`blocked_interval`]s overlap — the same rule these functions apply. Buffers of
//! neighbouring appointments therefore add up (a 10-minute buffer after one and a 10-minute
//! buffer before the next keep 20 minutes free), which a single range constraint can enforce.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::availability::Availability;
use crate::Error;

/// Most slots one call returns.
pub const MAX_SLOTS: usize = 2_000;
/// Most days one call looks at.
pub const MAX_DAYS: i64 = 400;
/// Limits of appointment types.
pub const MAX_DURATION_MIN: u32 = 8 * 60;
/// Longest buffer.
pub const MAX_BUFFER_MIN: u32 = 4 * 60;
/// Longest booking window.
pub const MAX_WINDOW_DAYS: u32 = 366;
/// Longest minimum notice (30 days).
pub const MAX_NOTICE_MIN: u32 = 30 * 24 * 60;

/// How the appointment takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    /// An end-to-end encrypted video session (the mail carries the join link).
    Video,
    /// The counsellor calls the client (a phone number is required).
    Phone,
    /// At the counselling centre (the client's address is required).
    OnSite,
}

/// What can be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppointmentType {
    /// Length of the appointment.
    pub duration_min: u32,
    /// Time kept free before it.
    pub buffer_before_min: u32,
    /// Time kept free after it.
    pub buffer_after_min: u32,
    /// How far ahead it must be booked.
    pub min_notice_min: u32,
    /// How far into the future it may be booked.
    pub window_days: u32,
    /// Distance between offered starts; 0 means the duration.
    pub slot_step_min: u32,
    /// Video, phone or on-site.
    pub kind: AppointmentKind,
    /// The counsellor confirms each booking before it holds.
    pub requires_confirmation: bool,
}

impl AppointmentType {
    /// Checks the limits; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        if !(5..=MAX_DURATION_MIN).contains(&self.duration_min) {
            return Err(Error::invalid(
                "duration_min",
                format!("must be 5 to {MAX_DURATION_MIN} minutes"),
            ));
        }
        if self.buffer_before_min > MAX_BUFFER_MIN {
            return Err(Error::invalid(
                "buffer_before_min",
                format!("must be at most {MAX_BUFFER_MIN} minutes"),
            ));
        }
        if self.buffer_after_min > MAX_BUFFER_MIN {
            return Err(Error::invalid(
                "buffer_after_min",
                format!("must be at most {MAX_BUFFER_MIN} minutes"),
            ));
        }
        if self.min_notice_min > MAX_NOTICE_MIN {
            return Err(Error::invalid(
                "min_notice_min",
                format!("must be at most {MAX_NOTICE_MIN} minutes"),
            ));
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            return Err(Error::invalid(
                "window_days",
                format!("must be 1 to {MAX_WINDOW_DAYS} days"),
            ));
        }
        if self.slot_step_min != 0 && !(5..=MAX_DURATION_MIN).contains(&self.slot_step_min) {
            return Err(Error::invalid(
                "slot_step_min",
                format!("must be 0 (the duration) or 5 to {MAX_DURATION_MIN} minutes"),
            ));
        }
        Ok(())
    }

    fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration_min.max(1)))
    }

    fn step(&self) -> Duration {
        let step = if self.slot_step_min == 0 {
            self.duration_min
        } else {
            self.slot_step_min
        };
        Duration::minutes(i64::from(step.max(5)))
    }
}

/// A half-open UTC interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First instant inside.
    pub start: DateTime<Utc>,
    /// First instant after.
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Whether the two share an instant.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies inside this one.
    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// An offered appointment time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Slot {
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// End (UTC).
    pub end: DateTime<Utc>,
}

/// The appointment at `start` widened by the type's buffers: what a booking blocks.
pub fn blocked_interval(t: &AppointmentType, start: DateTime<Utc>) -> Interval {
    Interval {
        start: start - Duration::minutes(i64::from(t.buffer_before_min)),
        end: start + t.duration() + Duration::minutes(i64::from(t.buffer_after_min)),
    }
}

/// Free slots starting in `[from, to)`, sorted, at most [`MAX_SLOTS`].
pub fn free_slots(
    av: &Availability,
    t: &AppointmentType,
    busy: &[Interval],
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Slot> {
    let earliest = from.max(now + Duration::minutes(i64::from(t.min_notice_min)));
    let latest = to.min(now + Duration::days(i64::from(t.window_days)));
    let mut slots = Vec::new();
    if earliest >= latest {
        return slots;
    }
    let duration = t.duration();
    let step = t.step();
    // Local dates whose hours may contain a start in range: one day of margin either side
    // covers every UTC offset.
    let first_day = earliest.with_timezone(&av.tz).date_naive() - Duration::days(1);
    let last_day = (latest.with_timezone(&av.tz).date_naive() + Duration::days(1))
        .min(first_day + Duration::days(MAX_DAYS));
    let mut day = first_day;
    while day <= last_day && slots.len() < MAX_SLOTS {
        for interval in av.utc_intervals(day) {
            let mut start = interval.start;
            while start + duration <= interval.end && slots.len() < MAX_SLOTS {
                if start >= earliest && start < latest {
                    let blocked = blocked_interval(t, start);
                    if !busy.iter().any(|b| b.overlaps(&blocked)) {
                        slots.push(Slot {
                            start,
                            end: start + duration,
                        });
                    }
                }
                start += step;
            }
        }
        day += Duration::days(1);
    }
    slots.sort();
    slots.dedup();
    slots
}

/// Whether `start` is one of the free slots (for checking a submitted time with the same rules).
pub fn is_bookable(
    av: &Availability,
    t: &AppointmentType,
    busy: &[Interval],
    now: DateTime<Utc>,
    start: DateTime<Utc>,
) -> bool {
    free_slots(av, t, busy, now, start, start + Duration::minutes(1))
        .iter()
        .any(|s| s.start == start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{to_utc, DateOverride, Edge, WeeklyRule};
    use chrono::{NaiveDate, NaiveTime, Weekday};
    use chrono_tz::Tz;
    use proptest::prelude::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn every_day(tz: Tz, start: NaiveTime, end: NaiveTime) -> Availability {
        use Weekday::*;
        Availability {
            tz,
            weekly: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
                .into_iter()
                .map(|weekday| WeeklyRule {
                    weekday,
                    start,
                    end,
                })
                .collect(),
            overrides: vec![],
        }
    }

    fn hourly() -> AppointmentType {
        AppointmentType {
            duration_min: 60,
            buffer_before_min: 0,
            buffer_after_min: 0,
            min_notice_min: 0,
            window_days: 366,
            slot_step_min: 0,
            kind: AppointmentKind::Video,
            requires_confirmation: false,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day_slots(av: &Availability, ty: &AppointmentType, busy: &[Interval], date: &str) -> Vec<String> {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        let from = to_utc(av.tz, date.and_time(t(0, 0)), Edge::Start).unwrap();
        let now = from - Duration::days(1);
        free_slots(av, ty, busy, now, from, from + Duration::hours(24))
            .iter()
            .map(|s| s.start.with_timezone(&av.tz).format("%H:%M%z").to_string())
            .collect()
    }

    #[test]
    fn spring_forward_day_offers_two_hourly_slots_between_one_and_four() {
        let av = every_day(chrono_tz::Europe::Berlin, t(1, 0), t(4, 0));
        assert_eq!(day_slots(&av, &hourly(), &[], "2026-03-29"), ["01:00+0100", "03:00+0200"]);
    }

    #[test]
    fn fall_back_day_offers_four_hourly_slots_between_one_and_four() {
        let av = every_day(chrono_tz::Europe::Berlin, t(1, 0), t(4, 0));
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-10-25"),
            ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
        );
    }

    #[test]
    fn buffers_block_neighbouring_slots_and_may_reach_outside_availability() {
        let av = every_day(chrono_tz::Europe::Berlin, t(9, 0), t(11, 50));
        let ty = AppointmentType {
            duration_min: 50,
            buffer_before_min: 0,
            buffer_after_min: 10,
            slot_step_min: 30,
            ..hourly()
        };
        // 09:00, 09:30, … 11:00 (the last that ends by 11:50; its buffer reaches 12:00).
        assert_eq!(day_slots(&av, &ty, &[], "2026-12-07").len(), 5);
        let booked = blocked_interval(&ty, utc("2026-12-07T09:00:00Z")); // 10:00 local
        assert_eq!(booked.end, utc("2026-12-07T10:00:00Z"));
        let free = day_slots(&av, &ty, &[booked], "2026-12-07");
        // 10:00 blocks 10:00–11:00: 09:00 with its buffer ends at 10:00 (ok), 09:30, 10:00
        // and 10:30 clash, 11:00 is free again.
        assert_eq!(free, ["09:00+0100", "11:00+0100"]);
    }

    #[test]
    fn notice_and_window_bound_the_offered_starts() {
        let av = every_day(chrono_tz::UTC, t(8, 0), t(18, 0));
        let ty = AppointmentType {
            min_notice_min: 120,
            window_days: 1,
            ..hourly()
        };
        let now = utc("2026-12-07T09:30:00Z");
        let slots = free_slots(&av, &ty, &[], now, now - Duration::days(3), now + Duration::days(3));
        assert_eq!(slots.first().unwrap().start, utc("2026-12-07T12:00:00Z"));
        assert!(slots.iter().all(|s| s.start < now + Duration::days(1)));
        assert_eq!(slots.last().unwrap().start, utc("2026-12-08T09:00:00Z"));
    }

    #[test]
    fn a_holiday_override_removes_the_day() {
        let mut av = every_day(chrono_tz::Europe::Berlin, t(9, 0), t(12, 0));
        av.overrides.push(DateOverride {
            date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
            intervals: vec![],
        });
        assert!(day_slots(&av, &hourly(), &[], "2026-12-24").is_empty());
        assert_eq!(day_slots(&av, &hourly(), &[], "2026-12-23").len(), 3);
    }

    #[test]
    fn is_bookable_agrees_with_free_slots() {
        let av = every_day(chrono_tz::Europe::Berlin, t(9, 0), t(12, 0));
        let now = utc("2026-12-01T00:00:00Z");
        assert!(is_bookable(&av, &hourly(), &[], now, utc("2026-12-07T08:00:00Z")));
        assert!(!is_bookable(&av, &hourly(), &[], now, utc("2026-12-07T08:30:00Z")));
        assert!(!is_bookable(&av, &hourly(), &[], now, utc("2026-12-07T11:00:00Z")));
    }

    #[test]
    fn invalid_types_name_their_field() {
        let bad = AppointmentType {
            duration_min: 0,
            ..hourly()
        };
        assert!(matches!(bad.validate(), Err(Error::Invalid { field, .. }) if field == "duration_min"));
        let bad = AppointmentType {
            window_days: 0,
            ..hourly()
        };
        assert!(matches!(bad.validate(), Err(Error::Invalid { field, .. }) if field == "window_days"));
    }

    const ZONES: [Tz; 6] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Kolkata,
        chrono_tz::America::Santiago,
        chrono_tz::Europe::London,
    ];

    /// Days around the DST changes of 2026 in the zones above (and plain days).
    const DAYS: [&str; 10] = [
        "2026-03-08", "2026-03-29", "2026-04-05", "2026-04-04", "2026-09-06", "2026-10-04",
        "2026-10-25", "2026-11-01", "2026-07-15", "2026-01-15",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn slots_respect_availability_duration_busy_and_notice_across_dst(
            zone in 0usize..ZONES.len(),
            day in 0usize..DAYS.len(),
            start_min in 0u32..(23 * 60),
            len_min in 30u32..(8 * 60),
            duration in prop::sample::select(vec![15u32, 30, 45, 50, 60, 90]),
            step in prop::sample::select(vec![0u32, 15, 30, 60]),
            before in 0u32..30,
            after in 0u32..30,
            notice_h in 0i64..30,
            busy_offsets in prop::collection::vec((0i64..(36 * 60), 10i64..120), 0..4),
        ) {
            let tz = ZONES[zone];
            let date = NaiveDate::parse_from_str(DAYS[day], "%Y-%m-%d").unwrap();
            let end_min = (start_min + len_min).min(24 * 60 - 1);
            let av = every_day(tz, t(start_min / 60, start_min % 60), t(end_min / 60, end_min % 60));
            let ty = AppointmentType {
                duration_min: duration,
                buffer_before_min: before,
                buffer_after_min: after,
                min_notice_min: 0,
                window_days: 366,
                slot_step_min: step,
                kind: AppointmentKind::Video,
                requires_confirmation: false,
            };
            // Midnight does not exist on some DST days (Santiago): the module's rule applies.
            let day_start = to_utc(tz, date.and_time(t(0, 0)), Edge::Start).unwrap();
            let now = day_start - Duration::hours(12) + Duration::hours(notice_h);
            let busy: Vec<Interval> = busy_offsets.iter().map(|(off, len)| Interval {
                start: day_start - Duration::hours(6) + Duration::minutes(*off),
                end: day_start - Duration::hours(6) + Duration::minutes(off + len),
            }).collect();
            let from = day_start - Duration::hours(6);
            let to = day_start + Duration::hours(30);
            let slots = free_slots(&av, &ty, &busy, now, from, to);
            let mut days_hours = Vec::new();
            for d in [date.pred_opt().unwrap(), date, date.succ_opt().unwrap(), date.succ_opt().unwrap().succ_opt().unwrap()] {
                days_hours.extend(av.utc_intervals(d));
            }
            for s in &slots {
                prop_assert_eq!(s.end - s.start, Duration::minutes(i64::from(duration)));
                prop_assert!(s.start >= now, "slot before now");
                prop_assert!(s.start >= from && s.start < to);
                let slot = Interval { start: s.start, end: s.end };
                prop_assert!(days_hours.iter().any(|h| h.contains(&slot)), "slot outside availability");
                let blocked = blocked_interval(&ty, s.start);
                prop_assert!(!busy.iter().any(|b| b.overlaps(&blocked)), "slot overlaps busy time");
                prop_assert!(is_bookable(&av, &ty, &busy, now, s.start));
            }
            for w in slots.windows(2) {
                prop_assert!(w[0].start < w[1].start, "not sorted or duplicated");
            }
            // Completeness: without busy times and notice, every step inside each interval
            // that fits is offered.
            let all = free_slots(&av, &ty, &[], day_start - Duration::days(2), day_start, day_start + Duration::hours(1));
            for h in av.utc_intervals(date) {
                if h.start >= day_start && h.start < day_start + Duration::hours(1)
                    && h.start + Duration::minutes(i64::from(duration)) <= h.end {
                    prop_assert!(all.iter().any(|s| s.start == h.start), "first start of an interval missing");
                }
            }
        }

        #[test]
        fn utc_hours_equal_the_wall_clock_hours_minus_gaps_plus_overlaps(
            zone in 0usize..ZONES.len(),
            day in 0usize..DAYS.len(),
            start_min in 0u32..(12 * 60),
            len_min in 60u32..(11 * 60),
        ) {
            let tz = ZONES[zone];
            let date = NaiveDate::parse_from_str(DAYS[day], "%Y-%m-%d").unwrap();
            let end_min = start_min + len_min;
            let av = every_day(tz, t(start_min / 60, start_min % 60), t(end_min / 60, end_min % 60));
            let iv = av.utc_intervals(date);
            prop_assert_eq!(iv.len(), 1);
            // The real length differs from the wall-clock length by exactly the change of
            // UTC offset across the interval (0 on ordinary days).
            use chrono::Offset;
            let off = |at: DateTime<Utc>| i64::from(at.with_timezone(&tz).offset().fix().local_minus_utc());
            let real = (iv[0].end - iv[0].start).num_seconds();
            let wall = i64::from(len_min) * 60;
            let shift = off(iv[0].end) - off(iv[0].start);
            // Starts inside a gap move to its end, so the interval can only be shorter.
            prop_assert!(real == wall - shift || real < wall - shift,
                "real {} wall {} shift {}", real, wall, shift);
            prop_assert!(real > 0);
        }
    }
}
