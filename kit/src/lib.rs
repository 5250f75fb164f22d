//! Confidant's server kit: the pieces every capability's server side shares.
//!
//! Today it holds the one [`scheduler`] for background jobs and the [`ratelimit`] token
//! buckets (per anonymised network or opaque key). The issue that created it (17) plans to
//! move the rest of the shared server plumbing here: the error → HTTP mapping, the database
//! pool and migrations, the authenticated-user extractor, the outgoing mail queue.
//!
//! **What it must not depend on:** any capability (booking, signature, walk-in, rooms, …) nor
//! the `confidant` binary crate. Capabilities depend on the kit, never the other way round; it
//! knows jobs by name only, not what they do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ratelimit;
pub mod scheduler;
