//! Handwritten signatures with stroke dynamics, bound to a document hash and sealed.
//!
//! Empty for now: the signature issue fills it. A pure library with no I/O.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
