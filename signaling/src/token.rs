//! Join tokens: short-lived HS256 JWTs scoped to one room and one role.
//!
//! A token names its room; `join` also names the room the client means, and the two must match,
//! so a token for one room never opens another.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::protocol::{ErrorCode, Role};
use crate::Error;

/// Clock skew tolerated when checking `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;
/// Audience claim of every join token, so tokens minted for other purposes with the same key
/// are never accepted here.
const AUDIENCE: &str = "confidant-join";

/// Claims of a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Participant id.
    pub sub: String,
    /// Room (session id) the token opens; no other.
    pub room: String,
    /// Role in that room.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Audience, always `confidant-join`.
    pub aud: String,
    /// For a host token: the counsellor's login session it was issued under (an opaque id,
    /// not the cookie). The token stops working once that login session ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
}

/// Issues and verifies join tokens with one HMAC-SHA256 key.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    /// A token authority over `key` (at least 32 random bytes).
    pub fn new(key: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
        }
    }

    /// Issues a token for `participant` in `room`, valid for `ttl` from now.
    pub fn issue(
        &self,
        room: &str,
        participant: &str,
        role: Role,
        name: &str,
        ttl: Duration,
    ) -> Result<String, Error> {
        let iat = unix_now();
        self.issue_at(room, participant, role, name, iat, iat + ttl.as_secs())
    }

    /// Issues a token with explicit issue and expiry times (seconds since the epoch); for tests
    /// of expiry and for callers that keep their own clock.
    pub fn issue_at(
        &self,
        room: &str,
        participant: &str,
        role: Role,
        name: &str,
        iat: u64,
        exp: u64,
    ) -> Result<String, Error> {
        self.encode(&Claims {
            sub: participant.to_owned(),
            room: room.to_owned(),
            role,
            name: name.to_owned(),
            aud: AUDIENCE.to_owned(),
            login: None,
            iat,
            exp,
        })
    }

    /// Issues a host token for `participant` in `room`, bound to the counsellor's login
    /// session `login`, valid for `ttl` from now.
    pub fn issue_host(
        &self,
        room: &str,
        participant: &str,
        name: &str,
        login: &str,
        ttl: Duration,
    ) -> Result<String, Error> {
        self.issue_host_at(room, participant, name, login, unix_now(), ttl)
    }

    /// [`Tokens::issue_host`] issued at `iat` (seconds since the epoch).
    pub fn issue_host_at(
        &self,
        room: &str,
        participant: &str,
        name: &str,
        login: &str,
        iat: u64,
        ttl: Duration,
    ) -> Result<String, Error> {
        self.encode(&Claims {
            sub: participant.to_owned(),
            room: room.to_owned(),
            role: Role::Host,
            name: name.to_owned(),
            aud: AUDIENCE.to_owned(),
            login: Some(login.to_owned()),
            iat,
            exp: iat + ttl.as_secs(),
        })
    }

    fn encode(&self, claims: &Claims) -> Result<String, Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Token(e.to_string()))
    }

    /// Verifies signature, audience and expiry, and that the token is for `room`.
    pub fn verify(&self, token: &str, room: &str) -> Result<Claims, ErrorCode> {
        self.verify_at(token, room, unix_now())
    }

    /// [`Tokens::verify`] at `now` (seconds since the epoch). The checks and their order are
    /// jsonwebtoken's (signature, required claims, expiry with [`LEEWAY_SECS`], audience);
    /// only the time is ours.
    pub fn verify_at(&self, token: &str, room: &str, now: u64) -> Result<Claims, ErrorCode> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|_| ErrorCode::InvalidToken)?;
        if data.claims.exp < now.saturating_sub(LEEWAY_SECS) {
            return Err(ErrorCode::TokenExpired);
        }
        if data.claims.aud != AUDIENCE {
            return Err(ErrorCode::InvalidToken);
        }
        if data.claims.room != room {
            return Err(ErrorCode::WrongRoom);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[42u8; 32])
    }

    #[test]
    fn issued_token_verifies_for_its_room() {
        let t = tokens()
            .issue("room-a", "7", Role::Guest, "Alice", Duration::from_secs(60))
            .unwrap();
        let c = tokens().verify(&t, "room-a").unwrap();
        assert_eq!(
            (c.sub.as_str(), c.room.as_str(), c.role, c.name.as_str()),
            ("7", "room-a", Role::Guest, "Alice")
        );
    }

    #[test]
    fn token_for_room_a_does_not_open_room_b() {
        let t = tokens()
            .issue("room-a", "7", Role::Host, "C", Duration::from_secs(60))
            .unwrap();
        assert_eq!(tokens().verify(&t, "room-b"), Err(ErrorCode::WrongRoom));
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let now = unix_now();
        let t = tokens()
            .issue_at("r", "1", Role::Guest, "A", now - 3600, now - 600)
            .unwrap();
        assert_eq!(tokens().verify(&t, "r"), Err(ErrorCode::TokenExpired));
    }

    #[test]
    fn expiry_is_judged_at_the_time_given_with_the_leeway() {
        let t = tokens()
            .issue_at("r", "1", Role::Guest, "A", 1_000, 2_000)
            .unwrap();
        assert!(tokens().verify_at(&t, "r", 2_000 + LEEWAY_SECS).is_ok());
        assert_eq!(
            tokens().verify_at(&t, "r", 2_001 + LEEWAY_SECS),
            Err(ErrorCode::TokenExpired)
        );
        let h = tokens()
            .issue_host_at("r", "2", "C", "login", 1_000, Duration::from_secs(60))
            .unwrap();
        assert_eq!(tokens().verify_at(&h, "r", 1_030).unwrap().exp, 1_060);
        assert_eq!(
            tokens().verify_at(&h, "r", 1_066),
            Err(ErrorCode::TokenExpired)
        );
    }

    #[test]
    fn a_token_with_another_audience_is_invalid() {
        let claims = Claims {
            sub: "1".into(),
            room: "r".into(),
            role: Role::Guest,
            name: "A".into(),
            aud: "confidant-login".into(),
            login: None,
            iat: unix_now(),
            exp: unix_now() + 60,
        };
        let t = tokens().encode(&claims).unwrap();
        assert_eq!(tokens().verify(&t, "r"), Err(ErrorCode::InvalidToken));
    }

    #[test]
    fn token_from_another_key_is_invalid() {
        let t = Tokens::new(&[1u8; 32])
            .issue("r", "1", Role::Guest, "A", Duration::from_secs(60))
            .unwrap();
        assert_eq!(tokens().verify(&t, "r"), Err(ErrorCode::InvalidToken));
    }

    #[test]
    fn tampered_token_is_invalid() {
        let t = tokens()
            .issue("r", "1", Role::Guest, "A", Duration::from_secs(60))
            .unwrap();
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        // Re-encode the claims with role host: the signature no longer matches.
        let forged = tokens()
            .issue("r", "1", Role::Host, "A", Duration::from_secs(60))
            .unwrap();
        parts[1] = forged.split('.').nth(1).unwrap().to_owned();
        assert_eq!(
            tokens().verify(&parts.join("."), "r"),
            Err(ErrorCode::InvalidToken)
        );
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(
            tokens().verify("not.a.jwt", "r"),
            Err(ErrorCode::InvalidToken)
        );
        assert_eq!(tokens().verify("", "r"), Err(ErrorCode::InvalidToken));
    }
}
