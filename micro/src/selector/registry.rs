//! The default selector: nodes from a registry, filtered, ordered by a strategy.

use super::blacklist::Blacklist;
use super::strategy::Counters;
use super::{Next, SelectError, SelectOptions, Selector, Strategy};
use crate::client::CallError;
use crate::registry::{Node, Registry, RegistryError};
use std::sync::Arc;

/// Selects nodes of services found in a [`Registry`].
#[derive(Debug)]
pub struct RegistrySelector {
    registry: Arc<dyn Registry>,
    strategy: Strategy,
    counters: Counters,
    blacklist: Blacklist,
}

impl RegistrySelector {
    /// A selector over `registry` with the random strategy. Registries that answer over the
    /// network get a [`CacheRegistry`](crate::registry::CacheRegistry) in front, so calls make
    /// no registry round trips.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        RegistrySelector {
            registry: crate::registry::cached(registry),
            strategy: Strategy::default(),
            counters: Counters::default(),
            blacklist: Blacklist::default(),
        }
    }

    /// With this strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The registry it reads.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.registry
    }
}

#[async_trait::async_trait]
impl Selector for RegistrySelector {
    async fn select(&self, service: &str, opts: &SelectOptions) -> Result<Next, SelectError> {
        let mut services = match self.registry.get_service(service).await {
            Ok(s) => s,
            Err(RegistryError::NotFound) => return Err(SelectError::NotFound(service.into())),
            Err(e) => return Err(e.into()),
        };
        for filter in &opts.filters {
            filter.apply(&mut services);
        }
        let all: Vec<Node> = services.into_iter().flat_map(|s| s.nodes).collect();
        let mut nodes: Vec<Node> = all
            .iter()
            .filter(|n| !self.blacklist.is_out(&n.id))
            .cloned()
            .collect();
        if nodes.is_empty() {
            // Every node failed lately: trying them beats failing without a try.
            nodes = all;
        }
        if nodes.is_empty() {
            return Err(SelectError::NoneAvailable(service.into()));
        }
        opts.strategy
            .unwrap_or(self.strategy)
            .order(service, &mut nodes, &self.counters);
        Ok(Next::new(nodes))
    }

    fn mark(&self, _service: &str, node: &Node, outcome: Result<(), &CallError>) {
        match outcome {
            Ok(()) => self.blacklist.succeed(&node.id),
            Err(CallError::Connect(_)) => self.blacklist.fail(&node.id),
            Err(_) => {}
        }
    }
}
