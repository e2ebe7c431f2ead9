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

impl Registration {
    pub(crate) fn new(options: &ServerOptions, address: &str, endpoints: Vec<Endpoint>) -> Self {
        let registry = Arc::clone(&options.registry);
        let metadata = BTreeMap::from(
            [
                ("registry", registry.name()),
                ("broker", options.broker.as_str()),
                ("server", "grpc"),
                ("transport", "grpc"),
                ("protocol", "grpc"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let node = Node {
            id: format!("{}-{}", options.name, uuid::Uuid::new_v4()),
            address: address.to_string(),
            metadata,
        };
        Registration {
            registry,
            service: Service {
                name: options.name.clone(),
                version: options.version.clone(),
                metadata: options.metadata.clone(),
                endpoints,
                nodes: vec![node],
            },
            ttl: options.register_ttl,
            interval: options.register_interval,
        }
    }

    /// Sets a metadata pair of the node (e.g. `server=http` for web services).
    pub(crate) fn set_node_metadata(&mut self, key: &str, value: &str) {
        self.service.nodes[0]
            .metadata
            .insert(key.to_string(), value.to_string());
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
