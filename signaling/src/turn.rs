//! Time-limited TURN credentials, for clients on networks that block direct UDP to the SFU.
//!
//! The scheme is the "REST API for access to TURN services" that coturn implements with
//! `use-auth-secret` / `static-auth-secret`: the username is `<expiry, unix seconds>:<participant
//! id>` and the credential is base64(HMAC-SHA1(shared secret, username)). The TURN server checks
//! both with the same secret and refuses the credential after its expiry, so nothing long-lived
//! ever reaches a browser.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::protocol::IceServer;

/// TURN servers and the secret shared with them.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:`/`turns:` URLs handed to clients, e.g. `turn:turn.example.org:3478?transport=udp`.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (coturn `static-auth-secret`).
    pub secret: Vec<u8>,
    /// How long a credential stays valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TurnConfig {
    /// A credential for `participant`, valid until `now_unix + ttl`.
    pub fn credentials(&self, participant: &str, now_unix: u64) -> IceServer {
        let username = format!("{}:{participant}", now_unix + self.ttl.as_secs());
        let mut mac =
            Hmac::<Sha1>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(username.as_bytes());
        let credential =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_the_turn_rest_api_scheme() {
        let turn = TurnConfig {
            urls: vec!["turn:turn.example.org:3478".into()],
            secret: b"north".to_vec(),
            ttl: Duration::from_secs(600),
        };
        let c = turn.credentials("42", 1_700_000_000);
        assert_eq!(c.username, "1700000600:42");
        // Computed independently: printf '1700000600:42' | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(c.credential, "c8I0lj+p3rCkviOWydupNEuAt5Q=");
        assert_eq!(c.urls, vec!["turn:turn.example.org:3478".to_owned()]);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let turn = TurnConfig {
            urls: vec![],
            secret: b"very-secret".to_vec(),
            ttl: Duration::from_secs(1),
        };
        assert!(!format!("{turn:?}").contains("very-secret"));
    }
}
