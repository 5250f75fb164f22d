//! SHA-256 digests and byte strings with a single textual form.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of an Ed25519 seal signature, bytes.
pub const SIGNATURE_LEN: usize = 64;

/// A SHA-256 digest. Serialised as exactly 64 **lower-case** hex characters; any other spelling
/// is rejected so that each digest has exactly one JSON form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Wrap raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 lower-case hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Digest(out))
    }

    pub(crate) fn from_ring(d: ring::digest::Digest) -> Self {
        let mut out = [0u8; 32];
        // SHA-256 output is always 32 bytes; copy defensively by length anyway.
        let src = d.as_ref();
        let n = src.len().min(32);
        out[..n].copy_from_slice(&src[..n]);
        Digest(out)
    }

    /// Flip one bit (for tamper tests).
    #[cfg(test)]
    pub(crate) fn flip_bit(&mut self, bit: usize) {
        self.0[(bit / 8) % 32] ^= 1 << (bit % 8);
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Digest {
    Digest::from_ring(ring::digest::digest(&ring::digest::SHA256, data))
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("expected 64 lower-case hex characters"))
    }
}

/// Serde helpers: a key id, exactly 16 lower-case hex characters (the first 8 bytes of a
/// SHA-256), refused in any other spelling.
pub(crate) mod key_id_hex {
    use super::*;

    /// Whether `s` is a key id in its one spelling.
    pub(crate) fn is_key_id(s: &str) -> bool {
        s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub(crate) fn serialize<S: Serializer>(id: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = String::deserialize(d)?;
        if is_key_id(&s) {
            Ok(s)
        } else {
            Err(serde::de::Error::custom(
                "expected a key id of 16 lower-case hex characters",
            ))
        }
    }
}

/// Serde helpers: byte strings as standard, padded base64, with a canonical-form check on input.
pub(crate) mod b64 {
    use super::*;

    pub(crate) fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// Decode, and reject any spelling that does not re-encode to itself.
    pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(s).ok()?;
        (STANDARD.encode(&bytes) == s).then_some(bytes)
    }

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).ok_or_else(|| serde::de::Error::custom("expected canonical base64"))
    }

    /// Exactly `N` bytes, kept as a `Vec` (for Ed25519 signatures).
    pub(crate) mod exact {
        use super::*;

        pub(crate) use super::serialize;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let v = super::deserialize(d)?;
            if v.len() == crate::hexbytes::SIGNATURE_LEN {
                Ok(v)
            } else {
                Err(serde::de::Error::custom(format!(
                    "expected {} bytes, got {}",
                    crate::hexbytes::SIGNATURE_LEN,
                    v.len()
                )))
            }
        }
    }

    /// At least the 16 bytes of an AES-GCM tag (an envelope's ciphertext).
    pub(crate) mod ciphertext {
        use super::*;

        /// Length of the AES-GCM tag, bytes.
        const TAG_LEN: usize = 16;

        pub(crate) use super::serialize;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let v = super::deserialize(d)?;
            if v.len() >= TAG_LEN {
                Ok(v)
            } else {
                Err(serde::de::Error::custom(format!(
                    "expected at least {TAG_LEN} bytes (the tag), got {}",
                    v.len()
                )))
            }
        }
    }

    /// Fixed-length variant.
    pub(crate) mod fixed {
        use super::*;

        pub(crate) fn serialize<S: Serializer, const N: usize>(
            bytes: &[u8; N],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_str(&encode(bytes))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<[u8; N], D::Error> {
            let v = super::deserialize(d)?;
            <[u8; N]>::try_from(v.as_slice())
                .map_err(|_| serde::de::Error::custom(format!("expected {N} bytes")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_is_strict_lower_case() {
        let d = sha256(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Digest::from_hex(&d.to_hex().to_uppercase()), None);
        assert_eq!(Digest::from_hex("ab"), None);
        let json = serde_json::to_string(&d).expect("serialise");
        assert_eq!(serde_json::from_str::<Digest>(&json).expect("parse"), d);
    }

    #[test]
    fn base64_is_canonical_only() {
        assert_eq!(b64::decode("AAE="), Some(vec![0, 1]));
        assert_eq!(b64::decode("AAF="), None); // non-zero trailing bits
        assert_eq!(b64::decode("AAE"), None); // unpadded
    }
}
