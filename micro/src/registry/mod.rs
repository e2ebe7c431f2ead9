//! Service discovery: where services are and what they serve.
//!
//! The record format is go-micro v2's, so the JSON is interchangeable: a [`Service`] has a name,
//! a version, metadata, [`Endpoint`]s with request/response [`Value`] trees, and [`Node`]s.

mod absent;
mod cache;
#[cfg(feature = "etcd")]
mod etcd;
#[cfg(feature = "mdns")]
mod mdns;
mod memory;

pub use cache::CacheRegistry;
#[cfg(feature = "etcd")]
pub use etcd::{node_key, EtcdOptions, EtcdRegistry, EtcdTls};
#[cfg(feature = "mdns")]
pub use mdns::{
    decode_txt, network_is_private, Interfaces, MdnsRegistry, MDNS_REQUIRE_PRIVATE_NETWORK,
};
pub use memory::MemoryRegistry;

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

pub use crate::metadata::Metadata;
use crate::schema::null_as_default;
pub use crate::schema::{Schema, Value};

/// A service: every node of one version of one name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Fully qualified name, e.g. `go.micro.srv.greeter`.
    pub name: String,
    /// Version, `latest` by default.
    #[serde(default)]
    pub version: String,
    /// Service-wide metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// What the service answers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub endpoints: Vec<Endpoint>,
    /// Where it runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub nodes: Vec<Node>,
}

/// One running instance of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Unique id, `<service>-<uuid>`.
    pub id: String,
    /// `host:port`.
    pub address: String,
    /// Node metadata: `registry`, `broker`, `server`, `transport`, `protocol`, ...
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// An endpoint: `Handler.Method` with its request and response shapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `Handler.Method`, or a subscriber's name.
    pub name: String,
    /// The request message's fields.
    #[serde(default)]
    pub request: Option<Value>,
    /// The response message's fields.
    #[serde(default)]
    pub response: Option<Value>,
    /// e.g. `stream=false`, or `subscriber=true,topic=...`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// Options for [`Registry::register`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RegisterOptions {
    /// How long the record lives unless registered again; `None` for ever.
    pub ttl: Option<Duration>,
}

/// Options for [`Registry::watch`].
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Only events of this service; all services when `None`.
    pub service: Option<String>,
}

/// What happened to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A node appeared.
    Create,
    /// A node was registered again or changed.
    Update,
    /// A node left.
    Delete,
}

/// A change seen by a [`Watcher`]: the service record holding the nodes concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Create, update or delete.
    pub action: Action,
    /// The service, with the nodes the action concerns.
    pub service: Service,
}

/// A stream of registry changes; ends when the registry closes it.
pub type Watcher = BoxStream<'static, Result<Event, RegistryError>>;

/// A registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No such service.
    #[error("service not found")]
    NotFound,
    /// The backend could not be reached or refused the operation.
    #[error("registry {backend}: {detail}")]
    Backend {
        /// Which registry.
        backend: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Unknown registry name in configuration.
    #[error("unknown registry {0:?} (this build knows: {known})", known = KNOWN.join(", "))]
    Unknown(String),
}

impl From<RegistryError> for crate::Error {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound => crate::Error::not_found("go.micro.registry", e.to_string()),
            _ => crate::Error::internal_server_error("go.micro.registry", e.to_string()),
        }
    }
}

/// Service discovery: register, look up, list and watch services.
#[async_trait::async_trait]
pub trait Registry: Send + Sync + std::fmt::Debug + 'static {
    /// The registry's name (`memory`, `mdns`, `etcd`), as node metadata shows it.
    fn name(&self) -> &'static str;

    /// Adds (or refreshes) the nodes of `service`.
    async fn register(&self, service: &Service, opts: RegisterOptions)
        -> Result<(), RegistryError>;

    /// Removes the nodes of `service`.
    async fn deregister(&self, service: &Service) -> Result<(), RegistryError>;

    /// Every version of the service `name`; [`RegistryError::NotFound`] if there is none.
    ///
    /// Shared, not copied: registries that hold their records in memory (the cache, the memory
    /// registry) hand out the one they hold, so the selector's lookup on every call copies no
    /// record.
    async fn get_service(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError>;

    /// Every service, sorted by name (records carry name and version; nodes may be empty).
    async fn list_services(&self) -> Result<Vec<Service>, RegistryError>;

    /// Changes from now on.
    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError>;
}

/// Registry names this build knows, the default first.
pub const KNOWN: &[&str] = &[
    #[cfg(feature = "mdns")]
    "mdns",
    "memory",
    #[cfg(feature = "etcd")]
    "etcd",
];

/// How long a registration lives unless renewed (go-micro's 60 s).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// How often a service renews its registration (go-micro's 30 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The registry used when none is named: mDNS where built in, else memory.
pub const DEFAULT: &str = KNOWN[0];

/// A registry by name (`mdns`, `etcd`, `memory`) and address. In-process registries are
/// shared by every caller of one process, so services and clients built separately meet; etcd,
/// the one answering over the network, comes behind a [`CacheRegistry`], so calls make no
/// registry round trips.
pub fn by_name(name: &str, address: Option<&str>) -> Result<Arc<dyn Registry>, RegistryError> {
    let _ = address;
    match name.trim() {
        "" => by_name(DEFAULT, address),
        "memory" => Ok(MemoryRegistry::shared()),
        #[cfg(feature = "mdns")]
        "mdns" => MdnsRegistry::shared(),
        #[cfg(feature = "etcd")]
        "etcd" => Ok(Arc::new(CacheRegistry::new(Arc::new(
            EtcdRegistry::from_address(address),
        )))),
        other => Err(RegistryError::Unknown(other.to_string())),
    }
}
