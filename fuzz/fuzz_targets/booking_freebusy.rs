//! Booking: a CalDAV `free-busy-query` answer (RFC 4791 §7.10) through `busy_from_freebusy`.
//!
//! Checks: busy periods are non-empty, overlap the window, come sorted and stay within
//! `MAX_INTERVALS`.
#![no_main]

use chrono::{TimeZone, Utc};
use confidant_booking::busy::{busy_from_freebusy, MAX_INTERVALS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Literal dates: always valid.
    let from = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    if let Ok(busy) = busy_from_freebusy(text, from, to) {
        assert!(busy.intervals.len() <= MAX_INTERVALS);
        for iv in &busy.intervals {
            assert!(
                iv.start < iv.end && iv.start < to && iv.end > from,
                "{iv:?}"
            );
        }
        assert!(busy
            .intervals
            .windows(2)
            .all(|w| (w[0].start, w[0].end) <= (w[1].start, w[1].end)));
    }
});
