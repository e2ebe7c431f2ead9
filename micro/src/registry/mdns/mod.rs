//! The mDNS registry, the default: zero-configuration discovery between processes, via
//! `mdns-sd`.
//!
//! Every node is one DNS-SD instance of `_micro._tcp.local.`; its TXT record carries the service
//! record (JSON holding that one node), zlib-compressed and base64-encoded, in chunks keyed
//! `0`, `1`, ... since one TXT string holds at most 255 bytes. A background browse keeps an
//! in-process view of every instance, so lookups answer from memory; a deregistered node sends
//! mDNS goodbyes and leaves other processes' views at once. A fresh process (the CLI) does not
//! wait for the browse to hear every responder: its first lookup asks once, by legacy unicast
//! ([`query`]), and every responder answers at once.
//!
//! By default only the loopback interface is used, so discovery works between processes on one
//! machine and nothing leaves it; `MICRO_MDNS_INTERFACES` (`all`, or interface names separated
//! by commas) widens it.

use super::{
    Action, Event, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use futures::StreamExt;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use txt::{decode, encode, instance_name};

mod query;
mod txt;
pub use txt::decode as decode_txt;

const SERVICE_TYPE: &str = "_micro._tcp.local.";
/// How long the browse takes to hear every responder: a responder answers a multicast query at
/// once, except within a second of multicasting the same record (RFC 6762 rate limit), when
/// the answer comes with the browse's second query, one second in. Until then a lookup asks
/// by one-shot query instead, or (where that is not available) waits this out.
const SETTLE: Duration = Duration::from_millis(1300);

/// Which network interfaces mDNS uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Interfaces {
    /// IPv4 loopback only: discovery between processes of one machine (the default).
    #[default]
    Loopback,
    /// Every interface: discovery across the local network.
    All,
    /// These interfaces, by name (e.g. `lo`, `eth0`).
    Named(Vec<String>),
}

impl Interfaces {
    /// The address a one-shot query goes out on: the loopback's. (On wider interfaces lookups
    /// wait for the browse instead.)
    fn one_shot_address(&self) -> Option<Ipv4Addr> {
        matches!(self, Interfaces::Loopback).then_some(Ipv4Addr::LOCALHOST)
    }

    /// From `MICRO_MDNS_INTERFACES`: unset or empty is loopback, `all` is all, else names.
    pub fn from_env() -> Self {
        match std::env::var("MICRO_MDNS_INTERFACES")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("lo") | Some("loopback") => Interfaces::Loopback,
            Some("all") => Interfaces::All,
            Some(names) => Interfaces::Named(
                names
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect(),
            ),
        }
    }
}

/// Registry over multicast DNS.
#[derive(Debug, Clone)]
pub struct MdnsRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    daemon: ServiceDaemon,
    interfaces: Interfaces,
    started: Instant,
    /// Whether a one-shot query filled `known` before the browse had settled.
    primed: tokio::sync::OnceCell<bool>,
    /// Every instance seen: DNS-SD full name -> the record it carries.
    known: Mutex<HashMap<String, Service>>,
    /// Instances this process registered: node id -> (full name, encoded record).
    own: Mutex<HashMap<String, (String, String)>>,
    events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsRegistry")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

fn backend(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Backend {
        backend: "mdns",
        detail: e.to_string(),
    }
}

/// With this variable set (as `scripts/test` sets it for every test and every process a test
/// starts), mDNS refuses to start outside a private network namespace: mdns-sd binds
/// 0.0.0.0:5353 and joins the multicast group on every interface before micro narrows it.
pub const MDNS_REQUIRE_PRIVATE_NETWORK: &str = "MICRO_MDNS_REQUIRE_PRIVATE_NETWORK";

/// Whether this process sits in a network namespace of its own, with loopback alone.
pub fn network_is_private() -> bool {
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    let interfaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    interfaces == ["lo"]
}

impl MdnsRegistry {
    /// A registry on the interfaces `MICRO_MDNS_INTERFACES` names (loopback by default).
    pub fn new() -> Result<Self, RegistryError> {
        Self::with_interfaces(Interfaces::from_env())
    }

    /// A registry on these interfaces.
    pub fn with_interfaces(interfaces: Interfaces) -> Result<Self, RegistryError> {
        if std::env::var_os(MDNS_REQUIRE_PRIVATE_NETWORK).is_some() && !network_is_private() {
            return Err(backend(format!(
                "refusing to start outside a private network namespace ({MDNS_REQUIRE_PRIVATE_NETWORK} is set): name another registry, or run inside `unshare -n`"
            )));
        }
        let daemon = ServiceDaemon::new().map_err(backend)?;
        match &interfaces {
            Interfaces::All => {}
            Interfaces::Loopback => {
                daemon.disable_interface(IfKind::All).map_err(backend)?;
                daemon
                    .enable_interface(IfKind::LoopbackV4)
                    .map_err(backend)?;
            }
            Interfaces::Named(names) => {
                daemon.disable_interface(IfKind::All).map_err(backend)?;
                let kinds: Vec<IfKind> = names.iter().map(|n| IfKind::Name(n.clone())).collect();
                daemon.enable_interface(kinds).map_err(backend)?;
            }
        }
        let browse = daemon.browse(SERVICE_TYPE).map_err(backend)?;
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            daemon,
            interfaces,
            started: Instant::now(),
            primed: tokio::sync::OnceCell::new(),
            known: Mutex::new(HashMap::new()),
            own: Mutex::new(HashMap::new()),
            events,
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("micro-mdns-browse".into())
            .spawn(move || {
                while let Ok(event) = browse.recv() {
                    let Some(inner) = weak.upgrade() else { break };
                    inner.on_browse_event(event);
                }
            })
            .map_err(backend)?;
        Ok(MdnsRegistry { inner })
    }

    /// The registry every `mdns` lookup in this process shares (one mDNS daemon per process).
    pub fn shared() -> Result<Arc<dyn Registry>, RegistryError> {
        static SHARED: OnceLock<MdnsRegistry> = OnceLock::new();
        if let Some(r) = SHARED.get() {
            return Ok(Arc::new(r.clone()));
        }
        let registry = MdnsRegistry::new()?;
        Ok(Arc::new(SHARED.get_or_init(|| registry).clone()))
    }

    /// Services by name and version as currently known.
    fn versions_of(&self, name: &str) -> Vec<Service> {
        let known = self.inner.known.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_version: BTreeMap<String, Service> = BTreeMap::new();
        for record in known.values().filter(|s| s.name == name) {
            match by_version.get_mut(&record.version) {
                Some(s) => s.nodes.extend(record.nodes.iter().cloned()),
                None => {
                    by_version.insert(record.version.clone(), record.clone());
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

    /// Makes the view complete before it is read. While the browse may not have heard every
    /// responder yet, the first lookup asks them all by one-shot query (on loopback, the
    /// default) and every lookup waits for that; where no one-shot query can be sent, they
    /// wait until the browse has settled. Every node counts: the first answer is not enough.
    async fn complete_view(&self) {
        if self.inner.started.elapsed() >= SETTLE {
            return;
        }
        let primed = self
            .inner
            .primed
            .get_or_init(|| async {
                let Some(address) = self.inner.interfaces.one_shot_address() else {
                    return false;
                };
                match query::instances(address).await {
                    Ok(found) => {
                        for (fullname, service) in found {
                            self.inner.upsert(fullname, service);
                        }
                        true
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no one-shot mDNS query; waiting for the browse");
                        false
                    }
                }
            })
            .await;
        if !*primed {
            let settled = self.inner.started + SETTLE;
            tokio::time::sleep_until(settled.into()).await;
        }
    }
}

impl Inner {
    fn on_browse_event(&self, event: ServiceEvent) {
        match event {
            ServiceEvent::ServiceResolved(resolved) => {
                let fullname = resolved.get_fullname().to_string();
                let chunks: Vec<(usize, String)> = resolved
                    .get_properties()
                    .iter()
                    .filter_map(|p| Some((p.key().parse::<usize>().ok()?, p.val_str().to_string())))
                    .collect();
                match decode(chunks) {
                    Ok(service) => self.upsert(fullname, service),
                    Err(e) => {
                        tracing::warn!(instance = %fullname, error = %e, "ignoring an mDNS record that is not a micro service")
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) => self.remove(&fullname),
            _ => {}
        }
    }

    fn upsert(&self, fullname: String, service: Service) {
        let action = {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            match known.insert(fullname, service.clone()) {
                None => Some(Action::Create),
                Some(old) if old != service => Some(Action::Update),
                Some(_) => None,
            }
        };
        if let Some(action) = action {
            let _ = self.events.send(Event { action, service });
        }
    }

    fn remove(&self, fullname: &str) {
        let removed = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(fullname);
        if let Some(service) = removed {
            let _ = self.events.send(Event {
                action: Action::Delete,
                service,
            });
        }
    }
}

#[async_trait::async_trait]
impl Registry for MdnsRegistry {
    fn name(&self) -> &'static str {
        "mdns"
    }

    async fn register(
        &self,
        service: &Service,
        _opts: RegisterOptions,
    ) -> Result<(), RegistryError> {
        for node in &service.nodes {
            let record = Service {
                nodes: vec![node.clone()],
                ..service.clone()
            };
            let properties = encode(&record)?;
            let encoded: String = {
                let mut keys: Vec<_> = properties.iter().collect();
                keys.sort();
                keys.into_iter().map(|(k, v)| format!("{k}={v};")).collect()
            };
            {
                let own = self.inner.own.lock().unwrap_or_else(|e| e.into_inner());
                // mDNS announces by itself; only a changed record needs announcing again.
                if own.get(&node.id).is_some_and(|(_, e)| *e == encoded) {
                    continue;
                }
            }
            let address: std::net::SocketAddr = node.address.parse().map_err(|e| {
                backend(format!(
                    "node address {:?} is not ip:port: {e}",
                    node.address
                ))
            })?;
            let instance = instance_name(&service.name, &node.id);
            let host = format!("{instance}.local.");
            let mut info = ServiceInfo::new(
                SERVICE_TYPE,
                &instance,
                &host,
                address.ip(),
                address.port(),
                properties,
            )
            .map_err(backend)?;
            // Instance names are node uuids, unique by construction: announce at once rather
            // than probe for conflicts for most of a second first.
            info.set_requires_probe(false);
            let fullname = info.get_fullname().to_string();
            self.inner.daemon.register(info).map_err(backend)?;
            self.inner
                .own
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.id.clone(), (fullname.clone(), encoded));
            // This process knows its own nodes at once.
            self.inner.upsert(fullname, record);
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<(), RegistryError> {
        for node in &service.nodes {
            let own = self
                .inner
                .own
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&node.id);
            let Some((fullname, _)) = own else { continue };
            let status = self.inner.daemon.unregister(&fullname).map_err(backend)?;
            // The daemon confirms once the goodbyes are out.
            let _ = tokio::time::timeout(Duration::from_secs(2), status.recv_async()).await;
            self.inner.remove(&fullname);
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        self.complete_view().await;
        let services = self.versions_of(name);
        if services.is_empty() {
            return Err(RegistryError::NotFound);
        }
        Ok(Arc::new(services))
    }

    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        self.complete_view().await;
        let known = self.inner.known.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen: BTreeMap<(String, String), Service> = BTreeMap::new();
        for record in known.values() {
            seen.entry((record.name.clone(), record.version.clone()))
                .or_insert_with(|| Service {
                    nodes: Vec::new(),
                    ..record.clone()
                });
        }
        Ok(seen.into_values().collect())
    }

    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError> {
        let rx = self.inner.events.subscribe();
        let stream = BroadcastStream::new(rx).filter_map(move |event| {
            let item = match event {
                Ok(e) if opts.service.as_ref().is_none_or(|s| *s == e.service.name) => Some(Ok(e)),
                Ok(_) => None,
                Err(lagged) => Some(Err(backend(format!("watcher fell behind: {lagged}")))),
            };
            futures::future::ready(item)
        });
        Ok(stream.boxed())
    }
}
