//! Serving the gateway over TLS (rustls), from PEM certificate and key files.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::path::Path;

/// A TLS acceptor for the certificate chain and key in these PEM files (HTTP/2 and HTTP/1.1).
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    micro::server::tls::Tls::from_pem_files(cert_file, key_file, &[b"h2", b"http/1.1"])
        .map(|tls| tls.acceptor().clone())
        .map_err(|e| e.to_string())
}

/// Serves `app` over TLS on `listener` until `shutdown` completes (HTTP/1.1 and HTTP/2).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    acceptor: tokio_rustls::TlsAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A failed handshake concerns that client only.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}
