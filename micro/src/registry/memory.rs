//! An in-process registry, for tests and single-process applications.

use super::{
    Action, Event, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
// tokio's clock, so tests can pause and advance it instead of racing it.
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_stream::wrappers::BroadcastStream;

/// Registry held in memory. Records expire after their TTL unless registered again.
///
/// ```
/// # tokio_test_block_on(async {
/// use micro::registry::{MemoryRegistry, Registry, Service, Node, RegisterOptions};
/// let registry = MemoryRegistry::new();
/// let service = Service {
///     name: "go.micro.srv.greeter".into(),
///     version: "latest".into(),
///     nodes: vec![Node { id: "n1".into(), address: "127.0.0.1:9000".into(), ..Default::default() }],
///     ..Default::default()
/// };
/// registry.register(&service, RegisterOptions::default()).await.unwrap();
/// assert_eq!(registry.get_service("go.micro.srv.greeter").await.unwrap()[0].nodes.len(), 1);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// name -> version -> record (nodes with their expiry).
    services: Mutex<BTreeMap<String, BTreeMap<String, Record>>>,
    /// The earliest expiry of any node, so lookups skip the sweep until something is due.
    next_expiry: Mutex<Option<Instant>>,
    /// Whether any node expires at all: lookups of records without a TTL take no lock and
    /// read no clock for the sweep.
    expiring: AtomicBool,
    /// Each looked-up service as lookups hand it out, until it changes. Read on its own by
    /// lookups; written only while `services` is locked, so a copy is never older than the
    /// records.
    shared: RwLock<HashMap<String, Arc<Vec<Service>>>>,
    events: broadcast::Sender<Event>,
}

#[derive(Debug, Clone)]
struct Record {
    service: Service,
    /// node id -> expiry.
    expires: HashMap<String, Option<Instant>>,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRegistry {
    /// An empty registry of its own.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        MemoryRegistry {
            inner: Arc::new(Inner {
                services: Mutex::new(BTreeMap::new()),
                next_expiry: Mutex::new(None),
                expiring: AtomicBool::new(false),
                shared: RwLock::default(),
                events,
            }),
        }
    }

    /// The registry every `memory` lookup in this process shares.
    pub fn shared() -> Arc<dyn Registry> {
        static SHARED: OnceLock<MemoryRegistry> = OnceLock::new();
        Arc::new(SHARED.get_or_init(MemoryRegistry::new).clone())
    }

    /// Forgets the shared copy of `name` (every copy when `None`); called with `services` locked.
    fn unshare(&self, name: Option<&str>) {
        let mut shared = self.inner.shared.write().unwrap_or_else(|e| e.into_inner());
        match name {
            Some(name) => drop(shared.remove(name)),
            None => shared.clear(),
        }
    }

    fn emit(&self, action: Action, service: Service) {
        // No watcher is not an error.
        let _ = self.inner.events.send(Event { action, service });
    }

    /// Drops nodes whose TTL passed, telling watchers.
    fn expire(&self) {
        if !self.inner.expiring.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        {
            let next = self
                .inner
                .next_expiry
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if next.is_none_or(|at| at > now) {
                return;
            }
        }
        let mut expired = Vec::new();
        {
            let mut services = self
                .inner
                .services
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for versions in services.values_mut() {
                for record in versions.values_mut() {
                    let dead: Vec<String> = record
                        .expires
                        .iter()
                        .filter(|(_, at)| at.is_some_and(|at| at <= now))
                        .map(|(id, _)| id.clone())
                        .collect();
                    if dead.is_empty() {
                        continue;
                    }
                    let mut gone = record.service.clone();
                    gone.nodes.retain(|n| dead.contains(&n.id));
                    record.service.nodes.retain(|n| !dead.contains(&n.id));
                    for id in &dead {
                        record.expires.remove(id);
                    }
                    expired.push(gone);
                }
                versions.retain(|_, r| !r.service.nodes.is_empty());
            }
            services.retain(|_, v| !v.is_empty());
            if !expired.is_empty() {
                self.unshare(None);
            }
            let next = services
                .values()
                .flat_map(|versions| versions.values())
                .flat_map(|r| r.expires.values().flatten())
                .min()
                .copied();
            let mut next_expiry = self
                .inner
                .next_expiry
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *next_expiry = next;
            self.inner.expiring.store(next.is_some(), Ordering::Release);
        }
        for service in expired {
            self.emit(Action::Delete, service);
        }
    }
}

#[async_trait::async_trait]
impl Registry for MemoryRegistry {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn register(
        &self,
        service: &Service,
        opts: RegisterOptions,
    ) -> Result<(), RegistryError> {
        self.expire();
        let expiry = opts.ttl.map(|ttl| Instant::now() + ttl);
        if let Some(at) = expiry {
            let mut next = self
                .inner
                .next_expiry
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *next = Some(next.map_or(at, |n| n.min(at)));
            self.inner.expiring.store(true, Ordering::Release);
        }
        let action = {
            let mut services = self
                .inner
                .services
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.unshare(Some(&service.name));
            let versions = services.entry(service.name.clone()).or_default();
            match versions.get_mut(&service.version) {
                None => {
                    let expires = service
                        .nodes
                        .iter()
                        .map(|n| (n.id.clone(), expiry))
                        .collect();
                    versions.insert(
                        service.version.clone(),
                        Record {
                            service: service.clone(),
                            expires,
                        },
                    );
                    Action::Create
                }
                Some(record) => {
                    let mut action = Action::Update;
                    for node in &service.nodes {
                        match record.service.nodes.iter_mut().find(|n| n.id == node.id) {
                            Some(existing) => *existing = node.clone(),
                            None => {
                                record.service.nodes.push(node.clone());
                                action = Action::Create;
                            }
                        }
                        record.expires.insert(node.id.clone(), expiry);
                    }
                    record.service.metadata = service.metadata.clone();
                    record.service.endpoints = service.endpoints.clone();
                    action
                }
            }
        };
        self.emit(action, service.clone());
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<(), RegistryError> {
        {
            let mut services = self
                .inner
                .services
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.unshare(Some(&service.name));
            if let Some(versions) = services.get_mut(&service.name) {
                if let Some(record) = versions.get_mut(&service.version) {
                    record
                        .service
                        .nodes
                        .retain(|n| !service.nodes.iter().any(|d| d.id == n.id));
                    for node in &service.nodes {
                        record.expires.remove(&node.id);
                    }
                    if record.service.nodes.is_empty() {
                        versions.remove(&service.version);
                    }
                }
                if versions.is_empty() {
                    services.remove(&service.name);
                }
            }
        }
        self.emit(Action::Delete, service.clone());
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        self.expire();
        // The common case: the shared copy, under a read lock alone.
        if let Some(copy) = self
            .inner
            .shared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(Arc::clone(copy));
        }
        let services = self
            .inner
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut shared = self.inner.shared.write().unwrap_or_else(|e| e.into_inner());
        if let Some(copy) = shared.get(name) {
            return Ok(Arc::clone(copy));
        }
        match services.get(name) {
            Some(versions) if !versions.is_empty() => {
                let copy = Arc::new(versions.values().map(|r| r.service.clone()).collect());
                shared.insert(name.to_string(), Arc::clone(&copy));
                Ok(copy)
            }
            _ => Err(RegistryError::NotFound),
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        self.expire();
        let services = self
            .inner
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(services
            .values()
            .flat_map(|versions| versions.values())
            .map(|r| Service {
                nodes: Vec::new(),
                ..r.service.clone()
            })
            .collect())
    }

    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError> {
        let rx = self.inner.events.subscribe();
        let stream = BroadcastStream::new(rx).filter_map(move |event| {
            let wanted = match &event {
                Ok(e) => opts.service.as_ref().is_none_or(|s| *s == e.service.name),
                Err(_) => true,
            };
            let item = match event {
                Ok(e) => Ok(e),
                Err(lagged) => Err(RegistryError::Backend {
                    backend: "memory",
                    detail: format!("watcher fell behind: {lagged}"),
                }),
            };
            futures::future::ready(wanted.then_some(item))
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Node;
    use std::time::Duration;

    fn svc(version: &str, node: &str) -> Service {
        Service {
            name: "go.micro.srv.test".into(),
            version: version.into(),
            nodes: vec![Node {
                id: node.into(),
                address: "127.0.0.1:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    // Paused time for the TTL step at the end (see `records_expire_after_their_ttl`).
    #[tokio::test(start_paused = true)]
    async fn lookups_share_one_copy_until_the_service_changes() {
        let r = MemoryRegistry::new();
        let once = RegisterOptions::default();
        r.register(&svc("v1", "a"), once).await.unwrap();
        let first = r.get_service("go.micro.srv.test").await.unwrap();
        let again = r.get_service("go.micro.srv.test").await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "an unchanged service is not copied"
        );
        r.register(&svc("v1", "b"), once).await.unwrap();
        let after = r.get_service("go.micro.srv.test").await.unwrap();
        assert_eq!(after[0].nodes.len(), 2, "a new node is seen at once");
        assert_eq!(
            first[0].nodes.len(),
            1,
            "a copy handed out earlier is left as it was"
        );
        r.deregister(&svc("v1", "a")).await.unwrap();
        r.deregister(&svc("v1", "b")).await.unwrap();
        assert_eq!(
            r.get_service("go.micro.srv.test").await.unwrap_err(),
            RegistryError::NotFound
        );
        let ttl = RegisterOptions {
            ttl: Some(Duration::from_millis(50)),
        };
        r.register(&svc("v1", "c"), ttl).await.unwrap();
        assert!(r.get_service("go.micro.srv.test").await.is_ok());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            r.get_service("go.micro.srv.test").await.unwrap_err(),
            RegistryError::NotFound,
            "an expired node is not served from the shared copy"
        );
    }

    #[tokio::test]
    async fn versions_nodes_and_watch() {
        let r = MemoryRegistry::new();
        let mut watch = r.watch(WatchOptions::default()).await.unwrap();
        r.register(&svc("v1", "a"), RegisterOptions::default())
            .await
            .unwrap();
        r.register(&svc("v1", "b"), RegisterOptions::default())
            .await
            .unwrap();
        r.register(&svc("v2", "c"), RegisterOptions::default())
            .await
            .unwrap();
        let got = r.get_service("go.micro.srv.test").await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].nodes.len(), 2);
        assert_eq!(watch.next().await.unwrap().unwrap().action, Action::Create);
        r.deregister(&svc("v1", "a")).await.unwrap();
        r.deregister(&svc("v1", "b")).await.unwrap();
        r.deregister(&svc("v2", "c")).await.unwrap();
        assert_eq!(
            r.get_service("go.micro.srv.test").await,
            Err(RegistryError::NotFound)
        );
        assert!(r.list_services().await.unwrap().is_empty());
    }

    // Paused time: the clock moves only when every task waits, so no step races the TTL.
    #[tokio::test(start_paused = true)]
    async fn records_expire_after_their_ttl() {
        let r = MemoryRegistry::new();
        let ttl = RegisterOptions {
            ttl: Some(Duration::from_millis(50)),
        };
        r.register(&svc("v1", "a"), ttl).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            r.get_service("go.micro.srv.test").await,
            Err(RegistryError::NotFound)
        );
    }
}
