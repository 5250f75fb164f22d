//! The evidence bundle and its Ed25519 seal.
//!
//! Hashes (all SHA-256, lower-case hex in JSON):
//! * `document_sha256` = SHA-256(exact bytes shown to the signer).
//! * `form_data_sha256` = SHA-256([`crate::canonical::form_data_canonical`] of the filled-in values).
//! * `binding_sha256` = SHA-256(`"confidant-signature/binding/v1\0"` || document_sha256 ||
//!   form_data_sha256) — what the signature is bound to. It is also the AAD of the biometric
//!   envelope, so the encrypted strokes cannot be moved to another document.
//! * `image_sha256` = SHA-256(SVG bytes from [`crate::render::svg`]).
//! * No hash of the *plaintext* time series is stored: such a hash would let anyone holding a
//!   candidate time series confirm it without the escrow key. The envelope's AEAD tag already
//!   authenticates the plaintext, and the envelope itself is inside the sealed bundle.
//!
//! The seal: `bundle_sha256` = SHA-256(canonical JSON of the bundle), and
//! `signature` = Ed25519(`"confidant-signature/seal/v1\0"` || key_id (ASCII) || bundle_sha256).
//! `key_id` = lower-case hex of the first 8 bytes of SHA-256(Ed25519 public key).

use ring::rand::SecureRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::{AuditChain, AuditKind, ChainError};
use crate::canonical::to_canonical_json;
use crate::escrow::{self, Envelope, EscrowError, EscrowPublicKey};
use crate::format::{self, FormatError};
use crate::hexbytes::{b64, sha256, Digest};
use crate::render;
use crate::strict::{self, StrictError};
use crate::submission::{PointerType, ValidSignature};

/// Evidence bundle format version.
pub const BUNDLE_VERSION: u32 = 1;
/// Name of the time-series format inside the envelope.
pub const TIME_SERIES_FORMAT: &str = "CSIG/1";
pub use crate::hexbytes::SIGNATURE_LEN;
/// Longest signer name, bytes.
pub const MAX_SIGNER_NAME: usize = 256;

const BINDING_DOMAIN: &[u8] = b"confidant-signature/binding/v1\0";
const SEAL_DOMAIN: &[u8] = b"confidant-signature/seal/v1\0";

/// The binding hash of a document hash and a form-data hash.
pub fn binding_hash(document_sha256: &Digest, form_data_sha256: &Digest) -> Digest {
    let mut data = Vec::with_capacity(BINDING_DOMAIN.len() + 64);
    data.extend_from_slice(BINDING_DOMAIN);
    data.extend_from_slice(document_sha256.as_bytes());
    data.extend_from_slice(form_data_sha256.as_bytes());
    sha256(&data)
}

/// How and where the signature was captured. No IP addresses or other personal data beyond
/// what the capture itself is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureContext {
    /// Browser user agent, as sent by the client.
    pub user_agent: Option<String>,
    /// Pointer types the strokes actually used (server-observed).
    pub pointer_types: Vec<PointerType>,
    /// Pointer types the client declared.
    pub declared_pointer_types: Vec<PointerType>,
    /// Canvas width, CSS px.
    pub canvas_width: f64,
    /// Canvas height, CSS px.
    pub canvas_height: f64,
    /// Client device pixel ratio.
    pub pixel_ratio: Option<f64>,
    /// Client-claimed capture start, Unix ms (not authoritative).
    pub client_started_at_ms: Option<i64>,
    /// Number of strokes.
    pub stroke_count: u64,
    /// Number of points.
    pub point_count: u64,
}

/// Everything the seal covers. Serialised canonically (see [`crate::canonical`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// Id of the sealing key.
    #[serde(with = "crate::hexbytes::key_id_hex")]
    pub key_id: String,
    /// SHA-256 of the document bytes shown.
    pub document_sha256: Digest,
    /// SHA-256 of the canonical form data.
    pub form_data_sha256: Digest,
    /// [`binding_hash`] of the two.
    pub binding_sha256: Digest,
    /// [`TIME_SERIES_FORMAT`].
    pub time_series_format: String,
    /// The encrypted time series (AAD = binding_sha256 bytes).
    pub biometric_envelope: Envelope,
    /// SHA-256 of the rendered SVG.
    pub image_sha256: Digest,
    /// The signer's name as entered.
    pub signer_name: String,
    /// Capture context.
    pub capture_context: CaptureContext,
    /// Server time the submission arrived, Unix ms.
    pub server_received_at_ms: i64,
    /// Server time of sealing, Unix ms.
    pub sealed_at_ms: i64,
    /// Audit chain head at sealing.
    pub audit_head: Digest,
    /// Number of audit events the head covers.
    pub audit_event_count: u64,
}

impl EvidenceBundle {
    /// Canonical JSON bytes (what `bundle_sha256` hashes).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        to_canonical_json(self)
    }

    /// SHA-256 of [`EvidenceBundle::canonical_bytes`].
    pub fn digest(&self) -> Result<Digest, serde_json::Error> {
        Ok(sha256(&self.canonical_bytes()?))
    }

    /// Escrow tool: decrypt the time series with the escrow private key. The binding hash is
    /// the AAD, so this fails if the envelope was moved from another bundle.
    pub fn open_biometrics(&self, escrow_private_key: &[u8; 32]) -> Result<Vec<u8>, EscrowError> {
        escrow::open_biometrics(
            escrow_private_key,
            &self.biometric_envelope,
            self.binding_sha256.as_bytes(),
        )
    }
}

/// Inputs for [`build_bundle`].
#[derive(Debug, Clone, Copy)]
pub struct BundleInput<'a> {
    /// Exact document bytes shown to the signer.
    pub document: &'a [u8],
    /// Canonical form data ([`crate::canonical::form_data_canonical`]).
    pub form_data_canonical: &'a [u8],
    /// The validated signature.
    pub signature: &'a ValidSignature,
    /// Signer name as entered.
    pub signer_name: &'a str,
    /// Escrow public key for the biometrics.
    pub escrow_key: &'a EscrowPublicKey,
    /// Server time of receipt, Unix ms.
    pub server_received_at_ms: i64,
    /// Server time of sealing, Unix ms.
    pub sealed_at_ms: i64,
    /// Audit chain so far (must contain the ceremony up to `Submitted`).
    pub audit: &'a AuditChain,
}

/// Result of [`build_bundle`]: the unsealed bundle and the artefacts it hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The bundle, ready for [`seal`].
    pub bundle: EvidenceBundle,
    /// The SVG whose hash is `image_sha256` (store it beside the bundle).
    pub svg: String,
}

/// Why a bundle could not be built or sealed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BundleError {
    /// Signer name empty, too long or with control characters.
    #[error("signer name invalid: {0}")]
    SignerName(&'static str),
    /// `sealed_at_ms` earlier than `server_received_at_ms`.
    #[error("sealing time precedes receipt time")]
    TimeOrder,
    /// The audit chain does not verify.
    #[error("audit chain invalid: {0}")]
    Audit(#[from] ChainError),
    /// A ceremony step is missing from the audit chain.
    #[error("audit chain lacks the {0:?} step")]
    CeremonyIncomplete(AuditKind),
    /// The time series could not be encoded.
    #[error("time series: {0}")]
    Format(#[from] FormatError),
    /// Escrow encryption failed.
    #[error("escrow: {0}")]
    Escrow(#[from] EscrowError),
    /// The bundle cannot be serialised canonically.
    #[error("canonical serialisation failed: {0}")]
    Canonical(String),
    /// The bundle names a different key than the one sealing it.
    #[error("bundle names key {bundle}, sealing key is {key}")]
    KeyMismatch {
        /// Key id in the bundle.
        bundle: String,
        /// Sealing key id.
        key: String,
    },
    /// Key generation or parsing failed.
    #[error("sealing key: {0}")]
    Key(&'static str),
}

/// Assemble the evidence bundle: hashes, encrypted time series, SVG hash, capture context and
/// audit head. `key_id` names the key that will seal it.
pub fn build_bundle(
    input: &BundleInput<'_>,
    key_id: &str,
    rng: &dyn SecureRandom,
) -> Result<Prepared, BundleError> {
    let name = input.signer_name;
    if name.trim().is_empty() {
        return Err(BundleError::SignerName("empty"));
    }
    if name.len() > MAX_SIGNER_NAME {
        return Err(BundleError::SignerName("too long"));
    }
    if name.chars().any(char::is_control) {
        return Err(BundleError::SignerName("control characters"));
    }
    if input.sealed_at_ms < input.server_received_at_ms {
        return Err(BundleError::TimeOrder);
    }
    let audit_head = input.audit.verify()?;
    if let Some(missing) = input.audit.missing_ceremony_step() {
        return Err(BundleError::CeremonyIncomplete(missing));
    }

    let document_sha256 = sha256(input.document);
    let form_data_sha256 = sha256(input.form_data_canonical);
    let binding_sha256 = binding_hash(&document_sha256, &form_data_sha256);
    let series = format::encode(input.signature)?;
    let biometric_envelope =
        escrow::seal_biometrics(input.escrow_key, &series, binding_sha256.as_bytes(), rng)?;
    let svg = render::svg(input.signature);
    let sig = input.signature;
    let device = sig.device();
    let canvas = sig.canvas();
    let bundle = EvidenceBundle {
        version: BUNDLE_VERSION,
        key_id: key_id.to_owned(),
        document_sha256,
        form_data_sha256,
        binding_sha256,
        time_series_format: TIME_SERIES_FORMAT.to_owned(),
        biometric_envelope,
        image_sha256: sha256(svg.as_bytes()),
        signer_name: name.to_owned(),
        capture_context: CaptureContext {
            user_agent: device.user_agent.clone(),
            pointer_types: sig.pointer_types(),
            declared_pointer_types: device.pointer_types.clone(),
            canvas_width: canvas.width,
            canvas_height: canvas.height,
            pixel_ratio: device.pixel_ratio,
            client_started_at_ms: sig.client_started_at_ms(),
            stroke_count: sig.strokes().len() as u64,
            point_count: sig.point_count() as u64,
        },
        server_received_at_ms: input.server_received_at_ms,
        sealed_at_ms: input.sealed_at_ms,
        audit_head,
        audit_event_count: input.audit.len() as u64,
    };
    // Fail early rather than seal something that cannot be canonicalised.
    bundle
        .digest()
        .map_err(|e| BundleError::Canonical(e.to_string()))?;
    Ok(Prepared { bundle, svg })
}

/// An Ed25519 public key that verifies seals, and when it was retired if a published key
/// document says so (`FORMAT.md` §7: no seal of it may be later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    bytes: [u8; 32],
    retired_at_ms: Option<i64>,
}

impl VerifyingKey {
    /// Wrap 32 public key bytes (not retired).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        VerifyingKey {
            bytes,
            retired_at_ms: None,
        }
    }
    /// The same key, retired at `at_ms` (a key document's `valid_until_ms`).
    pub const fn retired_at(self, at_ms: Option<i64>) -> Self {
        VerifyingKey {
            bytes: self.bytes,
            retired_at_ms: at_ms,
        }
    }
    /// When the key was retired, Unix ms, if known.
    pub const fn retired_at_ms(&self) -> Option<i64> {
        self.retired_at_ms
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
    /// Lower-case hex of the first 8 bytes of SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        escrow::key_id(&self.bytes)
    }
}

/// The server's Ed25519 sealing key.
#[derive(Debug)]
pub struct SealingKey {
    pair: Ed25519KeyPair,
    public: VerifyingKey,
}

impl SealingKey {
    /// Generate a new key as PKCS#8 v2 bytes (store these; load with [`SealingKey::from_pkcs8`]).
    pub fn generate_pkcs8(rng: &dyn SecureRandom) -> Result<Vec<u8>, BundleError> {
        Ed25519KeyPair::generate_pkcs8(rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| BundleError::Key("generation failed"))
    }

    /// Load from PKCS#8 (v1 or v2) bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, BundleError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| BundleError::Key("not an Ed25519 PKCS#8 key"))?;
        let public = <[u8; 32]>::try_from(pair.public_key().as_ref())
            .map_err(|_| BundleError::Key("unexpected public key length"))?;
        Ok(SealingKey {
            pair,
            public: VerifyingKey::from_bytes(public),
        })
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// See [`VerifyingKey::key_id`].
    pub fn key_id(&self) -> String {
        self.public.key_id()
    }
}

/// A sealed bundle, as stored and as given to [`crate::verify::verify`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedBundle {
    /// The bundle.
    pub bundle: EvidenceBundle,
    /// Sealing key id.
    #[serde(with = "crate::hexbytes::key_id_hex")]
    pub key_id: String,
    /// SHA-256 of the bundle's canonical JSON.
    pub bundle_sha256: Digest,
    /// Ed25519 signature, canonical base64 of exactly [`SIGNATURE_LEN`] bytes.
    #[serde(with = "b64::exact")]
    pub signature: Vec<u8>,
}

impl SealedBundle {
    /// Canonical JSON bytes for storage.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        to_canonical_json(self)
    }

    /// Parse stored JSON strictly ([`crate::strict`]: no duplicate keys, unknown or missing
    /// fields, non-canonical numbers, wrongly cased hex or wrong lengths).
    pub fn from_json(bytes: &[u8]) -> Result<Self, StrictError> {
        strict::from_slice(bytes)
    }
}

/// The message an Ed25519 seal signs.
pub(crate) fn seal_message(key_id: &str, bundle_sha256: &Digest) -> Vec<u8> {
    let mut m = Vec::with_capacity(SEAL_DOMAIN.len() + key_id.len() + 32);
    m.extend_from_slice(SEAL_DOMAIN);
    m.extend_from_slice(key_id.as_bytes());
    m.extend_from_slice(bundle_sha256.as_bytes());
    m
}

/// Seal a bundle with the server key. The bundle must name this key.
pub fn seal(bundle: EvidenceBundle, key: &SealingKey) -> Result<SealedBundle, BundleError> {
    let key_id = key.key_id();
    if bundle.key_id != key_id {
        return Err(BundleError::KeyMismatch {
            bundle: bundle.key_id,
            key: key_id,
        });
    }
    let bundle_sha256 = bundle
        .digest()
        .map_err(|e| BundleError::Canonical(e.to_string()))?;
    let signature = key
        .pair
        .sign(&seal_message(&key_id, &bundle_sha256))
        .as_ref()
        .to_vec();
    Ok(SealedBundle {
        bundle,
        key_id,
        bundle_sha256,
        signature,
    })
}

/// Check an Ed25519 seal signature.
pub(crate) fn signature_valid(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, key.bytes)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests;
