//! Fuzz the browser submission parser and everything downstream of validation:
//! parse → validate → dynamics → CSIG encode/decode → SVG. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    confidant_signature::fuzz_submission(data);
});
