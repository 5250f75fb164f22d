//! The error of a configuration value, shared by every capability's settings.

/// A configuration value is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid --{option}: {message}")]
pub struct ConfigError {
    /// The option, as spelt on the command line.
    pub option: &'static str,
    /// What is wrong.
    pub message: String,
}
