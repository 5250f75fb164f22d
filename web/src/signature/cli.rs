//! `confidant signature verify <document> <bundle>` and
//! `confidant signature escrow-open --key <private key file> <bundle>`.
//!
//! Both work on files only (no database, no network), so evidence can be checked on another
//! machine: copy the sealing public key (`DATA_DIR/signature-sealing-public.key`) along, or pass
//! it with `--public-key`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use confidant_signature::bundle::{SealedBundle, VerifyingKey};
use confidant_signature::timestamp::TsaTrust;
use confidant_signature::verify::Verification;
use confidant_signature::{strict, submission};
use serde::Serialize;

use super::{DynamicsSummary, VerificationResult};
use crate::config::{Settings, SignatureCommand};
use confidant_signature_server::keys::{self, SEALING_PUBLIC_FILE};

/// Exit status of a valid verification.
pub const EXIT_VALID: u8 = 0;
/// Exit status of an invalid one.
pub const EXIT_INVALID: u8 = 1;
/// Exit status of a usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// Runs a `confidant signature …` command: prints its result and returns the exit status.
pub fn run(settings: &Settings, command: SignatureCommand) -> ExitCode {
    match command {
        SignatureCommand::Verify {
            document,
            bundle,
            public_keys,
            keys_url,
            tsa_ca,
        } => match verify_files(
            settings,
            &document,
            &bundle,
            &public_keys,
            keys_url.as_deref(),
            tsa_ca.as_deref(),
        ) {
            Ok((verification, report)) => {
                println!("{report}");
                ExitCode::from(if verification.is_valid() {
                    EXIT_VALID
                } else {
                    EXIT_INVALID
                })
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        SignatureCommand::RotateSealingKey => {
            match keys::rotate_sealing_key(&settings.data_dir, crate::db::now_ms()) {
                Ok(id) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        SignatureCommand::EscrowKeygen { private_key_out } => {
            match keys::escrow_keygen(&private_key_out) {
                Ok(public) => {
                    println!("{public}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        SignatureCommand::EscrowOpen { key, bundle } => match escrow_open(&key, &bundle) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Largest key document fetched with `--keys-url`, bytes.
const MAX_KEY_DOCUMENT_BYTES: usize = 1 << 20;
/// How long fetching the key document may take.
const KEYS_URL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A key file: a published key document, or one 32-byte key (raw, hex or base64).
fn keys_of_file(path: &Path) -> Result<Vec<VerifyingKey>, String> {
    let bytes = read(path)?;
    if let Some(keys) = keys::KeyDocument::parse(&bytes) {
        return Ok(keys);
    }
    keys::parse_key_32(&bytes)
        .map(|k| vec![VerifyingKey::from_bytes(k)])
        .ok_or_else(|| {
            format!(
                "{}: expected a key document ({}) or a 32-byte key (raw, 64 hex characters or base64)",
                path.display(),
                keys::KEY_DOCUMENT_FORMAT
            )
        })
}

/// Fetches the key document at `url`.
fn keys_of_url(url: &str) -> Result<Vec<VerifyingKey>, String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("--keys-url must be an http(s) URL, not {url}"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let bytes = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(KEYS_URL_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut resp = client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching {url}: {e}"))?;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_KEY_DOCUMENT_BYTES {
                return Err(format!(
                    "{url}: key document larger than {MAX_KEY_DOCUMENT_BYTES} bytes"
                ));
            }
        }
        Ok::<_, String>(body)
    })?;
    keys::KeyDocument::parse(&bytes).ok_or_else(|| {
        format!(
            "{url} is not a key document ({})",
            keys::KEY_DOCUMENT_FORMAT
        )
    })
}

/// The trusted sealing keys: the `--public-key` files and the `--keys-url` document, else the
/// data directory's published key list, its public key file, or its sealing key.
fn trusted_keys(
    settings: &Settings,
    files: &[PathBuf],
    url: Option<&str>,
) -> Result<Vec<VerifyingKey>, String> {
    if !files.is_empty() || url.is_some() {
        let mut trusted = Vec::new();
        for f in files {
            trusted.extend(keys_of_file(f)?);
        }
        if let Some(url) = url {
            trusted.extend(keys_of_url(url)?);
        }
        return Ok(trusted);
    }
    let list = settings.data_dir.join(keys::SEALING_KEYS_FILE);
    if list.exists() {
        return keys_of_file(&list);
    }
    let public = settings.data_dir.join(SEALING_PUBLIC_FILE);
    if public.exists() {
        return keys::read_key_32(&public)
            .map(|k| vec![VerifyingKey::from_bytes(*k)])
            .map_err(|e| e.to_string());
    }
    keys::sealing_key(&settings.data_dir, false)
        .map(|k| vec![k.verifying_key()])
        .map_err(|e| {
            format!(
                "no sealing key to trust in {} ({e}); pass --public-key or --keys-url",
                settings.data_dir.display()
            )
        })
}

/// Verifies a document file against an evidence file. `Err` for a usage or I/O error; the
/// report is the verification as pretty JSON.
pub fn verify_files(
    settings: &Settings,
    document: &Path,
    evidence: &Path,
    public_keys: &[PathBuf],
    keys_url: Option<&str>,
    tsa_ca: Option<&Path>,
) -> Result<(Verification, String), String> {
    let document = read(document)?;
    let evidence_bytes = read(evidence)?;
    let trusted = trusted_keys(settings, public_keys, keys_url)?;
    let tsa = tsa_ca
        .map(|path| {
            TsaTrust::from_pem_or_der(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
        })
        .transpose()?;
    let verification = confidant_signature::evidence::verify_file(
        &evidence_bytes,
        &document,
        &trusted,
        tsa.as_ref(),
    )
    .map_err(|e| {
        format!(
            "{} is not an evidence file ({}): {e}",
            evidence.display(),
            super::EVIDENCE_FORMAT
        )
    })?;
    let report = serde_json::to_string_pretty(&VerificationResult::from(&verification))
        .map_err(|e| e.to_string())?;
    Ok((verification, report))
}

/// What `escrow-open` prints.
#[derive(Debug, Serialize)]
struct Opened {
    /// The bundle's sealing key.
    key_id: String,
    /// The document hash the series is bound to.
    document_sha256: String,
    /// `CSIG/1`.
    time_series_format: String,
    /// The decoded time series: times in ms from the first sample.
    time_series: submission::Submission,
    /// The dynamics computed from it.
    dynamics: Option<DynamicsSummary>,
}

/// Opens the biometric envelope of an evidence file (or a bare sealed bundle) with the escrow
/// private key and returns the decoded time series as pretty JSON.
pub fn escrow_open(key: &Path, bundle: &Path) -> Result<String, String> {
    let secret = keys::read_key_32(key).map_err(|e| e.to_string())?;
    let bytes = read(bundle)?;
    let read = strict::read(&bytes).map_err(|e| format!("{}: {e}", bundle.display()))?;
    let sealed = match read.member("sealed") {
        Some(sealed) => match sealed.faults.into_iter().next() {
            Some(fault) => Err(fault),
            None => strict::typed::<SealedBundle>(&sealed.value, "sealed"),
        }
        .map_err(|e| format!("the evidence file's sealed bundle does not parse: {e}"))?,
        None => SealedBundle::from_json(&bytes).map_err(|e| {
            format!(
                "{} is neither an evidence file nor a sealed bundle: {e}",
                bundle.display()
            )
        })?,
    };
    let plain = sealed
        .bundle
        .open_biometrics(&secret)
        .map_err(|e| format!("opening the biometric envelope: {e}"))?;
    let series = confidant_signature::format::decode(&plain)
        .map_err(|e| format!("decoding the time series: {e}"))?;
    let dynamics = submission::validate(&series)
        .ok()
        .map(|v| DynamicsSummary::from(&confidant_signature::dynamics::compute(&v)));
    serde_json::to_string_pretty(&Opened {
        key_id: sealed.key_id,
        document_sha256: sealed.bundle.document_sha256.to_hex(),
        time_series_format: sealed.bundle.time_series_format.unwrap_or_default(),
        time_series: series,
        dynamics,
    })
    .map_err(|e| e.to_string())
}
