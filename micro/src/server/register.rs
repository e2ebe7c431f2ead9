//! Registration: the node's record, registered on start, again every interval with a TTL, and
//! removed on stop.

use super::ServerOptions;
use crate::registry::{Endpoint, Node, RegisterOptions, Registry, Service};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub(crate) struct Registration {
    registry: Arc<dyn Registry>,
    service: Service,
    ttl: Duration,
    interval: Duration,
}

impl Registration {
    pub fn new(options: &ServerOptions, address: &str, endpoints: Vec<Endpoint>) -> Self {
        let registry = Arc::clone(&options.registry);
        let metadata = BTreeMap::from(
            [
                ("registry", registry.name()),
                ("broker", "http"),
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

    pub fn node_id(&self) -> &str {
        &self.service.nodes[0].id
    }

    pub async fn register(&self) -> crate::Result<()> {
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

    pub async fn deregister(&self) -> crate::Result<()> {
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

    /// Registers again every interval, so the record outlives its TTL only while we run.
    pub fn spawn_heartbeat(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = this.register().await {
                    tracing::warn!(error = %e, "re-registering failed; will try again");
                }
            }
        })
    }
}
