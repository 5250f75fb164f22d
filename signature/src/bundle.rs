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

/// Evidence bundle format version of a handwritten signature (`FORMAT.md` §6.3).
pub const BUNDLE_VERSION: u32 = 1;
/// Evidence bundle format version of a typed name with a declaration (`FORMAT.md` §6.4).
pub const TYPED_NAME_BUNDLE_VERSION: u32 = 2;
/// Longest typed name, bytes (the same limit as a signer name).
pub const MAX_TYPED_NAME: usize = MAX_SIGNER_NAME;
/// Longest declaration text, bytes.
pub const MAX_DECLARATION: usize = 1024;
/// Longest declaration language tag, bytes (BCP 47 tags such as `en`, `de`, `pt-BR`).
pub const MAX_LANGUAGE_TAG: usize = 35;
/// Longest user agent in a typed-name record, bytes (as in a submission, `FORMAT.md` §1).
pub const MAX_USER_AGENT: usize = 512;
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

/// How the signer signed. A bundle of version 1 is handwritten and has no `method` member;
/// version 2 names its method (`FORMAT.md` §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningMethod {
    /// Drawn on the pad: strokes in the biometric envelope (version 1 bundles).
    Handwritten,
    /// A typed name with an explicit declaration that it is the signer's signature.
    TypedName,
}

impl SigningMethod {
    /// Stable machine-readable name (`handwritten`, `typed_name`).
    pub fn code(self) -> &'static str {
        match self {
            SigningMethod::Handwritten => "handwritten",
            SigningMethod::TypedName => "typed_name",
        }
    }
}

/// What a typed-name signature records (`FORMAT.md` §6.4): no strokes, but the name as typed,
/// the declaration the signer ticked, in the words and language shown, and whether the
/// request allowed this alternative at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedNameEvidence {
    /// The name as typed, trimmed (≤ [`MAX_TYPED_NAME`] bytes, no control characters).
    pub text: String,
    /// The exact declaration text shown next to the tick box.
    pub declaration: String,
    /// Language of the declaration as shown (`en`, `de`).
    pub declaration_language: String,
    /// Whether the signer ticked the declaration (must be `true`).
    pub declaration_accepted: bool,
    /// Whether the request's owner allowed a typed name instead of a handwritten signature
    /// (must be `true`).
    pub allowed_by_request: bool,
    /// Client-claimed start of typing, Unix ms (not authoritative).
    pub client_typing_started_at_ms: Option<i64>,
    /// Client-claimed end of typing, Unix ms (not authoritative).
    pub client_typing_ended_at_ms: Option<i64>,
    /// Browser user agent, as sent by the client.
    pub user_agent: Option<String>,
}

impl TypedNameEvidence {
    /// Why this record cannot be sealed, if it cannot: `(member, reason)`.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        let bad_text = |s: &str, max: usize| {
            s.trim().is_empty() || s.len() > max || s.chars().any(char::is_control)
        };
        if !self.allowed_by_request {
            Some((
                "allowed_by_request",
                "the request does not allow a typed name",
            ))
        } else if !self.declaration_accepted || self.declaration.trim().is_empty() {
            Some(("declaration_accepted", "the declaration was not given"))
        } else if bad_text(&self.declaration, MAX_DECLARATION) {
            Some(("declaration", "empty, too long or with control characters"))
        } else if bad_text(&self.text, MAX_TYPED_NAME) || self.text.trim() != self.text {
            Some((
                "text",
                "empty, too long, untrimmed or with control characters",
            ))
        } else if bad_text(&self.declaration_language, MAX_LANGUAGE_TAG)
            || !self
                .declaration_language
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            Some(("declaration_language", "not a language tag"))
        } else if self
            .user_agent
            .as_deref()
            .is_some_and(|u| u.len() > MAX_USER_AGENT || u.chars().any(char::is_control))
        {
            Some(("user_agent", "too long or with control characters"))
        } else {
            None
        }
    }
}

/// Everything the seal covers. Serialised canonically (see [`crate::canonical`]).
///
/// Version 1 (handwritten) has `time_series_format`, `biometric_envelope`, `image_sha256` and
/// `capture_context` and no `method` or `typed_name`; version 2 (typed name) the reverse. The
/// members a version does not have are left out (never `null`), so a version 1 bundle is
/// byte for byte what it was before version 2 existed.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_series_format: Option<String>,
    /// The encrypted time series (AAD = binding_sha256 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_envelope: Option<Envelope>,
    /// SHA-256 of the rendered SVG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<Digest>,
    /// The signer's name as entered.
    pub signer_name: String,
    /// Capture context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_context: Option<CaptureContext>,
    /// Server time the submission arrived, Unix ms.
    pub server_received_at_ms: i64,
    /// Server time of sealing, Unix ms.
    pub sealed_at_ms: i64,
    /// Version 2: [`SigningMethod::TypedName`]; absent in version 1 (handwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<SigningMethod>,
    /// Version 2: the typed name and its declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed_name: Option<TypedNameEvidence>,
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
    /// the AAD, so this fails if the envelope was moved from another bundle. A typed-name
    /// bundle has no envelope ([`EscrowError::NoEnvelope`]).
    pub fn open_biometrics(&self, escrow_private_key: &[u8; 32]) -> Result<Vec<u8>, EscrowError> {
        let envelope = self
            .biometric_envelope
            .as_ref()
            .ok_or(EscrowError::NoEnvelope)?;
        escrow::open_biometrics(escrow_private_key, envelope, self.binding_sha256.as_bytes())
    }

    /// How it was signed, if the bundle's members agree with its version (`None`: a bundle no
    /// server builds, e.g. a version 1 bundle with a typed name, or version 2 with strokes).
    pub fn method(&self) -> Option<SigningMethod> {
        let handwritten = self.time_series_format.is_some()
            && self.biometric_envelope.is_some()
            && self.image_sha256.is_some()
            && self.capture_context.is_some();
        let none_of_handwritten = self.time_series_format.is_none()
            && self.biometric_envelope.is_none()
            && self.image_sha256.is_none()
            && self.capture_context.is_none();
        match (self.version, self.method, &self.typed_name) {
            (BUNDLE_VERSION, None, None) if handwritten => Some(SigningMethod::Handwritten),
            (TYPED_NAME_BUNDLE_VERSION, Some(SigningMethod::TypedName), Some(_))
                if none_of_handwritten =>
            {
                Some(SigningMethod::TypedName)
            }
            _ => None,
        }
    }

    /// The method in words, as the verifiers report it: `handwritten with N strokes` or
    /// `typed name with declaration`.
    pub fn method_summary(&self) -> Option<String> {
        match self.method()? {
            SigningMethod::Handwritten => {
                let n = self.capture_context.as_ref().map_or(0, |c| c.stroke_count);
                Some(format!(
                    "handwritten with {n} stroke{}",
                    if n == 1 { "" } else { "s" }
                ))
            }
            SigningMethod::TypedName => Some("typed name with declaration".to_owned()),
        }
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
    /// A typed-name record that cannot be sealed: not allowed, no declaration, bad text.
    #[error("typed name: {field}: {reason}")]
    TypedName {
        /// The member of [`TypedNameEvidence`] at fault.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// Assemble the evidence bundle: hashes, encrypted time series, SVG hash, capture context and
/// audit head. `key_id` names the key that will seal it.
pub fn build_bundle(
    input: &BundleInput<'_>,
    key_id: &str,
    rng: &dyn SecureRandom,
) -> Result<Prepared, BundleError> {
    let name = input.signer_name;
    let audit_head = check_common(
        name,
        input.server_received_at_ms,
        input.sealed_at_ms,
        input.audit,
    )?;

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
        time_series_format: Some(TIME_SERIES_FORMAT.to_owned()),
        biometric_envelope: Some(biometric_envelope),
        image_sha256: Some(sha256(svg.as_bytes())),
        signer_name: name.to_owned(),
        capture_context: Some(CaptureContext {
            user_agent: device.user_agent.clone(),
            pointer_types: sig.pointer_types(),
            declared_pointer_types: device.pointer_types.clone(),
            canvas_width: canvas.width,
            canvas_height: canvas.height,
            pixel_ratio: device.pixel_ratio,
            client_started_at_ms: sig.client_started_at_ms(),
            stroke_count: sig.strokes().len() as u64,
            point_count: sig.point_count() as u64,
        }),
        server_received_at_ms: input.server_received_at_ms,
        sealed_at_ms: input.sealed_at_ms,
        method: None,
        typed_name: None,
        audit_head,
        audit_event_count: input.audit.len() as u64,
    };
    // Fail early rather than seal something that cannot be canonicalised.
    bundle
        .digest()
        .map_err(|e| BundleError::Canonical(e.to_string()))?;
    Ok(Prepared { bundle, svg })
}

/// The checks every bundle's inputs pass: the signer name, the order of the times, and a
/// complete ceremony in a chain that verifies (whose head is returned).
fn check_common(
    name: &str,
    received_at_ms: i64,
    sealed_at_ms: i64,
    audit: &AuditChain,
) -> Result<Digest, BundleError> {
    if name.trim().is_empty() {
        return Err(BundleError::SignerName("empty"));
    }
    if name.len() > MAX_SIGNER_NAME {
        return Err(BundleError::SignerName("too long"));
    }
    if name.chars().any(char::is_control) {
        return Err(BundleError::SignerName("control characters"));
    }
    if sealed_at_ms < received_at_ms {
        return Err(BundleError::TimeOrder);
    }
    let audit_head = audit.verify()?;
    if let Some(missing) = audit.missing_ceremony_step() {
        return Err(BundleError::CeremonyIncomplete(missing));
    }
    Ok(audit_head)
}

/// Inputs for [`build_typed_name_bundle`].
#[derive(Debug, Clone, Copy)]
pub struct TypedNameInput<'a> {
    /// Exact document bytes shown to the signer.
    pub document: &'a [u8],
    /// Canonical form data ([`crate::canonical::form_data_canonical`]).
    pub form_data_canonical: &'a [u8],
    /// The typed name, its declaration and the request's permission.
    pub typed_name: &'a TypedNameEvidence,
    /// Signer name as entered.
    pub signer_name: &'a str,
    /// Server time of receipt, Unix ms.
    pub server_received_at_ms: i64,
    /// Server time of sealing, Unix ms.
    pub sealed_at_ms: i64,
    /// Audit chain so far (must contain the ceremony up to `Submitted`).
    pub audit: &'a AuditChain,
}

/// Assemble a typed-name bundle (version 2, `FORMAT.md` §6.4): hashes, the typed name with its
/// declaration and permission, and the audit head. Refused unless the request allowed a typed
/// name and the declaration was given ([`TypedNameEvidence::problem`]).
pub fn build_typed_name_bundle(
    input: &TypedNameInput<'_>,
    key_id: &str,
) -> Result<EvidenceBundle, BundleError> {
    let audit_head = check_common(
        input.signer_name,
        input.server_received_at_ms,
        input.sealed_at_ms,
        input.audit,
    )?;
    if let Some((field, reason)) = input.typed_name.problem() {
        return Err(BundleError::TypedName { field, reason });
    }
    let document_sha256 = sha256(input.document);
    let form_data_sha256 = sha256(input.form_data_canonical);
    let bundle = EvidenceBundle {
        version: TYPED_NAME_BUNDLE_VERSION,
        key_id: key_id.to_owned(),
        document_sha256,
        form_data_sha256,
        binding_sha256: binding_hash(&document_sha256, &form_data_sha256),
        time_series_format: None,
        biometric_envelope: None,
        image_sha256: None,
        signer_name: input.signer_name.to_owned(),
        capture_context: None,
        server_received_at_ms: input.server_received_at_ms,
        sealed_at_ms: input.sealed_at_ms,
        method: Some(SigningMethod::TypedName),
        typed_name: Some(input.typed_name.clone()),
        audit_head,
        audit_event_count: input.audit.len() as u64,
    };
    bundle
        .digest()
        .map_err(|e| BundleError::Canonical(e.to_string()))?;
    Ok(bundle)
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
