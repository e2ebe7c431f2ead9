//! The gateway's TLS: rustls from PEM certificate and key files, offering HTTP/2 and HTTP/1.1.

use micro::server::tls::{Tls, TlsError};
use std::path::Path;

/// TLS for the certificate chain and key in these PEM files, for [`micro::server::Listener::tls`].
pub fn tls(cert_file: &Path, key_file: &Path) -> Result<Tls, TlsError> {
    Tls::from_pem_files(cert_file, key_file, &[b"h2", b"http/1.1"])
}
