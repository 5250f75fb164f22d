//! The evidence file (`FORMAT.md` §9): everything besides the document bytes that is needed
//! to verify a signature anywhere, read strictly part by part.
//!
//! ```json
//! {"audit": {"events": [{"at_ms", "detail", "hash", "kind", "prev_hash", "seq"}, …],
//!            "genesis": hex},
//!  "form_data": {"name": "value", …},
//!  "format": "confidant-signature-evidence/1",
//!  "image_svg": "<svg …>",
//!  "request_id": "…",
//!  "seal_timestamp": {"token": b64},
//!  "sealed": {sealed bundle}}
//! ```
//!
//! A fault in the file's own members (`format`, an unknown member, a duplicated `format`) means
//! the bytes are not an evidence file: [`verify_file`] returns `Err`. A fault inside (or a
//! duplicate of) `sealed`, `form_data`, `audit`/`request_id`, `image_svg` or `seal_timestamp`
//! is that part not
//! being what was sealed, and fails at the part's step of [`crate::verify`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::AuditChain;
use crate::bundle::{SealedBundle, VerifyingKey};
use crate::canonical::form_data_canonical;
use crate::strict::{self, is_under, Read, StrictError, StrictFault};
use crate::timestamp::{SealTimestamp, TsaTrust};
use crate::verify::{verify_parts, Parts, Verification};

/// `format` of an evidence file.
pub const EVIDENCE_FORMAT: &str = "confidant-signature-evidence/1";

/// The parts of the file and the path each is at.
const SEALED: &str = "sealed";
const FORM_DATA: &str = "form_data";
const AUDIT: &str = "audit";
const REQUEST_ID: &str = "request_id";
const IMAGE: &str = "image_svg";
const TIMESTAMP: &str = "seal_timestamp";

/// The file's own members; the parts are checked separately.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shell {
    format: String,
    request_id: Value,
    sealed: Value,
    form_data: Value,
    audit: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image_svg: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal_timestamp: Option<Value>,
}

/// Read a part: a fault under its path (a duplicated key inside it, or the part's own key
/// twice), else its typed reading.
fn part<T: serde::de::DeserializeOwned + Serialize>(
    read: &Read,
    value: &Value,
    path: &str,
) -> Result<T, StrictError> {
    match read.fault_under(path) {
        Some(fault) => Err(fault.clone()),
        None => strict::typed(value, path),
    }
}

/// Verify `document` against the evidence file in `bytes`. `Err` when the bytes are not an
/// evidence file (syntax, a fault in the file's own members, another `format`). A seal
/// time-stamp's TSA certificate chain is checked against `tsa` when given.
pub fn verify_file(
    bytes: &[u8],
    document: &[u8],
    trusted: &[VerifyingKey],
    tsa: Option<&TsaTrust>,
) -> Result<Verification, StrictError> {
    verify_read(&strict::read(bytes)?, document, trusted, tsa)
}

/// [`verify_file`] over an already [`strict::read`] file (paths relative to the file).
pub fn verify_read(
    read: &Read,
    document: &[u8],
    trusted: &[VerifyingKey],
    tsa: Option<&TsaTrust>,
) -> Result<Verification, StrictError> {
    if let Some(fault) = read.faults.iter().find(|f| {
        ![SEALED, FORM_DATA, AUDIT, REQUEST_ID, IMAGE, TIMESTAMP]
            .iter()
            .any(|p| is_under(&f.path, p))
    }) {
        return Err(fault.clone());
    }
    let shell: Shell =
        serde_path_to_error::deserialize(&read.value).map_err(|e| strict::typed_error(&e, ""))?;
    if shell.format != EVIDENCE_FORMAT {
        return Err(StrictError {
            fault: StrictFault::InvalidValue,
            path: "format".into(),
            message: format!("expected {EVIDENCE_FORMAT}"),
        });
    }
    let sealed = part::<SealedBundle>(read, &shell.sealed, SEALED);
    let form_data_canonical = part::<BTreeMap<String, String>>(read, &shell.form_data, FORM_DATA)
        .map(|m| form_data_canonical(&m));
    let audit = part::<AuditChain>(read, &shell.audit, AUDIT);
    let audit_context = Some(part::<String>(read, &shell.request_id, REQUEST_ID));
    let image_svg = shell
        .image_svg
        .as_ref()
        .map(|v| part::<String>(read, v, IMAGE).map(String::into_bytes));
    let seal_timestamp = shell
        .seal_timestamp
        .as_ref()
        .map(|v| part::<SealTimestamp>(read, v, TIMESTAMP).map(|t| t.token));
    Ok(verify_parts(
        &Parts {
            document,
            sealed,
            form_data_canonical,
            audit,
            audit_context,
            image_svg,
            seal_timestamp,
            tsa_trust: tsa,
        },
        trusted,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditKind, ChainError, ChainFault};
    use crate::canonical::to_canonical_json;
    use crate::testkit::Fixture;
    use crate::verify::{EvidencePart, InvalidReason};
    use serde_json::json;

    const REQUEST_ID: &str = "ceremony-0001";

    fn file_value(f: &Fixture, chain: &AuditChain) -> Value {
        json!({
            "format": EVIDENCE_FORMAT,
            "request_id": REQUEST_ID,
            "sealed": serde_json::to_value(&f.sealed).expect("sealed"),
            "form_data": serde_json::to_value(&f.form_fields).expect("form"),
            "audit": serde_json::to_value(chain).expect("audit"),
            "image_svg": f.svg,
        })
    }

    fn text_of(value: &Value) -> String {
        String::from_utf8(to_canonical_json(value).expect("json")).expect("utf8")
    }

    fn file_text(f: &Fixture) -> String {
        text_of(&file_value(f, &f.chain))
    }

    fn run(f: &Fixture, text: &str) -> Result<Verification, StrictError> {
        verify_file(text.as_bytes(), &f.document, &[f.key.verifying_key()], None)
    }

    fn malformed(v: Result<Verification, StrictError>) -> (EvidencePart, StrictFault, String) {
        match v {
            Ok(Verification::Invalid(InvalidReason::Malformed { part, error })) => {
                (part, error.fault, error.path)
            }
            other => panic!("expected a malformed part, got {other:?}"),
        }
    }

    /// Inserts `extra` right after the first occurrence of `anchor`.
    fn inject(text: &str, anchor: &str, extra: &str) -> String {
        let i = text.find(anchor).expect("anchor") + anchor.len();
        format!("{}{extra}{}", &text[..i], &text[i..])
    }

    #[test]
    fn genuine_evidence_file_verifies() {
        let f = Fixture::new();
        match run(&f, &file_text(&f)).expect("evidence") {
            Verification::Valid(v) => {
                assert_eq!(v.signer_name, "Ana Example");
                assert_eq!(v.audit_head, f.sealed.bundle.audit_head);
                assert_eq!(
                    v.events_after_seal,
                    vec![AuditKind::Sealed, AuditKind::Archived]
                );
            }
            other => panic!("{other:?}"),
        }
        // Pretty-printed, the same content still verifies.
        let pretty = serde_json::to_string_pretty(&file_value(&f, &f.chain)).expect("pretty");
        assert!(run(&f, &pretty).expect("evidence").is_valid());
    }

    #[test]
    fn duplicate_signer_name_in_the_sealed_bundle_is_bundle_changed() {
        let f = Fixture::new();
        // The attack from the issue: a second name after the sealed one (last one wins in
        // serde_json, the first in other parsers).
        let text = inject(
            &file_text(&f),
            r#""signer_name":"Ana Example""#,
            r#","signer_name":"Eve""#,
        );
        assert_eq!(
            malformed(run(&f, &text)),
            (
                EvidencePart::Sealed,
                StrictFault::DuplicateKey,
                "sealed.bundle.signer_name".into()
            )
        );
        let before = inject(&file_text(&f), r#""signature":"#, "");
        assert!(run(&f, &before).expect("evidence").is_valid());
    }

    #[test]
    fn duplicate_form_field_is_form_data_changed() {
        let f = Fixture::new();
        let text = inject(
            &file_text(&f),
            r#""form_data":{"#,
            r#""client_name":"Eve","#,
        );
        let v = run(&f, &text);
        assert_eq!(
            malformed(v.clone()),
            (
                EvidencePart::FormData,
                StrictFault::DuplicateKey,
                "form_data.client_name".into()
            )
        );
        assert_eq!(
            v.expect("evidence").reason().map(InvalidReason::code),
            Some("form_data_changed")
        );
        // Not a map of strings: refused by type, same step.
        let mut value = file_value(&f, &f.chain);
        value["form_data"]["age"] = json!(34);
        let text = text_of(&value);
        assert_eq!(malformed(run(&f, &text)).0, EvidencePart::FormData);
    }

    #[test]
    fn malformed_audit_events_are_chain_broken_at_their_index() {
        let f = Fixture::new();
        let text = file_text(&f);
        // A duplicated `detail` in event 2.
        let events: Vec<usize> = text
            .match_indices(r#""detail":"step""#)
            .map(|(i, _)| i)
            .collect();
        let at = events[2] + r#""detail":"step""#.len();
        let dup = format!("{},\"detail\":\"other\"{}", &text[..at], &text[at..]);
        let v = run(&f, &dup).expect("evidence");
        let reason = v.reason().expect("invalid");
        assert_eq!(reason.code(), "chain_broken");
        assert_eq!(reason.chain_position(), Some((2, "malformed")));
        // A time written as a float.
        let t = text.replacen(r#""at_ms":1750000001000"#, r#""at_ms":1.750000001e12"#, 1);
        assert_ne!(t, text, "fixture time changed");
        let (part, fault, path) = malformed(run(&f, &t));
        assert_eq!(part, EvidencePart::Audit);
        assert_eq!(fault, StrictFault::NonCanonicalNumber);
        assert_eq!(path, "audit.events[1].at_ms");
        // An unknown kind name.
        let k = text.replacen(r#""kind":"consent_given""#, r#""kind":"Consent_Given""#, 1);
        assert_eq!(malformed(run(&f, &k)).1, StrictFault::InvalidValue);
    }

    #[test]
    fn wrong_case_wrong_length_and_float_spelling_in_the_bundle_are_bundle_changed() {
        let f = Fixture::new();
        let text = file_text(&f);
        let key_id = f.key.key_id();
        let upper = text.replacen(
            &format!(r#""key_id":"{key_id}""#),
            &format!(r#""key_id":"{}""#, key_id.to_uppercase()),
            1,
        );
        assert_eq!(malformed(run(&f, &upper)).1, StrictFault::InvalidValue);
        // The canvas width is a float: `400` instead of `400.0` is another spelling.
        assert!(text.contains(r#""canvas_width":400.0"#));
        let int = text.replacen(r#""canvas_width":400.0"#, r#""canvas_width":400"#, 1);
        assert_eq!(
            malformed(run(&f, &int)),
            (
                EvidencePart::Sealed,
                StrictFault::NotCanonical,
                "sealed.bundle.capture_context.canvas_width".into()
            )
        );
        let exp = text.replacen(r#""canvas_width":400.0"#, r#""canvas_width":4e2"#, 1);
        assert_eq!(malformed(run(&f, &exp)).1, StrictFault::NonCanonicalNumber);
    }

    #[test]
    fn a_file_that_is_not_evidence_is_refused_with_its_fault() {
        let f = Fixture::new();
        let text = file_text(&f);
        let dup = inject(&text, "{", r#""format":"confidant-signature-evidence/1","#);
        assert_eq!(
            run(&f, &dup).expect_err("dup").fault,
            StrictFault::DuplicateKey
        );
        let unknown = inject(&text, "{", r#""note":"x","#);
        assert_eq!(
            run(&f, &unknown).expect_err("unknown").fault,
            StrictFault::UnknownField
        );
        let other = text.replace(EVIDENCE_FORMAT, "confidant-signature-evidence/2");
        assert_eq!(run(&f, &other).expect_err("format").path, "format");
        assert_eq!(
            run(&f, "[]").expect_err("array").fault,
            StrictFault::InvalidValue
        );
    }

    #[test]
    fn changed_request_id_breaks_the_chain_at_genesis() {
        let f = Fixture::new();
        let text = file_text(&f).replace(REQUEST_ID, "ceremony-0002");
        assert_eq!(
            run(&f, &text).expect("evidence").reason(),
            Some(&InvalidReason::ChainBroken(ChainError {
                index: 0,
                fault: ChainFault::GenesisMismatch
            }))
        );
        // A whole chain rebuilt for the new id cannot reach the sealed head.
        let mut forged = AuditChain::new("ceremony-0002");
        for e in f.chain.events() {
            forged.append(e.kind, e.at_ms, &e.detail).expect("append");
        }
        let mut value = file_value(&f, &forged);
        value["request_id"] = json!("ceremony-0002");
        let text = text_of(&value);
        assert!(matches!(
            run(&f, &text).expect("evidence").reason(),
            Some(InvalidReason::ChainBroken(ChainError {
                fault: ChainFault::HeadMismatch,
                ..
            }))
        ));
    }

    #[test]
    fn post_seal_events_are_reported_as_outside_the_seal() {
        let f = Fixture::new();
        let valid_after = |chain: &AuditChain| {
            let value = file_value(&f, chain);
            let text = text_of(&value);
            match run(&f, &text).expect("evidence") {
                Verification::Valid(v) => {
                    assert_eq!(
                        v.audit_head, f.sealed.bundle.audit_head,
                        "sealed head shown"
                    );
                    v.events_after_seal
                }
                other => panic!("{other:?}"),
            }
        };
        // Dropped: still consistent with the seal, and nothing is listed after it.
        let dropped = AuditChain::from_parts(f.chain.genesis(), f.chain.events()[..5].to_vec());
        assert_eq!(valid_after(&dropped), Vec::<AuditKind>::new());
        // Appended: listed, never counted as sealed.
        let mut appended = f.chain.clone();
        appended
            .append(AuditKind::Archived, 1_750_000_009_000, "forged")
            .expect("append");
        assert_eq!(
            valid_after(&appended),
            vec![AuditKind::Sealed, AuditKind::Archived, AuditKind::Archived]
        );
        // A ceremony kind after the seal cannot be: chain_broken at that event.
        let mut forged = f.chain.clone();
        forged
            .append(AuditKind::ConsentGiven, 1_750_000_009_000, "late")
            .expect("append");
        let value = file_value(&f, &forged);
        let text = text_of(&value);
        assert_eq!(
            run(&f, &text).expect("evidence").reason(),
            Some(&InvalidReason::ChainBroken(ChainError {
                index: 7,
                fault: ChainFault::KindAfterSeal
            }))
        );
    }
}
