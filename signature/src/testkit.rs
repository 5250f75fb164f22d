//! Shared fixture for the unit tests: a complete, sealed signing ceremony.

use std::collections::BTreeMap;

use ring::rand::SystemRandom;

use crate::audit::{AuditChain, AuditKind};
use crate::bundle::{
    build_bundle, build_typed_name_bundle, seal, BundleInput, SealedBundle, SealingKey,
    TypedNameEvidence, TypedNameInput,
};
use crate::canonical::form_data_canonical;
use crate::escrow::{generate_escrow_keypair, EscrowPublicKey};
use crate::submission::{
    validate, Canvas, Device, Point, PointerType, Stroke, Submission, ValidSignature,
};

pub(crate) const T0: i64 = 1_750_000_000_000;

pub(crate) struct Fixture {
    pub document: Vec<u8>,
    pub form_fields: BTreeMap<String, String>,
    pub form: Vec<u8>,
    pub signature: ValidSignature,
    pub key: SealingKey,
    pub other_key: SealingKey,
    pub escrow_secret: [u8; 32],
    pub escrow_public: EscrowPublicKey,
    pub pre_seal_chain: AuditChain,
    pub chain: AuditChain,
    pub sealed: SealedBundle,
    pub svg: String,
}

pub(crate) fn signature() -> ValidSignature {
    let s1: Vec<Point> = (0..20)
        .map(|i| {
            let k = i as f64;
            Point {
                x: 20.0 + 6.0 * k,
                y: 60.0 + 15.0 * (k / 3.0).sin(),
                t: 1000.0 + 7.0 * k,
                pressure: Some(0.3 + 0.02 * k),
                tilt_x: Some(12.0),
                tilt_y: Some(-7.5),
            }
        })
        .collect();
    let s2: Vec<Point> = (0..10)
        .map(|i| {
            let k = i as f64;
            Point {
                x: 160.0 + 2.0 * k,
                y: 30.0 + 5.0 * k,
                t: 1400.0 + 9.0 * k,
                pressure: Some(0.5),
                tilt_x: None,
                tilt_y: None,
            }
        })
        .collect();
    validate(&Submission {
        canvas: Canvas {
            width: 400.0,
            height: 120.0,
        },
        device: Device {
            pointer_types: vec![PointerType::Pen],
            user_agent: Some("Mozilla/5.0 (Test)".into()),
            pixel_ratio: Some(2.0),
        },
        client_started_at_ms: Some(T0 - 5000),
        strokes: vec![
            Stroke {
                pointer_type: PointerType::Pen,
                points: s1,
            },
            Stroke {
                pointer_type: PointerType::Pen,
                points: s2,
            },
        ],
    })
    .expect("fixture signature is valid")
}

impl Fixture {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let key =
            SealingKey::from_pkcs8(&SealingKey::generate_pkcs8(&rng).expect("gen")).expect("load");
        let other_key =
            SealingKey::from_pkcs8(&SealingKey::generate_pkcs8(&rng).expect("gen")).expect("load");
        let (escrow_secret, escrow_public) = generate_escrow_keypair(&rng).expect("escrow");
        let document = b"%PDF-1.7\nConsent to counselling, version 3\n...".to_vec();
        let mut form_fields = BTreeMap::new();
        form_fields.insert("client_name".to_owned(), "Ana Example".to_owned());
        form_fields.insert("date_of_birth".to_owned(), "1990-01-02".to_owned());
        form_fields.insert("consent_recording".to_owned(), "no".to_owned());
        let form = form_data_canonical(&form_fields);
        let mut chain = AuditChain::new("ceremony-0001");
        for (i, kind) in AuditKind::CEREMONY_BEFORE_SEAL.into_iter().enumerate() {
            chain
                .append(kind, T0 + 1000 * i as i64, "step")
                .expect("append");
        }
        let pre_seal_chain = chain.clone();
        let mut f = Fixture {
            document,
            form_fields,
            form,
            signature: signature(),
            key,
            other_key,
            escrow_secret,
            escrow_public,
            pre_seal_chain,
            chain,
            sealed: SealedBundle {
                bundle: placeholder_bundle(),
                key_id: String::new(),
                bundle_sha256: crate::hexbytes::sha256(b""),
                signature: Vec::new(),
            },
            svg: String::new(),
        };
        let prepared = build_bundle(&f.input(), &f.key.key_id(), &rng).expect("build");
        f.sealed = seal(prepared.bundle, &f.key).expect("seal");
        f.svg = prepared.svg;
        f.chain
            .append(
                AuditKind::Sealed,
                T0 + 6000,
                &format!("bundle {}", f.sealed.bundle_sha256),
            )
            .expect("append");
        f.chain
            .append(AuditKind::Archived, T0 + 7000, "archived")
            .expect("append");
        f
    }

    pub fn input(&self) -> BundleInput<'_> {
        BundleInput {
            document: &self.document,
            form_data_canonical: &self.form,
            signature: &self.signature,
            signer_name: "Ana Example",
            escrow_key: &self.escrow_public,
            server_received_at_ms: T0 + 4500,
            sealed_at_ms: T0 + 5500,
            audit: &self.pre_seal_chain,
        }
    }
}

/// The typed-name record of the fixture (allowed, declared).
pub(crate) fn typed_name() -> TypedNameEvidence {
    TypedNameEvidence {
        text: "Ana Example".into(),
        declaration: "I declare that typing my name here is my signature on this document.".into(),
        declaration_language: "en".into(),
        declaration_accepted: true,
        allowed_by_request: true,
        client_typing_started_at_ms: Some(T0 + 2100),
        client_typing_ended_at_ms: Some(T0 + 3900),
        user_agent: Some("Mozilla/5.0 (Test)".into()),
    }
}

impl Fixture {
    /// The fixture's ceremony signed with a typed name instead: `edit` changes the record
    /// before it is sealed (sealed as given, even where the builder would refuse it).
    pub fn typed_sealed(&self, edit: impl FnOnce(&mut TypedNameEvidence)) -> SealedBundle {
        let allowed = typed_name();
        let mut bundle = build_typed_name_bundle(
            &TypedNameInput {
                document: &self.document,
                form_data_canonical: &self.form,
                typed_name: &allowed,
                signer_name: "Ana Example",
                server_received_at_ms: T0 + 4500,
                sealed_at_ms: T0 + 5500,
                audit: &self.pre_seal_chain,
            },
            &self.key.key_id(),
        )
        .expect("build typed");
        if let Some(t) = bundle.typed_name.as_mut() {
            edit(t);
        }
        seal(bundle, &self.key).expect("seal")
    }
}

fn placeholder_bundle() -> crate::bundle::EvidenceBundle {
    use crate::bundle::{CaptureContext, EvidenceBundle};
    use crate::escrow::Envelope;
    let zero = crate::hexbytes::Digest::from_bytes([0; 32]);
    EvidenceBundle {
        version: 0,
        key_id: String::new(),
        document_sha256: zero,
        form_data_sha256: zero,
        binding_sha256: zero,
        time_series_format: Some(String::new()),
        biometric_envelope: Some(Envelope {
            version: 0,
            recipient_key_id: String::new(),
            ephemeral_public: [0; 32],
            nonce: [0; 12],
            ciphertext: Vec::new(),
        }),
        image_sha256: Some(zero),
        signer_name: String::new(),
        capture_context: Some(CaptureContext {
            user_agent: None,
            pointer_types: Vec::new(),
            declared_pointer_types: Vec::new(),
            canvas_width: 0.0,
            canvas_height: 0.0,
            pixel_ratio: None,
            client_started_at_ms: None,
            stroke_count: 0,
            point_count: 0,
        }),
        server_received_at_ms: 0,
        sealed_at_ms: 0,
        method: None,
        typed_name: None,
        audit_head: zero,
        audit_event_count: 0,
    }
}
