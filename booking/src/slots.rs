//! Appointment types and free slots.
//!
//! # Which slots are offered
//!
//! A start `s` is offered when all of these hold:
//!
//! 1. **On the grid.** Each availability interval (one day's hours, in UTC by the DST rule of
//!    [`crate::availability`]) has a grid of starts: its start and every step after it, counted
//!    in *local wall-clock* time. `s` is on the grid when its local reading is one of those
//!    wall times. A wall time skipped by a spring-forward gap offers nothing; one repeated by a
//!    fall-back offers both of its instants. So a 09:00 grid with a 30-minute step always shows
//!    :00 and :30 starts, also across a DST change.
//! 2. **Inside availability.** `[s, s + duration)` lies inside that one interval, measured in
//!    real (UTC) time: every slot is exactly `duration` long. The *buffers* may reach outside
//!    availability (as in Cal.com): a counsellor available 09:00–12:00 with a 10-minute buffer
//!    can still be booked at 09:00 and until 11:00 for an hour. Buffers are preparation and
//!    note-taking time that need not be bookable hours; they only keep bookings apart.
//! 3. **Free.** Its [`blocked_interval`] — the appointment widened by the type's buffers —
//!    overlaps no busy interval (other bookings' blocked intervals, external calendar events).
//!    The database stores each booking's blocked interval and refuses overlapping active
//!    bookings, so two bookings conflict exactly when their blocked intervals overlap — the
//!    same rule. Buffers of neighbours add up (a 10-minute buffer after one and a 10-minute
//!    buffer before the next keep 20 minutes free), which one range constraint can enforce.
//! 4. **In time.** `now + min_notice <= s < now + window_days`, and `from <= s < to`.
//!
//! Results are sorted, free of duplicates and bounded: at most [`MAX_SLOTS`] slots and
//! [`MAX_DAYS`] local days are computed per call, whatever the range.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::availability::{instants_of, local_time, Availability};
pub use crate::interval::Interval;
use crate::Error;

/// Most slots one call returns (the earliest ones).
pub const MAX_SLOTS: usize = 2_000;
/// Most local days one call looks at.
pub const MAX_DAYS: u32 = 400;
/// Longest appointment, in minutes.
pub const MAX_DURATION_MIN: u32 = 8 * 60;
/// Shortest appointment and shortest step, in minutes.
pub const MIN_DURATION_MIN: u32 = 5;
/// Longest buffer, in minutes.
pub const MAX_BUFFER_MIN: u32 = 4 * 60;
/// Longest booking window, in days.
pub const MAX_WINDOW_DAYS: u32 = 366;
/// Longest minimum notice, in minutes (30 days).
pub const MAX_NOTICE_MIN: u32 = 30 * 24 * 60;
/// How far a fall-back can turn the wall clock back (Antarctica/Troll: 2 hours), with room.
const MAX_FALL_BACK: Duration = Duration::hours(3);

/// How the appointment takes place. Serialised as `video`, `phone`, `on_site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    /// An end-to-end encrypted video session (the mail carries the join link).
    Video,
    /// The counsellor calls the client (a phone number is required).
    Phone,
    /// At the counselling centre (the client's address is required).
    OnSite,
}

/// What can be booked: the rules of one appointment type of one counsellor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppointmentType {
    /// Length of the appointment, minutes.
    pub duration_min: u32,
    /// Time kept free before it, minutes.
    pub buffer_before_min: u32,
    /// Time kept free after it, minutes.
    pub buffer_after_min: u32,
    /// How long before its start it must be booked, minutes.
    pub min_notice_min: u32,
    /// How many days into the future it may be booked.
    pub window_days: u32,
    /// Distance between offered starts in local wall-clock minutes; 0 means the duration.
    pub slot_step_min: u32,
    /// Video, phone or on-site.
    pub kind: AppointmentKind,
    /// The counsellor confirms each booking before it holds.
    pub requires_confirmation: bool,
}

impl AppointmentType {
    /// Checks the limits; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        if !(MIN_DURATION_MIN..=MAX_DURATION_MIN).contains(&self.duration_min) {
            return Err(Error::invalid(
                "duration_min",
                format!("must be {MIN_DURATION_MIN} to {MAX_DURATION_MIN} minutes"),
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
        if self.slot_step_min != 0
            && !(MIN_DURATION_MIN..=MAX_DURATION_MIN).contains(&self.slot_step_min)
        {
            return Err(Error::invalid(
                "slot_step_min",
                format!(
                    "must be 0 (the duration) or {MIN_DURATION_MIN} to {MAX_DURATION_MIN} minutes"
                ),
            ));
        }
        Ok(())
    }

    /// The appointment's length (at least a minute, also for unvalidated types).
    pub fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration_min.max(1)))
    }

    /// The grid step: `slot_step_min`, or the duration for 0; below [`MIN_DURATION_MIN`]
    /// (which [`validate`](Self::validate) rejects) counts as that.
    pub fn step(&self) -> Duration {
        let step = if self.slot_step_min == 0 {
            self.duration_min
        } else {
            self.slot_step_min
        };
        Duration::minutes(i64::from(step.max(MIN_DURATION_MIN)))
    }
}

/// An offered appointment time: exactly the appointment, without buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Slot {
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// End (UTC), `start + duration`.
    pub end: DateTime<Utc>,
}

/// What a booking at `start` blocks: `[start − buffer_before, start + duration + buffer_after)`.
/// Two bookings of a counsellor conflict iff these overlap. (Saturates at the ends of the
/// representable time range instead of failing.)
pub fn blocked_interval(t: &AppointmentType, start: DateTime<Utc>) -> Interval {
    let before = Duration::minutes(i64::from(t.buffer_before_min));
    let after = Duration::minutes(i64::from(t.buffer_after_min));
    Interval {
        start: start
            .checked_sub_signed(before)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        end: start
            .checked_add_signed(t.duration())
            .and_then(|e| e.checked_add_signed(after))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    }
}

/// Busy intervals sorted, non-empty and merged, for binary search.
fn merge(busy: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = busy.iter().copied().filter(|b| !b.is_empty()).collect();
    sorted.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(sorted.len());
    for b in sorted {
        match out.last_mut() {
            Some(last) if b.start <= last.end => last.end = last.end.max(b.end),
            _ => out.push(b),
        }
    }
    out
}

/// Whether `iv` overlaps none of the merged, sorted `busy`.
fn is_free(busy: &[Interval], iv: &Interval) -> bool {
    let i = busy.partition_point(|b| b.end <= iv.start);
    busy.get(i).is_none_or(|b| !b.overlaps(iv))
}

/// The grid starts of one availability interval whose appointment fits inside it, unsorted.
fn grid_starts(
    av: &Availability,
    iv: &Interval,
    duration: Duration,
    step: Duration,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let Some(last_start) = iv.end.checked_sub_signed(duration) else {
        return out;
    };
    if last_start < iv.start {
        return out;
    }
    let Some(anchor) = local_time(av.tz, iv.start) else {
        return out;
    };
    // A wall time after this reads only instants after `last_start`, even across a fall-back.
    let Some(stop) =
        local_time(av.tz, last_start).and_then(|l| l.checked_add_signed(MAX_FALL_BACK))
    else {
        return out;
    };
    // Wall times below the anchor can read instants after `iv.start` too: after a fall-back
    // the clock shows earlier times again. Start a whole number of steps before, far enough.
    let steps_back = MAX_FALL_BACK.num_minutes() / step.num_minutes().max(1) + 1;
    let Some(mut wall) = step
        .checked_mul(i32::try_from(steps_back).unwrap_or(i32::MAX))
        .and_then(|back| anchor.checked_sub_signed(back))
    else {
        return out;
    };
    while wall <= stop {
        for s in instants_of(av.tz, wall) {
            if s >= iv.start && s <= last_start {
                out.push(s);
            }
        }
        wall = match wall.checked_add_signed(step) {
            Some(w) => w,
            None => break,
        };
    }
    out
}

/// Free slots starting in `[from, to)` (see the module docs for the rules), sorted, at most
/// [`MAX_SLOTS`] (the earliest). `busy` need not be sorted; empty intervals in it are ignored.
pub fn free_slots(
    av: &Availability,
    t: &AppointmentType,
    busy: &[Interval],
    now: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Slot> {
    let mut slots = Vec::new();
    let Some(not_before) = now.checked_add_signed(Duration::minutes(i64::from(t.min_notice_min)))
    else {
        return slots;
    };
    let earliest = from.max(not_before);
    let latest = match now.checked_add_signed(Duration::days(i64::from(t.window_days))) {
        Some(end) => to.min(end),
        None => to,
    };
    if earliest >= latest {
        return slots;
    }
    let busy = merge(busy);
    let duration = t.duration();
    let step = t.step();
    // Local dates whose hours may hold a start in range: a day of margin either side covers
    // every UTC offset and intervals that end at midnight.
    let (Some(first), Some(last)) = (local_time(av.tz, earliest), local_time(av.tz, latest)) else {
        return slots;
    };
    let first = first.date().pred_opt().unwrap_or(first.date());
    let last = last.date().succ_opt().unwrap_or(last.date());
    let mut day = first;
    let mut days = 0;
    while day <= last && days < MAX_DAYS && slots.len() < MAX_SLOTS {
        for iv in av.utc_intervals(day) {
            for start in grid_starts(av, &iv, duration, step) {
                if start < earliest || start >= latest {
                    continue;
                }
                if is_free(&busy, &blocked_interval(t, start)) {
                    // `grid_starts` only yields starts with `start + duration <= iv.end`.
                    slots.push(Slot {
                        start,
                        end: start + duration,
                    });
                }
            }
        }
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
        days += 1;
    }
    // Days come in order, so after sorting the first MAX_SLOTS are the earliest.
    slots.sort();
    slots.dedup();
    slots.truncate(MAX_SLOTS);
    slots
}

/// Whether a booking may start at `start`: exactly the rules of [`free_slots`], for checking a
/// submitted time (pass the same `busy`, or none and let the database constraint decide).
pub fn is_bookable(
    av: &Availability,
    t: &AppointmentType,
    busy: &[Interval],
    now: DateTime<Utc>,
    start: DateTime<Utc>,
) -> bool {
    let Some(to) = start.checked_add_signed(Duration::nanoseconds(1)) else {
        return false;
    };
    free_slots(av, t, busy, now, start, to)
        .iter()
        .any(|s| s.start == start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{local_time, to_utc, DateOverride, Edge, WeeklyRule, END_OF_DAY};
    use chrono::{NaiveDate, NaiveTime, Offset, TimeZone, Weekday};
    use chrono_tz::Tz;
    use proptest::prelude::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// Minutes after midnight as a time; 1440 is the end of the day.
    fn tm(min: u32) -> NaiveTime {
        if min >= 24 * 60 {
            END_OF_DAY
        } else {
            t(min / 60, min % 60)
        }
    }

    fn every_day(tz: Tz, hours: &[(NaiveTime, NaiveTime)]) -> Availability {
        use Weekday::*;
        let mut weekly = Vec::new();
        for weekday in [Mon, Tue, Wed, Thu, Fri, Sat, Sun] {
            for &(start, end) in hours {
                weekly.push(WeeklyRule {
                    weekday,
                    start,
                    end,
                });
            }
        }
        Availability {
            tz,
            weekly,
            overrides: vec![],
        }
    }

    fn ty(duration_min: u32, slot_step_min: u32) -> AppointmentType {
        AppointmentType {
            duration_min,
            buffer_before_min: 0,
            buffer_after_min: 0,
            min_notice_min: 0,
            window_days: 366,
            slot_step_min,
            kind: AppointmentKind::Video,
            requires_confirmation: false,
        }
    }

    fn hourly() -> AppointmentType {
        ty(60, 0)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The local starts (`HH:MM±hhmm`) offered on local `day`, asked a day ahead.
    fn day_slots(
        av: &Availability,
        ty: &AppointmentType,
        busy: &[Interval],
        day: &str,
    ) -> Vec<String> {
        let d = date(day);
        let from = to_utc(av.tz, d.and_time(t(0, 0)), Edge::Start).unwrap();
        let to = to_utc(av.tz, d.succ_opt().unwrap().and_time(t(0, 0)), Edge::Start).unwrap();
        free_slots(av, ty, busy, from - Duration::days(1), from, to)
            .iter()
            .map(|s| s.start.with_timezone(&av.tz).format("%H:%M%z").to_string())
            .collect()
    }

    #[test]
    fn spring_forward_day_in_berlin_offers_two_hourly_slots_between_one_and_four() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(1, 0), t(4, 0))]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-03-29"),
            ["01:00+0100", "03:00+0200"]
        );
    }

    #[test]
    fn fall_back_day_in_berlin_offers_four_hourly_slots_between_one_and_four() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(1, 0), t(4, 0))]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-10-25"),
            ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
        );
    }

    #[test]
    fn a_45_minute_grid_stays_on_local_quarter_hours_across_fall_back() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(0, 0), t(6, 0))]);
        assert_eq!(
            day_slots(&av, &ty(45, 0), &[], "2026-10-25"),
            [
                "00:00+0200",
                "00:45+0200",
                "01:30+0200",
                "02:15+0200",
                "02:15+0100",
                "03:00+0100",
                "03:45+0100",
                "04:30+0100",
                "05:15+0100"
            ]
        );
    }

    #[test]
    fn a_grid_continues_below_its_anchor_after_a_fall_back() {
        // Sydney 2027-04-04: 03:00 AEDT falls back to 02:00 AEST. 02:15–02:30 runs from the
        // first 02:15 to the second 02:30 (the DST rule), and after the clock turns back the
        // quarter-hour grid shows 02:00 and 02:15 again.
        let av = every_day(chrono_tz::Australia::Sydney, &[(t(2, 15), t(2, 30))]);
        assert_eq!(
            day_slots(&av, &ty(15, 0), &[], "2027-04-04"),
            [
                "02:15+1100",
                "02:30+1100",
                "02:45+1100",
                "02:00+1000",
                "02:15+1000"
            ]
        );
    }

    #[test]
    fn spring_forward_in_new_york_skips_the_missing_hour() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT. 01:00–05:00 holds three real hours.
        let av = every_day(chrono_tz::America::New_York, &[(t(1, 0), t(5, 0))]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-03-08"),
            ["01:00-0500", "03:00-0400", "04:00-0400"]
        );
        // Availability starting inside the gap starts where time resumes.
        let av = every_day(chrono_tz::America::New_York, &[(t(2, 30), t(5, 0))]);
        assert_eq!(
            day_slots(&av, &ty(30, 0), &[], "2026-03-08"),
            ["03:00-0400", "03:30-0400", "04:00-0400", "04:30-0400"]
        );
    }

    #[test]
    fn sydney_gains_an_hour_in_april_and_loses_one_in_october() {
        let av = every_day(chrono_tz::Australia::Sydney, &[(t(1, 0), t(4, 0))]);
        // 2026-04-05: 03:00 AEDT falls back to 02:00 AEST.
        assert_eq!(day_slots(&av, &hourly(), &[], "2026-04-05").len(), 4);
        // 2026-10-04: 02:00 AEST jumps to 03:00 AEDT.
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-10-04"),
            ["01:00+1000", "03:00+1100"]
        );
    }

    #[test]
    fn santiago_skips_midnight_and_repeats_the_last_hour_of_the_day() {
        // 2026-09-06: 00:00 -04 jumps to 01:00 -03, midnight does not exist.
        let av = every_day(chrono_tz::America::Santiago, &[(t(0, 0), t(3, 0))]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-09-06"),
            ["01:00-0300", "02:00-0300"]
        );
        // 2026-04-04/05: 24:00 -03 falls back to 23:00 -04; 22:00–24:00 is three real hours.
        let av = every_day(chrono_tz::America::Santiago, &[(t(22, 0), END_OF_DAY)]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-04-04"),
            ["22:00-0300", "23:00-0300", "23:00-0400"]
        );
    }

    #[test]
    fn london_and_kolkata_ordinary_days() {
        let av = every_day(chrono_tz::Europe::London, &[(t(9, 0), t(12, 0))]);
        assert_eq!(
            day_slots(&av, &ty(50, 60), &[], "2026-03-29"),
            ["09:00+0100", "10:00+0100", "11:00+0100"]
        );
        let av = every_day(chrono_tz::Asia::Kolkata, &[(t(9, 0), t(12, 0))]);
        assert_eq!(day_slots(&av, &ty(30, 0), &[], "2026-03-29").len(), 6);
    }

    #[test]
    fn an_interval_ending_at_midnight_holds_its_last_hour() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(22, 0), END_OF_DAY)]);
        assert_eq!(
            day_slots(&av, &hourly(), &[], "2026-12-07"),
            ["22:00+0100", "23:00+0100"]
        );
    }

    #[test]
    fn buffers_block_neighbouring_slots_and_may_reach_outside_availability() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(9, 0), t(11, 50))]);
        let ty = AppointmentType {
            duration_min: 50,
            buffer_before_min: 10,
            buffer_after_min: 10,
            slot_step_min: 30,
            ..hourly()
        };
        // 09:00 … 11:00 (the last that ends by 11:50); buffers reach 08:50 and 12:00.
        assert_eq!(day_slots(&av, &ty, &[], "2026-12-07").len(), 5);
        let booked = blocked_interval(&ty, utc("2026-12-07T08:00:00Z")); // 09:00 local
        assert_eq!(
            booked,
            Interval {
                start: utc("2026-12-07T07:50:00Z"),
                end: utc("2026-12-07T09:00:00Z")
            }
        );
        // Buffers add up: 10:00 would block from 09:50 and clashes; 10:30 and 11:00 are free.
        assert_eq!(
            day_slots(&av, &ty, &[booked], "2026-12-07"),
            ["10:30+0100", "11:00+0100"]
        );
    }

    #[test]
    fn busy_intervals_may_come_unsorted_overlapping_or_empty() {
        let av = every_day(chrono_tz::UTC, &[(t(8, 0), t(14, 0))]);
        let busy = [
            Interval {
                start: utc("2026-12-07T11:30:00Z"),
                end: utc("2026-12-07T12:10:00Z"),
            },
            Interval {
                start: utc("2026-12-07T08:00:00Z"),
                end: utc("2026-12-07T08:00:00Z"),
            },
            Interval {
                start: utc("2026-12-07T10:00:00Z"),
                end: utc("2026-12-07T12:00:00Z"),
            },
            Interval {
                start: utc("2026-12-07T13:00:00Z"),
                end: utc("2026-12-07T12:00:00Z"),
            },
        ];
        assert_eq!(
            day_slots(&av, &hourly(), &busy, "2026-12-07"),
            ["08:00+0000", "09:00+0000", "13:00+0000"]
        );
    }

    #[test]
    fn notice_and_window_bound_the_offered_starts() {
        let av = every_day(chrono_tz::UTC, &[(t(8, 0), t(18, 0))]);
        let ty = AppointmentType {
            min_notice_min: 120,
            window_days: 1,
            ..hourly()
        };
        let now = utc("2026-12-07T09:30:00Z");
        let slots = free_slots(
            &av,
            &ty,
            &[],
            now,
            now - Duration::days(3),
            now + Duration::days(3),
        );
        assert_eq!(slots.first().unwrap().start, utc("2026-12-07T12:00:00Z"));
        assert_eq!(slots.last().unwrap().start, utc("2026-12-08T09:00:00Z"));
    }

    #[test]
    fn a_holiday_override_removes_the_day_and_other_hours_replace_it() {
        let mut av = every_day(chrono_tz::Europe::Berlin, &[(t(9, 0), t(12, 0))]);
        av.overrides.push(DateOverride {
            date: date("2026-12-24"),
            intervals: vec![],
        });
        av.overrides.push(DateOverride {
            date: date("2026-12-23"),
            intervals: vec![(t(14, 0), t(15, 0))],
        });
        assert!(day_slots(&av, &hourly(), &[], "2026-12-24").is_empty());
        assert_eq!(day_slots(&av, &hourly(), &[], "2026-12-23"), ["14:00+0100"]);
        assert_eq!(day_slots(&av, &hourly(), &[], "2026-12-22").len(), 3);
    }

    #[test]
    fn is_bookable_agrees_with_free_slots() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(9, 0), t(12, 0))]);
        let now = utc("2026-12-01T00:00:00Z");
        assert!(is_bookable(
            &av,
            &hourly(),
            &[],
            now,
            utc("2026-12-07T08:00:00Z")
        ));
        assert!(
            !is_bookable(&av, &hourly(), &[], now, utc("2026-12-07T08:30:00Z")),
            "off the grid"
        );
        assert!(
            !is_bookable(&av, &hourly(), &[], now, utc("2026-12-07T11:00:00Z")),
            "ends after 12:00"
        );
        assert!(
            !is_bookable(&av, &hourly(), &[], now, utc("2026-11-30T08:00:00Z")),
            "in the past"
        );
        let busy = [blocked_interval(&hourly(), utc("2026-12-07T08:00:00Z"))];
        assert!(
            !is_bookable(&av, &hourly(), &busy, now, utc("2026-12-07T08:00:00Z")),
            "taken"
        );
        assert!(is_bookable(
            &av,
            &hourly(),
            &busy,
            now,
            utc("2026-12-07T09:00:00Z")
        ));
        let far = AppointmentType {
            window_days: 3,
            ..hourly()
        };
        assert!(
            !is_bookable(&av, &far, &[], now, utc("2026-12-07T08:00:00Z")),
            "beyond the window"
        );
    }

    #[test]
    fn huge_ranges_are_capped_and_keep_the_earliest_slots() {
        let av = every_day(chrono_tz::Europe::Berlin, &[(t(0, 0), END_OF_DAY)]);
        let now = utc("2026-01-01T00:00:00Z");
        let slots = free_slots(
            &av,
            &ty(5, 5),
            &[],
            now,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        );
        assert_eq!(slots.len(), MAX_SLOTS);
        assert_eq!(slots[0].start, now);
        assert!(slots.windows(2).all(|w| w[0].start < w[1].start));
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let av = every_day(chrono_tz::Pacific::Apia, &[(t(0, 0), END_OF_DAY)]);
        let wild = AppointmentType {
            duration_min: u32::MAX,
            buffer_before_min: u32::MAX,
            buffer_after_min: u32::MAX,
            min_notice_min: u32::MAX,
            window_days: u32::MAX,
            slot_step_min: 1,
            ..hourly()
        };
        for now in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            utc("2011-12-29T00:00:00Z"),
        ] {
            for tt in [wild, ty(0, 0), hourly()] {
                let _ = free_slots(
                    &av,
                    &tt,
                    &[],
                    now,
                    DateTime::<Utc>::MIN_UTC,
                    DateTime::<Utc>::MAX_UTC,
                );
                let _ = is_bookable(&av, &tt, &[], now, now);
                let _ = blocked_interval(&tt, now);
            }
        }
        // Samoa skipped 2011-12-30 entirely: no slots that day, the days around are intact.
        let now = utc("2011-12-28T00:00:00Z");
        let slots = free_slots(&av, &hourly(), &[], now, now, now + Duration::days(4));
        let dates: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&av.tz).format("%d").to_string())
            .collect();
        assert!(!dates.contains(&"30".to_owned()));
        assert!(dates.contains(&"29".to_owned()) && dates.contains(&"31".to_owned()));
    }

    #[test]
    fn invalid_types_name_their_field() {
        let field = |t: AppointmentType| match t.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert!(hourly().validate().is_ok());
        assert_eq!(field(ty(0, 0)), "duration_min");
        assert_eq!(field(ty(60, 3)), "slot_step_min");
        assert_eq!(
            field(AppointmentType {
                window_days: 0,
                ..hourly()
            }),
            "window_days"
        );
        assert_eq!(
            field(AppointmentType {
                buffer_after_min: 10_000,
                ..hourly()
            }),
            "buffer_after_min"
        );
        assert_eq!(
            field(AppointmentType {
                min_notice_min: u32::MAX,
                ..hourly()
            }),
            "min_notice_min"
        );
    }

    #[test]
    fn appointment_kinds_serialise_in_snake_case() {
        let s = serde_json::to_string(&[
            AppointmentKind::Video,
            AppointmentKind::Phone,
            AppointmentKind::OnSite,
        ])
        .unwrap();
        assert_eq!(s, r#"["video","phone","on_site"]"#);
        let k: AppointmentKind = serde_json::from_str(r#""on_site""#).unwrap();
        assert_eq!(k, AppointmentKind::OnSite);
    }

    // ---- properties across DST changes -------------------------------------------------------

    const ZONES: [Tz; 7] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Kolkata,
        chrono_tz::America::Santiago,
        chrono_tz::Europe::London,
        chrono_tz::Australia::Lord_Howe, // 30-minute DST
    ];

    /// Local dates around every UTC-offset change of `tz` in 2025–2027, and two plain days.
    fn interesting_days(tz: Tz) -> Vec<NaiveDate> {
        let off = |d: NaiveDate| tz.offset_from_utc_datetime(&d.and_time(t(0, 0))).fix();
        let mut days = vec![date("2026-01-15"), date("2026-07-15")];
        let mut d = date("2025-01-01");
        while d < date("2028-01-01") {
            let next = d.succ_opt().unwrap();
            if off(d) != off(next) {
                days.extend([d.pred_opt().unwrap(), d, next]);
            }
            d = next;
        }
        days
    }

    #[test]
    fn the_zones_under_test_change_offsets_where_expected() {
        for tz in ZONES {
            let n = interesting_days(tz).len();
            if tz == chrono_tz::Asia::Kolkata {
                assert_eq!(n, 2);
            } else {
                assert_eq!(n, 2 + 6 * 3, "{tz}: two changes a year for three years");
            }
        }
    }

    fn local_minutes(tz: Tz, at: DateTime<Utc>) -> i64 {
        let l = at.with_timezone(&tz).naive_local();
        l.and_utc().timestamp().div_euclid(60)
    }

    /// Independent reference: every whole UTC minute of every availability interval, checked
    /// one by one against the rules of the module docs.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        av: &Availability,
        ty: &AppointmentType,
        busy: &[Interval],
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        days: &[NaiveDate],
    ) -> Vec<DateTime<Utc>> {
        let dur = Duration::minutes(i64::from(ty.duration_min));
        let step = i64::from(if ty.slot_step_min == 0 {
            ty.duration_min
        } else {
            ty.slot_step_min
        });
        let mut out = Vec::new();
        for d in days {
            for iv in av.utc_intervals(*d) {
                let anchor = local_minutes(av.tz, iv.start);
                let mut u = iv.start;
                while u + dur <= iv.end {
                    let on_grid = (local_minutes(av.tz, u) - anchor).rem_euclid(step) == 0;
                    let blocked = blocked_interval(ty, u);
                    if on_grid
                        && u >= from
                        && u < to
                        && u >= now + Duration::minutes(i64::from(ty.min_notice_min))
                        && u < now + Duration::days(i64::from(ty.window_days))
                        && busy.iter().all(|b| !b.overlaps(&blocked))
                    {
                        out.push(u);
                    }
                    u += Duration::minutes(1);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn slots_follow_the_rules_across_dst(
            zone in 0usize..ZONES.len(),
            day_pick in any::<prop::sample::Index>(),
            // Biased towards the small hours, where the DST changes happen.
            start1 in prop_oneof![0u32..(23 * 60), 0u32..(4 * 60), (22 * 60u32)..(24 * 60 - 15)],
            len1 in prop_oneof![15u32..(9 * 60), 15u32..120],
            gap in 0u32..120,
            len2 in prop::sample::select(vec![0u32, 30, 90, 240]),
            duration in prop::sample::select(vec![15u32, 30, 45, 50, 60, 90]),
            step in prop::sample::select(vec![0u32, 10, 15, 30, 45, 60]),
            before in 0u32..30,
            after in 0u32..30,
            notice in 0u32..(30 * 60),
            now_h in 0i64..36,
            busy_at in prop::collection::vec((0i64..(42 * 60), 5i64..120), 0..4),
        ) {
            let tz = ZONES[zone];
            let days = interesting_days(tz);
            let date = days[day_pick.index(days.len())];
            let end1 = (start1 + len1).min(24 * 60);
            let mut hours = vec![(tm(start1), tm(end1))];
            let start2 = end1 + gap;
            if len2 > 0 && start2 < 24 * 60 {
                hours.push((tm(start2), tm((start2 + len2).min(24 * 60))));
            }
            let av = every_day(tz, &hours);
            prop_assert!(av.validate().is_ok());
            let ty = AppointmentType {
                duration_min: duration,
                buffer_before_min: before,
                buffer_after_min: after,
                min_notice_min: notice,
                window_days: 2,
                slot_step_min: step,
                kind: AppointmentKind::Video,
                requires_confirmation: false,
            };
            // Midnight does not exist on some DST days (Santiago): the module's rule applies.
            let day_start = to_utc(tz, date.and_time(t(0, 0)), Edge::Start).unwrap();
            let now = day_start - Duration::hours(12) + Duration::hours(now_h);
            let from = day_start - Duration::hours(6);
            let to = day_start + Duration::hours(30);
            let busy: Vec<Interval> = busy_at.iter().map(|(at, len)| Interval {
                start: from + Duration::minutes(*at),
                end: from + Duration::minutes(at + len),
            }).collect();
            let slots = free_slots(&av, &ty, &busy, now, from, to);

            let near: Vec<NaiveDate> = [-1i64, 0, 1].iter().map(|k| date + Duration::days(*k)).collect();
            let hours_utc: Vec<Interval> = near.iter().flat_map(|d| av.utc_intervals(*d)).collect();
            let step_min = i64::from(if step == 0 { duration } else { step });
            for s in &slots {
                prop_assert_eq!(s.end - s.start, Duration::minutes(i64::from(duration)), "length");
                prop_assert!(s.start >= now + Duration::minutes(i64::from(notice)), "before the notice");
                prop_assert!(s.start >= from && s.start < to, "outside the range");
                let slot = Interval { start: s.start, end: s.end };
                let home: Vec<&Interval> = hours_utc.iter().filter(|h| h.contains(&slot)).collect();
                prop_assert!(!home.is_empty(), "outside availability");
                prop_assert!(
                    home.iter().any(|h| (local_minutes(tz, s.start) - local_minutes(tz, h.start)).rem_euclid(step_min) == 0),
                    "off the local grid"
                );
                let blocked = blocked_interval(&ty, s.start);
                prop_assert!(busy.iter().all(|b| !b.overlaps(&blocked)), "overlaps busy time");
                prop_assert!(is_bookable(&av, &ty, &busy, now, s.start), "is_bookable disagrees");
            }
            prop_assert!(slots.windows(2).all(|w| w[0].start < w[1].start), "not sorted or duplicated");
            // Exactly the reference set: nothing missing, nothing extra, also on DST days.
            let starts: Vec<DateTime<Utc>> = slots.iter().map(|s| s.start).collect();
            prop_assert_eq!(starts, reference(&av, &ty, &busy, now, from, to, &near));
        }

        #[test]
        fn utc_hours_equal_the_wall_clock_hours_minus_gaps_plus_overlaps(
            zone in 0usize..ZONES.len(),
            day_pick in any::<prop::sample::Index>(),
            start_min in 0u32..(12 * 60),
            len_min in 60u32..(12 * 60),
        ) {
            let tz = ZONES[zone];
            let days = interesting_days(tz);
            let date = days[day_pick.index(days.len())];
            let end_min = start_min + len_min;
            let av = every_day(tz, &[(tm(start_min), tm(end_min))]);
            let iv = av.utc_intervals(date);
            prop_assert_eq!(iv.len(), 1);
            // real = wall − (change of UTC offset) + (how far the end moved out of a gap)
            // − (how far the start did). Gaps here are at most an hour; outside gaps the
            // real length is the wall-clock length minus the offset change.
            let off = |at: DateTime<Utc>| i64::from(at.with_timezone(&tz).offset().fix().local_minus_utc());
            let real = (iv[0].end - iv[0].start).num_seconds();
            let wall = i64::from(len_min) * 60;
            let shift = off(iv[0].end) - off(iv[0].start);
            let midnight = date.and_time(t(0, 0));
            let moved = |minutes: u32, edge: Edge| {
                let l = midnight + Duration::minutes(i64::from(minutes));
                let u = to_utc(tz, l, edge).unwrap();
                (local_time(tz, u).unwrap() - l).num_seconds()
            };
            let (moved_start, moved_end) = (moved(start_min, Edge::Start), moved(end_min, Edge::End));
            prop_assert!((0..=3600).contains(&moved_start) && (0..=3600).contains(&moved_end));
            prop_assert_eq!(real, wall - shift + moved_end - moved_start);
            if moved_start == 0 && moved_end == 0 {
                prop_assert!(shift.abs() <= 3600);
            }
            prop_assert!(real > 0);
        }
    }
}
