//! Signed, expiring, single-purpose tokens for links in mails (cancel, reschedule), so clients
//! manage their booking without an account.
//!
//! Layout before base64url (no padding): `version (1) | purpose (1) | expires_at (i64 BE, 8) |
//! subject length (1) | subject | HMAC-SHA256 over everything before (32)`. The subject is what
//! the link acts on; `web` uses `booking-id.sequence`, so a link stops working once the booking
//! changes (a new mail brings new links).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Longest subject.
pub const MAX_SUBJECT: usize = 128;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Cancel the booking.
    Cancel,
    /// Move the booking to another slot.
    Reschedule,
}

impl Purpose {
    fn byte(self) -> u8 {
        match self {
            Self::Cancel => 1,
            Self::Reschedule => 2,
        }
    }

    fn of(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Cancel),
            2 => Some(Self::Reschedule),
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
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC-SHA256 takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// A token for `purpose` on `subject`, valid until `expires_at` (Unix seconds).
/// Subjects longer than [`MAX_SUBJECT`] bytes are cut (callers use short ids).
pub fn sign(key: &[u8; 32], purpose: Purpose, subject: &str, expires_at: i64) -> String {
    let subject = &subject.as_bytes()[..subject.len().min(MAX_SUBJECT)];
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

/// The purpose and subject of a valid token. The signature is checked before anything else is
/// believed; the comparison is constant-time.
pub fn open(key: &[u8; 32], token: &str, now: i64) -> Result<(Purpose, String), TokenError> {
    if token.len() > 4 * (11 + MAX_SUBJECT + MAC_LEN) / 3 + 4 {
        return Err(TokenError::Malformed);
    }
    let data = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| TokenError::Malformed)?;
    if data.len() < 11 + MAC_LEN || data[0] != VERSION {
        return Err(TokenError::Malformed);
    }
    let (body, tag) = data.split_at(data.len() - MAC_LEN);
    let subject_len = usize::from(body[10]);
    if body.len() != 11 + subject_len {
        return Err(TokenError::Malformed);
    }
    if !bool::from(mac(key, body).ct_eq(tag)) {
        return Err(TokenError::BadSignature);
    }
    let purpose = Purpose::of(body[1]).ok_or(TokenError::Malformed)?;
    let mut expiry = [0u8; 8];
    expiry.copy_from_slice(&body[2..10]);
    if now >= i64::from_be_bytes(expiry) {
        return Err(TokenError::Expired);
    }
    let subject = String::from_utf8(body[11..].to_vec()).map_err(|_| TokenError::Malformed)?;
    Ok((purpose, subject))
}

/// The subject of a valid token for exactly `purpose`.
pub fn verify(key: &[u8; 32], token: &str, purpose: Purpose, now: i64) -> Result<String, TokenError> {
    let (p, subject) = open(key, token, now)?;
    if p != purpose {
        return Err(TokenError::WrongPurpose);
    }
    Ok(subject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn round_trip_and_purpose_and_expiry() {
        let t = sign(&KEY, Purpose::Cancel, "booking-1.0", 1_000);
        assert_eq!(verify(&KEY, &t, Purpose::Cancel, 999).unwrap(), "booking-1.0");
        assert_eq!(verify(&KEY, &t, Purpose::Reschedule, 999), Err(TokenError::WrongPurpose));
        assert_eq!(verify(&KEY, &t, Purpose::Cancel, 1_000), Err(TokenError::Expired));
        assert_eq!(verify(&[8; 32], &t, Purpose::Cancel, 0), Err(TokenError::BadSignature));
        assert_eq!(verify(&KEY, "", Purpose::Cancel, 0), Err(TokenError::Malformed));
        assert_eq!(verify(&KEY, "!!!", Purpose::Cancel, 0), Err(TokenError::Malformed));
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
}
