//! Appointment booking without passwords (forms, availability, e-mail with `.ics`).
//!
//! Empty for now: the booking issue fills it. It will stay free of any video or HTTP
//! concern; `web` composes it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
