//! Appointment booking without passwords: the pure core.
//!
//! No I/O, no clock: every function takes the current time as an argument, so the rules are
//! tested deterministically (including across daylight-saving changes). `web` composes it with
//! the database, HTTP and SMTP.
//!
//! - [`availability`]: weekly hours and date overrides in an IANA time zone, turned into UTC
//!   intervals with a stated rule for DST gaps and overlaps.
//! - [`slots`]: appointment types (duration, buffers, notice, window) and the free slots.
//! - [`form`]: validation of the public booking and contact forms, every field at once.
//! - [`ics`]: iCalendar invitations and cancellations (RFC 5545/5546).
//! - [`token`]: signed, expiring, single-purpose tokens for cancel and reschedule links.
//! - [`mail`]: the mail texts, German and English, plain text and HTML.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod availability;
pub mod form;
pub mod ics;
pub mod mail;
pub mod slots;
pub mod token;

/// Errors of the booking core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value of the availability or an appointment type is unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault, as the HTTP API names it.
        field: String,
        /// What is wrong (English).
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
