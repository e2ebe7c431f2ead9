//! What the serving tools (`micro api`, `micro web`, `micro proxy`) share: the address they
//! listen on, and their TLS flags (`--enable_tls --tls_cert_file --tls_key_file`).

use crate::failure::Failure;
use std::path::{Path, PathBuf};

/// The TLS flags of a serving tool.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// Serve over TLS (rustls) with --tls_cert_file and --tls_key_file.
    #[arg(long = "enable_tls", alias = "enable-tls", env = "MICRO_ENABLE_TLS")]
    pub enable_tls: bool,
    /// PEM certificate chain for TLS.
    #[arg(
        long = "tls_cert_file",
        alias = "tls-cert-file",
        env = "MICRO_TLS_CERT_FILE"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(
        long = "tls_key_file",
        alias = "tls-key-file",
        env = "MICRO_TLS_KEY_FILE"
    )]
    pub tls_key_file: Option<PathBuf>,
}

impl TlsArgs {
    /// The certificate and key to serve with, when TLS is enabled; a usage error when a file
    /// is missing.
    pub(crate) fn files(&self) -> Result<Option<(&Path, &Path)>, Failure> {
        if !self.enable_tls {
            return Ok(None);
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            _ => Err(Failure::usage(
                "--enable_tls needs --tls_cert_file and --tls_key_file",
            )),
        }
    }

    /// ` (TLS)` when enabled, for the "listening on" line.
    pub(crate) fn label(&self) -> &'static str {
        if self.enable_tls {
            " (TLS)"
        } else {
            ""
        }
    }
}

/// The address to listen on for `--address`: `:8080` means every interface (`0.0.0.0:8080`).
pub(crate) fn listen_address(flag: &str) -> String {
    if flag.starts_with(':') {
        format!("0.0.0.0{flag}")
    } else {
        flag.to_string()
    }
}

/// A listener on `--address`.
pub(crate) async fn bind(flag: &str) -> Result<tokio::net::TcpListener, Failure> {
    let address = listen_address(flag);
    tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| Failure::new(format!("cannot listen on {address}: {e}")))
}
