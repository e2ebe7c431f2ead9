//! Registration: the node's record, registered on start, again every interval with a TTL, and
//! removed on stop.

use super::ServerOptions;
use crate::registry::{Endpoint, Node, RegisterOptions, Registry, Service};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Time between attempts while registration fails.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub(crate) struct Registration {
    registry: Arc<dyn Registry>,
    service: Service,
    ttl: Duration,
    interval: Duration,
}

/// How a node is reached: `grpc` for micro servers, `http` for web services.
pub(crate) type Protocol = &'static str;

/// The record of one new node: id, address, and the metadata go-micro's tools read
/// (`registry`, `broker`, and `server`/`transport`/`protocol` all saying `protocol`).
pub(crate) fn node(
    name: &str,
    address: &str,
    registry: &str,
    broker: &str,
    protocol: Protocol,
) -> Node {
    let metadata = BTreeMap::from(
        [
            ("registry", registry),
            ("broker", broker),
            ("server", protocol),
            ("transport", protocol),
            ("protocol", protocol),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Node {
        id: format!("{name}-{}", uuid::Uuid::new_v4()),
        address: address.to_string(),
        metadata,
    }
}

impl Registration {
    /// A server's registration: its one node at `address`, serving `endpoints` over gRPC, in
    /// TLS when `secure` (its metadata says so, and clients then speak TLS to it).
    pub(crate) fn new(
        options: &ServerOptions,
        address: &str,
        endpoints: Vec<Endpoint>,
        secure: bool,
    ) -> Self {
        let registry = Arc::clone(&options.registry);
        let mut node = node(
            &options.name,
            address,
            registry.name(),
            &options.broker,
            "grpc",
        );
        if secure {
            node.metadata
                .insert(crate::client::SECURE.into(), "true".into());
        }
        let service = Service {
            name: options.name.clone(),
            version: options.version.clone(),
            metadata: options.metadata.clone(),
            endpoints,
            nodes: vec![node],
        };
        Registration::of(
            registry,
            service,
            options.register_ttl,
            options.register_interval,
        )
    }

    /// Keeps `service` (with its node) registered for `ttl`, again every `interval`.
    pub(crate) fn of(
        registry: Arc<dyn Registry>,
        service: Service,
        ttl: Duration,
        interval: Duration,
    ) -> Self {
        Registration {
            registry,
            service,
            ttl,
            interval,
        }
    }

    pub(crate) fn node_id(&self) -> &str {
        &self.service.nodes[0].id
    }

    pub(crate) async fn register(&self) -> crate::Result<()> {
        let opts = RegisterOptions {
            ttl: Some(self.ttl),
        };
        self.registry
            .register(&self.service, opts)
            .await
            .map_err(|e| {
                crate::Error::internal_server_error(
                    &self.service.name,
                    format!(
                        "registering with the {} registry: {e}",
                        self.registry.name()
                    ),
                )
            })
    }

    pub(crate) async fn deregister(&self) -> crate::Result<()> {
        self.registry.deregister(&self.service).await.map_err(|e| {
            crate::Error::internal_server_error(
                &self.service.name,
                format!(
                    "deregistering from the {} registry: {e}",
                    self.registry.name()
                ),
            )
        })
    }

    /// Registers again every interval, so the record outlives its TTL only while we run. After
    /// a failure (the registry is away) it tries again every second until it gets through.
    pub(crate) fn spawn_heartbeat(&self, registered: bool) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ok = registered;
            loop {
                let wait = if ok {
                    this.interval
                } else {
                    this.interval.min(RETRY)
                };
                tokio::time::sleep(wait).await;
                match this.register().await {
                    Ok(()) => {
                        if !ok {
                            tracing::info!(service = %this.service.name, "registered");
                        }
                        ok = true;
                    }
                    Err(e) => {
                        if ok {
                            tracing::warn!(error = %e, "re-registering failed; retrying every second");
                        }
                        ok = false;
                    }
                }
            }
        })
    }
}
