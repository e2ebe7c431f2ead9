//! TLS between services (rustls): the PEM files a server or client is given, read once and
//! checked when the service starts, so a wrong path fails there and not on the first call.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

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
    /// rustls refused the settings (a certificate and key that do not fit, an unusable CA).
    #[error("{0}")]
    Config(String),
    /// Some of the files a setting needs were given, not all.
    #[error("{0}")]
    Incomplete(String),
}

/// A server's TLS files: `MICRO_SERVER_TLS_CERT`, `MICRO_SERVER_TLS_KEY`, and with
/// `MICRO_SERVER_TLS_CLIENT_CA` client certificates are required and verified (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The certificate chain the server presents.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// The CA client certificates must be signed by.
    pub client_ca: Option<PathBuf>,
}

/// A client's TLS files, used for nodes registered `secure=true`: `MICRO_CLIENT_TLS_CA` (else
/// the system's roots), and `MICRO_CLIENT_TLS_CERT` / `MICRO_CLIENT_TLS_KEY` presented to
/// servers that require a client certificate. `MICRO_CLIENT_TLS_SERVER_NAME` is the name a
/// node's certificate must carry; by default, the name of the service being called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA nodes' certificates must be signed by.
    pub ca: Option<PathBuf>,
    /// The client's certificate chain.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// The identity every node's certificate must name, instead of its service's name.
    pub server_name: Option<String>,
}

fn read_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The certificates in a PEM file (at least one).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(path, e))?;
    if certs.is_empty() {
        return Err(read_error(path, "no certificate in it"));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| read_error(path, e))
}

/// The PEM text of a file, checked to hold what `check` reads.
pub(crate) fn read_pem<T>(
    path: &Path,
    check: impl Fn(&Path) -> Result<T, TlsError>,
) -> Result<Vec<u8>, TlsError> {
    check(path)?;
    std::fs::read(path).map_err(|e| read_error(path, e))
}
