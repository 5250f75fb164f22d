//! Booking: the public booking and contact forms as posted (JSON from anyone on the internet),
//! through `form::validate` / `form::validate_contact`.
//!
//! The first byte picks the appointment kind; the rest is the JSON body. Checks: a form that
//! passes obeys every documented limit (lengths in characters, no control or bidi characters,
//! a valid e-mail, a phone where required), and validating what passed again gives the same.
#![no_main]

use confidant_booking::form::{
    is_email, is_phone, validate, validate_contact, BookingForm, ContactForm, MAX_ADDRESS_CHARS,
    MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
};
use confidant_booking::slots::AppointmentKind;
use libfuzzer_sys::fuzz_target;

fn clean(s: &str, max: usize, multiline: bool) -> bool {
    let forbidden = |c: char| {
        (c.is_control() && !(multiline && c == '\n'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    };
    s.chars().count() <= max && !s.chars().any(forbidden) && s == s.trim()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let kind = [
        AppointmentKind::Video,
        AppointmentKind::Phone,
        AppointmentKind::OnSite,
    ][usize::from(sel) % 3];
    if let Ok(form) = serde_json::from_slice::<BookingForm>(body) {
        if let Ok(v) = validate(&form, kind) {
            assert!(!v.first_name.is_empty() && clean(&v.first_name, MAX_NAME_CHARS, false));
            assert!(!v.last_name.is_empty() && clean(&v.last_name, MAX_NAME_CHARS, false));
            assert!(is_email(&v.email));
            assert!(clean(&v.message, MAX_MESSAGE_CHARS, true) && !v.message.contains('\r'));
            assert!(v.phone.as_deref().is_none_or(is_phone));
            assert!(kind != AppointmentKind::Phone || v.phone.is_some());
            assert!(kind != AppointmentKind::OnSite || v.address.is_some());
            if let Some(a) = &v.address {
                assert!(clean(a, MAX_ADDRESS_CHARS, true) && !a.contains('\r'));
            }
            let again = BookingForm {
                first_name: v.first_name.clone(),
                last_name: v.last_name.clone(),
                email: v.email.clone(),
                message: v.message.clone(),
                phone: v.phone.clone(),
                address: v.address.clone(),
            };
            assert_eq!(
                validate(&again, kind).as_ref(),
                Ok(&v),
                "validation is not idempotent"
            );
        }
    }
    if let Ok(form) = serde_json::from_slice::<ContactForm>(body) {
        if let Ok(v) = validate_contact(&form) {
            assert!(!v.name.is_empty() && clean(&v.name, 2 * MAX_NAME_CHARS, false));
            assert!(is_email(&v.email));
            assert!(!v.message.is_empty() && clean(&v.message, MAX_MESSAGE_CHARS, true));
        }
    }
});
