//! Appointment booking without passwords: the pure core.
//!
//! No I/O, no database, no clock: every function takes the current time as an argument, so the
//! rules are tested deterministically (including across daylight-saving changes). `web`
//! composes it with the database, HTTP and SMTP. No function panics on any input.
//!
//! - [`availability`]: weekly hours and date overrides in an IANA time zone, turned into UTC
//!   intervals with a stated rule for DST gaps and overlaps ([`availability::to_utc`]).
//! - [`interval`]: the half-open UTC [`interval::Interval`] the others speak in.
//! - [`slots`]: appointment types (duration, buffers, notice, window, step), the
//!   [`slots::blocked_interval`] a booking occupies, [`slots::free_slots`] and
//!   [`slots::is_bookable`].
//! - [`form`]: validation of the public booking and contact forms, every field at once.
//! - [`busy`]: busy times read from external calendars (recurrences expanded in their zone).
//! - [`caldav`]: the CalDAV/WebDAV-sync request bodies and a reader for their answers.
//! - [`ics`]: iCalendar invitations and cancellations (RFC 5545/5546), in UTC.
//! - [`token`]: signed, expiring, single-purpose tokens for cancel, reschedule and view links.
//! - [`mail`]: the mail texts, German and English, plain text and HTML.
//! - [`confirm`]: the client's calendar title, Google/Outlook links, what to prepare, photo checks.
//!
//! # Names that differ from the original brief
//!
//! - The contact form is validated by [`form::validate_contact`] (returning
//!   [`form::ValidContact`]), the booking form by [`form::validate`].
//! - `MailKind::CounsellorNotification` is split into [`mail::MailKind::CounsellorNew`],
//!   [`mail::MailKind::CounsellorCancelled`] and [`mail::MailKind::CounsellorRescheduled`];
//!   [`mail::MailKind::Rescheduled`] tells the client about a moved appointment.
//! - [`token::open`] returns purpose and subject of any valid token (for a page that shows
//!   what a link allows); [`token::verify`] demands one purpose.
//! - Interval ends of 24:00 are written as [`availability::END_OF_DAY`].
//!
//! **What it must not depend on:** the server kit, HTTP, the database, the async runtime or any
//! other capability; only `confidant-text`. Its server side is `booking/server`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod availability;
pub mod busy;
pub mod caldav;
pub mod confirm;
pub mod form;
pub mod ics;
pub mod interval;
pub mod mail;
pub mod slots;
pub mod token;

/// Errors of the booking core.
///
/// Form validation reports all problems at once as a list of [`form::FieldError`]s, and link
/// tokens fail with the distinct [`token::TokenError`]s; both convert into this type for callers
/// that want one error type.
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
    /// A submitted form has problems, one entry per problem.
    #[error("the form has {} problem(s)", .0.len())]
    Form(Vec<form::FieldError>),
    /// A link token was refused.
    #[error(transparent)]
    Token(#[from] token::TokenError),
}

impl From<Vec<form::FieldError>> for Error {
    fn from(errors: Vec<form::FieldError>) -> Self {
        Self::Form(errors)
    }
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
