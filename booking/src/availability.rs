//! Weekly availability with date overrides, in the counsellor's IANA time zone.
//!
//! Wall-clock times are turned into UTC with one rule, correct across daylight-saving changes:
//!
//! - a local time that does not exist (inside a spring-forward gap) means the first instant
//!   after the gap (02:30 on the day Berlin skips 02:00–03:00 means 03:00 CEST);
//! - a local time that exists twice (inside a fall-back overlap) means its first occurrence when
//!   it starts an interval and its second when it ends one.
//!
//! So an interval keeps every real minute the wall clock shows for it: 01:00–04:00 is two real
//! hours on the spring-forward day and four on the fall-back day, never lost, never doubled.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;

use crate::slots::Interval;
use crate::Error;

/// Most weekly rules a counsellor may have.
pub const MAX_WEEKLY_RULES: usize = 70;
/// Most date overrides.
pub const MAX_OVERRIDES: usize = 400;
/// Most intervals in one override.
pub const MAX_INTERVALS_PER_DAY: usize = 10;
/// Longest DST gap searched for, in minutes (real gaps are 30 or 60 minutes).
const MAX_GAP_MINUTES: i64 = 180;

/// Hours on one weekday, local time, `start < end` (the end may be the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyRule {
    /// The weekday.
    pub weekday: Weekday,
    /// Start, local.
    pub start: NaiveTime,
    /// End, local, after `start`.
    pub end: NaiveTime,
}

/// A date whose hours differ from the weekly ones: no intervals is a day off (holiday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOverride {
    /// The local date.
    pub date: NaiveDate,
    /// That day's hours, replacing the weekly rules; empty: not available.
    pub intervals: Vec<(NaiveTime, NaiveTime)>,
}

/// When a counsellor can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Their time zone.
    pub tz: Tz,
    /// Weekly hours.
    pub weekly: Vec<WeeklyRule>,
    /// Exceptions by date.
    pub overrides: Vec<DateOverride>,
}

fn check_intervals(field: &str, intervals: &mut [(NaiveTime, NaiveTime)]) -> Result<(), Error> {
    for (start, end) in intervals.iter() {
        if end <= start {
            return Err(Error::invalid(field, "each end must be after its start"));
        }
    }
    intervals.sort();
    for pair in intervals.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(Error::invalid(field, "intervals of one day must not overlap"));
        }
    }
    Ok(())
}

impl Availability {
    /// Checks limits, order and overlaps. Call before storing.
    pub fn validate(&self) -> Result<(), Error> {
        if self.weekly.len() > MAX_WEEKLY_RULES {
            return Err(Error::invalid(
                "weekly",
                format!("at most {MAX_WEEKLY_RULES} rules"),
            ));
        }
        if self.overrides.len() > MAX_OVERRIDES {
            return Err(Error::invalid(
                "overrides",
                format!("at most {MAX_OVERRIDES} dates"),
            ));
        }
        for day in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ] {
            let mut intervals: Vec<_> = self
                .weekly
                .iter()
                .filter(|r| r.weekday == day)
                .map(|r| (r.start, r.end))
                .collect();
            check_intervals("weekly", &mut intervals)?;
        }
        let mut dates: Vec<NaiveDate> = self.overrides.iter().map(|o| o.date).collect();
        dates.sort();
        if dates.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::invalid("overrides", "each date at most once"));
        }
        for o in &self.overrides {
            if o.intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(Error::invalid(
                    "overrides",
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            check_intervals("overrides", &mut o.intervals.clone())?;
        }
        Ok(())
    }

    /// The local hours of `date`: its override if there is one, else the weekly rules.
    pub fn local_intervals(&self, date: NaiveDate) -> Vec<(NaiveTime, NaiveTime)> {
        let mut out: Vec<(NaiveTime, NaiveTime)> =
            match self.overrides.iter().find(|o| o.date == date) {
                Some(o) => o.intervals.clone(),
                None => self
                    .weekly
                    .iter()
                    .filter(|r| r.weekday == date.weekday())
                    .map(|r| (r.start, r.end))
                    .collect(),
            };
        out.retain(|(s, e)| e > s);
        out.sort();
        out
    }

    /// The hours of local `date` as UTC intervals (see the module docs for DST).
    pub fn utc_intervals(&self, date: NaiveDate) -> Vec<Interval> {
        self.local_intervals(date)
            .into_iter()
            .filter_map(|(s, e)| {
                let start = to_utc(self.tz, date.and_time(s), Edge::Start)?;
                let end = to_utc(self.tz, date.and_time(e), Edge::End)?;
                (end > start).then_some(Interval { start, end })
            })
            .collect()
    }
}

/// Which end of an interval a local time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Ambiguous times take their first occurrence.
    Start,
    /// Ambiguous times take their second occurrence.
    End,
}

/// A local wall-clock time in `tz` as a UTC instant, by the module's DST rule. `None` only for
/// dates at the edge of the representable range.
pub fn to_utc(tz: Tz, local: NaiveDateTime, edge: Edge) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(match edge {
            Edge::Start => first.with_timezone(&Utc),
            Edge::End => second.with_timezone(&Utc),
        }),
        LocalResult::None => {
            // Inside a gap: the first local minute after it exists; it is where time resumes.
            let mut probe = local;
            for _ in 0..MAX_GAP_MINUTES {
                probe = probe.checked_add_signed(Duration::minutes(1))?;
                let whole_minute = probe.with_second(0).and_then(|p| p.with_nanosecond(0))?;
                if let Some(t) = tz.from_local_datetime(&whole_minute).earliest() {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Europe};

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn sunday_rule(start: NaiveTime, end: NaiveTime, tz: Tz) -> Availability {
        Availability {
            tz,
            weekly: vec![WeeklyRule {
                weekday: Weekday::Sun,
                start,
                end,
            }],
            overrides: vec![],
        }
    }

    #[test]
    fn spring_forward_in_berlin_keeps_two_real_hours_of_one_to_four() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let av = sunday_rule(t(1, 0), t(4, 0), Europe::Berlin);
        let iv = av.utc_intervals(d(2026, 3, 29));
        assert_eq!(iv.len(), 1);
        assert_eq!(iv[0].start.to_rfc3339(), "2026-03-29T00:00:00+00:00");
        assert_eq!(iv[0].end.to_rfc3339(), "2026-03-29T02:00:00+00:00");
    }

    #[test]
    fn fall_back_in_berlin_keeps_four_real_hours_of_one_to_four() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET.
        let av = sunday_rule(t(1, 0), t(4, 0), Europe::Berlin);
        let iv = av.utc_intervals(d(2026, 10, 25));
        assert_eq!(iv[0].start.to_rfc3339(), "2026-10-24T23:00:00+00:00");
        assert_eq!(iv[0].end.to_rfc3339(), "2026-10-25T03:00:00+00:00");
    }

    #[test]
    fn a_start_inside_the_gap_means_the_end_of_the_gap() {
        // New York 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let av = sunday_rule(t(2, 30), t(5, 0), America::New_York);
        let iv = av.utc_intervals(d(2026, 3, 8));
        assert_eq!(iv[0].start.to_rfc3339(), "2026-03-08T07:00:00+00:00"); // 03:00 EDT
        assert_eq!(iv[0].end.to_rfc3339(), "2026-03-08T09:00:00+00:00");
    }

    #[test]
    fn overrides_replace_the_weekly_hours_and_empty_means_a_day_off() {
        let mut av = sunday_rule(t(9, 0), t(12, 0), Europe::Berlin);
        av.overrides.push(DateOverride {
            date: d(2026, 12, 6),
            intervals: vec![(t(14, 0), t(15, 0))],
        });
        av.overrides.push(DateOverride {
            date: d(2026, 12, 13),
            intervals: vec![],
        });
        assert_eq!(av.local_intervals(d(2026, 11, 29)), vec![(t(9, 0), t(12, 0))]);
        assert_eq!(av.local_intervals(d(2026, 12, 6)), vec![(t(14, 0), t(15, 0))]);
        assert!(av.utc_intervals(d(2026, 12, 13)).is_empty());
        assert!(av.utc_intervals(d(2026, 12, 7)).is_empty()); // a Monday
    }

    #[test]
    fn validation_names_overlaps_and_reversed_intervals() {
        let mut av = sunday_rule(t(9, 0), t(12, 0), Europe::Berlin);
        assert!(av.validate().is_ok());
        av.weekly.push(WeeklyRule {
            weekday: Weekday::Sun,
            start: t(11, 0),
            end: t(13, 0),
        });
        assert!(matches!(av.validate(), Err(Error::Invalid { field, .. }) if field == "weekly"));
        av.weekly.pop();
        av.overrides.push(DateOverride {
            date: d(2026, 1, 1),
            intervals: vec![(t(10, 0), t(9, 0))],
        });
        assert!(matches!(av.validate(), Err(Error::Invalid { field, .. }) if field == "overrides"));
    }
}
