//! RFC 3161 time-stamps against a real authority: `openssl ts -reply` with a throwaway CA and
//! TSA certificate (made by `tools/local_tsa.py --init-only`), and `openssl ts -verify` as an
//! independent check of the tokens this crate accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use confidant_signature::sha256;
use confidant_signature::timestamp::{
    accept_response, request, seal_imprint, verify_token, TimestampFault, TsaChain, TsaTrust,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A CA + TSA made by the test TSA script in `dir`.
fn tsa(dir: &Path) {
    tsa_with_precision(dir, 0);
}

/// The same with `digits` digits of the second in `genTime`.
fn tsa_with_precision(dir: &Path, digits: u8) {
    let ok = Command::new("python3")
        .arg(root().join("tools/local_tsa.py"))
        .args(["--init-only", "--precision", &digits.to_string(), "--dir"])
        .arg(dir)
        .status()
        .expect("python3 runs");
    assert!(ok.success(), "local_tsa.py --init-only");
}

/// `openssl ts -reply` for the request bytes: the TSA's response bytes.
fn reply(dir: &Path, query: &[u8]) -> Vec<u8> {
    let q = dir.join("q.tsq");
    let r = dir.join("r.tsr");
    std::fs::write(&q, query).expect("write query");
    let out = Command::new("openssl")
        .args(["ts", "-reply", "-config"])
        .arg(dir.join("tsa.cnf"))
        .arg("-queryfile")
        .arg(&q)
        .arg("-out")
        .arg(&r)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&r).expect("response")
}

/// `openssl ts -verify -digest HEX -in TOKEN -token_in -CAfile CA`: does it accept?
fn openssl_verifies(dir: &Path, token: &[u8], imprint_hex: &str, ca: &Path) -> bool {
    let t = dir.join("token.der");
    std::fs::write(&t, token).expect("write token");
    Command::new("openssl")
        .args(["ts", "-verify", "-digest", imprint_hex, "-token_in", "-in"])
        .arg(&t)
        .arg("-CAfile")
        .arg(ca)
        .output()
        .expect("openssl runs")
        .status
        .success()
}

fn trust(dir: &Path) -> TsaTrust {
    TsaTrust::from_pem_or_der(&std::fs::read(dir.join("ca.pem")).expect("ca")).expect("trust")
}

#[test]
fn token_from_openssl_tsa_is_accepted_here_and_by_openssl_ts_verify() {
    let d = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    let imprint = seal_imprint(&[7u8; 64]);
    let req = request(&imprint, *b"\x01\x02\x03\x04\x05\x06\x07\x08");
    let (token, stamp) =
        accept_response(&reply(d.path(), &req.der), &req, Some(&trust(d.path()))).expect("ok");
    assert_eq!(stamp.chain, TsaChain::Verified);
    assert_eq!(stamp.policy, "1.2.3.4.1");
    assert_eq!(stamp.tsa_subject, "CN=Confidant test TSA");
    assert!(stamp.gen_time_ms > 1_700_000_000_000);
    // The stored token verifies on its own, and openssl agrees.
    let again = verify_token(&token, &imprint, Some(&trust(d.path()))).expect("verifies");
    assert_eq!(again, stamp);
    assert!(openssl_verifies(
        d.path(),
        &token,
        &imprint.to_hex(),
        &d.path().join("ca.pem")
    ));
    // Without trust anchors everything but the chain is checked.
    assert_eq!(
        verify_token(&token, &imprint, None).expect("ok").chain,
        TsaChain::NotChecked
    );
}

#[test]
fn gen_time_with_fractions_of_a_second_is_read_to_the_millisecond() {
    let d = tempfile::tempdir().expect("tmp");
    tsa_with_precision(d.path(), 3);
    let imprint = seal_imprint(&[8u8; 64]);
    let req = request(&imprint, [6; 8]);
    let (token, stamp) =
        accept_response(&reply(d.path(), &req.der), &req, Some(&trust(d.path()))).expect("ok");
    // openssl prints genTime with its fraction; the stamp has the same instant in ms.
    let t = d.path().join("token.der");
    std::fs::write(&t, &token).expect("write");
    let text = Command::new("openssl")
        .args(["ts", "-reply", "-token_in", "-token_out", "-text", "-in"])
        .arg(&t)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("Time stamp:"))
        .expect("a time stamp line");
    // e.g. "Time stamp: Dec  7 15:13:55.123 2026 GMT" (trailing zeros dropped)
    let frac = line
        .split_once('.')
        .map(|(_, r)| r.split(' ').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let ms: i64 = format!("{frac:0<3}").parse().expect("digits");
    assert_eq!(stamp.gen_time_ms % 1000, ms, "{line}");
    assert!(openssl_verifies(
        d.path(),
        &token,
        &imprint.to_hex(),
        &d.path().join("ca.pem")
    ));
}

#[test]
fn token_for_another_seal_is_imprint_mismatch_and_openssl_refuses_it_too() {
    let d = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    let old = seal_imprint(&[1u8; 64]);
    let req = request(&old, [9; 8]);
    let (token, _) =
        accept_response(&reply(d.path(), &req.der), &req, Some(&trust(d.path()))).expect("ok");
    // The evidence was re-sealed: a new signature, the old token kept.
    let resealed = seal_imprint(&[2u8; 64]);
    let e = verify_token(&token, &resealed, Some(&trust(d.path()))).expect_err("stale");
    assert_eq!(e.fault, TimestampFault::ImprintMismatch);
    assert!(!openssl_verifies(
        d.path(),
        &token,
        &resealed.to_hex(),
        &d.path().join("ca.pem")
    ));
}

#[test]
fn token_from_a_tsa_under_another_ca_is_untrusted() {
    let d = tempfile::tempdir().expect("tmp");
    let other = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    tsa(other.path());
    let imprint = sha256(b"seal");
    let req = request(&imprint, [3; 8]);
    let e = accept_response(&reply(d.path(), &req.der), &req, Some(&trust(other.path())))
        .expect_err("other CA");
    assert_eq!(e.fault, TimestampFault::UntrustedTsa);
}

#[test]
fn response_with_another_nonce_is_refused() {
    let d = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    let imprint = sha256(b"seal");
    let sent = request(&imprint, [3; 8]);
    let expected = request(&imprint, [4; 8]);
    let e = accept_response(
        &reply(d.path(), &sent.der),
        &expected,
        Some(&trust(d.path())),
    )
    .expect_err("nonce");
    assert_eq!(e.fault, TimestampFault::NonceMismatch);
}

#[test]
fn every_single_byte_change_of_a_token_is_refused_with_a_reason_never_a_panic() {
    let d = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    let imprint = sha256(b"seal");
    let req = request(&imprint, [5; 8]);
    let t = trust(d.path());
    let (token, _) = accept_response(&reply(d.path(), &req.der), &req, Some(&t)).expect("ok");
    // The CA certificate the TSA adds (`certs` in its config) is not what is trusted (the
    // anchors are the verifier's own), so its bytes may change as long as they stay DER.
    let ca_der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(d.path().join("ca.pem"))
        .output()
        .expect("openssl")
        .stdout;
    let ca_at = token
        .windows(ca_der.len())
        .position(|w| w == ca_der.as_slice())
        .expect("the CA certificate is in the token");
    let mut accepted = Vec::new();
    for i in 0..token.len() {
        let mut bad = token.clone();
        bad[i] ^= 0x01;
        let outcome = verify_token(&bad, &imprint, Some(&t));
        if !(ca_at..ca_at + ca_der.len()).contains(&i) && outcome.is_ok() {
            accepted.push(i);
        }
        assert!(verify_token(&token[..i], &imprint, Some(&t)).is_err());
    }
    assert!(
        accepted.is_empty(),
        "changed and still accepted: bytes {accepted:?}"
    );
}

#[test]
fn fuzz_seeds_and_their_single_byte_changes_never_panic() {
    let seeds = root().join("fuzz/corpus/signature_timestamp");
    let mut n = 0;
    for entry in std::fs::read_dir(seeds).expect("seeds") {
        let seed = std::fs::read(entry.expect("entry").path()).expect("seed");
        for i in 0..seed.len() {
            for bit in [0x01, 0x80] {
                let mut bad = seed.clone();
                bad[i] ^= bit;
                confidant_signature::timestamp::fuzz_timestamp(&bad);
            }
            confidant_signature::timestamp::fuzz_timestamp(&seed[..i]);
        }
        confidant_signature::timestamp::fuzz_timestamp(&seed);
        n += 1;
    }
    assert_eq!(n, 2, "the token and the response seed");
}

/// Two TSA certificates for the same key with the same issuer and serial number but another
/// subject (what ESS signingCertificate guards against): a token made under one, with the
/// other put in its place, still verifies by signature and signer identifier, but its ESS
/// attribute names the first certificate.
#[test]
fn a_substituted_signer_certificate_is_certificate_mismatch() {
    let d = tempfile::tempdir().expect("tmp");
    tsa(d.path());
    let p = d.path();
    let made = Command::new("python3")
        .arg(root().join("tools/local_tsa.py"))
        .args(["--init-only", "--substitution-pair", "--dir"])
        .arg(p)
        .status()
        .expect("python3 runs");
    assert!(made.success(), "local_tsa.py --substitution-pair");
    // The TSA signs as B.
    std::fs::copy(p.join("tsa-b.cnf"), p.join("tsa.cnf")).expect("cnf");
    let imprint = sha256(b"seal");
    let req = request(&imprint, [7; 8]);
    let t = trust(p);
    let (token, _) = accept_response(&reply(p, &req.der), &req, Some(&t)).expect("B's token");
    let a = std::fs::read(p.join("A.der")).expect("A");
    let b = std::fs::read(p.join("B.der")).expect("B");
    assert_eq!(a.len(), b.len());
    let at = token
        .windows(b.len())
        .position(|w| w == b.as_slice())
        .expect("B is in the token");
    let mut swapped = token.clone();
    swapped[at..at + a.len()].copy_from_slice(&a);
    let e = verify_token(&swapped, &imprint, Some(&t)).expect_err("substituted");
    assert_eq!(e.fault, TimestampFault::CertificateMismatch, "{e}");
    // openssl refuses it as well.
    assert!(!openssl_verifies(
        p,
        &swapped,
        &imprint.to_hex(),
        &p.join("ca.pem")
    ));
    assert!(openssl_verifies(
        p,
        &token,
        &imprint.to_hex(),
        &p.join("ca.pem")
    ));
}
