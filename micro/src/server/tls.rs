//! A server's TLS (rustls): the certificate and key it presents, read from PEM files, the
//! client certificates it requires (mutual TLS), and the handshake of each connection before
//! HTTP/2 starts on it.

pub use crate::tls::TlsError;
use crate::tls::{read_certs, read_key, ServerTlsFiles};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// How long a client has to finish its handshake; one that stalls holds nothing past it.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server presents over TLS.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    mutual: bool,
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
        Tls::build(cert_file, key_file, None, alpn)
    }

    /// As [`from_pem_files`](Self::from_pem_files), and every client must present a
    /// certificate signed by a CA in `client_ca_file` (PEM), checked in the handshake.
    pub fn mutual(
        cert_file: &Path,
        key_file: &Path,
        client_ca_file: &Path,
        alpn: &[&[u8]],
    ) -> Result<Tls, TlsError> {
        Tls::build(cert_file, key_file, Some(client_ca_file), alpn)
    }

    /// A gRPC server's TLS from its settings: `None` when no certificate is set.
    pub fn from_files(files: &ServerTlsFiles) -> Result<Option<Tls>, TlsError> {
        match (&files.cert, &files.key, &files.client_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), ca) => Tls::build(cert, key, ca.as_deref(), &[b"h2"]).map(Some),
            _ => Err(TlsError::Incomplete(
                "TLS needs both MICRO_SERVER_TLS_CERT and MICRO_SERVER_TLS_KEY (and MICRO_SERVER_TLS_CLIENT_CA only with them)".into(),
            )),
        }
    }

    fn build(
        cert_file: &Path,
        key_file: &Path,
        client_ca_file: Option<&Path>,
        alpn: &[&[u8]],
    ) -> Result<Tls, TlsError> {
        let certs = read_certs(cert_file)?;
        let key = read_key(key_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in read_certs(ca_file)? {
                    roots.add(ca).map_err(|e| {
                        TlsError::Config(format!("{}: not a usable CA: {e}", ca_file.display()))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(format!("the certificate and key do not fit: {e}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            mutual: client_ca_file.is_some(),
        })
    }

    /// Whether clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }

    /// The acceptor, for servers of other protocols (the gateway's HTTP).
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }
}
