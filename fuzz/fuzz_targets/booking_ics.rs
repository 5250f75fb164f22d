//! Booking: an iCalendar feed or CalDAV resource from another calendar (a server we do not
//! control), through `busy_from_ics` and `event_span`.
//!
//! The first input byte picks the counsellor's zone and the window; the rest is the calendar.
//! Checks: busy intervals are non-empty, overlap the window, come sorted and stay within
//! `MAX_INTERVALS`; an event span is never empty or reversed.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use confidant_booking::busy::{busy_from_ics, event_span, MAX_INTERVALS};
use libfuzzer_sys::fuzz_target;

const ZONES: [Tz; 4] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
];

fn window(b: u8) -> (DateTime<Utc>, DateTime<Utc>) {
    // Literal dates: always valid.
    match b % 3 {
        0 => (
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        ),
        1 => (
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
        ),
        _ => (
            Utc.with_ymd_and_hms(2025, 10, 26, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 10, 27, 0, 0, 0).unwrap(),
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(ics) = std::str::from_utf8(rest) else {
        return;
    };
    let tz = ZONES[usize::from(sel >> 4) % ZONES.len()];
    let (from, to) = window(sel);
    if let Ok(busy) = busy_from_ics(ics, tz, from, to) {
        assert!(busy.intervals.len() <= MAX_INTERVALS);
        for iv in &busy.intervals {
            assert!(iv.start < iv.end, "empty interval {iv:?}");
            assert!(iv.start < to && iv.end > from, "{iv:?} outside the window");
        }
        assert!(busy
            .intervals
            .windows(2)
            .all(|w| (w[0].start, w[0].end) <= (w[1].start, w[1].end)));
    }
    if let Some(ev) = event_span(ics, tz) {
        assert!(ev.span.start <= ev.span.end, "reversed span {ev:?}");
    }
});
