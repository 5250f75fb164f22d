//! The crate's error type.

/// Errors of the signalling crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage behind [`crate::Directory`] failed.
    #[error("directory: {0}")]
    Directory(String),
    /// Issuing or checking a token failed for a reason other than bad input.
    #[error("token: {0}")]
    Token(String),
    /// The SFU refused or failed.
    #[error("sfu: {0}")]
    Sfu(#[from] confidant_sfu::Error),
    /// A sealed chat row could not be opened (wrong key or tampered row).
    #[error("vault: {0}")]
    Vault(#[from] confidant_vault::Error),
}
