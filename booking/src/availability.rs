//! Weekly availability with date overrides, in the counsellor's IANA time zone.
//!
//! # The DST rule
//!
//! Wall-clock times are turned into UTC instants by one rule, correct across daylight-saving
//! changes ([`to_utc`]):
//!
//! - a local time that does not exist (inside a spring-forward gap) means the first instant
//!   after the gap (02:30 on the day Berlin skips 02:00–03:00 means 03:00 CEST);
//! - a local time that exists twice (inside a fall-back overlap) means its **first** occurrence
//!   when it starts an interval and its **second** occurrence when it ends one.
//!
//! So an interval keeps every real minute the wall clock shows for it: 01:00–04:00 is two real
//! hours on Berlin's spring-forward day and four on its fall-back day, never lost, never
//! doubled, and each local interval stays one contiguous UTC interval. The price, only for an
//! interval that starts or ends *inside* the repeated hour: it also covers the rest of that
//! hour's first pass or the start of its second (02:15–02:30 on a fall-back day runs from the
//! first 02:15 to the second 02:30, 75 real minutes). The rule errs towards availability,
//! never towards losing time, in the one hour of the year when that question arises.
//!
//! # End of day
//!
//! [`NaiveTime`] cannot say 24:00. An end at or after 23:59:59 (for example [`END_OF_DAY`],
//! 23:59:59.999999999, which is what `web` stores for "24:00") means midnight at the end of the
//! day, i.e. 00:00 of the next date, so 23:00–24:00 holds a full hour.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;

use crate::interval::Interval;
use crate::Error;

/// Most weekly rules a counsellor may have (ten a day).
pub const MAX_WEEKLY_RULES: usize = 70;
/// Most date overrides.
pub const MAX_OVERRIDES: usize = 400;
/// Most intervals in one override.
pub const MAX_INTERVALS_PER_DAY: usize = 10;
/// How far past a non-existent local time the end of its gap is searched, in minutes. Real
/// gaps are 30 or 60 minutes; a whole skipped day (Samoa, 2011-12-30) is 24 hours.
const MAX_GAP_MINUTES: i64 = 26 * 60;

/// The last representable instant of a day, standing for 24:00 as an interval's end.
pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999) {
    Some(t) => t,
    None => NaiveTime::MIN, // unreachable: the arguments are in range
};

/// Whether an interval end means midnight at the end of the day (it is 23:59:59 or later).
pub fn is_end_of_day(t: NaiveTime) -> bool {
    t.hour() == 23 && t.minute() == 59 && t.second() == 59
}

/// Hours on one weekday, local time, `start < end` ([`END_OF_DAY`] for 24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyRule {
    /// The weekday.
    pub weekday: Weekday,
    /// Start, local.
    pub start: NaiveTime,
    /// End, local, after `start`.
    pub end: NaiveTime,
}

/// A date whose hours differ from the weekly ones. No intervals: a day off (holiday); otherwise
/// they replace that day's weekly rules entirely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOverride {
    /// The local date.
    pub date: NaiveDate,
    /// That day's hours as `(start, end)`, local; empty: not available.
    pub intervals: Vec<(NaiveTime, NaiveTime)>,
}

/// When a counsellor can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Their IANA time zone; all times of the rules are wall-clock times there.
    pub tz: Tz,
    /// Weekly hours.
    pub weekly: Vec<WeeklyRule>,
    /// Exceptions by date, each date at most once.
    pub overrides: Vec<DateOverride>,
}

/// Checks `end > start` and no overlaps (touching is fine) among one day's intervals.
fn check_intervals(
    field: &str,
    what: &str,
    intervals: &[(NaiveTime, NaiveTime)],
) -> Result<(), Error> {
    for (start, end) in intervals {
        if end <= start {
            return Err(Error::invalid(
                field,
                format!("{what}: the end {end} must be after the start {start}"),
            ));
        }
    }
    let mut sorted = intervals.to_vec();
    sorted.sort();
    for pair in sorted.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(Error::invalid(
                field,
                format!(
                    "{what}: {}–{} overlaps {}–{}",
                    pair[0].0, pair[0].1, pair[1].0, pair[1].1
                ),
            ));
        }
    }
    Ok(())
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

impl Availability {
    /// Checks limits, order and overlaps; call before storing. The error's `field` is `weekly`
    /// or `overrides`; its message says which day or date and what is wrong.
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
        for day in WEEK {
            let intervals: Vec<_> = self
                .weekly
                .iter()
                .filter(|r| r.weekday == day)
                .map(|r| (r.start, r.end))
                .collect();
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(Error::invalid(
                    "weekly",
                    format!("{day}: at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            check_intervals("weekly", &day.to_string(), &intervals)?;
        }
        let mut dates: Vec<NaiveDate> = self.overrides.iter().map(|o| o.date).collect();
        dates.sort();
        if let Some(w) = dates.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(
                "overrides",
                format!("{}: each date at most once", w[0]),
            ));
        }
        for o in &self.overrides {
            if o.intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(Error::invalid(
                    "overrides",
                    format!(
                        "{}: at most {MAX_INTERVALS_PER_DAY} intervals a day",
                        o.date
                    ),
                ));
            }
            check_intervals("overrides", &o.date.to_string(), &o.intervals)?;
        }
        Ok(())
    }

    /// The local hours of `date`, sorted: its override if there is one, else the weekly rules
    /// of its weekday. Reversed or empty intervals (only possible without [`validate`]) are
    /// dropped.
    ///
    /// [`validate`]: Availability::validate
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

    /// The hours of local `date` as UTC intervals, by the module's DST rule, in the order of
    /// their local starts. Intervals that come out empty (wholly inside a gap) are left out.
    ///
    /// On a fall-back day two intervals that meet inside the repeated hour (01:00–02:30 and
    /// 02:30–04:00 in Berlin) overlap in UTC: the repeated hour belongs to both, as their wall
    /// clocks say. Slot computation deduplicates.
    pub fn utc_intervals(&self, date: NaiveDate) -> Vec<Interval> {
        self.local_intervals(date)
            .into_iter()
            .filter_map(|(s, e)| {
                let start = to_utc(self.tz, date.and_time(s), Edge::Start)?;
                let end_local = if is_end_of_day(e) {
                    date.succ_opt()?.and_time(NaiveTime::MIN)
                } else {
                    date.and_time(e)
                };
                let end = to_utc(self.tz, end_local, Edge::End)?;
                (end > start).then_some(Interval { start, end })
            })
            .collect()
    }
}

/// Which end of an interval a local time is, for [`to_utc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// A start: ambiguous times take their first occurrence.
    Start,
    /// An end: ambiguous times take their second occurrence.
    End,
}

/// A local wall-clock time in `tz` as a UTC instant, by the module's DST rule: in a gap, the
/// first instant after it; in an overlap, the first occurrence for [`Edge::Start`] and the
/// second for [`Edge::End`]. `None` only at the edges of the representable date range.
pub fn to_utc(tz: Tz, local: NaiveDateTime, edge: Edge) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, second) => Some(match edge {
            Edge::Start => first.with_timezone(&Utc),
            Edge::End => second.with_timezone(&Utc),
        }),
        LocalResult::None => {
            // Inside a gap. Gaps end on a whole local minute (every transition since 1970 does),
            // so the first existing whole minute after `local` is where time resumes; its
            // earliest reading is the instant the gap ends.
            let mut probe = local.with_second(0)?.with_nanosecond(0)?;
            for _ in 0..MAX_GAP_MINUTES {
                probe = probe.checked_add_signed(Duration::minutes(1))?;
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}

/// The wall-clock reading of `at` in `tz`; `None` only where it leaves the representable range
/// (chrono's `naive_local` would panic there).
pub fn local_time(tz: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    use chrono::Offset;
    let offset = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc()
        .checked_add_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
}

/// The UTC instants whose wall-clock reading in `tz` is `local`: none in a gap, two in an
/// overlap (earlier first). Used to put slot starts on a local grid.
pub fn instants_of(tz: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => vec![a.with_timezone(&Utc), b.with_timezone(&Utc)],
        LocalResult::None => Vec::new(),
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
        assert_eq!(
            av.local_intervals(d(2026, 11, 29)),
            vec![(t(9, 0), t(12, 0))]
        );
        assert_eq!(
            av.local_intervals(d(2026, 12, 6)),
            vec![(t(14, 0), t(15, 0))]
        );
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

    #[test]
    fn an_end_of_day_end_means_the_next_midnight() {
        let av = sunday_rule(t(22, 0), END_OF_DAY, Europe::Berlin);
        let iv = av.utc_intervals(d(2026, 12, 6));
        assert_eq!(iv[0].start.to_rfc3339(), "2026-12-06T21:00:00+00:00");
        assert_eq!(iv[0].end.to_rfc3339(), "2026-12-06T23:00:00+00:00");
        assert!(is_end_of_day(END_OF_DAY) && !is_end_of_day(t(23, 59)));
    }

    #[test]
    fn a_whole_skipped_day_yields_nothing_and_does_not_fail() {
        // Samoa went from 2011-12-29 straight to 2011-12-31.
        let mut av = sunday_rule(t(9, 0), t(17, 0), chrono_tz::Pacific::Apia);
        av.overrides.push(DateOverride {
            date: d(2011, 12, 30),
            intervals: vec![(t(9, 0), t(17, 0))],
        });
        assert!(av.utc_intervals(d(2011, 12, 30)).is_empty());
        let start = to_utc(av.tz, d(2011, 12, 30).and_time(t(9, 0)), Edge::Start).unwrap();
        assert_eq!(start.to_rfc3339(), "2011-12-30T10:00:00+00:00"); // 2011-12-31 00:00 +14
    }

    #[test]
    fn ambiguous_times_resolve_by_edge_and_extremes_do_not_panic() {
        let two_thirty = d(2026, 10, 25).and_time(t(2, 30));
        let first = to_utc(Europe::Berlin, two_thirty, Edge::Start).unwrap();
        let second = to_utc(Europe::Berlin, two_thirty, Edge::End).unwrap();
        assert_eq!(second - first, Duration::hours(1));
        assert_eq!(instants_of(Europe::Berlin, two_thirty), vec![first, second]);
        assert!(instants_of(Europe::Berlin, d(2026, 3, 29).and_time(t(2, 30))).is_empty());
        assert_eq!(
            local_time(chrono_tz::Pacific::Kiritimati, DateTime::<Utc>::MAX_UTC),
            None
        );
        let _ = to_utc(Europe::Berlin, NaiveDateTime::MAX, Edge::End);
        let _ = to_utc(Europe::Berlin, NaiveDateTime::MIN, Edge::Start);
        let mut av = sunday_rule(t(9, 0), t(12, 0), Europe::Berlin);
        av.overrides.push(DateOverride {
            date: NaiveDate::MAX,
            intervals: vec![(t(9, 0), END_OF_DAY)],
        });
        let _ = av.utc_intervals(NaiveDate::MAX);
        let _ = av.utc_intervals(NaiveDate::MIN);
    }

    #[test]
    fn validation_enforces_limits_and_unique_dates() {
        let mut av = sunday_rule(t(9, 0), t(10, 0), Europe::Berlin);
        for h in 10..20 {
            av.weekly.push(WeeklyRule {
                weekday: Weekday::Sun,
                start: t(h, 0),
                end: t(h, 30),
            });
        }
        let Err(Error::Invalid { field, message }) = av.validate() else {
            panic!("accepted 11 rules a day")
        };
        assert_eq!(field, "weekly");
        assert!(message.contains("Sun"), "{message}");
        let mut av = sunday_rule(t(9, 0), t(10, 0), Europe::Berlin);
        av.overrides = vec![
            DateOverride {
                date: d(2026, 12, 24),
                intervals: vec![],
            },
            DateOverride {
                date: d(2026, 12, 24),
                intervals: vec![(t(9, 0), t(10, 0))],
            },
        ];
        assert!(matches!(av.validate(), Err(Error::Invalid { field, .. }) if field == "overrides"));
        // Touching intervals are fine.
        av.overrides.pop();
        av.weekly.push(WeeklyRule {
            weekday: Weekday::Sun,
            start: t(10, 0),
            end: END_OF_DAY,
        });
        assert_eq!(av.validate(), Ok(()));
    }
}
