//! Signature: the pad's JSON submission (posted by the signer's browser): parse → validate →
//! dynamics → CSIG encode/decode → SVG, via `confidant_signature::fuzz_submission` (shared with
//! the crate's stable hostile-input test). Checks: no panic, the encoder's output decodes, the
//! dynamics count every point, the SVG is an SVG.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    confidant_signature::fuzz_submission(data);
});
