//! At-rest encryption and secret material for Confidant.
//!
//! Everything personal that Confidant stores (chat, later files, whiteboards, form data) is
//! sealed with AES-256-GCM under a key derived with HKDF-SHA256 from one data-encryption key
//! (DEK) and a *purpose* string, so that a key for chat can never open a signature envelope.
//! Each sealed value carries a fresh random 96-bit nonce; callers pass associated data that
//! binds the ciphertext to its row (room id, message id, …), so a ciphertext moved to another
//! row fails to open.
//!
//! Sealed layout (version 1): `0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//!
//! **What it must not depend on:** any other Confidant crate: every capability seals through it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Format version written as the first byte of every sealed value.
const SEALED_VERSION: u8 = 1;
/// AES-GCM nonce length in bytes (96 bits, the only size GCM is specified for without GHASH).
const NONCE_LEN: usize = 12;
/// AES-GCM authentication tag length in bytes.
const TAG_LEN: usize = 16;
/// Length of the data-encryption key and of derived keys (AES-256).
pub const KEY_LEN: usize = 32;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sealed value is shorter than header + tag or has an unknown version byte.
    #[error("sealed value is malformed")]
    Malformed,
    /// Authentication failed: wrong key, wrong associated data, or tampered ciphertext.
    #[error("sealed value failed authentication")]
    Authentication,
    /// A secret file exists but has the wrong length.
    #[error("secret file {path} has {found} bytes, expected {expected}")]
    SecretLength {
        /// The file.
        path: String,
        /// Bytes found.
        found: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// Reading or writing a secret file failed.
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The data-encryption key from which all purpose keys are derived.
pub struct Vault {
    dek: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<redacted>)")
    }
}

impl Vault {
    /// Wraps a 32-byte data-encryption key.
    pub fn new(dek: [u8; KEY_LEN]) -> Self {
        Self {
            dek: Zeroizing::new(dek),
        }
    }

    /// Derives the key for one purpose (for example `"chat"`). Same DEK and purpose give the
    /// same key; different purposes give independent keys.
    #[must_use]
    pub fn purpose_key(&self, purpose: &str) -> PurposeKey {
        let hk = Hkdf::<Sha256>::new(Some(b"confidant-vault-v1"), self.dek.as_slice());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        // HKDF-SHA256 can expand up to 255*32 bytes; 32 always fits.
        hk.expand(purpose.as_bytes(), okm.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let cipher = Aes256Gcm::new_from_slice(okm.as_slice())
            .expect("AES-256 key is 32 bytes by construction");
        PurposeKey { cipher }
    }

    /// Derives a raw 32-byte secret for one purpose (for example an HMAC key for signed links),
    /// independent of every other purpose's key. Use a purpose name no [`Vault::purpose_key`]
    /// caller uses; the info string is prefixed so the two can never collide anyway.
    #[must_use]
    pub fn derive_secret(&self, purpose: &str) -> [u8; KEY_LEN] {
        let hk = Hkdf::<Sha256>::new(Some(b"confidant-vault-v1"), self.dek.as_slice());
        let mut okm = [0u8; KEY_LEN];
        let info = [b"secret:".as_slice(), purpose.as_bytes()].concat();
        // HKDF-SHA256 can expand up to 255*32 bytes; 32 always fits.
        hk.expand(&info, &mut okm)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        okm
    }
}

/// An AES-256-GCM key for one purpose.
#[derive(Clone)]
pub struct PurposeKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for PurposeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PurposeKey(<redacted>)")
    }
}

impl PurposeKey {
    /// Encrypts `plaintext` with a fresh random nonce, binding it to `aad`.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption only fails for inputs beyond 64 GiB");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts a value made by [`PurposeKey::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEALED_VERSION {
            return Err(Error::Malformed);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| Error::Authentication)
    }
}

/// Fills a fresh array from the operating system's CSPRNG.
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A URL-safe random token of `bytes` random bytes (base64url, no padding).
/// Use at least 16 bytes (128 bits) for anything that grants access.
#[must_use]
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Reads the secret at `path`, or creates it with `len` random bytes and mode 0600 if it does
/// not exist. Tightens the mode to 0600 if an existing file is more open.
pub fn load_or_create_secret(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    match OpenOptions::new().read(true).open(path) {
        Ok(mut f) => {
            let mut buf = Zeroizing::new(Vec::new());
            f.read_to_end(&mut buf).map_err(io)?;
            if buf.len() != len {
                return Err(Error::SecretLength {
                    path: path.display().to_string(),
                    found: buf.len(),
                    expected: len,
                });
            }
            let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
            if mode != 0o600 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
            }
            Ok(buf)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io)?;
            }
            let mut buf = Zeroizing::new(vec![0u8; len]);
            rand::rngs::OsRng.fill_bytes(&mut buf);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            f.write_all(&buf).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(buf)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new([7u8; KEY_LEN])
    }

    #[test]
    fn seal_then_open_round_trips() {
        let k = vault().purpose_key("chat");
        let s = k.seal(b"hello", b"room-1/msg-1");
        assert_eq!(k.open(&s, b"room-1/msg-1").unwrap(), b"hello");
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let k = vault().purpose_key("chat");
        assert_ne!(k.seal(b"x", b""), k.seal(b"x", b""));
    }

    #[test]
    fn other_aad_fails_to_open() {
        let k = vault().purpose_key("chat");
        let s = k.seal(b"hello", b"room-1/msg-1");
        assert!(matches!(
            k.open(&s, b"room-2/msg-1"),
            Err(Error::Authentication)
        ));
    }

    #[test]
    fn other_purpose_fails_to_open() {
        let s = vault().purpose_key("chat").seal(b"hello", b"");
        assert!(matches!(
            vault().purpose_key("files").open(&s, b""),
            Err(Error::Authentication)
        ));
    }

    #[test]
    fn flipped_bit_fails_to_open() {
        let k = vault().purpose_key("chat");
        let mut s = k.seal(b"hello", b"");
        let last = s.len() - 1;
        s[last] ^= 1;
        assert!(matches!(k.open(&s, b""), Err(Error::Authentication)));
    }

    #[test]
    fn truncated_value_is_malformed() {
        let k = vault().purpose_key("chat");
        assert!(matches!(k.open(&[1, 2, 3], b""), Err(Error::Malformed)));
    }

    #[test]
    fn secret_is_created_with_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/dek.key");
        let a = load_or_create_secret(&p, 32).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create_secret(&p, 32).unwrap();
        assert_eq!(*a, *b);
    }

    #[test]
    fn secret_of_wrong_length_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        fs::write(&p, b"short").unwrap();
        assert!(matches!(
            load_or_create_secret(&p, 32),
            Err(Error::SecretLength { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_plaintext_round_trips(pt in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
                                     aad in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let k = vault().purpose_key("p");
            proptest::prop_assert_eq!(k.open(&k.seal(&pt, &aad), &aad).unwrap(), pt);
        }
    }
}
