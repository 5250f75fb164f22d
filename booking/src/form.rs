//! Validation of the public forms. Every field is checked and every problem reported at once,
//! so the page can mark all of them; values come back trimmed (and, in the multi-line fields
//! `message` and `address`, with line breaks normalised to `\n`).
//!
//! Characters are checked with `confidant_text`, the one check for all typed names and texts:
//! control characters are refused everywhere except line breaks in multi-line fields, and so
//! are the Unicode bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) and line
//! and paragraph separators, which could make a name or message display differently from what
//! it says ("Trojan Source"). Lengths are counted in characters (Unicode scalar values).

use confidant_text::{has_forbidden, is_forbidden as forbidden};
use serde::{Deserialize, Serialize};

use crate::slots::AppointmentKind;

/// Longest name part.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest message.
pub const MAX_MESSAGE_CHARS: usize = 5_000;
/// Longest address.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest phone number, separators included.
pub const MAX_PHONE_CHARS: usize = 40;

/// The booking form as posted. Unknown fields are refused; missing ones count as empty (and are
/// then reported as `required` where they are).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingForm {
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
    /// E-mail address: only used to send the confirmation, reminder and links.
    #[serde(default)]
    pub email: String,
    /// Optional message to the counsellor.
    #[serde(default)]
    pub message: String,
    /// Phone number, required for phone appointments.
    #[serde(default)]
    pub phone: Option<String>,
    /// Postal address, required for on-site appointments.
    #[serde(default)]
    pub address: Option<String>,
}

/// A booking form that passed validation (trimmed values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidForm {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Message (may be empty).
    pub message: String,
    /// Phone (set for phone appointments, optional otherwise).
    pub phone: Option<String>,
    /// Address (set for on-site appointments, optional otherwise).
    pub address: Option<String>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as named in the form (`first_name`, `email`, …).
    pub field: &'static str,
    /// Machine-readable: `required`, `too_long`, `invalid` or `control_characters`.
    pub code: &'static str,
    /// English description, for logs and API clients; pages translate by `code`.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

fn text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    raw: &str,
    required: bool,
    max: usize,
    multiline: bool,
) -> String {
    let value = if multiline {
        raw.replace("\r\n", "\n")
            .replace('\r', "\n")
            .trim()
            .to_owned()
    } else {
        raw.trim().to_owned()
    };
    if value.is_empty() {
        if required {
            errors.push(err(field, "required", "is required"));
        }
    } else if value.chars().count() > max {
        errors.push(err(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    } else if has_forbidden(&value, multiline) {
        errors.push(err(
            field,
            "control_characters",
            "must not contain control characters",
        ));
    }
    value
}

/// Whether `s` looks like a deliverable address: one `@`, a local part, a domain with a dot,
/// no spaces or angle brackets, at most 254 characters. (The mail server is the final judge.)
pub fn is_email(s: &str) -> bool {
    if s.len() > MAX_EMAIL_CHARS || s.chars().any(|c| c.is_whitespace() || forbidden(c, false)) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    if s.contains(['<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']']) {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

fn email(errors: &mut Vec<FieldError>, raw: &str) -> String {
    let value = raw.trim().to_owned();
    if value.is_empty() {
        errors.push(err("email", "required", "is required"));
    } else if !is_email(&value) {
        errors.push(err("email", "invalid", "is not a valid e-mail address"));
    }
    value
}

/// Whether `s` is a plausible phone number: ASCII digits with an optional leading `+`, spaces,
/// dashes, parentheses, and (common in German numbers) dots and slashes; 6 to 20 digits, at
/// most [`MAX_PHONE_CHARS`] characters.
pub fn is_phone(s: &str) -> bool {
    if s.chars().count() > MAX_PHONE_CHARS {
        return false;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let body = s.strip_prefix('+').unwrap_or(s);
    (6..=20).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.' | '/'))
}

/// Validates a booking form for an appointment of `kind`: names 1–100 characters, a valid
/// e-mail address, a message of up to 5000 characters, a phone number (required for
/// [`AppointmentKind::Phone`]) and an address of up to 500 characters (required for
/// [`AppointmentKind::OnSite`]). Optional values that are given are checked too.
pub fn validate(form: &BookingForm, kind: AppointmentKind) -> Result<ValidForm, Vec<FieldError>> {
    let mut errors = Vec::new();
    let first_name = text(
        &mut errors,
        "first_name",
        &form.first_name,
        true,
        MAX_NAME_CHARS,
        false,
    );
    let last_name = text(
        &mut errors,
        "last_name",
        &form.last_name,
        true,
        MAX_NAME_CHARS,
        false,
    );
    let email = email(&mut errors, &form.email);
    let message = text(
        &mut errors,
        "message",
        &form.message,
        false,
        MAX_MESSAGE_CHARS,
        true,
    );
    let phone_raw = form.phone.clone().unwrap_or_default();
    let phone = phone_raw.trim().to_owned();
    if phone.is_empty() {
        if kind == AppointmentKind::Phone {
            errors.push(err(
                "phone",
                "required",
                "is required for phone appointments",
            ));
        }
    } else if !is_phone(&phone) {
        errors.push(err("phone", "invalid", "is not a valid phone number"));
    }
    let address = text(
        &mut errors,
        "address",
        form.address.as_deref().unwrap_or(""),
        kind == AppointmentKind::OnSite,
        MAX_ADDRESS_CHARS,
        true,
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidForm {
        first_name,
        last_name,
        email,
        message,
        phone: (!phone.is_empty()).then_some(phone),
        address: (!address.is_empty()).then_some(address),
    })
}

/// The plain contact form as posted (unknown fields refused, missing ones empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactForm {
    /// Name (or nickname) of the writer.
    #[serde(default)]
    pub name: String,
    /// Where the answer goes.
    #[serde(default)]
    pub email: String,
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// A contact form that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContact {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Message.
    pub message: String,
}

/// Validates the contact form: a name of 1–200 characters, a valid e-mail address and a
/// message of 1–5000 characters.
pub fn validate_contact(form: &ContactForm) -> Result<ValidContact, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text(
        &mut errors,
        "name",
        &form.name,
        true,
        MAX_NAME_CHARS * 2,
        false,
    );
    let email = email(&mut errors, &form.email);
    let message = text(
        &mut errors,
        "message",
        &form.message,
        true,
        MAX_MESSAGE_CHARS,
        true,
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidContact {
        name,
        email,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> BookingForm {
        BookingForm {
            first_name: " Alex ".into(),
            last_name: "Muster".into(),
            email: "alex@example.org".into(),
            message: "Hallo\nich hätte gern einen Termin.".into(),
            phone: None,
            address: None,
        }
    }

    fn fields(e: Vec<FieldError>) -> Vec<(&'static str, &'static str)> {
        e.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_video_booking_needs_names_and_email_only() {
        let v = validate(&form(), AppointmentKind::Video).unwrap();
        assert_eq!(v.first_name, "Alex");
        assert_eq!(v.phone, None);
    }

    #[test]
    fn phone_appointments_require_a_phone_number_and_on_site_an_address() {
        assert_eq!(
            fields(validate(&form(), AppointmentKind::Phone).unwrap_err()),
            [("phone", "required")]
        );
        assert_eq!(
            fields(validate(&form(), AppointmentKind::OnSite).unwrap_err()),
            [("address", "required")]
        );
        let mut f = form();
        f.phone = Some("+49 (30) 123-4567".into());
        assert!(validate(&f, AppointmentKind::Phone).is_ok());
        f.phone = Some("call me".into());
        assert_eq!(
            fields(validate(&f, AppointmentKind::Phone).unwrap_err()),
            [("phone", "invalid")]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let f = BookingForm {
            first_name: "".into(),
            last_name: "x".repeat(101),
            email: "not-an-address".into(),
            message: "bell\u{7}".into(),
            phone: None,
            address: None,
        };
        assert_eq!(
            fields(validate(&f, AppointmentKind::Video).unwrap_err()),
            [
                ("first_name", "required"),
                ("last_name", "too_long"),
                ("email", "invalid"),
                ("message", "control_characters")
            ]
        );
    }

    #[test]
    fn email_syntax() {
        for ok in ["a@b.de", "first.last+tag@sub.example.org", "ä@müller.de"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "a@@b.de", "a b@c.de", "<a@b.de>", "a@b..de", ".a@b.de", "a@-b.de",
            "a@b.de\n",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn contact_form_requires_a_message() {
        let e = validate_contact(&ContactForm {
            name: "Kim".into(),
            email: "kim@example.org".into(),
            message: " ".into(),
        })
        .unwrap_err();
        assert_eq!(fields(e), [("message", "required")]);
    }

    #[test]
    fn line_breaks_are_normalised_and_other_control_characters_refused() {
        let mut f = form();
        f.message = "  eins\r\nzwei\rdrei\n ".into();
        f.address = Some("Musterstr. 1\r\n12345 Berlin".into());
        let v = validate(&f, AppointmentKind::OnSite).unwrap();
        assert_eq!(v.message, "eins\nzwei\ndrei");
        assert_eq!(v.address.as_deref(), Some("Musterstr. 1\n12345 Berlin"));
        f.message = "tab\there".into();
        f.first_name = "Al\nex".into();
        f.last_name = "\u{202E}rednaxelA".into();
        assert_eq!(
            fields(validate(&f, AppointmentKind::Video).unwrap_err()),
            [
                ("first_name", "control_characters"),
                ("last_name", "control_characters"),
                ("message", "control_characters")
            ]
        );
    }

    #[test]
    fn limits_are_counted_in_characters() {
        let mut f = form();
        f.first_name = "ä".repeat(MAX_NAME_CHARS);
        f.message = "ß".repeat(MAX_MESSAGE_CHARS);
        f.address = Some("ö".repeat(MAX_ADDRESS_CHARS));
        assert!(validate(&f, AppointmentKind::OnSite).is_ok());
        f.message.push('x');
        f.address = Some("ö".repeat(MAX_ADDRESS_CHARS + 1));
        assert_eq!(
            fields(validate(&f, AppointmentKind::OnSite).unwrap_err()),
            [("message", "too_long"), ("address", "too_long")]
        );
        let long = format!("{}@example.org", "a".repeat(64));
        assert!(is_email(&long));
        assert!(!is_email(&format!("a{long}")), "local part over 64");
        assert!(!is_email(&format!("a@{}.de", "b".repeat(250))), "over 254");
    }

    #[test]
    fn phone_numbers() {
        for ok in ["+49 30 1234567", "030/123 45-67", "(030) 123.456", "123456"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "12345",
            "+",
            "++49 30 123456",
            "49+30123456",
            "0".repeat(21).as_str(),
            "0 30 123456 x",
            "1-------------------------------------------23456",
        ] {
            assert!(!is_phone(bad), "{bad:?}");
        }
        // A phone number given for a video appointment is still checked and kept.
        let mut f = form();
        f.phone = Some(" 030 1234567 ".into());
        assert_eq!(
            validate(&f, AppointmentKind::Video)
                .unwrap()
                .phone
                .as_deref(),
            Some("030 1234567")
        );
    }

    #[test]
    fn unknown_fields_are_refused_and_missing_ones_reported() {
        let e = serde_json::from_str::<BookingForm>(r#"{"first_name":"A","is_admin":true}"#);
        assert!(e.is_err());
        let f: BookingForm = serde_json::from_str(r#"{"first_name":"A","phone":null}"#).unwrap();
        assert_eq!(
            fields(validate(&f, AppointmentKind::Video).unwrap_err()),
            [("last_name", "required"), ("email", "required")]
        );
        assert!(serde_json::from_str::<ContactForm>(r#"{"name":"A","cc":"x@y.de"}"#).is_err());
    }

    #[test]
    fn a_valid_contact_message_comes_back_trimmed() {
        let v = validate_contact(&ContactForm {
            name: " Kim ".into(),
            email: " kim@example.org ".into(),
            message: " Hallo\r\nWelt ".into(),
        })
        .unwrap();
        assert_eq!(
            (v.name.as_str(), v.email.as_str(), v.message.as_str()),
            ("Kim", "kim@example.org", "Hallo\nWelt")
        );
        let e = validate_contact(&ContactForm::default()).unwrap_err();
        assert_eq!(
            fields(e),
            [
                ("name", "required"),
                ("email", "required"),
                ("message", "required")
            ]
        );
    }
}
