//! The client: call any service by name, typed or in JSON.
//!
//! A call looks the service up through the [`Selector`], sends standard gRPC to the chosen node
//! over a pooled HTTP/2 connection, and retries failures worth retrying on the next node, within
//! one overall deadline.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let client = micro::Client::from_env()?;
//! let reply = client
//!     .call_json("go.micro.srv.greeter", "Greeter.Call", &serde_json::json!({"name": "John"}), Default::default())
//!     .await?;
//! assert_eq!(reply["msg"], "Hello John");
//! # Ok(()) }
//! ```

mod attempt;
mod backoff;
mod builder;
mod call;
mod error;
mod options;
mod pool;
mod probe;
mod publish;
mod retry;
mod stream;
mod tls;
mod via;
mod wire;

pub use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
pub use attempt::{Answer, Attempt, ClientLayers, ClientStack, Kind};
pub use backoff::{exponential_backoff, no_backoff, Backoff};
pub use builder::ClientBuilder;
pub use error::CallError;
pub use options::{CallOptions, DEFAULT_RETRIES, DEFAULT_TIMEOUT};
pub use retry::should_retry;
pub use tls::{ClientTls, SECURE};
pub use via::{Via, PROXY_SERVICE};

use crate::registry::Registry;
use crate::selector::Selector;
use pool::Pool;
use std::sync::Arc;
use std::time::Duration;

pub use crate::errors::CLIENT_ID;

/// Calls services by name. Cheap to clone; clones share connections and selector state.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    selector: Arc<dyn Selector>,
    pool: Pool,
    timeout: Duration,
    retries: u32,
    max_message_size: usize,
    /// The calling service's name, sent as `micro-from-service`.
    from_service: Option<String>,
    /// `Bearer <token>` of the client's own token, sent with calls that carry none.
    authorization: Option<tonic::metadata::AsciiMetadataValue>,
    /// The registry, for a default broker made on first publish.
    registry: Option<Arc<dyn Registry>>,
    broker: std::sync::OnceLock<Arc<dyn crate::broker::Broker>>,
    /// The layers around every attempt, when there are any.
    stack: Option<ClientStack>,
    /// The proxy every call goes through (`MICRO_PROXY`), if any.
    proxy: Option<Via>,
    /// The most time one attempt of a call may take, if less than the call's.
    attempt_timeout: Option<Duration>,
    /// Nodes out of rotation being probed.
    probes: probe::Probes,
}

impl Client {
    /// A client finding services in `registry`, with go-micro's defaults.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        ClientBuilder::default().registry(registry).build()
    }

    /// A client of the registry named by `MICRO_REGISTRY` / `MICRO_REGISTRY_ADDRESS`.
    pub fn from_env() -> crate::Result<Self> {
        Ok(Self::new(crate::config::Config::from_env().registry()?))
    }

    /// A builder for a client with other defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The most time one attempt of a call may take, when the client sets one.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.inner.attempt_timeout
    }

    /// The selector this client picks nodes with.
    pub fn selector(&self) -> &Arc<dyn Selector> {
        &self.inner.selector
    }

    /// The service whose certificate a node serving a call to `service` must show: the proxy
    /// when the call goes through one, else `service` (a call given an address goes straight
    /// to it, whatever `MICRO_PROXY` says).
    pub(crate) fn identity_for<'a>(&'a self, service: &'a str, via_proxy: bool) -> &'a str {
        match &self.inner.proxy {
            Some(Via::Service(proxy)) if via_proxy => proxy,
            Some(Via::Address(_)) if via_proxy => PROXY_SERVICE,
            _ => service,
        }
    }
}
