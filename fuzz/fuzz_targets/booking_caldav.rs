//! Booking: a CalDAV server's `207 Multi-Status` answer (PROPFIND, sync-collection, multiget)
//! through `parse_multistatus`, plus the small readers used on its values (`status_code`,
//! `last_segment`, `is_invalid_sync_token`).
//!
//! Checks: never panics; a parsed answer holds at most as many entries as the XML has
//! `response` tags; `last_segment` is a slash-free suffix of its href; a calendar's data is
//! handed on to the iCalendar reader without panicking either.
#![no_main]

use chrono::{TimeZone, Utc};
use confidant_booking::busy::busy_from_ics;
use confidant_booking::caldav::{
    is_invalid_sync_token, last_segment, parse_multistatus, status_code,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let _ = is_invalid_sync_token(xml);
    for line in xml.lines().take(64) {
        let _ = status_code(line);
    }
    let Ok(ms) = parse_multistatus(xml) else {
        return;
    };
    assert!(ms.entries.len() <= xml.matches("response").count());
    let from = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(); // literal date
    let to = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(); // literal date
    for e in &ms.entries {
        let seg = last_segment(&e.href);
        assert!(e.href.contains(seg));
        assert!(!seg.contains('/'));
        let _ = e.holds_events();
        if let Some(ics) = &e.calendar_data {
            let _ = busy_from_ics(ics, chrono_tz::Europe::Berlin, from, to);
        }
    }
});
