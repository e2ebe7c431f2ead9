//! Web services: any HTTP server (an axum `Router`, hyper, ...) registered in the registry like a
//! micro service, so `micro api --handler=http|web` can route to it.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let address = listener.local_addr().unwrap();
//! // ... serve your HTTP app on `listener` ...
//! let web = micro::web::register("go.micro.web.greeter", &address.to_string(), micro::config::Config::from_env().registry()?).await?;
//! // on shutdown:
//! web.deregister().await?;
//! # Ok(()) }
//! ```

use crate::config::Config;
use crate::registry::{Registry, Service};
use crate::server::register::{self, Registration};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A registered web service; re-registers every interval until [`deregister`](Self::deregister).
#[derive(Debug)]
pub struct WebRegistration {
    registration: Registration,
    heartbeat: JoinHandle<()>,
}

/// Registers the HTTP server at `address` (`host:port`) as service `name` (version `latest`),
/// with node metadata `server=http`, and keeps it registered (TTL and interval from
/// `MICRO_REGISTER_TTL` / `MICRO_REGISTER_INTERVAL`).
pub async fn register(
    name: &str,
    address: &str,
    registry: Arc<dyn Registry>,
) -> crate::Result<WebRegistration> {
    let config = Config::from_env();
    let node = register::node(name, address, registry.name(), &config.broker, "http");
    let service = Service {
        name: name.to_string(),
        version: "latest".into(),
        nodes: vec![node],
        ..Default::default()
    };
    let registration = Registration::of(
        registry,
        service,
        config.register_ttl,
        config.register_interval,
    );
    let registered = registration.register().await.is_ok();
    let heartbeat = registration.spawn_heartbeat(registered);
    Ok(WebRegistration {
        registration,
        heartbeat,
    })
}

impl WebRegistration {
    /// The node's registry id.
    pub fn node_id(&self) -> &str {
        self.registration.node_id()
    }

    /// Leaves the registry (do this before stopping the HTTP server).
    pub async fn deregister(self) -> crate::Result<()> {
        self.heartbeat.abort();
        self.registration.deregister().await
    }
}
