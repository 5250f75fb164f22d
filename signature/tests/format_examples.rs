//! The worked examples of `FORMAT.md`: every value printed there is computed here, so the
//! document and the code cannot drift apart.

use std::collections::BTreeMap;

use confidant_signature::audit::{genesis_hash, AuditChain, AuditKind};
use confidant_signature::bundle::{binding_hash, SealingKey};
use confidant_signature::canonical::{f64_text, form_data_canonical, to_canonical_json};
use confidant_signature::sha256;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const PKCS8_V1_ED25519_PREFIX: &str = "302e020100300506032b657004220420";

fn example_key() -> SealingKey {
    let mut pkcs8 = hex::decode(PKCS8_V1_ED25519_PREFIX).unwrap();
    pkcs8.extend_from_slice(&[1u8; 32]);
    SealingKey::from_pkcs8(&pkcs8).unwrap()
}

fn examples() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut form = BTreeMap::new();
    form.insert("name".to_owned(), "Ana Müller".to_owned());
    form.insert("age".to_owned(), "34".to_owned());
    let form_bytes = form_data_canonical(&form);
    out.push((
        "form_data_canonical",
        String::from_utf8(form_bytes.clone()).unwrap(),
    ));
    out.push(("form_data_sha256", sha256(&form_bytes).to_hex()));
    let document = b"<p>Hello</p>\n";
    out.push(("document_sha256", sha256(document).to_hex()));
    out.push((
        "binding_sha256",
        binding_hash(&sha256(document), &sha256(&form_bytes)).to_hex(),
    ));
    out.push((
        "genesis(ceremony-0001)",
        genesis_hash("ceremony-0001").to_hex(),
    ));
    let mut chain = AuditChain::new("ceremony-0001");
    chain
        .append(
            AuditKind::DocumentShown,
            1_750_000_000_000,
            "document shown",
        )
        .unwrap();
    out.push(("event0.hash", chain.head().to_hex()));
    out.push((
        "event0.json",
        String::from_utf8(to_canonical_json(&chain.events()[0]).unwrap()).unwrap(),
    ));
    let key = example_key();
    out.push(("public_key", hex::encode(key.verifying_key().as_bytes())));
    out.push(("key_id", key.key_id()));
    let canonical = to_canonical_json(&serde_json::json!({
        "b": 400.0, "a": [1, -2, 0.1, 1e-7, 1.25e16], "s": "é\u{1f}\"\\/\n"
    }))
    .unwrap();
    out.push(("canonical", String::from_utf8(canonical).unwrap()));
    out.push(("f64 400", f64_text(400.0)));
    out
}

#[test]
fn worked_examples_in_format_md_hold() {
    let expected = [
        ("form_data_canonical", r#"{"age":"34","name":"Ana Müller"}"#),
        (
            "form_data_sha256",
            "db36f816492827699fd953540656f03c39366ae4f51626be8c40b4dec1358202",
        ),
        (
            "document_sha256",
            "3e9b68b71cc667168399f0bccfb64b2d16314cdc0ed78fac4819aba0dda121a0",
        ),
        (
            "binding_sha256",
            "4adb058f1ed871fd5bf7b3d8d809370aa9ee1d34a63c672c6d4ad25b9cb2b025",
        ),
        (
            "genesis(ceremony-0001)",
            "7025370dd6ff15c6ff527e904f4f150a82113b3375f611ec838f53db719ecf4a",
        ),
        (
            "event0.hash",
            "3d463fb619d12ba193aea0d9d62e8cc58626def9e786271f3ac4804a44ea4dce",
        ),
        (
            "event0.json",
            r#"{"at_ms":1750000000000,"detail":"document shown","hash":"3d463fb619d12ba193aea0d9d62e8cc58626def9e786271f3ac4804a44ea4dce","kind":"document_shown","prev_hash":"7025370dd6ff15c6ff527e904f4f150a82113b3375f611ec838f53db719ecf4a","seq":0}"#,
        ),
        (
            "public_key",
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
        ),
        ("key_id", "34750f98bd59fcfc"),
        (
            "canonical",
            r#"{"a":[1,-2,0.1,1e-7,1.25e+16],"b":400.0,"s":"é\u001f\"\\/\n"}"#,
        ),
        ("f64 400", "400.0"),
    ];
    let got = examples();
    assert_eq!(got.len(), expected.len());
    for ((name, value), (want_name, want)) in got.iter().zip(expected) {
        assert_eq!(*name, want_name);
        assert_eq!(value, want, "{name}");
    }
    // The FORMAT.md text carries the same values.
    let doc = include_str!("../FORMAT.md");
    for (name, want) in expected {
        assert!(
            doc.contains(want),
            "FORMAT.md lacks the {name} example {want}"
        );
    }
}
