//! TLS to nodes: the CA their certificates are checked against, the certificate the client
//! presents when a server requires one, and the name a node's certificate must carry (its
//! service's own, so a node someone registered under the service's name without the
//! service's certificate gets no call).
//!
//! A client without TLS settings speaks TLS to the nodes that registered `secure=true`,
//! trusting the system's roots, and plain text to the rest. A client given a CA or a
//! certificate speaks TLS to every node: a node registered as plain text is not trusted to
//! be what it says either.

use crate::tls::{read_certs, read_key, read_pem, ClientTlsFiles, TlsError};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// The registry metadata key saying a node serves TLS.
pub const SECURE: &str = "secure";

/// Whether `node` registered that it serves TLS.
pub(crate) fn is_secure(node: &crate::registry::Node) -> bool {
    node.metadata.get(SECURE).is_some_and(|v| v == "true")
}

/// How a client speaks TLS. Without a CA it trusts the system's roots, and speaks TLS only to
/// nodes registered `secure=true`; with a CA or a certificate, to every node.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Certificate>,
    identity: Option<Identity>,
    server_name: Option<String>,
}

// By hand: the key is never printed.
impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ClientTls {
    /// TLS from its settings (`MICRO_CLIENT_TLS_*`), the files read and checked now.
    pub fn from_files(files: &ClientTlsFiles) -> Result<ClientTls, TlsError> {
        let ca = match &files.ca {
            Some(path) => Some(Certificate::from_pem(read_pem(path, read_certs)?)),
            None => None,
        };
        let identity = match (&files.cert, &files.key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(Identity::from_pem(
                read_pem(cert, read_certs)?,
                read_pem(key, read_key)?,
            )),
            _ => return Err(TlsError::Incomplete(
                "a client certificate needs both MICRO_CLIENT_TLS_CERT and MICRO_CLIENT_TLS_KEY"
                    .into(),
            )),
        };
        Ok(ClientTls {
            ca,
            identity,
            server_name: files.server_name.clone(),
        })
    }

    /// TLS from the `MICRO_CLIENT_TLS_*` variables.
    pub fn from_env() -> Result<ClientTls, TlsError> {
        ClientTls::from_files(&crate::config::Config::from_env().client_tls)
    }

    /// The name every node's certificate must carry, instead of its service's name.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// TLS to `node`?
    pub(crate) fn wanted_for(&self, node: &crate::registry::Node) -> bool {
        self.ca.is_some() || self.identity.is_some() || is_secure(node)
    }

    /// tonic's settings for a connection to a node of `service`.
    pub(crate) fn for_service(&self, service: &str) -> ClientTlsConfig {
        let config =
            ClientTlsConfig::new().domain_name(self.server_name.as_deref().unwrap_or(service));
        let config = match &self.ca {
            Some(ca) => config.ca_certificate(ca.clone()),
            None => config.with_native_roots(),
        };
        match &self.identity {
            Some(identity) => config.identity(identity.clone()),
            None => config,
        }
    }
}
