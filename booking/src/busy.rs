//! Busy times from an external iCalendar (a feed the counsellor subscribes to, or events read
//! over CalDAV): every `VEVENT` that blocks time, with recurrences expanded in the right zone.
//!
//! Rules, following RFC 5545 and what calendar programs do:
//!
//! - `STATUS:CANCELLED` and `TRANSP:TRANSPARENT` ("free") events block nothing.
//! - Times in UTC (`…Z`) are exact; a `TZID` names the zone; a zone we do not know (a Windows
//!   name, say) and floating times are read in the counsellor's zone, as are all-day dates
//!   (`VALUE=DATE`), which block the whole local day(s).
//! - The end is `DTEND`, else `DTSTART + DURATION`, else the start itself for timed events
//!   (nothing blocked) and one day for all-day ones.
//! - `RRULE`/`RDATE`/`EXDATE` are expanded with the `rrule` crate in the event's zone, so a
//!   weekly 09:00 stays 09:00 local across DST; an instance that has its own `VEVENT` with a
//!   `RECURRENCE-ID` is replaced by that one (moved, shortened or cancelled).
//! - Expansion is bounded: only the window asked for, at most [`MAX_OCCURRENCES`] instances per
//!   event and [`MAX_INTERVALS`] in all. An event that cannot be read is skipped and reported,
//!   the others still count.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::{read_calendar, unfold, Component, Property};

use crate::availability::instants_of;
use crate::interval::Interval;

/// Most instances of one recurring event inside the window.
pub const MAX_OCCURRENCES: u16 = 2000;
/// Most busy intervals from one calendar.
pub const MAX_INTERVALS: usize = 20_000;
/// Largest calendar read, in bytes.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// What a calendar blocks, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Busy {
    /// Busy intervals overlapping the window, sorted by start.
    pub intervals: Vec<Interval>,
    /// Events skipped, with the reason (UID and a short English text; no summaries).
    pub skipped: Vec<String>,
}

/// Errors that make the whole calendar unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusyError {
    /// Larger than [`MAX_BYTES`].
    #[error("the calendar is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// Not iCalendar at all.
    #[error("not an iCalendar file: {0}")]
    Syntax(String),
}

/// A property's value and its parameters, owned.
struct Prop {
    value: String,
    params: Vec<(String, String)>,
}

impl Prop {
    fn of(p: &Property<'_>) -> Self {
        Prop {
            value: p.val.as_str().trim().to_owned(),
            params: p
                .params
                .iter()
                .map(|x| {
                    (
                        x.key.as_str().to_ascii_uppercase(),
                        x.val
                            .as_ref()
                            .map(|v| v.as_str().trim_matches('"').to_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn is_date(&self) -> bool {
        self.param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
            || (self.value.len() == 8 && self.value.bytes().all(|b| b.is_ascii_digit()))
    }
}

fn props<'a>(c: &'a Component<'_>, name: &str) -> impl Iterator<Item = &'a Property<'a>> + 'a {
    let name = name.to_owned();
    c.properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(&name))
}

fn prop(c: &Component<'_>, name: &str) -> Option<Prop> {
    props(c, name).next().map(Prop::of)
}

/// A point in time as written, before it is placed in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Utc(DateTime<Utc>),
    Local(NaiveDateTime, Tz),
    Date(NaiveDate, Tz),
}

impl When {
    fn parse(value: &str, tzid: Option<&str>, date: bool, default_tz: Tz) -> Option<When> {
        let tz = tzid
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(default_tz);
        if date {
            return NaiveDate::parse_from_str(value.get(..8)?, "%Y%m%d")
                .ok()
                .map(|d| When::Date(d, tz));
        }
        if let Some(v) = value.strip_suffix('Z') {
            let t = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()?;
            return Some(When::Utc(Utc.from_utc_datetime(&t)));
        }
        NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| When::Local(t, tz))
    }

    /// The instant. A local time inside a DST gap means the first instant after it; one that
    /// exists twice means its first occurrence.
    fn instant(self) -> Option<DateTime<Utc>> {
        let (local, tz) = match self {
            When::Utc(t) => return Some(t),
            When::Local(t, tz) => (t, tz),
            When::Date(d, tz) => (d.and_hms_opt(0, 0, 0)?, tz),
        };
        if let Some(t) = instants_of(tz, local).first() {
            return Some(*t);
        }
        // In a gap: walk forward minute by minute (gaps are at most a day long).
        (1..=26 * 60).find_map(|m| {
            let t = local.checked_add_signed(Duration::minutes(m))?;
            instants_of(tz, t).first().copied()
        })
    }

    /// The `DTSTART` line for the rrule crate: UTC stays UTC, everything else gets an
    /// explicit, known `TZID` (all-day events start at local midnight).
    fn rrule_line(self, name: &str) -> String {
        match self {
            When::Utc(t) => format!("{name}:{}", t.format("%Y%m%dT%H%M%SZ")),
            When::Local(t, tz) => {
                format!("{name};TZID={}:{}", tz.name(), t.format("%Y%m%dT%H%M%S"))
            }
            When::Date(d, tz) => format!("{name};TZID={}:{}T000000", tz.name(), d.format("%Y%m%d")),
        }
    }
}

/// RFC 5545 §3.3.6 durations: `[+-]P[nW][nD][T[nH][nM][nS]]`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix('P')?;
    let mut total = Duration::zero();
    let mut num = String::new();
    let mut in_time = false;
    for c in rest.chars() {
        match c {
            '0'..='9' => num.push(c),
            'T' if num.is_empty() => in_time = true,
            _ => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                // A duration beyond what chrono can hold is unreadable, not a panic.
                let part = match (c, in_time) {
                    ('W', false) => Duration::try_weeks(n),
                    ('D', false) => Duration::try_days(n),
                    ('H', true) => Duration::try_hours(n),
                    ('M', true) => Duration::try_minutes(n),
                    ('S', true) => Duration::try_seconds(n),
                    _ => return None,
                }?;
                total = total.checked_add(&part)?;
            }
        }
    }
    if !num.is_empty() {
        return None;
    }
    Some(if neg { -total } else { total })
}

/// One event as read: its start, how long it lasts, and whether it blocks time.
struct Event {
    uid: String,
    start: When,
    /// Exact length for timed events; whole days for all-day ones (added on the calendar).
    length: Length,
    blocks: bool,
    recurrence_id: Option<When>,
    /// `RRULE`, `RDATE`, `EXDATE` lines, ready for the rrule crate.
    rules: Vec<String>,
}

#[derive(Clone, Copy)]
enum Length {
    Exact(Duration),
    Days(i64),
}

fn prop_when(c: &Component<'_>, name: &str, tz: Tz) -> Option<When> {
    let p = prop(c, name)?;
    When::parse(&p.value, p.param("TZID"), p.is_date(), tz)
}

fn read_event(c: &Component<'_>, tz: Tz) -> Result<Event, String> {
    let uid = prop(c, "UID").map(|p| p.value).unwrap_or_default();
    let start = prop_when(c, "DTSTART", tz).ok_or("no readable DTSTART")?;
    let length = if let Some(end) = prop_when(c, "DTEND", tz) {
        match (start, end) {
            (When::Date(a, _), When::Date(b, _)) => Length::Days((b - a).num_days().max(1)),
            _ => {
                let (a, b) = (
                    start.instant().ok_or("bad DTSTART")?,
                    end.instant().ok_or("bad DTEND")?,
                );
                Length::Exact((b - a).max(Duration::zero()))
            }
        }
    } else if let Some(d) = prop(c, "DURATION").and_then(|p| parse_duration(&p.value)) {
        match start {
            When::Date(..) if d.num_seconds() % 86_400 == 0 => Length::Days(d.num_days().max(1)),
            _ => Length::Exact(d.max(Duration::zero())),
        }
    } else {
        match start {
            When::Date(..) => Length::Days(1),
            _ => Length::Exact(Duration::zero()),
        }
    };
    let status = prop(c, "STATUS").map(|p| p.value.to_ascii_uppercase());
    let transp = prop(c, "TRANSP").map(|p| p.value.to_ascii_uppercase());
    let blocks = status.as_deref() != Some("CANCELLED") && transp.as_deref() != Some("TRANSPARENT");
    let recurrence_id = prop_when(c, "RECURRENCE-ID", tz);
    let mut rules = Vec::new();
    for p in props(c, "RRULE").map(Prop::of) {
        // RFC 5545's RRULE grammar is ASCII; the rrule crate slices BYDAY values by byte and
        // panics inside a multi-byte character, so anything else is refused here.
        if !p.value.is_ascii() {
            return Err("RRULE is not ASCII".into());
        }
        rules.push(format!("RRULE:{}", p.value));
    }
    for name in ["RDATE", "EXDATE"] {
        for p in props(c, name).map(Prop::of) {
            if p.param("VALUE")
                .is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"))
            {
                return Err(format!("{name} periods are not supported"));
            }
            for v in p.value.split(',').filter(|v| !v.trim().is_empty()) {
                let w = When::parse(v.trim(), p.param("TZID"), p.is_date(), tz)
                    .ok_or(format!("unreadable {name}"))?;
                rules.push(w.rrule_line(name));
            }
        }
    }
    Ok(Event {
        uid,
        start,
        length,
        blocks,
        recurrence_id,
        rules,
    })
}

/// The event's span, or `None` when its end is beyond what a date can hold.
fn interval(start: When, length: Length) -> Option<Interval> {
    let from = start.instant()?;
    let end = match (length, start) {
        (Length::Days(n), When::Date(d, tz)) => {
            When::Date(d.checked_add_signed(Duration::try_days(n)?)?, tz).instant()?
        }
        (Length::Days(n), _) => from.checked_add_signed(Duration::try_days(n)?)?,
        (Length::Exact(d), _) => from.checked_add_signed(d)?,
    };
    Some(Interval { start: from, end })
}

/// The instants of a recurring event's instances that start before `to` (at most
/// [`MAX_OCCURRENCES`] of them inside the window, looking back far enough for long events).
fn occurrences(ev: &Event, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<When>, String> {
    let mut text = ev.start.rrule_line("DTSTART");
    for r in &ev.rules {
        text.push('\n');
        text.push_str(r);
    }
    let set: rrule::RRuleSet = text.parse().map_err(|e| format!("recurrence: {e}"))?;
    let too_long = || "event too long".to_owned();
    let span = match ev.length {
        Length::Exact(d) => d,
        Length::Days(n) => Duration::try_days(n.saturating_add(1)).ok_or_else(too_long)?,
    };
    let after = from
        .checked_sub_signed(span)
        .and_then(|t| t.checked_sub_signed(Duration::days(1)))
        .ok_or_else(too_long)?
        .with_timezone(&rrule::Tz::UTC);
    let before = to.with_timezone(&rrule::Tz::UTC);
    let result = set.after(after).before(before).all(MAX_OCCURRENCES);
    Ok(result
        .dates
        .into_iter()
        .map(|d| {
            let utc = d.with_timezone(&Utc);
            match ev.start {
                // Keep all-day instances on the calendar: local midnight to local midnight.
                When::Date(_, tz) => When::Date(utc.with_timezone(&tz).date_naive(), tz),
                When::Local(_, tz) => When::Local(utc.with_timezone(&tz).naive_local(), tz),
                When::Utc(_) => When::Utc(utc),
            }
        })
        .collect())
}

/// The busy intervals of `ics` that overlap `[from, to)`. `tz` is the counsellor's zone, for
/// floating times, all-day dates and zones we do not know.
pub fn busy_from_ics(
    ics: &str,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Busy, BusyError> {
    if ics.len() > MAX_BYTES {
        return Err(BusyError::TooLarge);
    }
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded).map_err(|e| {
        BusyError::Syntax(e.lines().next().unwrap_or("").chars().take(200).collect())
    })?;
    let mut busy = Busy::default();
    let mut masters = Vec::new();
    let mut overrides: Vec<Event> = Vec::new();
    for c in calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
    {
        match read_event(c, tz) {
            Ok(ev) if ev.recurrence_id.is_some() => overrides.push(ev),
            Ok(ev) => masters.push(ev),
            Err(why) => {
                let uid = prop(c, "UID").map(|p| p.value).unwrap_or_default();
                busy.skipped.push(format!("{uid}: {why}"));
            }
        }
    }
    // Instances replaced by their own VEVENT, by UID and original start.
    let mut replaced: HashMap<&str, HashSet<DateTime<Utc>>> = HashMap::new();
    for o in &overrides {
        if let Some(at) = o.recurrence_id.and_then(When::instant) {
            replaced.entry(o.uid.as_str()).or_default().insert(at);
        }
    }
    let push = |busy: &mut Busy, iv: Option<Interval>| {
        if let Some(iv) = iv {
            if iv.end > iv.start
                && iv.start < to
                && iv.end > from
                && busy.intervals.len() < MAX_INTERVALS
            {
                busy.intervals.push(iv);
            }
        }
    };
    for ev in &masters {
        if !ev.blocks {
            continue;
        }
        if ev
            .rules
            .iter()
            .any(|r| r.starts_with("RRULE") || r.starts_with("RDATE"))
        {
            match occurrences(ev, from, to) {
                Ok(starts) => {
                    let skip = replaced.get(ev.uid.as_str());
                    for s in starts {
                        if skip.is_some_and(|set| s.instant().is_some_and(|i| set.contains(&i))) {
                            continue;
                        }
                        push(&mut busy, interval(s, ev.length));
                    }
                }
                Err(why) => busy.skipped.push(format!("{}: {why}", ev.uid)),
            }
        } else {
            push(&mut busy, interval(ev.start, ev.length));
        }
    }
    for o in &overrides {
        if o.blocks {
            push(&mut busy, interval(o.start, o.length));
        }
    }
    busy.intervals.sort_by_key(|iv| (iv.start, iv.end));
    Ok(busy)
}

/// One event as Confidant wrote it and the calendar now holds it (for noticing that a booking's
/// event was moved or freed in the counsellor's calendar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpan {
    /// `UID`.
    pub uid: String,
    /// Its time (the first non-override `VEVENT`).
    pub span: Interval,
    /// Whether it still blocks time (not cancelled, not "free").
    pub blocks: bool,
}

/// The first `VEVENT` of a one-event resource (not a `RECURRENCE-ID` override), or `None` when
/// it has none that can be read.
pub fn event_span(ics: &str, tz: Tz) -> Option<EventSpan> {
    if ics.len() > MAX_BYTES {
        return None;
    }
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded).ok()?;
    calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .filter_map(|c| read_event(c, tz).ok())
        .find(|ev| ev.recurrence_id.is_none())
        .and_then(|ev| {
            Some(EventSpan {
                span: interval(ev.start, ev.length)?,
                uid: ev.uid,
                blocks: ev.blocks,
            })
        })
}

/// Busy times from a `free-busy-query` answer (RFC 4791 §7.10): the `FREEBUSY` periods of its
/// `VFREEBUSY` components whose `FBTYPE` is busy (`BUSY`, the default, `BUSY-UNAVAILABLE` or
/// `BUSY-TENTATIVE`), as `start/end` or `start/duration` in UTC, clipped to nothing outside
/// `[from, to)`.
pub fn busy_from_freebusy(
    text: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Busy, BusyError> {
    if text.len() > MAX_BYTES {
        return Err(BusyError::TooLarge);
    }
    let unfolded = unfold(text);
    let calendar = read_calendar(&unfolded).map_err(|e| {
        BusyError::Syntax(e.lines().next().unwrap_or("").chars().take(200).collect())
    })?;
    let mut busy = Busy::default();
    let utc = |v: &str| {
        NaiveDateTime::parse_from_str(v.strip_suffix('Z')?, "%Y%m%dT%H%M%S")
            .ok()
            .map(|t| Utc.from_utc_datetime(&t))
    };
    for c in calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VFREEBUSY"))
    {
        for p in props(c, "FREEBUSY").map(Prop::of) {
            let fbtype = p.param("FBTYPE").unwrap_or("BUSY").to_ascii_uppercase();
            if fbtype == "FREE" {
                continue;
            }
            for period in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                let parsed = period.split_once('/').and_then(|(a, b)| {
                    let start = utc(a)?;
                    let end = if b.starts_with(['P', '+', '-']) {
                        start.checked_add_signed(parse_duration(b)?)?
                    } else {
                        utc(b)?
                    };
                    Some(Interval { start, end })
                });
                match parsed {
                    Some(iv) if iv.end > iv.start && iv.start < to && iv.end > from => {
                        if busy.intervals.len() < MAX_INTERVALS {
                            busy.intervals.push(iv);
                        }
                    }
                    Some(_) => {}
                    None => busy.skipped.push(format!(
                        "FREEBUSY: unreadable period {}",
                        period.chars().take(60).collect::<String>()
                    )),
                }
            }
        }
    }
    busy.intervals.sort_by_key(|iv| (iv.start, iv.end));
    Ok(busy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cal(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
            .replace('\n', "\r\n")
            .replace("\r\r\n", "\r\n")
    }

    fn spans(b: &Busy) -> Vec<(String, String)> {
        b.intervals
            .iter()
            .map(|i| (i.start.to_rfc3339(), i.end.to_rfc3339()))
            .collect()
    }

    #[test]
    fn single_events_in_utc_zone_and_floating_time() {
        let ics = cal(
            "BEGIN:VEVENT\nUID:a\nDTSTART:20261207T090000Z\nDTEND:20261207T100000Z\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:b\nDTSTART;TZID=America/New_York:20261207T090000\nDURATION:PT30M\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:c\nDTSTART:20261208T090000\nDTEND:20261208T091500\nEND:VEVENT\n",
        );
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-31T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            [
                (
                    "2026-12-07T09:00:00+00:00".into(),
                    "2026-12-07T10:00:00+00:00".into()
                ),
                (
                    "2026-12-07T14:00:00+00:00".into(),
                    "2026-12-07T14:30:00+00:00".into()
                ),
                // Floating: read in the counsellor's zone (Berlin, UTC+1 in December).
                (
                    "2026-12-08T08:00:00+00:00".into(),
                    "2026-12-08T08:15:00+00:00".into()
                ),
            ]
        );
        assert!(b.skipped.is_empty());
    }

    #[test]
    fn free_and_cancelled_events_block_nothing() {
        let ics = cal("BEGIN:VEVENT\nUID:a\nDTSTART:20261207T090000Z\nDTEND:20261207T100000Z\nTRANSP:TRANSPARENT\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:b\nDTSTART:20261207T110000Z\nDTEND:20261207T120000Z\nSTATUS:CANCELLED\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:c\nDTSTART:20261207T130000Z\nDTEND:20261207T140000Z\nTRANSP:OPAQUE\nSTATUS:TENTATIVE\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-31T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            [(
                "2026-12-07T13:00:00+00:00".into(),
                "2026-12-07T14:00:00+00:00".into()
            )]
        );
    }

    #[test]
    fn all_day_events_block_whole_local_days() {
        let ics = cal("BEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261226\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-31T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            [(
                "2026-12-23T23:00:00+00:00".into(),
                "2026-12-25T23:00:00+00:00".into()
            )]
        );
    }

    /// A weekly 09:00 Berlin meeting across the October DST change, one instance moved and one
    /// cancelled by RECURRENCE-ID, one left out by EXDATE.
    #[test]
    fn weekly_recurrence_with_exceptions_across_dst() {
        let ics = cal("BEGIN:VEVENT\nUID:weekly\nDTSTART;TZID=Europe/Berlin:20261013T090000\nDTEND;TZID=Europe/Berlin:20261013T100000\n\
RRULE:FREQ=WEEKLY;COUNT=5\nEXDATE;TZID=Europe/Berlin:20261020T090000\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:weekly\nRECURRENCE-ID;TZID=Europe/Berlin:20261027T090000\nDTSTART;TZID=Europe/Berlin:20261027T140000\nDTEND;TZID=Europe/Berlin:20261027T143000\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:weekly\nRECURRENCE-ID;TZID=Europe/Berlin:20261103T090000\nDTSTART;TZID=Europe/Berlin:20261103T090000\nDTEND;TZID=Europe/Berlin:20261103T100000\nSTATUS:CANCELLED\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-10-01T00:00:00Z"),
            utc("2026-12-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            [
                // 13 Oct, summer time: 09:00 CEST = 07:00 UTC.
                (
                    "2026-10-13T07:00:00+00:00".into(),
                    "2026-10-13T08:00:00+00:00".into()
                ),
                // 20 Oct: EXDATE. 27 Oct: moved to 14:00 CET (after the change on 25 Oct).
                (
                    "2026-10-27T13:00:00+00:00".into(),
                    "2026-10-27T13:30:00+00:00".into()
                ),
                // 3 Nov: cancelled. 10 Nov, winter time: 09:00 CET = 08:00 UTC.
                (
                    "2026-11-10T08:00:00+00:00".into(),
                    "2026-11-10T09:00:00+00:00".into()
                ),
            ]
        );
        assert!(b.skipped.is_empty(), "{:?}", b.skipped);
    }

    #[test]
    fn expansion_is_bounded_to_the_window() {
        let ics = cal("BEGIN:VEVENT\nUID:d\nDTSTART:20200101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-08T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(b.intervals.len(), 7);
        assert_eq!(b.intervals[0].start, utc("2026-12-01T09:00:00Z"));
    }

    #[test]
    fn unreadable_events_are_skipped_and_reported_and_junk_is_an_error() {
        let ics = cal("BEGIN:VEVENT\nUID:bad\nDTSTART:tomorrow\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:ok\nDTSTART:20261207T090000Z\nDTEND:20261207T100000Z\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-31T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(b.intervals.len(), 1);
        assert_eq!(b.skipped.len(), 1);
        assert!(b.skipped[0].starts_with("bad:"));
        assert!(busy_from_ics(
            "<html>",
            Berlin,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-31T00:00:00Z")
        )
        .is_err());
    }

    /// Found by the `booking_ics` / `booking_freebusy` fuzz targets' inputs: a calendar server
    /// that sends a duration or span beyond what chrono can hold panicked the reader
    /// (`TimeDelta::weeks out of bounds`, `DateTime + TimeDelta overflowed`).
    #[test]
    fn durations_beyond_any_date_are_unreadable_not_a_panic() {
        assert_eq!(parse_duration("P99999999999999W"), None);
        assert_eq!(parse_duration("PT9223372036854775807S"), None);
        assert_eq!(
            parse_duration("P100000000000D"),
            Some(Duration::days(100_000_000_000))
        );
        assert_eq!(parse_duration("P100000000000DT100000000000D"), None);
        let (from, to) = (utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"));
        for event in [
            "BEGIN:VEVENT\nUID:w\nDTSTART:20260302T100000Z\nDURATION:P99999999999999W\nEND:VEVENT\n",
            "BEGIN:VEVENT\nUID:d\nDTSTART:20260302T100000Z\nDURATION:P9999999999D\nEND:VEVENT\n",
            "BEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20260302\nDURATION:P99999999D\nEND:VEVENT\n",
        ] {
            let b = busy_from_ics(&cal(event), Berlin, from, to).unwrap();
            assert!(b.intervals.is_empty(), "{event}: {:?}", b.intervals);
            // An unreadable DURATION counts as none (an instant); an end past any date, as no span.
            let span = event_span(&cal(event), Berlin);
            assert!(span.as_ref().is_none_or(|e| e.span.start == e.span.end), "{event}: {span:?}");
        }
        // Recurring: the look-back for long instances would start before any date.
        let ics = cal("BEGIN:VEVENT\nUID:r\nDTSTART:20260302T100000Z\nDURATION:P100000000000D\nRRULE:FREQ=DAILY\nEND:VEVENT\n");
        let b = busy_from_ics(&ics, Berlin, from, to).unwrap();
        assert!(b.intervals.is_empty());
        assert_eq!(b.skipped, ["r: event too long"]);
        let fb = "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nFREEBUSY:20260302T100000Z/P9999999999D,20260303T100000Z/PT1H\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n";
        let b = busy_from_freebusy(fb, from, to).unwrap();
        assert_eq!(
            spans(&b),
            [(
                "2026-03-03T10:00:00+00:00".into(),
                "2026-03-03T11:00:00+00:00".into()
            )]
        );
        assert_eq!(b.skipped.len(), 1, "{:?}", b.skipped);
    }

    /// Found by the `booking_ics` fuzz target: a non-ASCII BYDAY value panicked the rrule
    /// crate (`start byte index 3 is not a char boundary`).
    #[test]
    fn a_non_ascii_rrule_is_skipped_not_a_panic() {
        let ics = cal("BEGIN:VEVENT\nUID:r1\nDTSTART;TZID=Europe/Berlin:20260302T100000\nDURATION:PT50M\nRRULE:FREQ=WEEKLY;BYDAY=MO\u{468}E\nEND:VEVENT\n\
BEGIN:VEVENT\nUID:ok\nDTSTART:20260303T090000Z\nDTEND:20260303T100000Z\nEND:VEVENT\n");
        let b = busy_from_ics(
            &ics,
            Berlin,
            utc("2026-03-01T00:00:00Z"),
            utc("2026-04-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            [(
                "2026-03-03T09:00:00+00:00".into(),
                "2026-03-03T10:00:00+00:00".into()
            )]
        );
        assert_eq!(b.skipped, ["r1: RRULE is not ASCII"]);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        assert_eq!(parse_duration("PT"), Some(Duration::zero()));
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(parse_duration("PT5"), None);
    }

    #[test]
    fn free_busy_answers_give_busy_periods_and_skip_free_ones() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VFREEBUSY\r\nDTSTART:20261201T000000Z\r\nDTEND:20261208T000000Z\r\n\
FREEBUSY:20261201T090000Z/20261201T100000Z,20261202T090000Z/PT30M\r\n\
FREEBUSY;FBTYPE=FREE:20261203T090000Z/20261203T100000Z\r\n\
FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261204T090000Z/20261204T091500Z\r\n\
FREEBUSY:20300101T090000Z/20300101T100000Z,garbage\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n";
        let b = busy_from_freebusy(
            text,
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-08T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            spans(&b),
            vec![
                (
                    "2026-12-01T09:00:00+00:00".into(),
                    "2026-12-01T10:00:00+00:00".into()
                ),
                (
                    "2026-12-02T09:00:00+00:00".into(),
                    "2026-12-02T09:30:00+00:00".into()
                ),
                (
                    "2026-12-04T09:00:00+00:00".into(),
                    "2026-12-04T09:15:00+00:00".into()
                ),
            ]
        );
        assert_eq!(b.skipped.len(), 1);
        assert!(busy_from_freebusy(
            "nonsense",
            utc("2026-12-01T00:00:00Z"),
            utc("2026-12-08T00:00:00Z")
        )
        .is_err());
    }

    #[test]
    fn the_span_of_a_written_event_is_read_back() {
        let one = cal("BEGIN:VEVENT\r\nUID:b1@c\r\nDTSTART;TZID=Europe/Berlin:20261207T100000\r\nDTEND;TZID=Europe/Berlin:20261207T105000\r\nEND:VEVENT\r\n");
        let s = event_span(&one, Berlin).unwrap();
        assert_eq!(s.uid, "b1@c");
        assert_eq!(s.span.start, utc("2026-12-07T09:00:00Z"));
        assert_eq!(s.span.end, utc("2026-12-07T09:50:00Z"));
        assert!(s.blocks);
        let free = one.replace("END:VEVENT", "TRANSP:TRANSPARENT\r\nEND:VEVENT");
        assert!(!event_span(&free, Berlin).unwrap().blocks);
        assert_eq!(event_span("junk", Berlin), None);
    }
}
