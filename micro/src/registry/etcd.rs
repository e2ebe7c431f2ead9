//! The etcd registry: for anything beyond one machine.
//!
//! Layout, as go-micro's: key `/micro/registry/<service>/<node-id>` (a `/` inside either part
//! becomes `-`), value the JSON of the service record holding that one node, under a lease of
//! TTL seconds. Each node keeps one lease for life; registering again sends a keep-alive on it
//! (a new lease only if etcd let the old one expire), and writes the record only when it changed.

use super::{
    Action, Event, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use etcd_client::{
    Client, ConnectOptions, EventType, GetOptions, LeaseKeepAliveStream, LeaseKeeper, PutOptions,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};

const PREFIX: &str = "/micro/registry/";
const DEFAULT_ADDRESS: &str = "127.0.0.1:2379";

/// Registry backed by etcd v3.
///
/// ```no_run
/// let registry = micro::registry::EtcdRegistry::new(["127.0.0.1:2379"]);
/// ```
pub struct EtcdRegistry {
    endpoints: Vec<String>,
    options: EtcdOptions,
    client: OnceCell<Client>,
    /// node id -> its lease, while this process registers the node.
    leases: Mutex<HashMap<String, Lease>>,
}

impl std::fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Connection options of the etcd registry.
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    /// User name and password, when etcd has auth on.
    pub user: Option<(String, String)>,
    /// Timeout of each request (default 5 s).
    pub timeout: Option<Duration>,
    /// TLS to etcd (needs cargo feature `etcd-tls`).
    pub tls: Option<EtcdTls>,
}

/// TLS settings for etcd: PEM files of the CA to trust and, for client-certificate auth, our
/// certificate and key.
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    /// CA certificate (PEM); the system's roots are not used.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM).
    pub cert: Option<std::path::PathBuf>,
    /// Client key (PEM).
    pub key: Option<std::path::PathBuf>,
}

impl EtcdTls {
    /// From `MICRO_REGISTRY_TLS_CA`, `MICRO_REGISTRY_TLS_CERT`, `MICRO_REGISTRY_TLS_KEY`; `None`
    /// when none is set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
        };
        let tls = EtcdTls {
            ca: var("MICRO_REGISTRY_TLS_CA"),
            cert: var("MICRO_REGISTRY_TLS_CERT"),
            key: var("MICRO_REGISTRY_TLS_KEY"),
        };
        (tls.ca.is_some() || tls.cert.is_some()).then_some(tls)
    }

    #[cfg(feature = "etcd-tls")]
    fn options(&self) -> Result<etcd_client::TlsOptions, RegistryError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| backend(format!("reading {}: {e}", p.display())))
        };
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => tls = tls.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => return Err(backend("a client certificate needs both MICRO_REGISTRY_TLS_CERT and MICRO_REGISTRY_TLS_KEY")),
        }
        Ok(tls)
    }
}

struct Lease {
    id: i64,
    /// The record last written, to skip writes of unchanged records.
    value: String,
    keeper: LeaseKeeper,
    responses: LeaseKeepAliveStream,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Backend {
        backend: "etcd",
        detail: e.to_string(),
    }
}

/// `/micro/registry/<service>/<node>`, with `/` inside either part replaced by `-`.
pub fn node_key(service: &str, node: &str) -> String {
    format!(
        "{PREFIX}{}/{}",
        service.replace('/', "-"),
        node.replace('/', "-")
    )
}

fn service_prefix(service: &str) -> String {
    format!("{PREFIX}{}/", service.replace('/', "-"))
}

impl EtcdRegistry {
    /// A registry using these etcd endpoints (`host:port` or URLs); connects on first use.
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Self::with_options(endpoints, EtcdOptions::default())
    }

    /// As [`new`](Self::new), with connection options.
    pub fn with_options<S: AsRef<str>>(
        endpoints: impl IntoIterator<Item = S>,
        options: EtcdOptions,
    ) -> Self {
        let mut endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| e.as_ref().trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            endpoints.push(DEFAULT_ADDRESS.into());
        }
        EtcdRegistry {
            endpoints,
            options,
            client: OnceCell::new(),
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// From `MICRO_REGISTRY_ADDRESS` (comma-separated, default `127.0.0.1:2379`) and, when
    /// set, `MICRO_REGISTRY_USERNAME` / `MICRO_REGISTRY_PASSWORD` and the
    /// `MICRO_REGISTRY_TLS_*` files (see [`EtcdTls::from_env`]).
    pub fn from_address(address: Option<&str>) -> Self {
        let endpoints: Vec<&str> = address.unwrap_or(DEFAULT_ADDRESS).split(',').collect();
        let user = std::env::var("MICRO_REGISTRY_USERNAME")
            .ok()
            .filter(|u| !u.is_empty())
            .map(|u| {
                (
                    u,
                    std::env::var("MICRO_REGISTRY_PASSWORD").unwrap_or_default(),
                )
            });
        Self::with_options(
            endpoints,
            EtcdOptions {
                user,
                ..Default::default()
            },
        )
    }

    /// The endpoints this registry talks to.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    async fn client(&self) -> Result<Client, RegistryError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let mut opts = ConnectOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(self.options.timeout.unwrap_or(Duration::from_secs(5)))
                    .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
                if let Some((user, password)) = &self.options.user {
                    opts = opts.with_user(user.clone(), password.clone());
                }
                if let Some(tls) = &self.options.tls {
                    #[cfg(feature = "etcd-tls")]
                    {
                        opts = opts.with_tls(tls.options()?);
                    }
                    #[cfg(not(feature = "etcd-tls"))]
                    {
                        let _ = tls;
                        return Err(backend(
                            "TLS to etcd needs micro built with cargo feature etcd-tls",
                        ));
                    }
                }
                Client::connect(&self.endpoints, Some(opts))
                    .await
                    .map_err(|e| {
                        backend(format!("connecting to {}: {e}", self.endpoints.join(",")))
                    })
            })
            .await?;
        Ok(client.clone())
    }

    /// Keeps `lease` alive; false when etcd says it expired.
    async fn keep_alive(lease: &mut Lease) -> Result<bool, RegistryError> {
        lease.keeper.keep_alive().await.map_err(backend)?;
        match lease.responses.message().await.map_err(backend)? {
            Some(r) => Ok(r.ttl() > 0),
            None => Ok(false),
        }
    }

    async fn register_node(
        &self,
        record: Service,
        node_id: &str,
        ttl: i64,
    ) -> Result<(), RegistryError> {
        let key = node_key(&record.name, node_id);
        let value = serde_json::to_string(&record).map_err(backend)?;
        let mut client = self.client().await?;
        let mut leases = self.leases.lock().await;

        if let Some(lease) = leases.get_mut(node_id) {
            match Self::keep_alive(lease).await {
                Ok(true) => {
                    if lease.value != value {
                        let put = PutOptions::new().with_lease(lease.id);
                        client
                            .put(key, value.clone(), Some(put))
                            .await
                            .map_err(backend)?;
                        lease.value = value;
                    }
                    return Ok(());
                }
                // Expired (etcd was away longer than the TTL): start over with a new lease.
                Ok(false) => {}
                // The keep-alive stream broke (etcd restarted): a new lease on a new stream.
                Err(e) => {
                    tracing::debug!(error = %e, "lease keep-alive failed; granting a new lease")
                }
            }
            leases.remove(node_id);
        }

        let granted = client
            .lease_grant(ttl.max(1), None)
            .await
            .map_err(backend)?;
        client
            .put(
                key,
                value.clone(),
                Some(PutOptions::new().with_lease(granted.id())),
            )
            .await
            .map_err(backend)?;
        let (keeper, responses) = client
            .lease_keep_alive(granted.id())
            .await
            .map_err(backend)?;
        leases.insert(
            node_id.to_string(),
            Lease {
                id: granted.id(),
                value,
                keeper,
                responses,
            },
        );
        Ok(())
    }

    async fn records(&self, prefix: &str) -> Result<Vec<Service>, RegistryError> {
        let mut client = self.client().await?;
        let rsp = client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(backend)?;
        Ok(rsp
            .kvs()
            .iter()
            .filter_map(|kv| match serde_json::from_slice::<Service>(kv.value()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(kv.key()), error = %e, "skipping a record that is not a service");
                    None
                }
            })
            .collect())
    }
}

/// Merges one-node records into one record per version, nodes sorted by id.
fn merge_versions(records: Vec<Service>) -> Vec<Service> {
    let mut by_version: BTreeMap<String, Service> = BTreeMap::new();
    for record in records {
        match by_version.get_mut(&record.version) {
            Some(merged) => merged.nodes.extend(record.nodes),
            None => {
                by_version.insert(record.version.clone(), record);
            }
        }
    }
    by_version
        .into_values()
        .map(|mut s| {
            s.nodes.sort_by(|a, b| a.id.cmp(&b.id));
            s
        })
        .collect()
}

#[async_trait::async_trait]
impl Registry for EtcdRegistry {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn register(
        &self,
        service: &Service,
        opts: RegisterOptions,
    ) -> Result<(), RegistryError> {
        let ttl = opts.ttl.map_or(0, |t| t.as_secs().max(1) as i64);
        for node in &service.nodes {
            let record = Service {
                nodes: vec![node.clone()],
                ..service.clone()
            };
            if ttl == 0 {
                // No TTL: a plain key that lives until deregistered.
                let value = serde_json::to_string(&record).map_err(backend)?;
                self.client()
                    .await?
                    .put(node_key(&service.name, &node.id), value, None)
                    .await
                    .map_err(backend)?;
            } else {
                self.register_node(record, &node.id, ttl).await?;
            }
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<(), RegistryError> {
        let mut client = self.client().await?;
        for node in &service.nodes {
            client
                .delete(node_key(&service.name, &node.id), None)
                .await
                .map_err(backend)?;
            if let Some(lease) = self.leases.lock().await.remove(&node.id) {
                // The key is gone already; a failed revoke only leaves a lease to expire.
                let _ = client.lease_revoke(lease.id).await;
            }
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        let services = merge_versions(self.records(&service_prefix(name)).await?);
        if services.is_empty() {
            return Err(RegistryError::NotFound);
        }
        Ok(Arc::new(services))
    }

    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        let mut seen: BTreeMap<(String, String), Service> = BTreeMap::new();
        for record in self.records(PREFIX).await? {
            seen.entry((record.name.clone(), record.version.clone()))
                .or_insert(Service {
                    nodes: Vec::new(),
                    ..record
                });
        }
        Ok(seen.into_values().collect())
    }

    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError> {
        let prefix = match &opts.service {
            Some(name) => service_prefix(name),
            None => PREFIX.to_string(),
        };
        let mut client = self.client().await?;
        let stream = client
            .watch(
                prefix,
                Some(
                    etcd_client::WatchOptions::new()
                        .with_prefix()
                        .with_prev_key(),
                ),
            )
            .await
            .map_err(backend)?;
        let events = futures::stream::unfold(stream, |mut stream| async move {
            match stream.message().await {
                Ok(Some(rsp)) => {
                    let events: Vec<Result<Event, RegistryError>> =
                        rsp.events().iter().filter_map(to_event).map(Ok).collect();
                    Some((futures::stream::iter(events), stream))
                }
                Ok(None) => None,
                Err(e) => Some((
                    futures::stream::iter(vec![Err(backend(format!("watch: {e}")))]),
                    stream,
                )),
            }
        })
        .flatten()
        // An error ends the watch: the caller watches again once etcd is back.
        .scan(false, |failed, item| {
            let done = *failed;
            *failed = item.is_err();
            futures::future::ready((!done).then_some(item))
        });
        Ok(events.boxed())
    }
}

fn to_event(event: &etcd_client::Event) -> Option<Event> {
    let decode = |kv: Option<&etcd_client::KeyValue>| {
        kv.and_then(|kv| serde_json::from_slice::<Service>(kv.value()).ok())
    };
    match event.event_type() {
        EventType::Put => {
            let service = decode(event.kv())?;
            let action = if event.prev_kv().is_some() {
                Action::Update
            } else {
                Action::Create
            };
            Some(Event { action, service })
        }
        EventType::Delete => {
            let service = decode(event.prev_kv()).or_else(|| {
                // Without the previous value, rebuild the node from the key.
                let key = String::from_utf8_lossy(event.kv()?.key()).into_owned();
                let (name, node) = key.strip_prefix(PREFIX)?.split_once('/')?;
                Some(Service {
                    name: name.to_string(),
                    nodes: vec![super::Node {
                        id: node.to_string(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            })?;
            Some(Event {
                action: Action::Delete,
                service,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_replace_slashes() {
        assert_eq!(
            node_key("go.micro.srv.greeter", "n-1"),
            "/micro/registry/go.micro.srv.greeter/n-1"
        );
        assert_eq!(node_key("a/b", "c/d"), "/micro/registry/a-b/c-d");
    }
}
