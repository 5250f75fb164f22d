//! Signed, expiring, single-purpose tokens for links in mails (cancel, reschedule), so clients
//! manage their booking without an account.
//!
//! Layout before base64url (no padding): `version (1) | purpose (1) | expires_at (i64 BE, 8) |
//! subject length (1) | subject | HMAC-SHA256 over everything before (32)`. The version and the
//! length prefix make the signed bytes unambiguous; the purpose is signed, so a cancel link can
//! never reschedule. The subject is what the link acts on; `web` uses `booking-id.sequence`, so
//! a link stops working once the booking changes (a new mail brings new links).
//!
//! [`verify`] checks in this order: shape and version ([`TokenError::Malformed`]), signature
//! with a constant-time comparison ([`TokenError::BadSignature`]), purpose
//! ([`TokenError::WrongPurpose`]), expiry ([`TokenError::Expired`]). Nothing inside a token is
//! believed before its signature holds. Use a dedicated random 32-byte key for these tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Longest subject, in bytes.
pub const MAX_SUBJECT: usize = 128;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Cancel the booking.
    Cancel,
    /// Move the booking to another slot.
    Reschedule,
    /// See the booking (time, type, status) without changing it.
    ViewBooking,
}

impl Purpose {
    /// All purposes.
    pub const ALL: [Purpose; 3] = [Purpose::Cancel, Purpose::Reschedule, Purpose::ViewBooking];

    /// A stable name for APIs and logs: `cancel`, `reschedule`, `view_booking`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Reschedule => "reschedule",
            Self::ViewBooking => "view_booking",
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Cancel => 1,
            Self::Reschedule => 2,
            Self::ViewBooking => 3,
        }
    }

    fn of(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Cancel),
            2 => Some(Self::Reschedule),
            3 => Some(Self::ViewBooking),
            _ => None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours.
    #[error("malformed token")]
    Malformed,
    /// Altered or signed with another key.
    #[error("bad signature")]
    BadSignature,
    /// A token for something else.
    #[error("token is for another action")]
    WrongPurpose,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

fn mac(key: &[u8; 32], data: &[u8]) -> [u8; MAC_LEN] {
    // `new_from_slice` fails only for key lengths the MAC cannot take; HMAC takes any length.
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// A token for `purpose` on `subject` (the booking id), valid while `now < expires_at` (Unix
/// seconds). URL-safe base64 without padding, about 100 characters for a UUID subject.
///
/// Subjects longer than [`MAX_SUBJECT`] bytes are cut at a character boundary (callers use
/// UUIDs; see [`sign_checked`] to refuse instead).
pub fn sign(key: &[u8; 32], purpose: Purpose, subject: &str, expires_at: i64) -> String {
    let mut cut = subject.len().min(MAX_SUBJECT);
    while !subject.is_char_boundary(cut) {
        cut -= 1; // stops at 0 at the latest, which is a boundary
    }
    let subject = &subject.as_bytes()[..cut];
    let mut data = Vec::with_capacity(11 + subject.len() + MAC_LEN);
    data.push(VERSION);
    data.push(purpose.byte());
    data.extend_from_slice(&expires_at.to_be_bytes());
    // Cut to MAX_SUBJECT (128) above, so it fits a byte.
    data.push(subject.len() as u8);
    data.extend_from_slice(subject);
    let tag = mac(key, &data);
    data.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(data)
}

/// Like [`sign`], but refuses a subject longer than [`MAX_SUBJECT`] bytes instead of cutting it.
pub fn sign_checked(
    key: &[u8; 32],
    purpose: Purpose,
    subject: &str,
    expires_at: i64,
) -> Result<String, crate::Error> {
    if subject.len() > MAX_SUBJECT {
        return Err(crate::Error::invalid(
            "subject",
            format!("at most {MAX_SUBJECT} bytes"),
        ));
    }
    Ok(sign(key, purpose, subject, expires_at))
}

/// The purpose and subject of a valid token, whatever its purpose (for a page that shows what
/// a link allows before acting). The signature is checked before anything else is
/// believed; the comparison is constant-time.
pub fn open(key: &[u8; 32], token: &str, now: i64) -> Result<(Purpose, String), TokenError> {
    let (purpose, expires_at, subject) = decode(key, token)?;
    if now >= expires_at {
        return Err(TokenError::Expired);
    }
    Ok((purpose, subject))
}

/// The subject (booking id) of a valid, unexpired token for exactly `purpose`.
pub fn verify(
    key: &[u8; 32],
    token: &str,
    purpose: Purpose,
    now: i64,
) -> Result<String, TokenError> {
    let (p, expires_at, subject) = decode(key, token)?;
    if p != purpose {
        return Err(TokenError::WrongPurpose);
    }
    if now >= expires_at {
        return Err(TokenError::Expired);
    }
    Ok(subject)
}

/// Purpose, expiry and subject of an authentic token (expiry not yet checked).
fn decode(key: &[u8; 32], token: &str) -> Result<(Purpose, i64, String), TokenError> {
    let token = token.trim();
    if token.len() > (11 + MAX_SUBJECT + MAC_LEN).div_ceil(3) * 4 {
        return Err(TokenError::Malformed);
    }
    let data = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if data.len() < 11 + MAC_LEN || data[0] != VERSION {
        return Err(TokenError::Malformed);
    }
    let (body, tag) = data.split_at(data.len() - MAC_LEN);
    if body.len() != 11 + usize::from(body[10]) {
        return Err(TokenError::Malformed);
    }
    if !bool::from(mac(key, body).ct_eq(tag)) {
        return Err(TokenError::BadSignature);
    }
    let purpose = Purpose::of(body[1]).ok_or(TokenError::Malformed)?;
    let mut expiry = [0u8; 8];
    expiry.copy_from_slice(&body[2..10]);
    let subject = String::from_utf8(body[11..].to_vec()).map_err(|_| TokenError::Malformed)?;
    Ok((purpose, i64::from_be_bytes(expiry), subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn round_trip_and_purpose_and_expiry() {
        let t = sign(&KEY, Purpose::Cancel, "booking-1.0", 1_000);
        assert_eq!(
            verify(&KEY, &t, Purpose::Cancel, 999).unwrap(),
            "booking-1.0"
        );
        assert_eq!(
            verify(&KEY, &t, Purpose::Reschedule, 999),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            verify(&KEY, &t, Purpose::Cancel, 1_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&[8; 32], &t, Purpose::Cancel, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&KEY, "", Purpose::Cancel, 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify(&KEY, "!!!", Purpose::Cancel, 0),
            Err(TokenError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_changed_byte_is_refused(pos in 0usize..60, bit in 0u8..8) {
            let t = sign(&KEY, Purpose::Reschedule, "0b0c3f1e-6d3a-4a53-9d63-0f7a3a1c2b11.3", 2_000_000_000);
            let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
            let pos = pos % raw.len();
            raw[pos] ^= 1 << bit;
            let changed = URL_SAFE_NO_PAD.encode(raw);
            let r = verify(&KEY, &changed, Purpose::Reschedule, 0);
            prop_assert!(matches!(r, Err(TokenError::BadSignature | TokenError::Malformed)), "{:?}", r);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,200}") {
            let _ = open(&KEY, &s, 0);
        }
    }

    #[test]
    fn every_purpose_round_trips_and_refuses_the_others() {
        for p in Purpose::ALL {
            let t = sign(&KEY, p, "b-42.1", 100);
            assert_eq!(verify(&KEY, &t, p, 99).as_deref(), Ok("b-42.1"));
            assert_eq!(open(&KEY, &t, 99), Ok((p, "b-42.1".to_owned())));
            for other in Purpose::ALL.into_iter().filter(|o| *o != p) {
                assert_eq!(verify(&KEY, &t, other, 99), Err(TokenError::WrongPurpose));
            }
            assert_eq!(verify(&KEY, &t, p, 100), Err(TokenError::Expired));
            // The purpose is checked before the expiry.
            let other = if p == Purpose::Cancel {
                Purpose::ViewBooking
            } else {
                Purpose::Cancel
            };
            assert_eq!(verify(&KEY, &t, other, 100), Err(TokenError::WrongPurpose));
            assert_eq!(verify(&KEY, &t, p, i64::MAX), Err(TokenError::Expired));
        }
        assert_eq!(Purpose::ViewBooking.name(), "view_booking");
    }

    #[test]
    fn tokens_are_url_safe() {
        let t = sign(
            &KEY,
            Purpose::Cancel,
            "0b0c3f1e-6d3a-4a53-9d63-0f7a3a1c2b11.3",
            i64::MAX,
        );
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{t}"
        );
    }

    #[test]
    fn every_changed_character_truncation_or_extension_is_refused() {
        let t = sign(
            &KEY,
            Purpose::Cancel,
            "0b0c3f1e-6d3a-4a53-9d63-0f7a3a1c2b11.3",
            i64::MAX,
        );
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (i, orig) in t.char_indices() {
            for c in alphabet.chars().filter(|c| *c != orig).step_by(7) {
                let mut changed = t.clone();
                changed.replace_range(i..i + 1, &c.to_string());
                let r = verify(&KEY, &changed, Purpose::Cancel, 0);
                assert!(
                    matches!(r, Err(TokenError::BadSignature | TokenError::Malformed)),
                    "{i} {c}: {r:?}"
                );
            }
        }
        for cut in 0..t.len() {
            assert!(verify(&KEY, &t[..cut], Purpose::Cancel, 0).is_err());
        }
        assert!(verify(&KEY, &format!("{t}A"), Purpose::Cancel, 0).is_err());
        assert!(verify(&KEY, &format!("{t}AAAA"), Purpose::Cancel, 0).is_err());
    }

    #[test]
    fn an_unknown_version_is_malformed_even_when_signed() {
        let t = sign(&KEY, Purpose::Cancel, "b", 100);
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        raw[0] = 2;
        let body_len = raw.len() - MAC_LEN;
        let tag = mac(&KEY, &raw[..body_len]);
        raw[body_len..].copy_from_slice(&tag);
        assert_eq!(
            verify(&KEY, &URL_SAFE_NO_PAD.encode(raw), Purpose::Cancel, 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn long_subjects_are_cut_at_a_character_boundary_or_refused() {
        let long = "ä".repeat(100); // 200 bytes
        let t = sign(&KEY, Purpose::Cancel, &long, 100);
        let got = verify(&KEY, &t, Purpose::Cancel, 0).unwrap();
        assert_eq!(got, "ä".repeat(MAX_SUBJECT / 2));
        assert!(sign_checked(&KEY, Purpose::Cancel, &long, 100).is_err());
        assert!(sign_checked(&KEY, Purpose::Cancel, "b-1.0", 100).is_ok());
    }
}
