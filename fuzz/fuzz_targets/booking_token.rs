//! Booking: the cancel / reschedule / view link tokens that arrive in URLs, through
//! `token::open` and `token::verify`, and `sign` → `open` round trips.
//!
//! Input: an arbitrary token string (must be refused: nobody can forge the HMAC), and an
//! arbitrary subject, purpose and expiry to sign (must open to the same purpose and subject,
//! cut to `MAX_SUBJECT` bytes at a character boundary, and only before it expires).
#![no_main]

use arbitrary::Arbitrary;
use confidant_booking::token::{open, sign, verify, Purpose, TokenError, MAX_SUBJECT};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x42; 32];

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    token: &'a str,
    purpose: u8,
    subject: &'a str,
    expires_at: i64,
    now: i64,
}

fuzz_target!(|i: Input<'_>| {
    // A made-up token: refused (a forged HMAC would be a bug, or a miracle).
    if let Ok(opened) = open(&KEY, i.token, i.now) {
        panic!("forged token accepted: {opened:?}");
    }
    for p in Purpose::ALL {
        assert!(verify(&KEY, i.token, p, i.now).is_err());
    }

    let purpose = Purpose::ALL[usize::from(i.purpose) % Purpose::ALL.len()];
    let token = sign(&KEY, purpose, i.subject, i.expires_at);
    assert!(token.len() <= 4 * (11 + MAX_SUBJECT + 32).div_ceil(3));
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let mut cut = i.subject.len().min(MAX_SUBJECT);
    while !i.subject.is_char_boundary(cut) {
        cut -= 1;
    }
    let subject = &i.subject[..cut];
    if i.now < i.expires_at {
        assert_eq!(open(&KEY, &token, i.now), Ok((purpose, subject.to_owned())));
        assert_eq!(verify(&KEY, &token, purpose, i.now).as_deref(), Ok(subject));
        for other in Purpose::ALL.into_iter().filter(|p| *p != purpose) {
            assert_eq!(
                verify(&KEY, &token, other, i.now),
                Err(TokenError::WrongPurpose)
            );
        }
        assert_eq!(
            open(&[0x43; 32], &token, i.now),
            Err(TokenError::BadSignature)
        );
    } else {
        assert_eq!(open(&KEY, &token, i.now), Err(TokenError::Expired));
    }
});
