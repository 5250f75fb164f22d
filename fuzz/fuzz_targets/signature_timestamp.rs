//! Signature: RFC 3161 time-stamp tokens and TSA responses (`FORMAT.md` §10), as a verifier
//! reads an evidence file's `seal_timestamp` token and as the server reads a TSA's answer.
//!
//! Checks (`confidant_signature::timestamp::fuzz_timestamp`): DER, CMS and certificate parsing
//! never panic, and nothing is reported as chained to a TSA without trust anchors. Seeds: a
//! genuine token and response from `openssl ts -reply` (`fuzz/corpus/signature_timestamp`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    confidant_signature::timestamp::fuzz_timestamp(data);
});
