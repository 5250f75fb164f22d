//! Verification of sealed evidence: valid, or invalid with exactly one reason.
//!
//! Checks run in this order; the first failure is the reason reported:
//!
//! | step | check                                                                 | reason on failure |
//! |-----:|-----------------------------------------------------------------------|-------------------|
//! | 1    | sealed JSON parses strictly ([`crate::strict`])                        | `BundleChanged` / `Malformed` |
//! | 2    | `key_id` of the seal is one of the trusted keys                        | `UnknownKey`      |
//! | 3    | SHA-256 of the bundle's canonical JSON equals `bundle_sha256`          | `BundleChanged`   |
//! | 4    | Ed25519 signature over (domain, key_id, bundle_sha256) verifies        | `SealInvalid`     |
//! | 5    | bundle names the same key as the seal; binding hash consistent         | `BundleChanged`   |
//! | 5a   | `sealed_at_ms` not after the key's retirement (when a trusted source says when) | `KeyRetired` |
//! | 5b   | the bundle's members fit its version (1 handwritten, 2 typed name); a typed name was allowed by the request and declared | `BundleChanged` / `TypedNameNotAllowed` / `DeclarationMissing` |
//! | 6    | SHA-256(document bytes) equals `document_sha256`                       | `DocumentChanged` |
//! | 7    | form data parsed strictly; SHA-256(canonical form data) equals `form_data_sha256` | `FormDataChanged` |
//! | 8    | audit chain parsed strictly; genesis from the context; links verify; its first `audit_event_count` events end in `audit_head`; later events only `sealed`/`archived` | `ChainBroken` |
//! | 9    | if an image is given, SHA-256(image) equals `image_sha256` (a typed name has none) | `ImageChanged`    |
//! | 10   | if a seal time-stamp is given, its RFC 3161 token verifies for the seal ([`crate::timestamp`]) and its `genTime` fits `sealed_at_ms` | `TimestampInvalid` |
//!
//! A part that does not parse strictly fails at its step with [`InvalidReason::Malformed`],
//! whose code is the step's (`bundle_changed`, `form_data_changed`, `chain_broken`,
//! `image_changed`).
//!
//! Events after the sealed head (`sealed`, `archived`) are **outside the seal**: they are
//! checked as links of the chain, but nothing signs them, so they are reported separately
//! ([`Verified::events_after_seal`]) and the head reported is the sealed one.
//!
//! A bundle edited after sealing fails step 3 (`BundleChanged`). An edited bundle whose
//! `bundle_sha256` was recomputed to match, or an edited signature, fails step 4
//! (`SealInvalid`). Semantically neutral re-formatting of the JSON (whitespace, key order) does
//! not invalidate the seal, because the digest is taken over the canonical form.

use serde::Serialize;
use thiserror::Error;

use crate::audit::{genesis_hash, AuditChain, AuditKind, ChainError, ChainFault};
use crate::bundle::{
    binding_hash, seal_message, signature_valid, SealedBundle, SigningMethod, VerifyingKey,
};
use crate::hexbytes::{sha256, Digest};
use crate::strict::StrictError;
use crate::timestamp::{check_time, seal_imprint, verify_token, Stamp, TimestampError, TsaTrust};

/// The part of the evidence a strict-parsing fault is in; it decides the step that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidencePart {
    /// The sealed bundle (step 1, `bundle_changed`).
    Sealed,
    /// The form data (step 7, `form_data_changed`).
    FormData,
    /// The audit chain or its context, the request id (step 8, `chain_broken`).
    Audit,
    /// The signature image (step 9, `image_changed`).
    Image,
    /// The seal's time-stamp (step 10, `timestamp_invalid`).
    Timestamp,
}

/// Why evidence is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidReason {
    /// The document bytes differ from those the signature is bound to.
    #[error("the document has changed")]
    DocumentChanged,
    /// The form data differs from what was signed.
    #[error("the form data has changed")]
    FormDataChanged,
    /// The bundle content does not match what was sealed (or does not parse).
    #[error("the evidence bundle has changed since sealing")]
    BundleChanged,
    /// The seal signature does not verify for the bundle digest.
    #[error("the seal signature is invalid")]
    SealInvalid,
    /// The audit chain is broken, or its head does not match the sealed head.
    #[error("{0}")]
    ChainBroken(ChainError),
    /// The seal names a key that is not trusted.
    #[error("the sealing key {key_id} is not trusted")]
    UnknownKey {
        /// Key id from the seal.
        key_id: String,
    },
    /// The stored signature image differs from the sealed image hash.
    #[error("the signature image has changed")]
    ImageChanged,
    /// The seal is dated after its key was retired (a key document's `valid_until_ms`).
    #[error("the sealing key {key_id} was retired at {retired_at_ms}, before the seal")]
    KeyRetired {
        /// Key id from the seal.
        key_id: String,
        /// When it was retired, Unix ms.
        retired_at_ms: i64,
    },
    /// The seal's RFC 3161 time-stamp does not verify for this seal, or its time does not fit
    /// the sealing time ([`crate::timestamp::TimestampFault`]).
    #[error("{0}")]
    TimestampInvalid(TimestampError),
    /// A typed-name signature whose sealed record says the request did not allow it.
    #[error("a typed name was used, but the request did not allow it")]
    TypedNameNotAllowed,
    /// A typed-name signature without the signer's declaration (not ticked, or no text).
    #[error("a typed name was used without the declaration that it is the signature")]
    DeclarationMissing,
    /// A part of the evidence does not parse strictly (duplicate key, unknown field,
    /// non-canonical number, wrong encoding or length): not what was sealed.
    #[error("the {part:?} part does not parse strictly: {error}")]
    Malformed {
        /// Which part.
        part: EvidencePart,
        /// The fault, with its path.
        error: StrictError,
    },
}

impl InvalidReason {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidReason::DocumentChanged => "document_changed",
            InvalidReason::FormDataChanged => "form_data_changed",
            InvalidReason::BundleChanged => "bundle_changed",
            InvalidReason::SealInvalid => "seal_invalid",
            InvalidReason::ChainBroken(_) => "chain_broken",
            InvalidReason::UnknownKey { .. } => "unknown_key",
            InvalidReason::ImageChanged => "image_changed",
            InvalidReason::KeyRetired { .. } => "key_retired",
            InvalidReason::TimestampInvalid(_) => "timestamp_invalid",
            InvalidReason::TypedNameNotAllowed => "typed_name_not_allowed",
            InvalidReason::DeclarationMissing => "declaration_missing",
            InvalidReason::Malformed { part, .. } => match part {
                EvidencePart::Sealed => "bundle_changed",
                EvidencePart::FormData => "form_data_changed",
                EvidencePart::Audit => "chain_broken",
                EvidencePart::Image => "image_changed",
                EvidencePart::Timestamp => "timestamp_invalid",
            },
        }
    }

    /// For `timestamp_invalid`: the time-stamp fault code (`malformed` for a member that does
    /// not read strictly).
    pub fn timestamp_fault(&self) -> Option<&'static str> {
        match self {
            InvalidReason::TimestampInvalid(e) => Some(e.fault.code()),
            InvalidReason::Malformed {
                part: EvidencePart::Timestamp,
                ..
            } => Some("malformed"),
            _ => None,
        }
    }

    /// For `chain_broken`: the index of the first bad event and its fault code (a malformed
    /// chain is `malformed`, at the event the fault is in, else 0).
    pub fn chain_position(&self) -> Option<(usize, &'static str)> {
        match self {
            InvalidReason::ChainBroken(e) => Some((e.index, e.fault.code())),
            InvalidReason::Malformed {
                part: EvidencePart::Audit,
                error,
            } => Some((event_index(&error.path), "malformed")),
            _ => None,
        }
    }
}

/// The event index of a path like `audit.events[3].detail` (0 when none).
fn event_index(path: &str) -> usize {
    path.split_once("events[")
        .and_then(|(_, rest)| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Facts established by a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Key that sealed the bundle.
    pub key_id: String,
    /// Digest of the bundle.
    pub bundle_sha256: Digest,
    /// The binding hash the signature is bound to.
    pub binding_sha256: Digest,
    /// Signer name.
    pub signer_name: String,
    /// How it was signed.
    pub method: SigningMethod,
    /// The method in words: `handwritten with N strokes` or `typed name with declaration`.
    pub method_summary: String,
    /// Sealing time, Unix ms.
    pub sealed_at_ms: i64,
    /// The sealed audit head: the hash of event `audit_event_count − 1` (the genesis hash if
    /// the count is 0).
    pub audit_head: Digest,
    /// How many audit events the seal covers.
    pub audit_event_count: u64,
    /// The kinds of the events after the sealed head, in order. They link to the sealed head
    /// but no seal covers them: they may be dropped or added without it showing.
    pub events_after_seal: Vec<AuditKind>,
    /// The seal's verified time-stamp, if the evidence has one (boxed: rarely there, large).
    pub timestamp: Option<Box<Stamp>>,
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// All checks passed.
    Valid(Verified),
    /// A check failed.
    Invalid(InvalidReason),
}

impl Verification {
    /// True for [`Verification::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Valid(_))
    }
    /// The reason, if invalid.
    pub fn reason(&self) -> Option<&InvalidReason> {
        match self {
            Verification::Valid(_) => None,
            Verification::Invalid(r) => Some(r),
        }
    }
}

/// The evidence to check.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Exact document bytes.
    pub document: &'a [u8],
    /// Canonical form data ([`crate::canonical::form_data_canonical`]).
    pub form_data_canonical: &'a [u8],
    /// Stored sealed bundle JSON.
    pub sealed_json: &'a [u8],
    /// The audit chain.
    pub audit: &'a AuditChain,
    /// The chain's context (the request id): when given, the genesis must be derived from it.
    pub audit_context: Option<&'a str>,
    /// The stored SVG, if it should be checked too.
    pub image_svg: Option<&'a [u8]>,
}

/// Evidence whose parts were parsed separately, each possibly malformed (see
/// [`crate::evidence`]); a malformed part fails at its own step.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    /// Exact document bytes.
    pub document: &'a [u8],
    /// The sealed bundle.
    pub sealed: Result<SealedBundle, StrictError>,
    /// Canonical form data.
    pub form_data_canonical: Result<Vec<u8>, StrictError>,
    /// The audit chain.
    pub audit: Result<AuditChain, StrictError>,
    /// The chain's context, see [`Evidence::audit_context`].
    pub audit_context: Option<Result<String, StrictError>>,
    /// The image, if present.
    pub image_svg: Option<Result<Vec<u8>, StrictError>>,
    /// The seal's RFC 3161 token (DER), if present.
    pub seal_timestamp: Option<Result<Vec<u8>, StrictError>>,
    /// The TSA certificates the token's signer must chain to; `None` checks everything else.
    pub tsa_trust: Option<&'a TsaTrust>,
}

/// Verify evidence against the trusted sealing keys.
pub fn verify(evidence: &Evidence<'_>, trusted_keys: &[VerifyingKey]) -> Verification {
    verify_parts(
        &Parts {
            document: evidence.document,
            sealed: SealedBundle::from_json(evidence.sealed_json),
            form_data_canonical: Ok(evidence.form_data_canonical.to_vec()),
            audit: Ok(evidence.audit.clone()),
            audit_context: evidence.audit_context.map(|c| Ok(c.to_owned())),
            image_svg: evidence.image_svg.map(|i| Ok(i.to_vec())),
            seal_timestamp: None,
            tsa_trust: None,
        },
        trusted_keys,
    )
}

/// Verify separately parsed parts against the trusted sealing keys.
pub fn verify_parts(parts: &Parts<'_>, trusted_keys: &[VerifyingKey]) -> Verification {
    match check(parts, trusted_keys) {
        Ok(v) => Verification::Valid(v),
        Err(r) => Verification::Invalid(r),
    }
}

fn malformed(part: EvidencePart) -> impl FnOnce(&StrictError) -> InvalidReason {
    move |e| InvalidReason::Malformed {
        part,
        error: e.clone(),
    }
}

fn check(parts: &Parts<'_>, trusted_keys: &[VerifyingKey]) -> Result<Verified, InvalidReason> {
    let sealed = parts
        .sealed
        .as_ref()
        .map_err(malformed(EvidencePart::Sealed))?;
    let key = trusted_keys
        .iter()
        .find(|k| k.key_id() == sealed.key_id)
        .ok_or_else(|| InvalidReason::UnknownKey {
            key_id: sealed.key_id.clone(),
        })?;
    let bundle = &sealed.bundle;
    let digest = bundle.digest().map_err(|_| InvalidReason::BundleChanged)?;
    if digest != sealed.bundle_sha256 {
        return Err(InvalidReason::BundleChanged);
    }
    if !signature_valid(
        key,
        &seal_message(&sealed.key_id, &sealed.bundle_sha256),
        &sealed.signature,
    ) {
        return Err(InvalidReason::SealInvalid);
    }
    if bundle.key_id != sealed.key_id
        || bundle.binding_sha256 != binding_hash(&bundle.document_sha256, &bundle.form_data_sha256)
    {
        return Err(InvalidReason::BundleChanged);
    }
    // A key given more than once (a key file and a key document) is retired at the earliest
    // time any of them says.
    if let Some(retired_at_ms) = trusted_keys
        .iter()
        .filter(|k| k.key_id() == sealed.key_id)
        .filter_map(VerifyingKey::retired_at_ms)
        .min()
    {
        if bundle.sealed_at_ms > retired_at_ms {
            return Err(InvalidReason::KeyRetired {
                key_id: sealed.key_id.clone(),
                retired_at_ms,
            });
        }
    }
    let method = bundle.method().ok_or(InvalidReason::BundleChanged)?;
    if let Some(typed) = &bundle.typed_name {
        if !typed.allowed_by_request {
            return Err(InvalidReason::TypedNameNotAllowed);
        }
        if !typed.declaration_accepted || typed.declaration.trim().is_empty() {
            return Err(InvalidReason::DeclarationMissing);
        }
    }
    if sha256(parts.document) != bundle.document_sha256 {
        return Err(InvalidReason::DocumentChanged);
    }
    let form = parts
        .form_data_canonical
        .as_ref()
        .map_err(malformed(EvidencePart::FormData))?;
    if sha256(form) != bundle.form_data_sha256 {
        return Err(InvalidReason::FormDataChanged);
    }
    let audit = parts
        .audit
        .as_ref()
        .map_err(malformed(EvidencePart::Audit))?;
    if let Some(context) = &parts.audit_context {
        let context = context.as_ref().map_err(malformed(EvidencePart::Audit))?;
        if audit.genesis() != genesis_hash(context) {
            return Err(InvalidReason::ChainBroken(ChainError {
                index: 0,
                fault: ChainFault::GenesisMismatch,
            }));
        }
    }
    audit
        .verify_prefix(bundle.audit_event_count, &bundle.audit_head)
        .map_err(InvalidReason::ChainBroken)?;
    // Only the kinds that follow a seal may follow the sealed head.
    let sealed_count = usize::try_from(bundle.audit_event_count).unwrap_or(usize::MAX);
    let after = audit.events().get(sealed_count..).unwrap_or_default();
    if let Some((i, _)) = after
        .iter()
        .enumerate()
        .find(|(_, e)| !AuditKind::AFTER_SEAL.contains(&e.kind))
    {
        return Err(InvalidReason::ChainBroken(ChainError {
            index: sealed_count + i,
            fault: ChainFault::KindAfterSeal,
        }));
    }
    if let Some(image) = &parts.image_svg {
        let image = image.as_ref().map_err(malformed(EvidencePart::Image))?;
        if bundle.image_sha256 != Some(sha256(image)) {
            return Err(InvalidReason::ImageChanged);
        }
    }
    let timestamp = match &parts.seal_timestamp {
        None => None,
        Some(token) => {
            let token = token.as_ref().map_err(malformed(EvidencePart::Timestamp))?;
            let stamp = verify_token(token, &seal_imprint(&sealed.signature), parts.tsa_trust)
                .map_err(InvalidReason::TimestampInvalid)?;
            check_time(&stamp, bundle.sealed_at_ms).map_err(InvalidReason::TimestampInvalid)?;
            Some(Box::new(stamp))
        }
    };
    Ok(Verified {
        key_id: sealed.key_id.clone(),
        bundle_sha256: digest,
        binding_sha256: bundle.binding_sha256,
        signer_name: bundle.signer_name.clone(),
        method,
        method_summary: bundle.method_summary().unwrap_or_default(),
        sealed_at_ms: bundle.sealed_at_ms,
        audit_head: bundle.audit_head,
        audit_event_count: bundle.audit_event_count,
        events_after_seal: after.iter().map(|e| e.kind).collect(),
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, AuditKind, ChainFault};
    use crate::bundle::EvidenceBundle;
    use crate::canonical::form_data_canonical;
    use crate::submission::PointerType;
    use crate::testkit::Fixture;
    use serde_json::Value;

    struct Case<'f> {
        f: &'f Fixture,
        document: Vec<u8>,
        form: Vec<u8>,
        sealed_json: Vec<u8>,
        audit: AuditChain,
        image: Vec<u8>,
        keys: Vec<VerifyingKey>,
    }

    impl<'f> Case<'f> {
        fn new(f: &'f Fixture) -> Self {
            Case {
                f,
                document: f.document.clone(),
                form: f.form.clone(),
                sealed_json: f.sealed.to_json().expect("json"),
                audit: f.chain.clone(),
                image: f.svg.clone().into_bytes(),
                keys: vec![f.other_key.verifying_key(), f.key.verifying_key()],
            }
        }
        fn run(&self) -> Verification {
            verify(
                &Evidence {
                    document: &self.document,
                    form_data_canonical: &self.form,
                    sealed_json: &self.sealed_json,
                    audit: &self.audit,
                    audit_context: Some("ceremony-0001"),
                    image_svg: Some(&self.image),
                },
                &self.keys,
            )
        }
        fn with_sealed(mut self, edit: impl FnOnce(&mut crate::bundle::SealedBundle)) -> Self {
            let mut s = self.f.sealed.clone();
            edit(&mut s);
            self.sealed_json = s.to_json().expect("json");
            self
        }
    }

    #[test]
    fn untouched_evidence_is_valid() {
        let f = Fixture::new();
        let v = Case::new(&f).run();
        match v {
            Verification::Valid(ok) => {
                assert_eq!(ok.key_id, f.key.key_id());
                assert_eq!(ok.signer_name, "Ana Example");
                // The head reported is the sealed one; the later event is listed as unsealed.
                assert_eq!(ok.audit_head, f.sealed.bundle.audit_head);
                assert_eq!(ok.audit_event_count, 5);
                assert_eq!(
                    ok.events_after_seal,
                    f.chain.events()[5..]
                        .iter()
                        .map(|e| e.kind)
                        .collect::<Vec<_>>()
                );
            }
            Verification::Invalid(r) => panic!("unexpectedly invalid: {r}"),
        }
        // Re-formatted (pretty-printed) JSON of the same content still verifies.
        let mut c = Case::new(&f);
        c.sealed_json = serde_json::to_vec_pretty(&f.sealed).expect("pretty");
        assert!(c.run().is_valid());
    }

    #[test]
    fn document_tampering_gives_document_changed() {
        let f = Fixture::new();
        type Edit = fn(&mut Vec<u8>);
        let edits: [(&str, Edit); 6] = [
            ("first byte", |d| d[0] ^= 1),
            ("last byte", |d| {
                let n = d.len();
                d[n - 1] ^= 0x20
            }),
            ("middle byte", |d| {
                let n = d.len();
                d[n / 2] = b'X'
            }),
            ("appended byte", |d| d.push(b'\n')),
            ("truncated", |d| {
                d.pop();
            }),
            ("emptied", |d| d.clear()),
        ];
        for (name, edit) in edits {
            let mut c = Case::new(&f);
            edit(&mut c.document);
            assert_eq!(
                c.run(),
                Verification::Invalid(InvalidReason::DocumentChanged),
                "{name}"
            );
        }
    }

    #[test]
    fn form_data_tampering_gives_form_data_changed() {
        let f = Fixture::new();
        type Edit = fn(&mut std::collections::BTreeMap<String, String>);
        let edits: [(&str, Edit); 5] = [
            ("value changed", |m| {
                m.insert("consent_recording".into(), "yes".into());
            }),
            ("value whitespace", |m| {
                m.insert("client_name".into(), "Ana Example ".into());
            }),
            ("field added", |m| {
                m.insert("extra".into(), String::new());
            }),
            ("field removed", |m| {
                m.remove("date_of_birth");
            }),
            ("field renamed", |m| {
                if let Some(v) = m.remove("client_name") {
                    m.insert("client_nam".into(), v);
                }
            }),
        ];
        for (name, edit) in edits {
            let mut fields = f.form_fields.clone();
            edit(&mut fields);
            let mut c = Case::new(&f);
            c.form = form_data_canonical(&fields);
            assert_eq!(
                c.run(),
                Verification::Invalid(InvalidReason::FormDataChanged),
                "{name}"
            );
        }
    }

    fn env(b: &mut EvidenceBundle) -> &mut crate::escrow::Envelope {
        b.biometric_envelope.as_mut().expect("a handwritten bundle")
    }

    fn cap(b: &mut EvidenceBundle) -> &mut crate::bundle::CaptureContext {
        b.capture_context.as_mut().expect("a handwritten bundle")
    }

    fn flip(d: &mut Digest) {
        let mut b = *d.as_bytes();
        b[0] ^= 1;
        *d = Digest::from_bytes(b);
    }

    #[test]
    fn every_bundle_field_is_covered_by_the_seal() {
        let f = Fixture::new();
        type Edit = fn(&mut EvidenceBundle);
        let edits: Vec<(&str, Edit)> = vec![
            ("version", |b| b.version += 1),
            ("key_id", |b| b.key_id = "ffffffffffffffff".into()),
            ("document_sha256", |b| flip(&mut b.document_sha256)),
            ("form_data_sha256", |b| flip(&mut b.form_data_sha256)),
            ("binding_sha256", |b| flip(&mut b.binding_sha256)),
            ("time_series_format", |b| {
                b.time_series_format.as_mut().expect("v1").push('x')
            }),
            ("envelope.version", |b| env(b).version = 2),
            ("envelope.recipient_key_id", |b| {
                env(b).recipient_key_id = "0000000000000000".into()
            }),
            ("envelope.ephemeral_public", |b| {
                env(b).ephemeral_public[0] ^= 1
            }),
            ("envelope.nonce", |b| env(b).nonce[0] ^= 1),
            ("envelope.ciphertext", |b| env(b).ciphertext[0] ^= 1),
            ("envelope.ciphertext length", |b| {
                env(b).ciphertext.pop();
            }),
            ("image_sha256", |b| {
                flip(b.image_sha256.as_mut().expect("v1"))
            }),
            ("signer_name", |b| b.signer_name = "Eve Example".into()),
            ("capture.user_agent", |b| cap(b).user_agent = None),
            ("capture.pointer_types", |b| {
                cap(b).pointer_types = vec![PointerType::Mouse]
            }),
            ("capture.declared_pointer_types", |b| {
                cap(b).declared_pointer_types.push(PointerType::Touch)
            }),
            ("capture.canvas_width", |b| cap(b).canvas_width += 0.5),
            ("capture.canvas_height", |b| cap(b).canvas_height -= 1.0),
            ("capture.pixel_ratio", |b| cap(b).pixel_ratio = Some(1.0)),
            ("capture.client_started_at_ms", |b| {
                cap(b).client_started_at_ms = None
            }),
            ("capture.stroke_count", |b| cap(b).stroke_count += 1),
            ("capture.point_count", |b| cap(b).point_count -= 1),
            ("server_received_at_ms", |b| b.server_received_at_ms -= 1),
            ("sealed_at_ms", |b| b.sealed_at_ms += 1),
            ("audit_head", |b| flip(&mut b.audit_head)),
            ("audit_event_count", |b| b.audit_event_count += 1),
        ];
        for (name, edit) in edits {
            // Content edited, digest left alone: the digest no longer matches.
            let c = Case::new(&f).with_sealed(|s| edit(&mut s.bundle));
            assert_eq!(
                c.run(),
                Verification::Invalid(InvalidReason::BundleChanged),
                "{name}"
            );
            // Content edited and digest recomputed: the signature no longer matches.
            let c = Case::new(&f).with_sealed(|s| {
                edit(&mut s.bundle);
                s.bundle_sha256 = s.bundle.digest().expect("digest");
            });
            assert_eq!(
                c.run(),
                Verification::Invalid(InvalidReason::SealInvalid),
                "{name} rehashed"
            );
        }
    }

    /// Mutate one JSON leaf at a time, in place, keeping its type where possible.
    fn mutate_leaves(
        v: &Value,
        path: &mut Vec<String>,
        out: &mut Vec<(String, Value)>,
        root: &Value,
    ) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    path.push(k.clone());
                    mutate_leaves(child, path, out, root);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    path.push(i.to_string());
                    mutate_leaves(child, path, out, root);
                    path.pop();
                }
            }
            leaf => {
                let replacement = match leaf {
                    Value::String(s)
                        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        let flipped = if s.starts_with('0') { "1" } else { "0" };
                        Value::String(format!("{flipped}{}", &s[1..]))
                    }
                    Value::String(s) if s == "pen" => Value::String("touch".into()),
                    Value::String(s) => match crate::hexbytes::b64::decode(s) {
                        Some(mut bytes) if !bytes.is_empty() => {
                            bytes[0] ^= 1;
                            Value::String(crate::hexbytes::b64::encode(&bytes))
                        }
                        _ => Value::String(format!("{s}x")),
                    },
                    Value::Number(n) if n.is_u64() => {
                        Value::from(n.as_u64().unwrap_or(0).wrapping_add(1))
                    }
                    Value::Number(n) if n.is_i64() => {
                        Value::from(n.as_i64().unwrap_or(0).wrapping_add(1))
                    }
                    Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0) + 0.25),
                    Value::Bool(b) => Value::Bool(!b),
                    _ => Value::String("null".into()),
                };
                let mut mutated = root.clone();
                let pointer = format!("/{}", path.join("/"));
                if let Some(slot) = mutated.pointer_mut(&pointer) {
                    *slot = replacement;
                }
                out.push((pointer, mutated));
            }
        }
    }

    #[test]
    fn every_json_leaf_of_the_sealed_bundle_is_protected() {
        let f = Fixture::new();
        let root: Value =
            serde_json::from_slice(&f.sealed.to_json().expect("json")).expect("value");
        let mut variants = Vec::new();
        mutate_leaves(&root, &mut Vec::new(), &mut variants, &root);
        assert!(variants.len() >= 29, "{}", variants.len());
        for (pointer, mutated) in variants {
            let mut c = Case::new(&f);
            c.sealed_json = serde_json::to_vec(&mutated).expect("json");
            let key_id_ok = mutated["key_id"]
                .as_str()
                .is_some_and(crate::hexbytes::key_id_hex::is_key_id);
            let expected = if pointer == "/key_id" && key_id_ok {
                InvalidReason::UnknownKey {
                    key_id: mutated["key_id"].as_str().unwrap_or_default().to_owned(),
                }
            } else if pointer.starts_with("/signature") {
                InvalidReason::SealInvalid
            } else {
                InvalidReason::BundleChanged
            };
            // A mutation that breaks an encoding (a key id with an `x`) is refused when parsing,
            // with the same code.
            assert_eq!(
                c.run().reason().map(InvalidReason::code),
                Some(expected.code()),
                "{pointer}"
            );
        }
    }

    #[test]
    fn injected_or_removed_fields_are_bundle_changed() {
        let f = Fixture::new();
        let root: Value =
            serde_json::from_slice(&f.sealed.to_json().expect("json")).expect("value");
        let mut added = root.clone();
        added["bundle"]["note"] = Value::String("added later".into());
        let mut removed = root.clone();
        if let Some(obj) = removed["bundle"].as_object_mut() {
            obj.remove("signer_name");
        }
        for (name, v) in [("added", added), ("removed", removed)] {
            let mut c = Case::new(&f);
            c.sealed_json = serde_json::to_vec(&v).expect("json");
            assert_eq!(
                c.run().reason().map(InvalidReason::code),
                Some("bundle_changed"),
                "{name}"
            );
        }
        let mut c = Case::new(&f);
        c.sealed_json = b"not json".to_vec();
        assert_eq!(
            c.run().reason().map(InvalidReason::code),
            Some("bundle_changed")
        );
    }

    #[test]
    fn seal_signature_tampering_gives_seal_invalid() {
        let f = Fixture::new();
        for byte in [0usize, 31, 32, 63] {
            let c = Case::new(&f).with_sealed(|s| s.signature[byte] ^= 0x01);
            assert_eq!(
                c.run(),
                Verification::Invalid(InvalidReason::SealInvalid),
                "byte {byte}"
            );
        }
        // A signature of the wrong length is refused when parsing: bundle_changed.
        for len in [63usize, 0, 65] {
            let c = Case::new(&f).with_sealed(|s| s.signature.resize(len, 7));
            match c.run() {
                Verification::Invalid(InvalidReason::Malformed { part, error }) => {
                    assert_eq!(part, EvidencePart::Sealed);
                    assert_eq!(error.fault, crate::strict::StrictFault::InvalidValue);
                    assert_eq!(error.path, "signature");
                }
                other => panic!("{len} bytes: {other:?}"),
            }
        }
        // The bundle_sha256 field itself.
        let c = Case::new(&f).with_sealed(|s| flip(&mut s.bundle_sha256));
        assert_eq!(c.run(), Verification::Invalid(InvalidReason::BundleChanged));
    }

    #[test]
    fn a_seal_dated_after_its_key_was_retired_is_key_retired() {
        let f = Fixture::new();
        let sealed_at = f.sealed.bundle.sealed_at_ms;
        let key = f.key.verifying_key();
        // Retired at the moment of sealing or later: valid.
        let mut c = Case::new(&f);
        c.keys = vec![key.retired_at(Some(sealed_at))];
        assert!(c.run().is_valid());
        // Retired before: the seal claims a time its key could no longer seal at.
        c.keys = vec![key.retired_at(Some(sealed_at - 1))];
        assert_eq!(
            c.run(),
            Verification::Invalid(InvalidReason::KeyRetired {
                key_id: key.key_id(),
                retired_at_ms: sealed_at - 1
            })
        );
        // The same key also given bare: the retirement still applies.
        c.keys = vec![key, key.retired_at(Some(sealed_at - 1))];
        assert_eq!(
            c.run().reason().map(InvalidReason::code),
            Some("key_retired")
        );
    }

    #[test]
    fn key_id_tampering_and_untrusted_keys() {
        let f = Fixture::new();
        let c = Case::new(&f).with_sealed(|s| s.key_id = "0123456789abcdef".into());
        assert_eq!(
            c.run(),
            Verification::Invalid(InvalidReason::UnknownKey {
                key_id: "0123456789abcdef".into()
            })
        );
        // Pointing the seal at another trusted key: the signature does not verify under it.
        let other = f.other_key.key_id();
        let c = Case::new(&f).with_sealed(|s| s.key_id = other.clone());
        assert_eq!(c.run(), Verification::Invalid(InvalidReason::SealInvalid));
        // The right key is not in the trust list.
        let mut c = Case::new(&f);
        c.keys = vec![f.other_key.verifying_key()];
        assert_eq!(
            c.run(),
            Verification::Invalid(InvalidReason::UnknownKey {
                key_id: f.key.key_id()
            })
        );
        // Re-sealing a modified bundle with an attacker's key: unknown key.
        let rng = ring::rand::SystemRandom::new();
        let evil = crate::bundle::SealingKey::from_pkcs8(
            &crate::bundle::SealingKey::generate_pkcs8(&rng).expect("gen"),
        )
        .expect("load");
        let mut b = f.sealed.bundle.clone();
        b.signer_name = "Eve".into();
        b.key_id = evil.key_id();
        let forged = crate::bundle::seal(b, &evil).expect("seal");
        let mut c = Case::new(&f);
        c.sealed_json = forged.to_json().expect("json");
        assert_eq!(
            c.run(),
            Verification::Invalid(InvalidReason::UnknownKey {
                key_id: evil.key_id()
            })
        );
    }

    #[test]
    fn every_audit_event_field_is_protected() {
        let f = Fixture::new();
        type Edit = fn(&mut AuditEvent);
        let edits: [(&str, Edit); 6] = [
            ("seq", |e| e.seq = e.seq.wrapping_add(7)),
            ("kind", |e| {
                e.kind = if e.kind == AuditKind::ConsentGiven {
                    AuditKind::Archived
                } else {
                    AuditKind::ConsentGiven
                }
            }),
            ("at_ms", |e| e.at_ms -= 1),
            ("detail", |e| e.detail = "edited".into()),
            ("prev_hash", |e| flip(&mut e.prev_hash)),
            ("hash", |e| flip(&mut e.hash)),
        ];
        for index in 0..f.chain.len() {
            for (name, edit) in edits {
                let mut events = f.chain.events().to_vec();
                edit(&mut events[index]);
                let mut c = Case::new(&f);
                c.audit = AuditChain::from_parts(f.chain.genesis(), events);
                match c.run() {
                    Verification::Invalid(InvalidReason::ChainBroken(e)) => {
                        assert_eq!(e.index, index, "{name} at {index}")
                    }
                    other => panic!("{name} at {index}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rewritten_truncated_or_replaced_chain_is_broken() {
        let f = Fixture::new();
        // Attacker rewrites the consent event and recomputes every hash: head mismatch.
        let mut forged = AuditChain::new("ceremony-0001");
        for e in f.chain.events() {
            let detail = if e.kind == AuditKind::ConsentGiven {
                "forged"
            } else {
                &e.detail
            };
            forged.append(e.kind, e.at_ms, detail).expect("append");
        }
        let mut c = Case::new(&f);
        c.audit = forged;
        assert_eq!(
            c.run(),
            Verification::Invalid(InvalidReason::ChainBroken(ChainError {
                index: 4,
                fault: ChainFault::HeadMismatch
            }))
        );
        // Truncated below the sealed head.
        let mut c = Case::new(&f);
        c.audit = AuditChain::from_parts(f.chain.genesis(), f.chain.events()[..3].to_vec());
        assert!(matches!(
            c.run(),
            Verification::Invalid(InvalidReason::ChainBroken(ChainError {
                fault: ChainFault::HeadMismatch,
                ..
            }))
        ));
        // Event removed from the middle.
        let mut events = f.chain.events().to_vec();
        events.remove(1);
        let mut c = Case::new(&f);
        c.audit = AuditChain::from_parts(f.chain.genesis(), events);
        assert!(matches!(
            c.run().reason(),
            Some(InvalidReason::ChainBroken(_))
        ));
        // Another ceremony's chain.
        let mut c = Case::new(&f);
        c.audit = AuditChain::new("ceremony-0002");
        assert!(matches!(
            c.run().reason(),
            Some(InvalidReason::ChainBroken(_))
        ));
        // Truncating only the post-seal events (Sealed, Archived) is still consistent with the seal.
        let mut c = Case::new(&f);
        c.audit = f.pre_seal_chain.clone();
        assert!(c.run().is_valid());
    }

    #[test]
    fn image_tampering_gives_image_changed() {
        let f = Fixture::new();
        let mut c = Case::new(&f);
        c.image = String::from_utf8_lossy(&c.image)
            .replace("stroke=\"#000\"", "stroke=\"#f00\"")
            .into_bytes();
        assert_eq!(c.run(), Verification::Invalid(InvalidReason::ImageChanged));
    }

    #[test]
    fn reason_codes_are_distinct() {
        let reasons = [
            InvalidReason::DocumentChanged,
            InvalidReason::FormDataChanged,
            InvalidReason::BundleChanged,
            InvalidReason::SealInvalid,
            InvalidReason::ChainBroken(ChainError {
                index: 0,
                fault: ChainFault::HashMismatch,
            }),
            InvalidReason::UnknownKey {
                key_id: String::new(),
            },
            InvalidReason::ImageChanged,
            InvalidReason::KeyRetired {
                key_id: String::new(),
                retired_at_ms: 0,
            },
            InvalidReason::TimestampInvalid(crate::timestamp::TimestampError {
                fault: crate::timestamp::TimestampFault::Malformed,
                message: String::new(),
            }),
            InvalidReason::TypedNameNotAllowed,
            InvalidReason::DeclarationMissing,
        ];
        let mut codes: Vec<_> = reasons.iter().map(InvalidReason::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), reasons.len());
    }

    /// Verifies a typed-name sealed bundle against the fixture's ceremony (no image).
    fn run_typed(f: &Fixture, sealed: &SealedBundle, image: Option<&[u8]>) -> Verification {
        let json = sealed.to_json().expect("json");
        verify(
            &Evidence {
                document: &f.document,
                form_data_canonical: &f.form,
                sealed_json: &json,
                audit: &f.chain,
                audit_context: Some("ceremony-0001"),
                image_svg: image,
            },
            &[f.key.verifying_key()],
        )
    }

    #[test]
    fn typed_name_evidence_seals_and_verifies_as_a_typed_name() {
        let f = Fixture::new();
        let sealed = f.typed_sealed(|_| {});
        assert_eq!(
            sealed.bundle.version,
            crate::bundle::TYPED_NAME_BUNDLE_VERSION
        );
        match run_typed(&f, &sealed, None) {
            Verification::Valid(ok) => {
                assert_eq!(ok.method, SigningMethod::TypedName);
                assert_eq!(ok.method_summary, "typed name with declaration");
            }
            Verification::Invalid(r) => panic!("typed name invalid: {r}"),
        }
        // The handwritten fixture reports its strokes, never a typed name.
        match Case::new(&f).run() {
            Verification::Valid(ok) => {
                assert_eq!(ok.method, SigningMethod::Handwritten);
                assert_eq!(ok.method_summary, "handwritten with 2 strokes");
            }
            Verification::Invalid(r) => panic!("handwritten invalid: {r}"),
        }
        // No strokes and no image: an image given with it does not belong to it.
        let json = String::from_utf8(sealed.to_json().expect("json")).expect("utf8");
        assert!(!json.contains("biometric_envelope") && !json.contains("image_sha256"));
        assert_eq!(
            run_typed(&f, &sealed, Some(f.svg.as_bytes())),
            Verification::Invalid(InvalidReason::ImageChanged)
        );
    }

    #[test]
    fn tampering_with_a_typed_name_is_detected() {
        let f = Fixture::new();
        type Edit = fn(&mut EvidenceBundle);
        let edits: Vec<(&str, Edit)> = vec![
            ("typed text", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.text = "Eve Example".into();
                }
            }),
            ("declaration", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.declaration = "I agree.".into();
                }
            }),
            ("declaration language", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.declaration_language = "de".into();
                }
            }),
            ("permission flag", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.allowed_by_request = false;
                }
            }),
            ("declaration ticked", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.declaration_accepted = false;
                }
            }),
            ("method", |b| b.method = Some(SigningMethod::Handwritten)),
            ("method removed", |b| b.method = None),
            ("version", |b| b.version = 1),
            ("typing time", |b| {
                if let Some(t) = b.typed_name.as_mut() {
                    t.client_typing_ended_at_ms = None;
                }
            }),
        ];
        for (name, edit) in edits {
            // Edited after sealing, digest left alone: the digest no longer matches.
            let mut s = f.typed_sealed(|_| {});
            edit(&mut s.bundle);
            assert_eq!(
                run_typed(&f, &s, None),
                Verification::Invalid(InvalidReason::BundleChanged),
                "{name}"
            );
            // With the digest recomputed, the seal signature no longer verifies.
            s.bundle_sha256 = s.bundle.digest().expect("digest");
            assert_eq!(
                run_typed(&f, &s, None),
                Verification::Invalid(InvalidReason::SealInvalid),
                "{name} (digest recomputed)"
            );
        }
    }

    #[test]
    fn typed_name_sealed_without_permission_or_declaration_is_refused() {
        let f = Fixture::new();
        type Edit = fn(&mut crate::bundle::TypedNameEvidence);
        let cases: [(&str, Edit, InvalidReason); 3] = [
            (
                "not allowed",
                |t| t.allowed_by_request = false,
                InvalidReason::TypedNameNotAllowed,
            ),
            (
                "not ticked",
                |t| t.declaration_accepted = false,
                InvalidReason::DeclarationMissing,
            ),
            (
                "no declaration text",
                |t| t.declaration = "  ".into(),
                InvalidReason::DeclarationMissing,
            ),
        ];
        for (name, edit, reason) in cases {
            // Sealed by a (misbehaving) server with a valid key: still refused.
            let s = f.typed_sealed(edit);
            assert_eq!(
                run_typed(&f, &s, None),
                Verification::Invalid(reason),
                "{name}"
            );
        }
    }

    #[test]
    fn a_bundle_mixing_strokes_and_a_typed_name_is_refused() {
        let f = Fixture::new();
        // A handwritten bundle that also claims a typed name, sealed with a valid key.
        let mut b = f.sealed.bundle.clone();
        b.method = Some(SigningMethod::TypedName);
        b.typed_name = Some(crate::testkit::typed_name());
        let s = crate::bundle::seal(b, &f.key).expect("seal");
        assert_eq!(
            run_typed(&f, &s, None),
            Verification::Invalid(InvalidReason::BundleChanged)
        );
        // A typed-name bundle that claims to be version 1.
        let mut b = f.typed_sealed(|_| {}).bundle;
        b.version = 1;
        let s = crate::bundle::seal(b, &f.key).expect("seal");
        assert_eq!(
            run_typed(&f, &s, None),
            Verification::Invalid(InvalidReason::BundleChanged)
        );
    }
}
