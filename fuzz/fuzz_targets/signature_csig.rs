//! Signature: CSIG/1 time series bytes (what `escrow-open` decrypts from an evidence file and
//! decodes) through `format::decode`.
//!
//! Checks: FORMAT.md §3 promises the decoder accepts only canonical bytes, so that
//! `encode(decode(b)) == b`: every accepted series that validates must re-encode to exactly the
//! input. Decoded values stay within the format's ranges.
#![no_main]

use confidant_signature::{format, submission};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(series) = format::decode(data) else {
        return;
    };
    assert!(!series.strokes.is_empty());
    for p in series.strokes.iter().flat_map(|s| s.points.iter()) {
        assert!(p.pressure.is_none_or(|f| (0.0..=1.0).contains(&f)));
        assert!(p.tilt_x.is_none_or(|v| (-90.0..=90.0).contains(&v)));
        assert!(p.tilt_y.is_none_or(|v| (-90.0..=90.0).contains(&v)));
    }
    let Ok(valid) = submission::validate(&series) else {
        return;
    };
    let again = format::encode(&valid).expect("a valid series encodes");
    assert!(again == data, "decode → encode is not the identity");
});
