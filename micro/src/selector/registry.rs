//! The default selector: nodes from a registry, filtered, ordered by a strategy.

use super::blacklist::Blacklist;
use super::strategy::Counters;
use super::{Next, Outcome, SelectError, SelectOptions, Selector, Strategy};
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
    /// A selector over `registry` with the random strategy. Every call looks its service up,
    /// so a registry answering over the network belongs behind a
    /// [`CacheRegistry`](crate::registry::CacheRegistry), as [`registry::by_name`](crate::registry::by_name)
    /// puts etcd.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        RegistrySelector {
            registry,
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
        if !opts.filters.is_empty() {
            // Filters work on a copy; unfiltered calls share the registry's record.
            let mut filtered = services.to_vec();
            for filter in &opts.filters {
                filter.apply(&mut filtered);
            }
            services = Arc::new(filtered);
        }
        let node = |&(s, n): &(usize, usize)| &services[s].nodes[n];
        let positions = || {
            services
                .iter()
                .enumerate()
                .flat_map(|(s, service)| (0..service.nodes.len()).map(move |n| (s, n)))
        };
        let mut order: Vec<(usize, usize)> = positions()
            .filter(|at| !self.blacklist.is_out(&node(at).id))
            .collect();
        if order.is_empty() {
            // Every node failed lately: trying them beats failing without a try.
            order = positions().collect();
        }
        if order.is_empty() {
            return Err(SelectError::NoneAvailable(service.into()));
        }
        opts.strategy.unwrap_or(self.strategy).order(
            service,
            &mut order,
            |at| node(at).id.as_str(),
            &self.counters,
        );
        Ok(Next::ordered(services, order))
    }

    fn started(&self, _service: &str, node: &Node) {
        self.counters.started(&node.id);
    }

    fn mark(&self, _service: &str, node: &Node, outcome: Outcome) {
        self.counters.ended(&node.id);
        match outcome {
            Outcome::Succeeded => self.blacklist.succeed(&node.id),
            Outcome::Unreachable | Outcome::TimedOut => self.blacklist.fail(&node.id),
            Outcome::Failed => {}
        }
    }
}
