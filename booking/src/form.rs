//! Validation of the public forms. Every field is checked and every problem reported at once,
//! so the page can mark all of them; values come back trimmed.

use serde::Deserialize;

use crate::slots::AppointmentKind;

/// Longest name part.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest message.
pub const MAX_MESSAGE_CHARS: usize = 5_000;
/// Longest address.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// The booking form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// The field.
    pub field: &'static str,
    /// `required`, `too_long`, `invalid`, `control_characters`.
    pub code: &'static str,
    /// English description.
    pub message: String,
}

fn err(field: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
}

fn text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    raw: &str,
    required: bool,
    max: usize,
    multiline: bool,
) -> String {
    let value = raw.trim().to_owned();
    if value.is_empty() {
        if required {
            errors.push(err(field, "required", "is required"));
        }
    } else if value.chars().count() > max {
        errors.push(err(field, "too_long", format!("must be at most {max} characters")));
    } else if has_control(&value, multiline) {
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
    if s.len() > MAX_EMAIL_CHARS || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
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

/// Whether `s` is a plausible phone number: digits with an optional leading `+`, spaces,
/// dashes, dots, slashes and parentheses; 6 to 20 digits.
pub fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let body = s.strip_prefix('+').unwrap_or(s);
    (6..=20).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.' | '/'))
}

/// Validates a booking form for an appointment of `kind`.
pub fn validate(form: &BookingForm, kind: AppointmentKind) -> Result<ValidForm, Vec<FieldError>> {
    let mut errors = Vec::new();
    let first_name = text(&mut errors, "first_name", &form.first_name, true, MAX_NAME_CHARS, false);
    let last_name = text(&mut errors, "last_name", &form.last_name, true, MAX_NAME_CHARS, false);
    let email = email(&mut errors, &form.email);
    let message = text(&mut errors, "message", &form.message, false, MAX_MESSAGE_CHARS, true);
    let phone_raw = form.phone.clone().unwrap_or_default();
    let phone = phone_raw.trim().to_owned();
    if phone.is_empty() {
        if kind == AppointmentKind::Phone {
            errors.push(err("phone", "required", "is required for phone appointments"));
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

/// The plain contact form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
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

/// Validates the contact form.
pub fn validate_contact(form: &ContactForm) -> Result<ValidContact, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text(&mut errors, "name", &form.name, true, MAX_NAME_CHARS * 2, false);
    let email = email(&mut errors, &form.email);
    let message = text(&mut errors, "message", &form.message, true, MAX_MESSAGE_CHARS, true);
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
        for bad in ["", "a", "a@b", "a@@b.de", "a b@c.de", "<a@b.de>", "a@b..de", ".a@b.de", "a@-b.de", "a@b.de\n"] {
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
}
