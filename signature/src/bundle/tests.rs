//! Tests of building, sealing and opening evidence bundles (with the shared test kit, which
//! builds on this module: so they live in a file of their own, not inline).

use super::*;
use crate::testkit::{Fixture, T0};

#[test]
fn build_rejects_missing_ceremony_and_bad_names() {
    let f = Fixture::new();
    let rng = ring::rand::SystemRandom::new();
    let mut chain = AuditChain::new("c");
    chain
        .append(AuditKind::DocumentShown, 1, "")
        .expect("append");
    let input = BundleInput {
        audit: &chain,
        ..f.input()
    };
    assert_eq!(
        build_bundle(&input, &f.key.key_id(), &rng).map(|_| ()),
        Err(BundleError::CeremonyIncomplete(AuditKind::ConsentGiven))
    );
    for (name, why) in [("  ", "empty"), ("a\u{7}b", "control characters")] {
        let input = BundleInput {
            signer_name: name,
            ..f.input()
        };
        assert_eq!(
            build_bundle(&input, &f.key.key_id(), &rng).map(|_| ()),
            Err(BundleError::SignerName(why))
        );
    }
    let long = "x".repeat(300);
    let input = BundleInput {
        signer_name: &long,
        ..f.input()
    };
    assert!(build_bundle(&input, &f.key.key_id(), &rng).is_err());
    let input = BundleInput {
        sealed_at_ms: 0,
        ..f.input()
    };
    assert_eq!(
        build_bundle(&input, &f.key.key_id(), &rng).map(|_| ()),
        Err(BundleError::TimeOrder)
    );
}

#[test]
fn seal_refuses_a_bundle_naming_another_key() {
    let f = Fixture::new();
    let mut b = f.sealed.bundle.clone();
    b.key_id = "0000000000000000".into();
    assert!(matches!(
        seal(b, &f.key),
        Err(BundleError::KeyMismatch { .. })
    ));
}

#[test]
fn bundle_fields_are_as_specified() {
    let f = Fixture::new();
    let b = &f.sealed.bundle;
    assert_eq!(b.document_sha256, sha256(&f.document));
    assert_eq!(b.form_data_sha256, sha256(&f.form));
    assert_eq!(
        b.binding_sha256,
        binding_hash(&b.document_sha256, &b.form_data_sha256)
    );
    assert_eq!(b.image_sha256, Some(sha256(f.svg.as_bytes())));
    assert_eq!(b.audit_event_count, 5);
    assert_eq!(b.key_id.len(), 16);
    assert_eq!(f.sealed.bundle_sha256, b.digest().expect("digest"));
    assert_eq!(f.sealed.signature.len(), 64);
    let json = f.sealed.to_json().expect("json");
    assert_eq!(SealedBundle::from_json(&json).expect("parse"), f.sealed);
    // Canonical: keys sorted, no whitespace.
    let text = String::from_utf8(json).expect("utf8");
    assert!(text.starts_with(r#"{"bundle":{"audit_event_count":5,"audit_head":""#));
    assert!(!text.contains(": ") && !text.contains('\n'));
}

#[test]
fn escrow_tool_recovers_the_time_series_bound_to_the_document() {
    let f = Fixture::new();
    let plain = f
        .sealed
        .bundle
        .open_biometrics(&f.escrow_secret)
        .expect("open");
    assert_eq!(plain, format::encode(&f.signature).expect("encode"));
    let decoded = format::decode(&plain).expect("decode");
    assert_eq!(decoded.strokes.len(), f.signature.strokes().len());
    // Moving the envelope to a bundle for another document fails.
    let mut other = f.sealed.bundle.clone();
    other.binding_sha256 = binding_hash(&sha256(b"other"), &other.form_data_sha256);
    assert_eq!(
        other.open_biometrics(&f.escrow_secret),
        Err(EscrowError::Decrypt)
    );
}

#[test]
fn pkcs8_round_trip_and_key_id() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = SealingKey::generate_pkcs8(&rng).expect("generate");
    let a = SealingKey::from_pkcs8(&pkcs8).expect("load");
    let b = SealingKey::from_pkcs8(&pkcs8).expect("load");
    assert_eq!(a.key_id(), b.key_id());
    assert_eq!(
        a.key_id(),
        hex::encode(&sha256(a.verifying_key().as_bytes()).as_bytes()[..8])
    );
    assert!(SealingKey::from_pkcs8(b"not a key").is_err());
}

#[test]
fn typed_name_bundle_is_refused_unless_allowed_and_declared() {
    use crate::bundle::{build_typed_name_bundle, TypedNameInput};
    let f = Fixture::new();
    type Edit = fn(&mut TypedNameEvidence);
    let edits: [(&str, Edit); 5] = [
        ("allowed_by_request", |t| t.allowed_by_request = false),
        ("declaration_accepted", |t| t.declaration_accepted = false),
        ("declaration_accepted", |t| t.declaration = String::new()),
        ("text", |t| t.text = " Ana".into()),
        ("declaration_language", |t| {
            t.declaration_language = "e n".into()
        }),
    ];
    for (field, edit) in edits {
        let mut typed = crate::testkit::typed_name();
        edit(&mut typed);
        let got = build_typed_name_bundle(
            &TypedNameInput {
                document: &f.document,
                form_data_canonical: &f.form,
                typed_name: &typed,
                signer_name: "Ana Example",
                server_received_at_ms: T0 + 4500,
                sealed_at_ms: T0 + 5500,
                audit: &f.pre_seal_chain,
            },
            &f.key.key_id(),
        );
        assert!(
            matches!(got, Err(BundleError::TypedName { field: got, .. }) if got == field),
            "{field}: {got:?}"
        );
    }
}

#[test]
fn typed_name_bundle_has_no_strokes_to_open() {
    let f = Fixture::new();
    let typed = f.typed_sealed(|_| {});
    assert_eq!(
        typed.bundle.open_biometrics(&f.escrow_secret),
        Err(EscrowError::NoEnvelope)
    );
    // It reads back strictly as written.
    let json = typed.to_json().expect("json");
    assert_eq!(SealedBundle::from_json(&json).expect("parse"), typed);
}
