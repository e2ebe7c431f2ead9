//! A registry cache: lookups answered from memory, kept fresh by a watch.
//!
//! The first lookup of a service goes to the backend; after that a single watch on the backend
//! keeps every cached service current, so a steady stream of calls makes no registry round
//! trips. When the backend goes away the cache keeps answering from what it knew (logging the
//! outage once), and when it returns the cache refetches everything it holds to catch up.

use super::{
    Action, Event, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Wraps a registry with a watch-fed cache of looked-up services.
#[derive(Debug, Clone)]
pub struct CacheRegistry {
    backend: Arc<dyn Registry>,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Looked-up services by name: every version with its nodes (empty once all left).
    services: RwLock<HashMap<String, Arc<Vec<Service>>>>,
    /// Whether the watch runs (started by the first lookup, inside a runtime).
    watching: AtomicBool,
    /// Whether the watch is up; while it is down, cached answers may be stale.
    fresh: AtomicBool,
    /// Whether an outage was logged and not yet followed by a recovery.
    outage_logged: AtomicBool,
}

impl CacheRegistry {
    /// A cache in front of `backend`.
    pub fn new(backend: Arc<dyn Registry>) -> Self {
        CacheRegistry {
            backend,
            state: Arc::new(State::default()),
        }
    }

    /// The registry behind the cache.
    pub fn backend(&self) -> &Arc<dyn Registry> {
        &self.backend
    }

    fn cached(&self, name: &str) -> Option<Arc<Vec<Service>>> {
        self.state
            .services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn ensure_watching(&self) {
        if self.state.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = Arc::downgrade(&self.state);
        tokio::spawn(watch_loop(state, Arc::clone(&self.backend)));
    }
}

impl State {
    fn outage(&self, what: &str, error: &RegistryError) {
        self.fresh.store(false, Ordering::Release);
        if !self.outage_logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(%error, "registry unreachable ({what}); answering lookups from the cache until it is back");
        }
    }

    fn recovered(&self) {
        self.fresh.store(true, Ordering::Release);
        if self.outage_logged.swap(false, Ordering::AcqRel) {
            tracing::info!("registry reachable again; cache refreshed");
        }
    }

    fn store(&self, name: &str, services: Arc<Vec<Service>>) {
        self.services
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), services);
    }

    /// Applies a watch event to the cached service it concerns (others are not cached).
    fn apply(&self, event: &Event) {
        let mut services = self.services.write().unwrap_or_else(|e| e.into_inner());
        let Some(versions) = services.get_mut(&event.service.name) else {
            return;
        };
        // Copy on write: lookups in flight keep the record they were handed.
        let versions = Arc::make_mut(versions);
        let incoming = &event.service;
        match event.action {
            Action::Create | Action::Update => {
                let record = match versions.iter_mut().find(|s| s.version == incoming.version) {
                    Some(r) => r,
                    None => {
                        versions.push(Service {
                            nodes: Vec::new(),
                            ..incoming.clone()
                        });
                        versions.last_mut().expect("just pushed")
                    }
                };
                if !incoming.endpoints.is_empty() {
                    record.endpoints = incoming.endpoints.clone();
                    record.metadata = incoming.metadata.clone();
                }
                for node in &incoming.nodes {
                    match record.nodes.iter_mut().find(|n| n.id == node.id) {
                        Some(n) => *n = node.clone(),
                        None => record.nodes.push(node.clone()),
                    }
                }
            }
            Action::Delete => {
                for record in versions.iter_mut() {
                    // A delete that does not say its version (rebuilt from a key) applies to all.
                    if incoming.version.is_empty() || record.version == incoming.version {
                        record
                            .nodes
                            .retain(|n| !incoming.nodes.iter().any(|d| d.id == n.id));
                    }
                }
                versions.retain(|s| !s.nodes.is_empty());
            }
        }
    }
}

async fn watch_loop(state: Weak<State>, backend: Arc<dyn Registry>) {
    let mut delay = FIRST_RETRY;
    loop {
        match backend.watch(WatchOptions::default()).await {
            Ok(mut watcher) => {
                let Some(s) = state.upgrade() else { return };
                // Catch up on whatever changed while no watch ran.
                if refresh_all(&s, backend.as_ref()).await {
                    s.recovered();
                    delay = FIRST_RETRY;
                }
                drop(s);
                while let Some(event) = watcher.next().await {
                    let Some(s) = state.upgrade() else { return };
                    match event {
                        Ok(event) => s.apply(&event),
                        Err(e) => {
                            s.outage("watch failed", &e);
                            break;
                        }
                    }
                }
                if let Some(s) = state.upgrade() {
                    s.fresh.store(false, Ordering::Release);
                }
            }
            Err(e) => match state.upgrade() {
                Some(s) => s.outage("cannot watch", &e),
                None => return,
            },
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RETRY);
    }
}

/// Refetches every cached service; false if the backend failed.
async fn refresh_all(state: &State, backend: &dyn Registry) -> bool {
    let names: Vec<String> = state
        .services
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect();
    for name in names {
        match backend.get_service(&name).await {
            Ok(services) => state.store(&name, Arc::new(services)),
            Err(RegistryError::NotFound) => state.store(&name, Arc::default()),
            Err(e) => {
                state.outage("refresh failed", &e);
                return false;
            }
        }
    }
    true
}

#[async_trait::async_trait]
impl Registry for CacheRegistry {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    fn answers_locally(&self) -> bool {
        true
    }

    async fn register(
        &self,
        service: &Service,
        opts: RegisterOptions,
    ) -> Result<(), RegistryError> {
        self.backend.register(service, opts).await
    }

    async fn deregister(&self, service: &Service) -> Result<(), RegistryError> {
        self.backend.deregister(service).await
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>, RegistryError> {
        self.lookup(name).await.map(|services| services.to_vec())
    }

    async fn lookup(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        self.ensure_watching();
        let cached = self.cached(name);
        let fresh = self.state.fresh.load(Ordering::Acquire);
        match cached {
            // Served from memory while the watch keeps it current, and also while the backend
            // is down: stale beats nothing.
            Some(services) if fresh || self.state.outage_logged.load(Ordering::Acquire) => {
                if services.is_empty() {
                    Err(RegistryError::NotFound)
                } else {
                    Ok(services)
                }
            }
            cached => match self.backend.get_service(name).await {
                Ok(services) => {
                    let services = Arc::new(services);
                    self.state.store(name, Arc::clone(&services));
                    Ok(services)
                }
                Err(RegistryError::NotFound) => {
                    self.state.store(name, Arc::default());
                    Err(RegistryError::NotFound)
                }
                Err(e) => {
                    self.state.outage("lookup failed", &e);
                    match cached {
                        Some(services) if !services.is_empty() => Ok(services),
                        _ => Err(e),
                    }
                }
            },
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        self.backend.list_services().await
    }

    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError> {
        self.backend.watch(opts).await
    }
}
