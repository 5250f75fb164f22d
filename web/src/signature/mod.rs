//! Signatures: the capability lives in `signature/server` (crate
//! `confidant-signature-server`), re-exported here; this module adds the admin commands
//! (`confidant signature …`), which are the binary's.

pub use confidant_signature_server::*;

pub mod cli;
