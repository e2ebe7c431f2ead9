//! A registry cache: lookups answered from memory, kept fresh by a watch.
//!
//! The first lookup of a service goes to the backend; after that a single watch on the backend
//! keeps every cached service current, so a steady stream of calls makes no registry round
//! trips. When the backend goes away the cache keeps answering from what it knew (logging the
//! outage once), and when it returns the cache refetches everything it holds to catch up.
//!
//! Names not found are remembered apart ([`Absent`]): for ten seconds, at most 4,096 of them,
//! and never refetched, so lookups of made-up names cost a bounded amount of memory and, at most,
//! one registry read per name every ten seconds.
//!
//! Watching the cache shares that one watch: each event reaches the cache's watchers after the
//! cache has applied it, so a watcher that looks the service up sees the change.

use super::absent::Absent;
use super::{
    Action, Event, RegisterOptions, Registry, RegistryError, Service, WatchOptions, Watcher,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Events kept for a slow watcher of the cache before it is told it fell behind.
const WATCH_BACKLOG: usize = 1024;
/// How long watching the cache waits for the backend's watch to come up.
const WATCH_START: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Wraps a registry with a watch-fed cache of looked-up services.
#[derive(Debug, Clone)]
pub struct CacheRegistry {
    backend: Arc<dyn Registry>,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    /// Looked-up services by name: every version with its nodes (empty once all left).
    services: RwLock<HashMap<String, Arc<Vec<Service>>>>,
    /// Names looked up and not found.
    absent: Absent,
    /// Counts the watch's events and recoveries: a lookup that began before one cannot say a
    /// name is absent (the event may have registered it meanwhile).
    generation: std::sync::atomic::AtomicU64,
    /// Whether the watch runs (started by the first lookup, inside a runtime).
    watching: AtomicBool,
    /// Whether the watch is up; while it is down, cached answers may be stale.
    fresh: AtomicBool,
    /// Whether an outage was logged and not yet followed by a recovery.
    outage_logged: AtomicBool,
    /// The backend's events, each sent once applied; a failed backend watch is sent as an
    /// error, so watchers know they may have missed changes.
    events: broadcast::Sender<Result<Event, RegistryError>>,
    /// Woken when the backend's watch comes up or fails.
    changed: tokio::sync::Notify,
}

impl Default for State {
    fn default() -> Self {
        State {
            services: RwLock::default(),
            absent: Absent::default(),
            generation: Default::default(),
            watching: AtomicBool::default(),
            fresh: AtomicBool::default(),
            outage_logged: AtomicBool::default(),
            events: broadcast::channel(WATCH_BACKLOG).0,
            changed: tokio::sync::Notify::new(),
        }
    }
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

    /// Asks the backend for `name` (not answered from memory), and keeps what it says. A name
    /// not found is remembered as absent only if no watch event arrived since `generation`.
    async fn looked_up(
        &self,
        name: &str,
        cached: Option<Arc<Vec<Service>>>,
        generation: u64,
    ) -> Result<Arc<Vec<Service>>, RegistryError> {
        match self.backend.get_service(name).await {
            Ok(services) => {
                self.state.store(name, Arc::clone(&services));
                Ok(services)
            }
            Err(RegistryError::NotFound) => {
                match cached {
                    // Known before, all its nodes gone: kept, the watch follows it.
                    Some(_) => self.state.store(name, Arc::default()),
                    None if self.state.generation.load(Ordering::Acquire) == generation => {
                        self.state.absent.insert(name)
                    }
                    None => {}
                }
                Err(RegistryError::NotFound)
            }
            Err(e) => {
                self.state.outage("lookup failed", &e);
                match cached {
                    Some(services) if !services.is_empty() => Ok(services),
                    _ => Err(e),
                }
            }
        }
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
        self.changed.notify_waiters();
        if !self.outage_logged.swap(true, Ordering::AcqRel) {
            tracing::warn!(%error, "registry unreachable ({what}); answering lookups from the cache until it is back");
        }
    }

    fn recovered(&self) {
        // What was missing before the outage may have registered during it.
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.absent.clear();
        self.fresh.store(true, Ordering::Release);
        self.changed.notify_waiters();
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
        self.generation.fetch_add(1, Ordering::AcqRel);
        if event.action != Action::Delete {
            self.absent.remove(&event.service.name);
        }
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
                        Ok(event) => {
                            s.apply(&event);
                            // Nobody watching the cache is fine.
                            let _ = s.events.send(Ok(event));
                        }
                        Err(e) => {
                            s.outage("watch failed", &e);
                            let _ = s.events.send(Err(e));
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
            Ok(services) => state.store(&name, services),
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

    async fn get_service(&self, name: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
        self.ensure_watching();
        let cached = self.cached(name);
        let fresh = self.state.fresh.load(Ordering::Acquire);
        let answer_from_memory = fresh || self.state.outage_logged.load(Ordering::Acquire);
        if cached.is_none() && answer_from_memory && self.state.absent.contains(name) {
            return Err(RegistryError::NotFound);
        }
        match cached {
            // Served from memory while the watch keeps it current, and also while the backend
            // is down: stale beats nothing.
            Some(services) if answer_from_memory => {
                if services.is_empty() {
                    Err(RegistryError::NotFound)
                } else {
                    Ok(services)
                }
            }
            cached => {
                let generation = self.state.generation.load(Ordering::Acquire);
                self.looked_up(name, cached, generation).await
            }
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
        self.backend.list_services().await
    }

    /// The cache's own watch, shared: events of every service (or of `opts.service`), each
    /// after the cache applied it. A watcher that falls behind by more than 1,024 events, or
    /// whose events the backend's watch failed to deliver, gets an error and should look again.
    async fn watch(&self, opts: WatchOptions) -> Result<Watcher, RegistryError> {
        let events = self.state.events.subscribe();
        // Returned once the backend's watch is up, so no change after this call is missed.
        let changed = self.state.changed.notified();
        self.ensure_watching();
        if !self.state.fresh.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(WATCH_START, changed).await;
            if !self.state.fresh.load(Ordering::Acquire) {
                return Err(RegistryError::Backend {
                    backend: "cache",
                    detail: format!("cannot watch {}", self.backend.name()),
                });
            }
        }
        let stream = futures::stream::unfold(events, |mut events| async move {
            let item = match events.recv().await {
                Ok(item) => item,
                Err(broadcast::error::RecvError::Lagged(missed)) => Err(RegistryError::Backend {
                    backend: "cache",
                    detail: format!("the watcher fell behind and missed {missed} events"),
                }),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((item, events))
        });
        let stream = stream.filter(move |item| {
            let keep = match (&opts.service, item) {
                (Some(name), Ok(event)) => &event.service.name == name,
                _ => true,
            };
            futures::future::ready(keep)
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MemoryRegistry, Node};

    fn svc(name: &str, node: &str) -> Service {
        Service {
            name: name.into(),
            version: "latest".into(),
            nodes: vec![Node {
                id: node.into(),
                address: "127.0.0.1:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_watcher_of_the_cache_sees_each_change_after_the_cache_has_it() {
        let backend: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
        let cache = CacheRegistry::new(Arc::clone(&backend));
        let once = RegisterOptions::default();
        backend.register(&svc("a", "a1"), once).await.unwrap();
        assert_eq!(cache.get_service("a").await.unwrap()[0].nodes.len(), 1);

        let mut all = cache.watch(WatchOptions::default()).await.unwrap();
        let only_b = WatchOptions {
            service: Some("b".into()),
        };
        let mut b = cache.watch(only_b).await.unwrap();
        backend.register(&svc("a", "a2"), once).await.unwrap();
        backend.register(&svc("b", "b1"), once).await.unwrap();

        let first = all.next().await.unwrap().unwrap();
        assert_eq!(
            (first.action, first.service.name.as_str()),
            (Action::Create, "a")
        );
        // Applied before it was sent: the cached record already has the new node.
        assert_eq!(cache.get_service("a").await.unwrap()[0].nodes.len(), 2);
        let second = all.next().await.unwrap().unwrap();
        assert_eq!(second.service.name, "b");
        // A watch of one service skips the others.
        assert_eq!(b.next().await.unwrap().unwrap().service.name, "b");
    }

    /// A backend that counts lookups.
    #[derive(Debug, Default)]
    struct Counting {
        inner: MemoryRegistry,
        lookups: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Registry for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn register(&self, s: &Service, o: RegisterOptions) -> Result<(), RegistryError> {
            self.inner.register(s, o).await
        }
        async fn deregister(&self, s: &Service) -> Result<(), RegistryError> {
            self.inner.deregister(s).await
        }
        async fn get_service(&self, n: &str) -> Result<Arc<Vec<Service>>, RegistryError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.inner.get_service(n).await
        }
        async fn list_services(&self) -> Result<Vec<Service>, RegistryError> {
            self.inner.list_services().await
        }
        async fn watch(&self, o: WatchOptions) -> Result<Watcher, RegistryError> {
            self.inner.watch(o).await
        }
    }

    #[tokio::test]
    async fn unknown_names_are_remembered_briefly_and_in_bounded_number() {
        let backend = Arc::new(Counting::default());
        let cache = CacheRegistry::new(backend.clone());
        // Let the watch come up, so that answers may come from memory.
        let _watching = cache.watch(WatchOptions::default()).await.unwrap();

        let made_up = 3 * super::super::absent::MAX_ABSENT;
        for i in 0..made_up {
            let name = format!("junk-{i}");
            assert!(matches!(
                cache.get_service(&name).await,
                Err(RegistryError::NotFound)
            ));
        }
        assert_eq!(backend.lookups.load(Ordering::SeqCst), made_up);
        assert_eq!(cache.state.absent.len(), super::super::absent::MAX_ABSENT);
        assert!(cache.state.services.read().unwrap().is_empty());

        // Asked again at once: answered from memory.
        let last = format!("junk-{}", made_up - 1);
        assert!(cache.get_service(&last).await.is_err());
        assert_eq!(backend.lookups.load(Ordering::SeqCst), made_up);

        // Registered: the watch ends its absence, the next lookup finds it.
        backend
            .register(&svc(&last, "n1"), RegisterOptions::default())
            .await
            .unwrap();
        let mut found = false;
        for _ in 0..100 {
            if cache.get_service(&last).await.is_ok() {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(found, "a registered name stayed absent");
    }
}
