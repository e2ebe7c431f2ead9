//! A server's TLS (rustls): the certificate and key it presents, read from PEM files, and the
//! handshake of each connection before HTTP/2 starts on it.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// How long a client has to finish its handshake; one that stalls holds nothing past it.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, or held no PEM of the kind wanted.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("the certificate and key do not fit: {0}")]
    Config(String),
}

/// What a server presents over TLS.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The certificate chain in `cert_file` and the private key in `key_file` (PEM), offering
    /// `alpn` protocols (gRPC clients require `h2`).
    pub fn from_pem_files(
        cert_file: &Path,
        key_file: &Path,
        alpn: &[&[u8]],
    ) -> Result<Tls, TlsError> {
        let read = |path: &Path, reason: String| TlsError::Read {
            path: path.display().to_string(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
            .map_err(|e| read(cert_file, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| read(cert_file, e.to_string()))?;
        if certs.is_empty() {
            return Err(read(cert_file, "no certificate in it".into()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key_file).map_err(|e| read(key_file, e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor, for servers of other protocols (the gateway's HTTP).
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }
}
