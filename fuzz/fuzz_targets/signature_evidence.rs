//! Signature: an evidence file's parts as `confidant signature verify` / `escrow-open` read
//! them, against a genuine sealed ceremony made once per process.
//!
//! The first byte picks what the rest of the input replaces: the sealed bundle JSON, the audit
//! chain JSON, the image SVG, or the sealed bundle JSON without an image (as a typed name's
//! evidence has none; a genuine typed-name seal, bundle version 2, is a seed too); everything
//! else stays genuine. Checks: `verify` never panics,
//! and says valid only for the genuine seal (bundle hash, key), chain head and image; opening
//! the biometric envelope of any sealed bundle that parses never panics, and whatever opens
//! decodes as CSIG.
//!
//! The ceremony is deterministic (fixed "randomness"), so genuine evidence can be a seed:
//! `CONFIDANT_FUZZ_WRITE_SEEDS=fuzz/corpus/signature_evidence` writes it there on start.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use confidant_signature::audit::{AuditChain, AuditKind};
use confidant_signature::bundle::{
    build_bundle, build_typed_name_bundle, seal, BundleInput, SealedBundle, SealingKey,
    TypedNameEvidence, TypedNameInput, VerifyingKey,
};
use confidant_signature::canonical::form_data_canonical;
use confidant_signature::escrow::generate_escrow_keypair;
use confidant_signature::verify::{verify, Evidence};
use confidant_signature::{format, submission};
use libfuzzer_sys::fuzz_target;

/// The chain's context (a request id), bound into its genesis and checked by `verify`.
const CONTEXT: &str = "ceremony-fuzz";
const T0: i64 = 1_750_000_000_000;

struct Genuine {
    document: Vec<u8>,
    form: Vec<u8>,
    chain: AuditChain,
    sealed: SealedBundle,
    sealed_json: Vec<u8>,
    typed: SealedBundle,
    typed_json: Vec<u8>,
    svg: String,
    trusted: Vec<VerifyingKey>,
    escrow_secret: [u8; 32],
}

fn genuine() -> &'static Genuine {
    static G: OnceLock<Genuine> = OnceLock::new();
    // Every `expect` below is on a fixed, known-good ceremony; a failure is a broken fixture.
    G.get_or_init(|| {
        // Deterministic keys, nonces and ephemeral keys: the same evidence in every process, so
        // the genuine parts can live in the seed corpus. Never do this outside a test.
        #[allow(deprecated)]
        let rng = ring::test::rand::FixedByteRandom { byte: 7 };
        let key =
            SealingKey::from_pkcs8(&SealingKey::generate_pkcs8(&rng).expect("gen")).expect("load");
        let (escrow_secret, escrow_public) = generate_escrow_keypair(&rng).expect("escrow");
        let document = b"%PDF-1.7\nConsent to counselling\n".to_vec();
        let mut fields = BTreeMap::new();
        fields.insert("client_name".to_owned(), "Ana Example".to_owned());
        let form = form_data_canonical(&fields);
        let pad = include_bytes!("../corpus/signature_submission/pen.json");
        let signature =
            submission::validate(&submission::parse(pad).expect("parse")).expect("valid");
        let mut chain = AuditChain::new(CONTEXT);
        for (i, kind) in AuditKind::CEREMONY_BEFORE_SEAL.into_iter().enumerate() {
            chain
                .append(kind, T0 + 1000 * i as i64, "step")
                .expect("append");
        }
        let input = BundleInput {
            document: &document,
            form_data_canonical: &form,
            signature: &signature,
            signer_name: "Ana Example",
            escrow_key: &escrow_public,
            server_received_at_ms: T0 + 4500,
            sealed_at_ms: T0 + 5500,
            audit: &chain,
        };
        let prepared = build_bundle(&input, &key.key_id(), &rng).expect("build");
        let sealed = seal(prepared.bundle, &key).expect("seal");
        let typed_name = TypedNameEvidence {
            text: "Ana Example".into(),
            declaration: "I declare that typing my name here is my signature on this document."
                .into(),
            declaration_language: "en".into(),
            declaration_accepted: true,
            allowed_by_request: true,
            client_typing_started_at_ms: Some(T0 + 2100),
            client_typing_ended_at_ms: None,
            user_agent: None,
        };
        let typed_bundle = build_typed_name_bundle(
            &TypedNameInput {
                document: &document,
                form_data_canonical: &form,
                typed_name: &typed_name,
                signer_name: "Ana Example",
                server_received_at_ms: T0 + 4500,
                sealed_at_ms: T0 + 5500,
                audit: &chain,
            },
            &key.key_id(),
        )
        .expect("build typed");
        let typed = seal(typed_bundle, &key).expect("seal typed");
        let typed_json = typed.to_json().expect("json");
        chain
            .append(AuditKind::Sealed, T0 + 6000, "sealed")
            .expect("append");
        chain
            .append(AuditKind::Archived, T0 + 7000, "archived")
            .expect("append");
        let sealed_json = sealed.to_json().expect("json");
        let g = Genuine {
            document,
            form,
            chain,
            sealed,
            sealed_json,
            typed,
            typed_json,
            svg: prepared.svg,
            trusted: vec![key.verifying_key()],
            escrow_secret,
        };
        let ok = verify(
            &Evidence {
                document: &g.document,
                form_data_canonical: &g.form,
                sealed_json: &g.sealed_json,
                audit: &g.chain,
                audit_context: Some(CONTEXT),
                image_svg: Some(g.svg.as_bytes()),
            },
            &g.trusted,
        );
        assert!(ok.is_valid(), "genuine evidence must verify: {ok:?}");
        if let Some(dir) = std::env::var_os("CONFIDANT_FUZZ_WRITE_SEEDS") {
            let dir = std::path::Path::new(&dir);
            let chain = serde_json::to_vec(&g.chain).expect("json");
            for (name, sel, part) in [
                ("genuine-bundle", 0u8, &g.sealed_json[..]),
                ("genuine-chain", 1, &chain[..]),
                ("genuine-svg", 2, g.svg.as_bytes()),
                ("genuine-typed-name", 3, &g.typed_json[..]),
            ] {
                let bytes: Vec<u8> = std::iter::once(sel).chain(part.iter().copied()).collect();
                std::fs::write(dir.join(name), bytes).expect("write seed");
            }
        }
        g
    })
}

fuzz_target!(|data: &[u8]| {
    let g = genuine();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut sealed_json: &[u8] = &g.sealed_json;
    let mut chain = g.chain.clone();
    let mut svg: Option<&[u8]> = Some(g.svg.as_bytes());
    match sel % 4 {
        0 => sealed_json = rest,
        1 => match serde_json::from_slice::<AuditChain>(rest) {
            Ok(c) => chain = c,
            Err(_) => return,
        },
        2 => svg = Some(rest),
        _ => {
            sealed_json = rest;
            svg = None;
        }
    }
    let v = verify(
        &Evidence {
            document: &g.document,
            form_data_canonical: &g.form,
            sealed_json,
            audit: &chain,
            audit_context: Some(CONTEXT),
            image_svg: svg,
        },
        &g.trusted,
    );
    if v.is_valid() {
        let sealed = SealedBundle::from_json(sealed_json).expect("a valid seal parses");
        assert!(
            sealed.bundle_sha256 == g.sealed.bundle_sha256
                || (svg.is_none() && sealed.bundle_sha256 == g.typed.bundle_sha256),
            "a forged bundle verified"
        );
        assert_eq!(sealed.key_id, g.sealed.key_id);
        assert_eq!(
            chain.head(),
            g.chain.head(),
            "a forged audit chain verified"
        );
        if let Some(svg) = svg {
            assert_eq!(svg, g.svg.as_bytes(), "a forged image verified");
        }
    }
    if let Ok(sealed) = SealedBundle::from_json(rest) {
        let _ = sealed.bundle.digest();
        if let Ok(plain) = sealed.bundle.open_biometrics(&g.escrow_secret) {
            // Only the genuine envelope (or one re-encrypted to our escrow key) opens.
            let series = format::decode(&plain).expect("an opened envelope holds CSIG");
            let _ = submission::validate(&series);
        }
    }
});
