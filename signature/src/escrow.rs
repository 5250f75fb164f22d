//! Encryption of the biometric time series to an escrow key whose private half is not on the
//! server.
//!
//! Scheme (envelope version 1), an ECIES construction:
//!
//! 1. The server generates a fresh ephemeral X25519 key pair (ring, `agreement::X25519`) for
//!    every envelope and computes the shared secret with the escrow public key. All-zero shared
//!    secrets (low-order points) are rejected.
//! 2. `key = HKDF-SHA256(salt = "confidant-signature/escrow/v1",
//!                       ikm  = shared secret,
//!                       info = ephemeral_public || recipient_public)`, 32 bytes.
//!    The info string binds both public keys, so a ciphertext cannot be replayed under
//!    another key pair.
//! 3. `ciphertext = AES-256-GCM(key, nonce, aad, plaintext) || tag(16)`, with a fresh random
//!    96-bit nonce. The key is single-use, so nonce reuse is impossible by construction.
//!    `aad` is supplied by the caller; the bundle uses the 32-byte binding hash (document + form
//!    data), tying the biometrics to the document they were given for.
//!
//! The envelope names its recipient by `recipient_key_id` = lower-case hex of the first 8
//! bytes of SHA-256(recipient public key). Opening needs the 32-byte X25519 private key, which
//! only the escrow tool holds; the opening side uses `x25519-dalek` because ring cannot import
//! a static X25519 private key.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf::{self, Salt, HKDF_SHA256};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::hexbytes::{b64, sha256};

/// Envelope format version produced by [`seal_biometrics`].
pub const ENVELOPE_VERSION: u8 = 1;
/// HKDF salt.
pub const HKDF_SALT: &[u8] = b"confidant-signature/escrow/v1";
/// Largest plaintext accepted (the largest time series is far below this).
pub const MAX_PLAINTEXT: usize = 16 * 1024 * 1024;

/// Escrow errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EscrowError {
    /// The random source failed.
    #[error("random source failed")]
    Random,
    /// Key agreement failed (e.g. a low-order public key giving an all-zero secret).
    #[error("key agreement failed")]
    KeyAgreement,
    /// The envelope has an unsupported version.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// The private key given is not the one the envelope was sealed to.
    #[error("envelope is sealed to escrow key {expected}, not to this key")]
    WrongKey {
        /// Key id in the envelope.
        expected: String,
    },
    /// Authentication failed: ciphertext, nonce, ephemeral key or AAD altered.
    #[error("decryption failed: envelope or associated data altered")]
    Decrypt,
    /// Plaintext larger than [`MAX_PLAINTEXT`].
    #[error("plaintext too large")]
    TooLarge,
    /// The bundle has no biometric envelope (a typed-name signature has no strokes).
    #[error("the bundle has no biometric envelope (not a handwritten signature)")]
    NoEnvelope,
}

/// Short key id: lower-case hex of the first 8 bytes of SHA-256 of the public key bytes.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&sha256(public_key).as_bytes()[..8])
}

/// The escrow public key (X25519, 32 bytes), the only escrow material on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowPublicKey(#[serde(with = "b64::fixed")] [u8; 32]);

impl EscrowPublicKey {
    /// Wrap 32 public key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        EscrowPublicKey(bytes)
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// See [`key_id`].
    pub fn key_id(&self) -> String {
        key_id(&self.0)
    }
}

/// An encrypted biometric payload. Serialised with byte strings as canonical base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version ([`ENVELOPE_VERSION`]).
    pub version: u8,
    /// Key id of the escrow public key it is sealed to.
    #[serde(with = "crate::hexbytes::key_id_hex")]
    pub recipient_key_id: String,
    /// Ephemeral X25519 public key.
    #[serde(with = "b64::fixed")]
    pub ephemeral_public: [u8; 32],
    /// AES-GCM nonce.
    #[serde(with = "b64::fixed")]
    pub nonce: [u8; 12],
    /// Ciphertext with the 16-byte tag appended (at least the tag).
    #[serde(with = "b64::ciphertext")]
    pub ciphertext: Vec<u8>,
}

/// HKDF-SHA256 to an AES-256-GCM key. `None` only if ring refuses the (fixed, valid) lengths.
fn derive_key(shared: &[u8], ephemeral: &[u8], recipient: &[u8]) -> Option<LessSafeKey> {
    let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(shared);
    let info = [ephemeral, recipient];
    let mut key = [0u8; 32];
    prk.expand(&info, OkmLen)
        .and_then(|okm| okm.fill(&mut key))
        .ok()?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).ok();
    key.fill(0);
    unbound.map(LessSafeKey::new)
}

struct OkmLen;
impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        32
    }
}

/// Encrypt `plaintext` to `recipient`, authenticating `aad`. `rng` supplies the ephemeral key
/// and the nonce.
pub fn seal_biometrics(
    recipient: &EscrowPublicKey,
    plaintext: &[u8],
    aad: &[u8],
    rng: &dyn SecureRandom,
) -> Result<Envelope, EscrowError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EscrowError::TooLarge);
    }
    let ephemeral = EphemeralPrivateKey::generate(&X25519, rng).map_err(|_| EscrowError::Random)?;
    let ephemeral_public_key = ephemeral
        .compute_public_key()
        .map_err(|_| EscrowError::KeyAgreement)?;
    let ephemeral_public = <[u8; 32]>::try_from(ephemeral_public_key.as_ref())
        .map_err(|_| EscrowError::KeyAgreement)?;
    let peer = UnparsedPublicKey::new(&X25519, recipient.0);
    let key = agreement::agree_ephemeral(ephemeral, &peer, |shared| {
        if shared.iter().all(|&b| b == 0) {
            None
        } else {
            derive_key(shared, &ephemeral_public, &recipient.0)
        }
    })
    .map_err(|_| EscrowError::KeyAgreement)?
    .ok_or(EscrowError::KeyAgreement)?;

    let mut nonce = [0u8; 12];
    rng.fill(&mut nonce).map_err(|_| EscrowError::Random)?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut in_out,
    )
    .map_err(|_| EscrowError::TooLarge)?;
    Ok(Envelope {
        version: ENVELOPE_VERSION,
        recipient_key_id: recipient.key_id(),
        ephemeral_public,
        nonce,
        ciphertext: in_out,
    })
}

/// The public key belonging to an X25519 private key.
pub fn public_key_from_secret(private_key: &[u8; 32]) -> EscrowPublicKey {
    let secret = x25519_dalek::StaticSecret::from(*private_key);
    EscrowPublicKey(*x25519_dalek::PublicKey::from(&secret).as_bytes())
}

/// Decrypt an envelope with the escrow private key (the expert escrow tool; never the server).
pub fn open_biometrics(
    private_key: &[u8; 32],
    envelope: &Envelope,
    aad: &[u8],
) -> Result<Vec<u8>, EscrowError> {
    if envelope.version != ENVELOPE_VERSION {
        return Err(EscrowError::UnsupportedVersion(envelope.version));
    }
    let secret = x25519_dalek::StaticSecret::from(*private_key);
    let public = x25519_dalek::PublicKey::from(&secret);
    if key_id(public.as_bytes()) != envelope.recipient_key_id {
        return Err(EscrowError::WrongKey {
            expected: envelope.recipient_key_id.clone(),
        });
    }
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(envelope.ephemeral_public));
    if !shared.was_contributory() {
        return Err(EscrowError::KeyAgreement);
    }
    let key = derive_key(
        shared.as_bytes(),
        &envelope.ephemeral_public,
        public.as_bytes(),
    )
    .ok_or(EscrowError::KeyAgreement)?;
    let mut in_out = envelope.ciphertext.clone();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(envelope.nonce),
            Aad::from(aad),
            &mut in_out,
        )
        .map_err(|_| EscrowError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Generate an escrow key pair for the escrow tool: `(private key bytes, public key)`. The
/// private key must be kept off the server.
pub fn generate_escrow_keypair(
    rng: &dyn SecureRandom,
) -> Result<([u8; 32], EscrowPublicKey), EscrowError> {
    let mut secret = [0u8; 32];
    rng.fill(&mut secret).map_err(|_| EscrowError::Random)?;
    // Clamp as RFC 7748 does, so the stored bytes are exactly the scalar used.
    secret[0] &= 248;
    secret[31] &= 127;
    secret[31] |= 64;
    let public = public_key_from_secret(&secret);
    Ok((secret, public))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn keypair() -> ([u8; 32], EscrowPublicKey) {
        generate_escrow_keypair(&SystemRandom::new()).expect("keypair")
    }

    #[test]
    fn round_trip_across_implementations() {
        let (secret, public) = keypair();
        let rng = SystemRandom::new();
        let env = seal_biometrics(&public, b"time series", b"binding", &rng).expect("seal");
        assert_eq!(env.version, 1);
        assert_eq!(env.recipient_key_id, public.key_id());
        assert_eq!(env.ciphertext.len(), 11 + 16);
        assert_eq!(
            open_biometrics(&secret, &env, b"binding").expect("open"),
            b"time series"
        );
        let empty = seal_biometrics(&public, b"", b"", &rng).expect("seal");
        assert_eq!(open_biometrics(&secret, &empty, b"").expect("open"), b"");
    }

    #[test]
    fn fresh_ephemeral_key_and_nonce_per_envelope() {
        let (_, public) = keypair();
        let rng = SystemRandom::new();
        let a = seal_biometrics(&public, b"same", b"", &rng).expect("seal");
        let b = seal_biometrics(&public, b"same", b"", &rng).expect("seal");
        assert_ne!(a.ephemeral_public, b.ephemeral_public);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn wrong_key_fails() {
        let (_, public) = keypair();
        let (other_secret, _) = keypair();
        let env = seal_biometrics(&public, b"secret", b"", &SystemRandom::new()).expect("seal");
        assert!(matches!(
            open_biometrics(&other_secret, &env, b""),
            Err(EscrowError::WrongKey { .. })
        ));
        // Even with the key id forged to match, the wrong key cannot authenticate.
        let mut forged = env.clone();
        forged.recipient_key_id = public_key_from_secret(&other_secret).key_id();
        assert_eq!(
            open_biometrics(&other_secret, &forged, b""),
            Err(EscrowError::Decrypt)
        );
    }

    #[test]
    fn any_tampering_fails_authentication() {
        let (secret, public) = keypair();
        let env =
            seal_biometrics(&public, b"pen samples", b"aad", &SystemRandom::new()).expect("seal");
        type Tamper = fn(&mut Envelope);
        let tampers: [(&str, Tamper); 4] = [
            ("ciphertext", |e| e.ciphertext[0] ^= 1),
            ("tag", |e| {
                let n = e.ciphertext.len();
                e.ciphertext[n - 1] ^= 0x80
            }),
            ("nonce", |e| e.nonce[11] ^= 1),
            ("ephemeral_public", |e| e.ephemeral_public[5] ^= 1),
        ];
        for (name, tamper) in tampers {
            let mut t = env.clone();
            tamper(&mut t);
            assert_eq!(
                open_biometrics(&secret, &t, b"aad"),
                Err(EscrowError::Decrypt),
                "{name}"
            );
        }
        assert_eq!(
            open_biometrics(&secret, &env, b"aaD"),
            Err(EscrowError::Decrypt)
        );
        let mut v = env.clone();
        v.version = 2;
        assert_eq!(
            open_biometrics(&secret, &v, b"aad"),
            Err(EscrowError::UnsupportedVersion(2))
        );
        let mut short = env;
        short.ciphertext.truncate(3);
        assert_eq!(
            open_biometrics(&secret, &short, b"aad"),
            Err(EscrowError::Decrypt)
        );
    }

    #[test]
    fn low_order_recipient_key_is_refused() {
        let zero = EscrowPublicKey::from_bytes([0u8; 32]);
        assert_eq!(
            seal_biometrics(&zero, b"x", b"", &SystemRandom::new()),
            Err(EscrowError::KeyAgreement)
        );
    }

    #[test]
    fn generated_secret_is_clamped_and_matches_public() {
        let (secret, public) = keypair();
        assert_eq!(secret[0] & 7, 0);
        assert_eq!(secret[31] & 0xc0, 0x40);
        assert_eq!(public_key_from_secret(&secret), public);
    }

    #[test]
    fn rfc7748_public_key_vector() {
        // RFC 7748 section 6.1, Alice.
        let sk: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        assert_eq!(
            hex::encode(public_key_from_secret(&sk).as_bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn envelope_json_round_trips() {
        let (_, public) = keypair();
        let env = seal_biometrics(&public, b"abc", b"", &SystemRandom::new()).expect("seal");
        let json = serde_json::to_string(&env).expect("serialise");
        assert_eq!(serde_json::from_str::<Envelope>(&json).expect("parse"), env);
    }
}
