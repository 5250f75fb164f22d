//! Handwritten signatures with stroke dynamics, bound to a document hash and sealed.
//!
//! A pure library: no files, no network, no clock reads. Times and randomness are arguments.
//! What is kept is not a picture but evidence: the raw pen samples, encrypted to an escrow key,
//! bound to the exact document and form data, recorded in a hash-chained audit trail and sealed
//! with the server's Ed25519 key.
//!
//! The flow a web layer implements:
//!
//! 1. Show the document; [`audit::AuditChain::append`] `DocumentShown`, `ConsentGiven`,
//!    `CaptureStarted`, `CaptureEnded`, `Submitted` (server times).
//! 2. [`submission::parse`] the posted body and [`submission::validate`] it into a
//!    [`submission::ValidSignature`]; map errors with [`submission::SubmissionError::code`].
//! 3. Optionally [`dynamics::compute`] for display or analysis (never trusted from the client).
//! 4. [`bundle::build_bundle`] (hashes, CSIG time series encrypted to the escrow key, SVG) and
//!    [`bundle::seal`] with the [`bundle::SealingKey`]; store the sealed JSON and the SVG; append
//!    `Sealed` and `Archived` events.
//! 5. Later, [`verify::verify`] the document, the form data, the sealed JSON and the audit chain
//!    against the trusted keys: valid, or invalid with one [`verify::InvalidReason`].
//! 6. Experts holding the escrow private key use [`bundle::EvidenceBundle::open_biometrics`] and
//!    [`format::decode`].
//! 7. Optionally, [`timestamp::request`] an RFC 3161 time-stamp of the seal from a TSA,
//!    [`timestamp::accept_response`] it, and store the token in the evidence file; verification
//!    checks it ([`timestamp::verify_token`], `FORMAT.md` §10).
//!
//! `FORMAT.md` in the crate documents every byte format and hash.
//!
//! **What it must not depend on:** any other Confidant crate, HTTP, the database or the async
//! runtime. Its server side is `signature/server`; outside verifiers use it (or FORMAT.md) alone.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod bundle;
pub mod canonical;
pub mod dynamics;
pub mod escrow;
pub mod evidence;
pub mod format;
pub mod render;
pub mod strict;
pub mod submission;
pub mod timestamp;
pub mod verify;

mod hexbytes;
#[cfg(test)]
mod testkit;

pub use hexbytes::{sha256, Digest};

/// The body shared by the fuzz target `signature_submission` (the workspace's `fuzz/` crate)
/// and the stable hostile-input test: parse, validate, and on success run every downstream
/// computation. Must never panic, whatever the input.
#[doc(hidden)]
pub fn fuzz_submission(data: &[u8]) {
    let Ok(submission) = submission::parse(data) else {
        return;
    };
    let Ok(valid) = submission::validate(&submission) else {
        return;
    };
    let d = dynamics::compute(&valid);
    assert_eq!(d.point_count, valid.point_count());
    let svg = render::svg(&valid);
    assert!(svg.starts_with("<svg"));
    // With the default limits every valid signature encodes, and the encoder's output decodes.
    if let Ok(bytes) = format::encode(&valid) {
        match format::decode(&bytes) {
            Ok(back) => assert_eq!(back.strokes.len(), valid.strokes().len()),
            Err(e) => panic!("encoder output rejected by decoder: {e}"),
        }
    }
}
