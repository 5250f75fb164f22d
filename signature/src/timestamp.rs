//! RFC 3161 time-stamps on a seal (`FORMAT.md` §10): the request a server sends to a
//! time-stamping authority (TSA), the checks on its response, and the verification of a stored
//! token. Pure: no network, no clock; the caller sends the bytes and supplies the trust.
//!
//! What is time-stamped is the seal's signature: the message imprint is SHA-256 over the 64 raw
//! bytes of the Ed25519 signature (`sealed.signature`, §7). That signature covers the key id
//! and the bundle digest, which covers every sealed field, so a token proves that exactly this
//! seal existed at the token's `genTime`. An operator who alters the evidence and re-seals it
//! makes a new signature, which the old token's imprint no longer matches.
//!
//! A token is a CMS `SignedData` (`ContentInfo`, RFC 5652) whose content is a `TSTInfo`
//! (RFC 3161 §2.4.2). It is read strictly as DER (any trailing byte, BER form or wrong content
//! type is [`TimestampFault::Malformed`]); the signer's certificate must be in the token; the
//! signed attributes must carry the content type and the message digest of the `TSTInfo`; the
//! signature over them must verify with that certificate's key; and, when trust anchors are
//! given, the certificate must chain to one of them at `genTime` and carry the critical
//! extended key usage `timeStamping` and nothing else (RFC 3161 §2.3).

use std::time::Duration;

use cmpv2::status::PkiStatus;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, OctetString};
use der::oid::ObjectIdentifier;
use der::{Any, Decode, Encode};
use pki_types::pem::PemObject;
use pki_types::{CertificateDer, UnixTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::ext::Extensions;
use x509_cert::spki::AlgorithmIdentifier;
use x509_cert::Certificate;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use crate::hexbytes::{sha256, Digest};

/// The TSA's clock may run this much ahead of the server's: a token's `genTime` earlier than
/// `sealed_at_ms` by more than this is [`TimestampFault::TimeMismatch`] (5 minutes, a generous
/// bound for two NTP-synchronised clocks plus the request's round trip).
pub const TIMESTAMP_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The longest a seal may wait for its time-stamp: a token whose `genTime` is later than
/// `sealed_at_ms` by more than this is [`TimestampFault::TimeMismatch`] — it proves only that
/// the seal existed a day later, not when it was made. A server stops retrying an unreachable
/// TSA after this window (24 hours).
pub const TIMESTAMP_MAX_DELAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Media type of a `TimeStampReq` (RFC 3161 §3.4).
pub const TIMESTAMP_QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// Media type of a `TimeStampResp` (RFC 3161 §3.4).
pub const TIMESTAMP_REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8) as the content octets webpki matches.
const EKU_TIME_STAMPING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// `TSTInfo` (RFC 3161 §2.4.2) as x509-tsp defines it, but with a `genTime` that may carry
/// fractions of a second, as RFC 3161 allows and many TSAs write (der's `GeneralizedTime` takes
/// whole seconds only).
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// A DER `GeneralizedTime` as RFC 3161 §2.4.2 spells `genTime`: `YYYYMMDDhhmmss[.f*]Z`, the
/// fraction without trailing zeros; kept as its text and read as Unix milliseconds (digits
/// beyond the millisecond are dropped).
#[derive(Clone, Debug, Eq, PartialEq)]
struct GenTime {
    text: Vec<u8>,
    unix_ms: i64,
}

impl GenTime {
    fn parse(text: &[u8]) -> Option<i64> {
        let (main, rest) = text.split_at_checked(14)?;
        let digits = |b: &[u8]| -> Option<u32> {
            b.iter().try_fold(0u32, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
            })
        };
        let fraction = match rest {
            [b'Z'] => &[][..],
            [b'.', f @ .., b'Z'] if !f.is_empty() && f.last() != Some(&b'0') => f,
            _ => return None,
        };
        if !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let part = |a: usize, b: usize| digits(&main[a..b]);
        let dt = der::DateTime::new(
            u16::try_from(part(0, 4)?).ok()?,
            u8::try_from(part(4, 6)?).ok()?,
            u8::try_from(part(6, 8)?).ok()?,
            u8::try_from(part(8, 10)?).ok()?,
            u8::try_from(part(10, 12)?).ok()?,
            u8::try_from(part(12, 14)?).ok()?,
        )
        .ok()?;
        let ms = fraction
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0i64, |n, c| n * 10 + i64::from(c - b'0'));
        i64::try_from(dt.unix_duration().as_millis())
            .ok()?
            .checked_add(ms)
    }
}

impl der::FixedTag for GenTime {
    const TAG: der::Tag = der::Tag::GeneralizedTime;
}

impl<'a> der::DecodeValue<'a> for GenTime {
    fn decode_value<R: der::Reader<'a>>(reader: &mut R, header: der::Header) -> der::Result<Self> {
        let text = reader.read_vec(header.length)?;
        let unix_ms = Self::parse(&text).ok_or_else(|| der::Tag::GeneralizedTime.value_error())?;
        Ok(Self { text, unix_ms })
    }
}

impl der::EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.text.len())
    }
    fn encode_value(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(&self.text)
    }
}

/// Why a time-stamp response or token is not accepted. [`TimestampFault::code`] is the stable
/// name a verifier reports (`timestamp_fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFault {
    /// The bytes are not a DER `TimeStampResp`/`TimeStampToken` of RFC 3161 (syntax, trailing
    /// data, another content type, not exactly one signer, no signed attributes, no `TSTInfo`).
    Malformed,
    /// A digest or signature algorithm this verifier does not implement.
    UnsupportedAlgorithm,
    /// The token's message imprint is not SHA-256 over this seal's signature: it time-stamps
    /// another seal (e.g. the evidence was re-sealed after the token was issued).
    ImprintMismatch,
    /// The `messageDigest` attribute does not match the `TSTInfo`, or the signature over the
    /// signed attributes does not verify with the signer's certificate.
    SignatureInvalid,
    /// The token does not contain the certificate its signer identifier names.
    CertificateMissing,
    /// The ESS `signingCertificate(V2)` attribute names another certificate than the signer's.
    CertificateMismatch,
    /// The signer's certificate does not chain to a trusted TSA certificate at `genTime`, or
    /// does not have the critical extended key usage `timeStamping` alone.
    UntrustedTsa,
    /// `genTime` is earlier than `sealed_at_ms` − [`TIMESTAMP_CLOCK_SKEW_MS`] or later than
    /// `sealed_at_ms` + [`TIMESTAMP_MAX_DELAY_MS`].
    TimeMismatch,
    /// The TSA answered with a status other than granted (0) or granted with mods (1).
    NotGranted,
    /// The response's nonce is not the request's.
    NonceMismatch,
}

impl TimestampFault {
    /// Stable code (`FORMAT.md` §10).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::ImprintMismatch => "imprint_mismatch",
            Self::SignatureInvalid => "signature_invalid",
            Self::CertificateMissing => "certificate_missing",
            Self::CertificateMismatch => "certificate_mismatch",
            Self::UntrustedTsa => "untrusted_tsa",
            Self::TimeMismatch => "time_mismatch",
            Self::NotGranted => "not_granted",
            Self::NonceMismatch => "nonce_mismatch",
        }
    }
}

/// A fault with a human-readable detail (no personal data: only structure and names of
/// algorithms, certificates and times).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time-stamp {}: {message}", fault.code())]
pub struct TimestampError {
    /// What failed.
    pub fault: TimestampFault,
    /// Detail for people.
    pub message: String,
}

fn fail(fault: TimestampFault, message: impl Into<String>) -> TimestampError {
    TimestampError {
        fault,
        message: message.into(),
    }
}

fn malformed(what: &str) -> impl FnOnce(der::Error) -> TimestampError + '_ {
    move |e| fail(TimestampFault::Malformed, format!("{what}: {e}"))
}

/// The evidence file's `seal_timestamp` member (`FORMAT.md` §10): `{"token": b64}`, the DER
/// `TimeStampToken` in canonical standard base64.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealTimestamp {
    /// DER of the token (a CMS `ContentInfo`).
    #[serde(with = "crate::hexbytes::b64")]
    pub token: Vec<u8>,
}

/// Whether the signer's certificate was checked against trusted TSA certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TsaChain {
    /// It chains to a trusted certificate at `genTime`, with the `timeStamping` usage.
    Verified,
    /// The verifier was given no TSA certificate: everything else was checked.
    NotChecked,
}

impl TsaChain {
    /// Stable spelling (`verified`, `not_checked`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::NotChecked => "not_checked",
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stamp {
    /// `genTime`, Unix ms (digits of the fraction beyond the millisecond dropped).
    pub gen_time_ms: i64,
    /// The token's serial number, lower-case hex of its DER integer content.
    pub serial_hex: String,
    /// The TSA's policy OID.
    pub policy: String,
    /// The signer certificate's subject, RFC 4514 string.
    pub tsa_subject: String,
    /// Whether the certificate chain was checked.
    pub chain: TsaChain,
}

/// The TSA certificates a verifier trusts (the TSA's CA, or the TSA certificate itself).
#[derive(Debug, Clone)]
pub struct TsaTrust {
    certs: Vec<CertificateDer<'static>>,
}

impl TsaTrust {
    /// Reads one or more certificates: PEM (`-----BEGIN CERTIFICATE-----`, as
    /// `openssl ts -verify -CAfile` takes) or a single DER certificate.
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, TimestampError> {
        let certs: Vec<CertificateDer<'static>> = if bytes.trim_ascii_start().starts_with(b"-----")
        {
            CertificateDer::pem_slice_iter(bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    fail(
                        TimestampFault::Malformed,
                        format!("TSA certificate PEM: {e}"),
                    )
                })?
        } else {
            vec![CertificateDer::from(bytes.to_vec())]
        };
        if certs.is_empty() {
            return Err(fail(TimestampFault::Malformed, "no TSA certificate"));
        }
        for c in &certs {
            webpki::anchor_from_trusted_cert(c)
                .map_err(|e| fail(TimestampFault::Malformed, format!("TSA certificate: {e:?}")))?;
        }
        Ok(Self { certs })
    }
}

/// SHA-256 over the seal's 64 signature bytes: the message imprint of its time-stamp.
pub fn seal_imprint(seal_signature: &[u8]) -> Digest {
    sha256(seal_signature)
}

/// A `TimeStampReq` ready to send, and what its response must echo.
#[derive(Debug, Clone)]
pub struct TimestampRequest {
    /// DER bytes to POST as [`TIMESTAMP_QUERY_MEDIA_TYPE`].
    pub der: Vec<u8>,
    imprint: Digest,
    nonce: Vec<u8>,
}

/// Builds the request: SHA-256 `imprint`, a 64-bit `nonce` (positive; its top bit is cleared
/// and the next one set so that the DER integer is minimal), `certReq` true, no policy.
pub fn request(imprint: &Digest, nonce: [u8; 8]) -> TimestampRequest {
    let mut n = nonce;
    n[0] = (n[0] & 0x7f) | 0x40;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: ID_SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(imprint.as_bytes().to_vec()).expect("32 bytes fit"),
        },
        req_policy: None,
        nonce: Some(Int::new(&n).expect("8 bytes fit")),
        cert_req: true,
        extensions: None,
    };
    TimestampRequest {
        der: req.to_der().expect("a request of fixed shape encodes"),
        imprint: *imprint,
        nonce: n.to_vec(),
    }
}

/// Checks a TSA's `TimeStampResp` for `req`: status granted, a token that verifies
/// ([`verify_token`]) for the request's imprint, and the request's nonce. Returns the token's
/// DER (what the evidence file stores) and what it says.
pub fn accept_response(
    response: &[u8],
    req: &TimestampRequest,
    trust: Option<&TsaTrust>,
) -> Result<(Vec<u8>, Stamp), TimestampError> {
    let resp = TimeStampResp::from_der(response).map_err(malformed("TimeStampResp"))?;
    if !matches!(
        resp.status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        return Err(fail(
            TimestampFault::NotGranted,
            format!("status {:?}", resp.status.status),
        ));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| fail(TimestampFault::Malformed, "granted without a token"))?
        .to_der()
        .map_err(malformed("TimeStampToken"))?;
    let (stamp, tst) = check_token(&token, &req.imprint, trust)?;
    if tst.nonce.as_ref().map(Int::as_bytes) != Some(req.nonce.as_slice()) {
        return Err(fail(TimestampFault::NonceMismatch, "nonce not echoed"));
    }
    Ok((token, stamp))
}

/// Verifies a stored token (DER `ContentInfo`) against the seal `imprint`
/// ([`seal_imprint`]); with `trust`, also the TSA's certificate chain at `genTime`.
pub fn verify_token(
    token: &[u8],
    imprint: &Digest,
    trust: Option<&TsaTrust>,
) -> Result<Stamp, TimestampError> {
    check_token(token, imprint, trust).map(|(stamp, _)| stamp)
}

/// [`TimestampFault::TimeMismatch`] unless `genTime` lies in
/// `sealed_at_ms − TIMESTAMP_CLOCK_SKEW_MS ..= sealed_at_ms + TIMESTAMP_MAX_DELAY_MS`.
pub fn check_time(stamp: &Stamp, sealed_at_ms: i64) -> Result<(), TimestampError> {
    let d = stamp.gen_time_ms.saturating_sub(sealed_at_ms);
    if !(-TIMESTAMP_CLOCK_SKEW_MS..=TIMESTAMP_MAX_DELAY_MS).contains(&d) {
        return Err(fail(
            TimestampFault::TimeMismatch,
            format!("genTime is {d} ms from sealed_at_ms"),
        ));
    }
    Ok(())
}

fn digest_of(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let a = match *alg {
        ID_SHA256 => &ring::digest::SHA256,
        ID_SHA384 => &ring::digest::SHA384,
        ID_SHA512 => &ring::digest::SHA512,
        _ => {
            return Err(fail(
                TimestampFault::UnsupportedAlgorithm,
                format!("digest {alg}"),
            ))
        }
    };
    Ok(ring::digest::digest(a, data).as_ref().to_vec())
}

/// Candidate webpki algorithms for a signer's (digest, signature) algorithm pair; the key in
/// the certificate picks among them.
fn signature_algs(
    digest: &ObjectIdentifier,
    sig: &ObjectIdentifier,
) -> Result<Vec<&'static dyn pki_types::SignatureVerificationAlgorithm>, TimestampError> {
    use webpki::ring as w;
    let algs: Vec<&'static dyn pki_types::SignatureVerificationAlgorithm> = match (*sig, *digest) {
        (RSA_ENCRYPTION, ID_SHA256) | (SHA256_WITH_RSA, _) => {
            vec![w::RSA_PKCS1_2048_8192_SHA256]
        }
        (RSA_ENCRYPTION, ID_SHA384) | (SHA384_WITH_RSA, _) => {
            vec![w::RSA_PKCS1_2048_8192_SHA384]
        }
        (RSA_ENCRYPTION, ID_SHA512) | (SHA512_WITH_RSA, _) => {
            vec![w::RSA_PKCS1_2048_8192_SHA512]
        }
        (ECDSA_WITH_SHA256, _) => vec![w::ECDSA_P256_SHA256, w::ECDSA_P384_SHA256],
        (ECDSA_WITH_SHA384, _) => vec![w::ECDSA_P384_SHA384, w::ECDSA_P256_SHA384],
        (ID_ED25519, _) => vec![w::ED25519],
        _ => {
            return Err(fail(
                TimestampFault::UnsupportedAlgorithm,
                format!("signature {sig} with digest {digest}"),
            ))
        }
    };
    Ok(algs)
}

/// The one attribute value of `oid` in the signed attributes.
fn attribute(si: &SignerInfo, oid: ObjectIdentifier) -> Result<&Any, TimestampError> {
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| fail(TimestampFault::Malformed, "no signed attributes"))?;
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (Some(a), None) if a.values.len() == 1 => Ok(a.values.get(0).expect("one value is there")),
        _ => Err(fail(
            TimestampFault::Malformed,
            format!("signed attribute {oid} not present exactly once with one value"),
        )),
    }
}

fn signer_cert<'a>(
    sd: &'a SignedData,
    sid: &SignerIdentifier,
) -> Result<&'a Certificate, TimestampError> {
    let certs = sd
        .certificates
        .as_ref()
        .map(|c| c.0.as_slice())
        .unwrap_or(&[]);
    certs
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .find(|c| match sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => c
                .tbs_certificate
                .extensions
                .iter()
                .flatten()
                .filter(|e| e.extn_id == ID_CE_SUBJECT_KEY_ID)
                .any(|e| {
                    SubjectKeyIdentifier::from_der(e.extn_value.as_bytes())
                        .ok()
                        .as_ref()
                        == Some(ski)
                }),
        })
        .ok_or_else(|| {
            fail(
                TimestampFault::CertificateMissing,
                "the signer's certificate is not in the token",
            )
        })
}

/// `ESSCertIDv2` (RFC 5035): the hash of a certificate, SHA-256 unless named.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificateV2` (RFC 5035, RFC 5816).
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// `ESSCertID` (RFC 2634): the SHA-1 hash of a certificate.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

/// `SigningCertificate` (RFC 2634).
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

const ID_AA_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// RFC 3161 §2.4.1 (RFC 5816): the signed attributes name the signer's certificate by its
/// hash in an ESS `signingCertificate` (SHA-1) or `signingCertificateV2` attribute, whose first
/// entry must be that certificate; each one present must match.
fn check_ess(si: &SignerInfo, cert_der: &[u8]) -> Result<(), TimestampError> {
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| fail(TimestampFault::Malformed, "no signed attributes"))?;
    let present = |oid| attrs.iter().any(|a| a.oid == oid);
    let (v1, v2) = (
        present(ID_AA_SIGNING_CERTIFICATE),
        present(ID_AA_SIGNING_CERTIFICATE_V2),
    );
    if !v1 && !v2 {
        return Err(fail(
            TimestampFault::Malformed,
            "no ESS signingCertificate(V2) attribute",
        ));
    }
    let mismatch = || {
        fail(
            TimestampFault::CertificateMismatch,
            "the ESS signing certificate is not the signer's",
        )
    };
    if v2 {
        let sc: SigningCertificateV2 = attribute(si, ID_AA_SIGNING_CERTIFICATE_V2)?
            .decode_as()
            .map_err(malformed("signingCertificateV2"))?;
        let first = sc.certs.first().ok_or_else(mismatch)?;
        let alg = first.hash_algorithm.as_ref().map_or(ID_SHA256, |a| a.oid);
        if first.cert_hash.as_bytes() != digest_of(&alg, cert_der)? {
            return Err(mismatch());
        }
    }
    if v1 {
        let sc: SigningCertificate = attribute(si, ID_AA_SIGNING_CERTIFICATE)?
            .decode_as()
            .map_err(malformed("signingCertificate"))?;
        let first = sc.certs.first().ok_or_else(mismatch)?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
        if first.cert_hash.as_bytes() != sha1.as_ref() {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA certificate has exactly one extended key usage, `timeStamping`,
/// marked critical.
fn check_tsa_usage(cert: &Certificate) -> Result<(), TimestampError> {
    let eku = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| fail(TimestampFault::UntrustedTsa, "no extended key usage"))?;
    let usages = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).map_err(|e| {
        fail(
            TimestampFault::UntrustedTsa,
            format!("extended key usage: {e}"),
        )
    })?;
    if !eku.critical || usages.0 != [ID_KP_TIME_STAMPING] {
        return Err(fail(
            TimestampFault::UntrustedTsa,
            "extended key usage is not timeStamping alone, critical",
        ));
    }
    Ok(())
}

fn check_token(
    token: &[u8],
    imprint: &Digest,
    trust: Option<&TsaTrust>,
) -> Result<(Stamp, TstInfo), TimestampError> {
    let ci = ContentInfo::from_der(token).map_err(malformed("ContentInfo"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(fail(TimestampFault::Malformed, "not SignedData"));
    }
    let sd: SignedData = ci.content.decode_as().map_err(malformed("SignedData"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(fail(TimestampFault::Malformed, "content is not TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| fail(TimestampFault::Malformed, "no TSTInfo"))?;
    let tst_der = econtent
        .decode_as::<OctetString>()
        .map_err(malformed("eContent"))?;
    let tst = TstInfo::from_der(tst_der.as_bytes()).map_err(malformed("TSTInfo"))?;
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(fail(TimestampFault::Malformed, "not exactly one signer"));
    };
    // RFC 5652 §5.1, §5.3: version 3 (the content is not id-data); the signer's version 1 with
    // an issuer and serial number, 3 with a subject key identifier.
    let signer_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if sd.version != CmsVersion::V3 || si.version != signer_version {
        return Err(fail(TimestampFault::Malformed, "CMS version"));
    }
    // Digest and signature algorithm identifiers have no parameters, or NULL (RFC 5754, 5758).
    let params_ok = |a: &x509_cert::spki::AlgorithmIdentifierOwned| {
        a.parameters.as_ref().is_none_or(|p| p.is_null())
    };
    if !sd.digest_algorithms.iter().all(params_ok)
        || !params_ok(&si.digest_alg)
        || !params_ok(&si.signature_algorithm)
        || !params_ok(&tst.message_imprint.hash_algorithm)
    {
        return Err(fail(TimestampFault::Malformed, "algorithm parameters"));
    }
    // RFC 5652 §5.1: digestAlgorithms lists the signer's; a TSA lists nothing else.
    if sd
        .digest_algorithms
        .iter()
        .map(|a| a.oid)
        .ne([si.digest_alg.oid])
    {
        return Err(fail(
            TimestampFault::Malformed,
            "digestAlgorithms is not the signer's digest algorithm",
        ));
    }

    // The imprint first: a well-formed token for another seal is the stale re-seal case.
    let mi = &tst.message_imprint;
    if mi.hash_algorithm.oid != ID_SHA256 {
        return Err(fail(
            TimestampFault::ImprintMismatch,
            format!("imprint algorithm {} is not SHA-256", mi.hash_algorithm.oid),
        ));
    }
    if mi.hashed_message.as_bytes() != imprint.as_bytes() {
        return Err(fail(
            TimestampFault::ImprintMismatch,
            "the token time-stamps another seal signature",
        ));
    }

    // Signed attributes: content type TSTInfo and the digest of the TSTInfo bytes.
    let ct: ObjectIdentifier = attribute(si, ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(malformed("contentType attribute"))?;
    if ct != ID_CT_TST_INFO {
        return Err(fail(TimestampFault::Malformed, "contentType attribute"));
    }
    let md: OctetString = attribute(si, ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(malformed("messageDigest attribute"))?;
    if md.as_bytes() != digest_of(&si.digest_alg.oid, tst_der.as_bytes())? {
        return Err(fail(
            TimestampFault::SignatureInvalid,
            "messageDigest does not match the TSTInfo",
        ));
    }
    let algs = signature_algs(&si.digest_alg.oid, &si.signature_algorithm.oid)?;

    let cert = signer_cert(&sd, &si.sid)?;
    let cert_der = CertificateDer::from(cert.to_der().map_err(malformed("certificate"))?);
    let ee = webpki::EndEntityCert::try_from(&cert_der)
        .map_err(|e| fail(TimestampFault::Malformed, format!("certificate: {e:?}")))?;
    // RFC 5652 §5.4: the signature is over the DER of the attributes as a SET OF.
    let signed = si
        .signed_attrs
        .as_ref()
        .expect("checked by attribute()")
        .to_der()
        .map_err(malformed("signed attributes"))?;
    if !algs.iter().any(|a| {
        ee.verify_signature(*a, &signed, si.signature.as_bytes())
            .is_ok()
    }) {
        return Err(fail(
            TimestampFault::SignatureInvalid,
            "the signature does not verify with the signer's certificate",
        ));
    }

    check_ess(si, &cert_der)?;
    let gen_time_ms = tst.gen_time.unix_ms;
    let chain = match trust {
        None => TsaChain::NotChecked,
        Some(trust) => {
            check_tsa_usage(cert)?;
            let anchors = trust
                .certs
                .iter()
                .map(webpki::anchor_from_trusted_cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(TimestampFault::UntrustedTsa, format!("{e:?}")))?;
            let mut intermediates = Vec::new();
            for c in sd.certificates.iter().flat_map(|c| c.0.iter()) {
                if let CertificateChoices::Certificate(c) = c {
                    if c != cert {
                        intermediates.push(CertificateDer::from(
                            c.to_der().map_err(malformed("certificate"))?,
                        ));
                    }
                }
            }
            // A trusted certificate that is the TSA's own is accepted as it is.
            let is_anchor = trust.certs.iter().any(|t| t.as_ref() == cert_der.as_ref());
            if !is_anchor {
                ee.verify_for_usage(
                    webpki::ALL_VERIFICATION_ALGS,
                    &anchors,
                    &intermediates,
                    UnixTime::since_unix_epoch(Duration::from_millis(
                        u64::try_from(gen_time_ms).unwrap_or_default(),
                    )),
                    webpki::KeyUsage::required(EKU_TIME_STAMPING_DER),
                    None,
                    None,
                )
                .map_err(|e| {
                    fail(
                        TimestampFault::UntrustedTsa,
                        format!("certificate chain: {e:?}"),
                    )
                })?;
            }
            TsaChain::Verified
        }
    };
    Ok((
        Stamp {
            gen_time_ms,
            serial_hex: hex::encode(tst.serial_number.as_bytes()),
            policy: tst.policy.to_string(),
            tsa_subject: cert.tbs_certificate.subject.to_string(),
            chain,
        },
        tst,
    ))
}

/// The body shared by the fuzz target `signature_timestamp` and the stable hostile-input test:
/// `data` as a stored token and as a TSA's response. Must never panic, whatever the input, and
/// accept nothing for an imprint no token can carry (all zero).
#[doc(hidden)]
pub fn fuzz_timestamp(data: &[u8]) {
    let zero = Digest::from_hex(&"0".repeat(64)).expect("64 hex digits");
    let outcome = verify_token(data, &zero, None);
    assert!(
        !matches!(outcome, Ok(ref s) if s.chain == TsaChain::Verified),
        "no chain without trust"
    );
    let req = request(&zero, [0; 8]);
    let _ = accept_response(data, &req, None);
    // The imprint actually in the token, if it parses: then only the signature decides.
    if let Ok(stamp) = verify_token(data, &sha256(data), None) {
        assert_eq!(stamp.chain, TsaChain::NotChecked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_der_with_sha256_imprint_nonce_and_cert_req() {
        let imprint = sha256(b"seal signature bytes");
        let req = request(&imprint, [0xff; 8]);
        let back = TimeStampReq::from_der(&req.der).expect("decodes");
        assert_eq!(back.message_imprint.hash_algorithm.oid, ID_SHA256);
        assert_eq!(
            back.message_imprint.hashed_message.as_bytes(),
            imprint.as_bytes()
        );
        assert!(back.cert_req);
        // Top bit cleared (positive), next set (minimal): 0x7f.
        assert_eq!(back.nonce.expect("nonce").as_bytes()[0], 0x7f);
    }

    #[test]
    fn garbage_tokens_are_malformed_not_panics() {
        let imprint = sha256(b"x");
        for bytes in [
            &b""[..],
            b"\x30",
            b"\x30\x03\x06\x01\x00",
            b"\x30\x80\x00\x00",
            &[0x30, 0x82, 0xff, 0xff],
        ] {
            let e = verify_token(bytes, &imprint, None).expect_err("not a token");
            assert_eq!(e.fault, TimestampFault::Malformed, "{bytes:?}");
        }
    }

    #[test]
    fn gen_time_reads_whole_and_fractional_seconds_strictly() {
        let t = 1_750_000_000_000; // 2025-06-15T15:06:40Z
        assert_eq!(GenTime::parse(b"20250615150640Z"), Some(t));
        assert_eq!(GenTime::parse(b"20250615150640.5Z"), Some(t + 500));
        assert_eq!(GenTime::parse(b"20250615150640.123Z"), Some(t + 123));
        assert_eq!(GenTime::parse(b"20250615150640.1239Z"), Some(t + 123));
        // More digits than any integer holds: read, not overflowed.
        assert_eq!(
            GenTime::parse(b"20250615150640.99999999999999999999999999991Z"),
            Some(t + 999)
        );
        for bad in [
            &b"20250615150640.50Z"[..], // trailing zero
            b"20250615150640.Z",
            b"20250615150640",
            b"20250615150640+0100",
            b"2025061515064Z",
            b"20251315150640Z",
            b"20250615150640.1a3Z",
            b"",
        ] {
            assert_eq!(
                GenTime::parse(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn time_window_is_skew_before_and_a_day_after() {
        let stamp = |gen_time_ms| Stamp {
            gen_time_ms,
            serial_hex: String::new(),
            policy: String::new(),
            tsa_subject: String::new(),
            chain: TsaChain::NotChecked,
        };
        let t = 1_750_000_000_000;
        assert!(check_time(&stamp(t - TIMESTAMP_CLOCK_SKEW_MS), t).is_ok());
        assert!(check_time(&stamp(t + TIMESTAMP_MAX_DELAY_MS), t).is_ok());
        for off in [-TIMESTAMP_CLOCK_SKEW_MS - 1, TIMESTAMP_MAX_DELAY_MS + 1] {
            assert_eq!(
                check_time(&stamp(t + off), t).expect_err("outside").fault,
                TimestampFault::TimeMismatch
            );
        }
    }
}
