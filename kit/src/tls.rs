//! Whom outgoing TLS trusts: calendar sync (reqwest) and mail (lettre).
//!
//! One root store from three sources, built once at start:
//! - the Mozilla roots bundled with `webpki-roots`, so a container without a CA bundle still
//!   reaches public servers;
//! - the system's CA store (`rustls-native-certs`: the distribution's bundle, or
//!   `SSL_CERT_FILE`/`SSL_CERT_DIR`), where an administrator has put a centre's internal CA;
//! - the PEM file of `--ca-file` (`CONFIDANT_CA_FILE`), for a CA that is in neither.
//!
//! reqwest takes the whole rustls configuration; lettre builds its own from the bundled roots
//! plus the certificates added here one by one.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::ConfigError;

/// The trust anchors of outgoing TLS connections. Cheap to clone.
#[derive(Clone)]
pub struct Trust {
    /// The system's and `--ca-file`'s certificates that rustls accepted as anchors (DER), in
    /// addition to the bundled roots.
    added: Arc<Vec<CertificateDer<'static>>>,
    /// Client configuration over all three sources (ring, like the rest of the rustls users).
    client: Arc<ClientConfig>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("bundled", &webpki_roots::TLS_SERVER_ROOTS.len())
            .field("added", &self.added.len())
            .finish()
    }
}

/// The system store, read once per process (it is the same for every configuration).
fn system_certificates() -> &'static [CertificateDer<'static>] {
    static SYSTEM: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    SYSTEM.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            // Unreadable files in the system store; the readable ones still count.
            tracing::warn!(
                errors = found.errors.len(),
                "some system CA certificates could not be read"
            );
        }
        found.certs
    })
}

/// The certificates of a PEM file: every `CERTIFICATE` block, at least one.
fn file_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let err = |message: String| ConfigError {
        option: "ca-file",
        message,
    };
    let pem =
        std::fs::read(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("{} is not PEM ({e})", path.display())))?;
    if certs.is_empty() {
        return Err(err(format!(
            "{} holds no PEM CERTIFICATE block",
            path.display()
        )));
    }
    Ok(certs)
}

impl Trust {
    /// Bundled roots, the system store and, when given, the certificates of `ca_file` (PEM).
    /// A `ca_file` that cannot be read, or holds a certificate rustls cannot use as an anchor,
    /// is a configuration error (refused at start, not discovered at the first sync).
    pub fn load(ca_file: Option<&Path>) -> Result<Trust, ConfigError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut added = Vec::new();
        // The system store may hold certificates rustls cannot parse: skipped, like curl does.
        for cert in system_certificates() {
            if roots.add(cert.clone()).is_ok() {
                added.push(cert.clone());
            }
        }
        if let Some(path) = ca_file {
            for (i, cert) in file_certificates(path)?.into_iter().enumerate() {
                roots.add(cert.clone()).map_err(|e| ConfigError {
                    option: "ca-file",
                    message: format!(
                        "certificate {} in {} is unusable: {e}",
                        i + 1,
                        path.display()
                    ),
                })?;
                added.push(cert);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError {
                option: "ca-file",
                message: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            added: Arc::new(added),
            client: Arc::new(client),
        })
    }

    /// The rustls configuration for reqwest's `use_preconfigured_tls`.
    pub fn rustls_config(&self) -> ClientConfig {
        (*self.client).clone()
    }

    /// TLS parameters for an SMTP connection to `domain` (STARTTLS or SMTPS).
    pub fn smtp(&self, domain: &str) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut params = TlsParameters::builder(domain.to_owned())
            .certificate_store(CertificateStore::WebpkiRoots);
        for cert in self.added.iter() {
            params = params.add_root_certificate(Certificate::from_der(cert.to_vec())?);
        }
        params.build_rustls()
    }
}

/// When `e`, or an error inside it, is rustls refusing the server's certificate: what to tell
/// the counsellor or administrator (no URL, no host). `None` for any other error.
pub fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) =
            err.downcast_ref::<rustls::Error>()
        {
            return Some(format!(
                "TLS: {tls} (a server with a certificate from the centre's own CA needs that CA in the \
                 system store or in --ca-file)"
            ));
        }
        // io::Error hides the error it wraps from `source()` (hyper wraps rustls's twice).
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_a_configuration_error_naming_the_option() {
        let e = Trust::load(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(e.option, "ca-file");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{}", e.message);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = Trust::load(Some(&path)).unwrap_err();
        assert_eq!(e.option, "ca-file");
        assert!(e.message.contains("no PEM CERTIFICATE"), "{}", e.message);
    }

    #[test]
    fn a_certificate_block_that_is_not_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Trust::load(Some(&path)).unwrap_err();
        assert_eq!(e.option, "ca-file");
        assert!(e.message.contains("certificate 1"), "{}", e.message);
    }

    #[test]
    fn without_a_ca_file_the_bundled_and_system_roots_are_trusted() {
        let t = Trust::load(None).unwrap();
        if !system_certificates().is_empty() {
            assert!(
                !t.added.is_empty(),
                "the system store was read but nothing was added"
            );
        }
        // lettre re-parses every added certificate: none may make it fail.
        t.smtp("mail.example.org").unwrap();
    }
}
