//! The signature keys in the data directory.
//!
//! - The server's Ed25519 sealing key: `DATA_DIR/signature-sealing.pk8` (PKCS#8,
//!   0600), generated on first start like the other secrets. Its public half is also written to
//!   `DATA_DIR/signature-sealing-public.key` (hex), for verifying evidence elsewhere.
//! - The escrow key the biometric time series is encrypted to (X25519). With
//!   `--signature-escrow-public-key-file` that file is used. Without it a pair is generated on
//!   first start: the public key stays in `DATA_DIR/signature-escrow-public.key`, the private
//!   key is written once to `DATA_DIR/escrow-private-key.MOVE-OFF-THIS-SERVER` (0600) for the
//!   operator to move off the server; every start warns while that file is still there.
//!
//! Key files are read as 32 raw bytes, 64 hex characters or base64 (surrounding whitespace
//! ignored). Nothing here ever logs key material; ids are SHA-256 prefixes of public keys.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use confidant_signature::bundle::{SealingKey, VerifyingKey};
use confidant_signature::escrow::{self, EscrowPublicKey};
use zeroize::Zeroizing;

use crate::SignatureConfig;

/// The sealing key's file, relative to the data directory.
pub const SEALING_KEY_FILE: &str = "signature-sealing.pk8";
/// The sealing key's public half (hex), relative to the data directory.
pub const SEALING_PUBLIC_FILE: &str = "signature-sealing-public.key";
/// The generated escrow public key (hex), relative to the data directory.
pub const ESCROW_PUBLIC_FILE: &str = "signature-escrow-public.key";
/// Where a generated escrow private key is written once, relative to the data directory.
pub const ESCROW_PRIVATE_FILE: &str = "escrow-private-key.MOVE-OFF-THIS-SERVER";
/// Every sealing key this server has used (current and retired), relative to the data
/// directory: the [`KeyDocument`] it publishes.
pub const SEALING_KEYS_FILE: &str = "signature-sealing-keys.json";
/// `format` of the published key document.
pub const KEY_DOCUMENT_FORMAT: &str = "confidant-signature-keys/1";
/// The only sealing algorithm.
pub const SEALING_ALGORITHM: &str = "Ed25519";

/// One sealing key, as published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishedKey {
    /// Lower-case hex of the first 8 bytes of SHA-256(public key) (`signature/FORMAT.md` §7).
    pub key_id: String,
    /// `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, lower-case hex.
    pub public_key: String,
    /// First seal with it, Unix ms.
    pub valid_from_ms: i64,
    /// Retired at (no seal after this), Unix ms; `null` for the current key.
    pub valid_until_ms: Option<i64>,
}

/// The published list of sealing keys (`/.well-known/confidant-signature-keys.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDocument {
    /// [`KEY_DOCUMENT_FORMAT`].
    pub format: String,
    /// Every key, oldest first; the current one has no `valid_until_ms`.
    pub keys: Vec<PublishedKey>,
}

impl KeyDocument {
    /// The verifying keys of the document, each checked against its id. `None` if the bytes
    /// are not a key document or a key does not match its id.
    pub fn parse(bytes: &[u8]) -> Option<Vec<VerifyingKey>> {
        let doc: KeyDocument = serde_json::from_slice(bytes).ok()?;
        if doc.format != KEY_DOCUMENT_FORMAT {
            return None;
        }
        doc.keys
            .iter()
            .map(|k| {
                let raw = <[u8; 32]>::try_from(hex::decode(&k.public_key).ok()?).ok()?;
                let key = VerifyingKey::from_bytes(raw).retired_at(k.valid_until_ms);
                (k.algorithm == SEALING_ALGORITHM && key.key_id() == k.key_id).then_some(key)
            })
            .collect()
    }
}

fn published(key: &VerifyingKey, from: i64) -> PublishedKey {
    PublishedKey {
        key_id: key.key_id(),
        algorithm: SEALING_ALGORITHM.to_owned(),
        public_key: hex::encode(key.as_bytes()),
        valid_from_ms: from,
        valid_until_ms: None,
    }
}

/// Reads the key list of `data_dir` (empty if there is none yet).
fn read_key_list(data_dir: &Path) -> Result<Vec<PublishedKey>, KeyError> {
    let path = data_dir.join(SEALING_KEYS_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<KeyDocument>(&bytes)
            .map(|d| d.keys)
            .map_err(|e| invalid(&path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn write_key_list(data_dir: &Path, keys: &[PublishedKey]) -> Result<(), KeyError> {
    let doc = KeyDocument {
        format: KEY_DOCUMENT_FORMAT.to_owned(),
        keys: keys.to_vec(),
    };
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| invalid(data_dir, e.to_string()))?;
    write_public(&data_dir.join(SEALING_KEYS_FILE), &bytes)
}

/// The key list with `current` in it (recorded from `now_ms` the first time it is seen).
pub fn key_list(
    data_dir: &Path,
    current: &VerifyingKey,
    now_ms: i64,
) -> Result<Vec<PublishedKey>, KeyError> {
    let mut keys = read_key_list(data_dir)?;
    if !keys.iter().any(|k| k.key_id == current.key_id()) {
        keys.push(published(current, now_ms));
        write_key_list(data_dir, &keys)?;
    }
    Ok(keys)
}

/// Retires the sealing key of `data_dir` at `now_ms` and creates a new one: the old public key
/// stays in the published list (so evidence it sealed keeps verifying), its private key file is
/// deleted (it must never seal again). Run while the server is stopped; returns the new key id.
pub fn rotate_sealing_key(data_dir: &Path, now_ms: i64) -> Result<String, KeyError> {
    let old = sealing_key(data_dir, false)?;
    let mut keys = key_list(data_dir, &old.verifying_key(), now_ms)?;
    for k in keys.iter_mut().filter(|k| k.valid_until_ms.is_none()) {
        k.valid_until_ms = Some(now_ms);
    }
    let path = data_dir.join(SEALING_KEY_FILE);
    fs::remove_file(&path).map_err(io_err(&path))?;
    let new = sealing_key(data_dir, true)?;
    keys.push(published(&new.verifying_key(), now_ms));
    write_key_list(data_dir, &keys)?;
    tracing::info!(retired = %old.key_id(), current = %new.key_id(), "signature sealing key rotated");
    Ok(new.key_id())
}

/// Errors loading or creating signature keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file does not hold a usable key.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Mode of a key directory this module creates: the server's user only.
const PRIVATE_DIR_MODE: u32 = 0o700;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The keys the signature routes use.
pub struct SignatureKeys {
    /// Seals evidence bundles.
    pub sealing: SealingKey,
    /// Public keys whose seals verify: the current and every retired sealing key.
    pub trusted: Vec<VerifyingKey>,
    /// The published list of those keys.
    pub published: Vec<PublishedKey>,
    /// The escrow public key biometric data is encrypted to.
    pub escrow: EscrowPublicKey,
    /// The certificates a seal time-stamp's TSA must chain to (`--signature-tsa-ca-file`).
    pub tsa_trust: Option<confidant_signature::timestamp::TsaTrust>,
}

impl std::fmt::Debug for SignatureKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureKeys")
            .field("sealing_key_id", &self.sealing.key_id())
            .field("escrow_key_id", &self.escrow.key_id())
            .finish()
    }
}

/// Parses a 32-byte key: raw bytes, hex, or standard base64.
pub fn parse_key_32(raw: &[u8]) -> Option<[u8; 32]> {
    if let Ok(bytes) = <[u8; 32]>::try_from(raw) {
        // 32 raw bytes (a hex or base64 text of a 32-byte key is longer).
        return Some(bytes);
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let decoded = if text.len() == 64 {
        hex::decode(text).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    <[u8; 32]>::try_from(decoded.as_slice()).ok()
}

/// Reads a 32-byte key file (see [`parse_key_32`]).
pub fn read_key_32(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let raw = Zeroizing::new(fs::read(path).map_err(io_err(path))?);
    parse_key_32(&raw).map(Zeroizing::new).ok_or_else(|| {
        invalid(
            path,
            "expected a 32-byte key (raw, 64 hex characters or base64)",
        )
    })
}

/// Writes `bytes` to a new file with mode 0600; fails if it exists.
fn write_new_0600(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            // Private to the server's user, like the data directory it normally is.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR_MODE)
                .create(dir)
                .map_err(io_err(dir))?;
        }
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Replaces `path` with `bytes` (mode 0600), for derived public files.
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_new_0600(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Loads the sealing key of `data_dir`, or creates it (0600) when `create` is set.
pub fn sealing_key(data_dir: &Path, create: bool) -> Result<SealingKey, KeyError> {
    let path = data_dir.join(SEALING_KEY_FILE);
    let key = match fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let mode = fs::metadata(&path)
                .map_err(io_err(&path))?
                .permissions()
                .mode()
                & 0o777;
            if create && mode != 0o600 {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .map_err(io_err(&path))?;
            }
            SealingKey::from_pkcs8(&bytes).map_err(|e| invalid(&path, e.to_string()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Zeroizing::new(
                SealingKey::generate_pkcs8(&rng).map_err(|e| invalid(&path, e.to_string()))?,
            );
            let key = SealingKey::from_pkcs8(&pkcs8).map_err(|e| invalid(&path, e.to_string()))?;
            write_new_0600(&path, &pkcs8)?;
            tracing::info!(key_id = %key.key_id(), "signature sealing key created");
            key
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    if create {
        let public = data_dir.join(SEALING_PUBLIC_FILE);
        let text = format!("{}\n", hex::encode(key.verifying_key().as_bytes()));
        if fs::read(&public).ok().as_deref() != Some(text.as_bytes()) {
            write_public(&public, text.as_bytes())?;
        }
    }
    Ok(key)
}

/// The escrow public key: the configured file, else the generated one in the data directory
/// (generating a pair on first start).
pub fn escrow_key(settings: &SignatureConfig) -> Result<EscrowPublicKey, KeyError> {
    if let Some(path) = &settings.signature_escrow_public_key_file {
        return Ok(EscrowPublicKey::from_bytes(*read_key_32(path)?));
    }
    let data = &settings.data_dir;
    let public = data.join(ESCROW_PUBLIC_FILE);
    let private = data.join(ESCROW_PRIVATE_FILE);
    if public.exists() {
        return Ok(EscrowPublicKey::from_bytes(*read_key_32(&public)?));
    }
    let key = if private.exists() {
        // The public file was lost after the private one was written: derive it again.
        escrow::public_key_from_secret(&*read_key_32(&private)?)
    } else {
        let rng = ring::rand::SystemRandom::new();
        let (secret, key) =
            escrow::generate_escrow_keypair(&rng).map_err(|e| invalid(&private, e.to_string()))?;
        let secret = Zeroizing::new(secret);
        let text = Zeroizing::new(format!("{}\n", hex::encode(*secret)));
        write_new_0600(&private, text.as_bytes())?;
        tracing::info!(escrow_key_id = %key.key_id(), "signature escrow key pair generated");
        key
    };
    write_public(
        &public,
        format!("{}\n", hex::encode(key.as_bytes())).as_bytes(),
    )?;
    Ok(key)
}

/// Makes an escrow key pair (on the offline machine where experts open evidence): writes the
/// private key to the new file `private_out` (hex, 0600) and returns the public key as hex, to
/// be configured on the server with `--signature-escrow-public-key-file`.
pub fn escrow_keygen(private_out: &Path) -> Result<String, KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let (secret, key) =
        escrow::generate_escrow_keypair(&rng).map_err(|e| invalid(private_out, e.to_string()))?;
    let secret = Zeroizing::new(secret);
    let text = Zeroizing::new(format!("{}\n", hex::encode(*secret)));
    write_new_0600(private_out, text.as_bytes())?;
    Ok(hex::encode(key.as_bytes()))
}

/// The generated escrow private key's file, if it is still on this server.
pub fn escrow_private_key_left(settings: &SignatureConfig) -> Option<PathBuf> {
    let path = settings.data_dir.join(ESCROW_PRIVATE_FILE);
    path.exists().then_some(path)
}

/// Loads (or creates) every signature key for the server, and warns while the generated escrow
/// private key is still on this server.
pub fn load_or_create(settings: &SignatureConfig) -> Result<SignatureKeys, KeyError> {
    let sealing = sealing_key(&settings.data_dir, true)?;
    let published = key_list(
        &settings.data_dir,
        &sealing.verifying_key(),
        confidant_kit::db::now_ms(),
    )?;
    let trusted = KeyDocument::parse(
        &serde_json::to_vec(&KeyDocument {
            format: KEY_DOCUMENT_FORMAT.to_owned(),
            keys: published.clone(),
        })
        .unwrap_or_default(),
    )
    .ok_or_else(|| {
        invalid(
            &settings.data_dir.join(SEALING_KEYS_FILE),
            "a key does not match its key id",
        )
    })?;
    let escrow = escrow_key(settings)?;
    if let Some(path) = escrow_private_key_left(settings) {
        tracing::warn!(
            path = %path.display(),
            "the escrow private key for signature biometrics is still on this server: move the \
             file to the offline place where experts open evidence, then delete it here"
        );
    }
    tracing::info!(
        sealing_key_id = %sealing.key_id(),
        escrow_key_id = %escrow.key_id(),
        "signature keys loaded"
    );
    let tsa_trust = match &settings.signature_tsa {
        None => None,
        Some(tsa) => {
            let bytes = std::fs::read(&tsa.ca_file).map_err(io_err(&tsa.ca_file))?;
            Some(
                confidant_signature::timestamp::TsaTrust::from_pem_or_der(&bytes)
                    .map_err(|e| invalid(&tsa.ca_file, e.to_string()))?,
            )
        }
    };
    Ok(SignatureKeys {
        trusted,
        published,
        sealing,
        escrow,
        tsa_trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_read_raw_hex_or_base64() {
        let key = [7u8; 32];
        assert_eq!(parse_key_32(&key), Some(key));
        assert_eq!(
            parse_key_32(format!("{}\n", hex::encode(key)).as_bytes()),
            Some(key)
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert_eq!(parse_key_32(format!("  {b64}\n").as_bytes()), Some(key));
        assert_eq!(parse_key_32(b"too short"), None);
        assert_eq!(parse_key_32(&[0xff; 33]), None);
        assert_eq!(parse_key_32(hex::encode([1u8; 31]).as_bytes()), None);
    }
}
