//! Client-side load balancing: which node of a service gets the next call.
//!
//! [`Selector::select`] looks the service up, applies [`Filter`]s, orders the nodes by
//! [`Strategy`] and returns a [`Next`] that yields them one by one (a retry takes the next one).
//! [`Selector::mark`] reports how a call went, so a node that fails to connect leaves the rotation
//! for a short period that grows while it keeps failing.

mod blacklist;
mod registry;
mod strategy;

pub use self::registry::RegistrySelector;
pub use self::strategy::Strategy;

use crate::registry::{Node, Service};
use std::sync::Arc;

/// Keeps some nodes of a service and drops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Only this version.
    Version(String),
    /// Only nodes whose metadata has `key=value`.
    Label(String, String),
    /// Only services that have this endpoint.
    Endpoint(String),
}

impl Filter {
    /// Applies the filter to every version of a service.
    pub fn apply(&self, services: &mut Vec<Service>) {
        match self {
            Filter::Version(v) => services.retain(|s| &s.version == v),
            Filter::Endpoint(e) => services.retain(|s| s.endpoints.iter().any(|ep| &ep.name == e)),
            Filter::Label(k, v) => {
                for s in services.iter_mut() {
                    s.nodes.retain(|n| n.metadata.get(k) == Some(v));
                }
            }
        }
    }
}

/// How to select: filters and, when set, a strategy other than the selector's own.
#[derive(Debug, Clone, Default)]
pub struct SelectOptions {
    /// Filters applied in order.
    pub filters: Vec<Filter>,
    /// Overrides the selector's strategy for this call.
    pub strategy: Option<Strategy>,
}

/// Selection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The registry has no such service.
    #[error("service {0} not found")]
    NotFound(String),
    /// The service exists but no node passed the filters.
    #[error("no node of service {0} is available")]
    NoneAvailable(String),
    /// The registry failed.
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryError),
}

impl From<SelectError> for crate::Error {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::NotFound(_) => {
                crate::Error::not_found(crate::errors::CLIENT_ID, e.to_string())
            }
            SelectError::NoneAvailable(_) => {
                crate::Error::unavailable(crate::errors::CLIENT_ID, e.to_string())
            }
            SelectError::Registry(_) => {
                crate::Error::internal_server_error(crate::errors::CLIENT_ID, e.to_string())
            }
        }
    }
}

/// Picks nodes for calls.
#[async_trait::async_trait]
pub trait Selector: Send + Sync + std::fmt::Debug + 'static {
    /// The nodes of `service` to try, in order.
    async fn select(&self, service: &str, opts: &SelectOptions) -> Result<Next, SelectError>;

    /// Reports how a call to `node` went. Connection failures and timeouts take a node out of
    /// rotation.
    fn mark(&self, service: &str, node: &Node, outcome: Outcome);

    /// Reports that a call to `node` starts; its [`mark`](Self::mark) follows when it ends.
    /// Selectors that count calls in flight (least outstanding requests) need it.
    fn started(&self, service: &str, node: &Node) {
        let _ = (service, node);
    }
}

/// How a call to a node went, as far as choosing nodes cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Succeeded,
    /// The node could not be reached: a connection error, or the node said it is unavailable.
    Unreachable,
    /// The node did not answer in time: hung, or overloaded.
    TimedOut,
    /// The call failed some other way (an error reply, a deadline).
    Failed,
}

/// The shortest wait whose timeout counts against a node: a caller's tiny deadline passing says
/// nothing about it.
pub const TIMEOUT_EVIDENCE: std::time::Duration = std::time::Duration::from_millis(250);

impl Outcome {
    /// The outcome of a call to a node that did not answer within `waited`: timed out, when
    /// that was long enough to say something about the node ([`TIMEOUT_EVIDENCE`]), else
    /// merely failed.
    pub fn timed_out_after(waited: std::time::Duration) -> Outcome {
        if waited >= TIMEOUT_EVIDENCE {
            Outcome::TimedOut
        } else {
            Outcome::Failed
        }
    }
}

/// The nodes chosen for one call, in the order to try them. Cycles once every node was tried,
/// so there is always a node for another retry.
#[derive(Debug, Clone)]
pub struct Next {
    /// The records the nodes belong to, shared with the registry that handed them out.
    services: Arc<Vec<Service>>,
    /// (service, node) indices into `services`, in the order to try them.
    order: Vec<(usize, usize)>,
    position: usize,
}

impl Next {
    /// Nodes to try in this order.
    pub fn new(nodes: Vec<Node>) -> Self {
        let order = (0..nodes.len()).map(|n| (0, n)).collect();
        let service = Service {
            nodes,
            ..Default::default()
        };
        Next::ordered(Arc::new(vec![service]), order)
    }

    /// The nodes of `services` at the (service, node) positions of `order`, in that order.
    pub(crate) fn ordered(services: Arc<Vec<Service>>, order: Vec<(usize, usize)>) -> Self {
        Next {
            services,
            order,
            position: 0,
        }
    }

    /// How many distinct nodes there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when there is no node at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The next node to call.
    pub fn next_node(&mut self) -> Option<&Node> {
        if self.order.is_empty() {
            return None;
        }
        let (s, n) = self.order[self.position % self.order.len()];
        self.position += 1;
        self.services.get(s)?.nodes.get(n)
    }

    /// The next node to call, as a handle that keeps it without copying it.
    pub(crate) fn next_chosen(&mut self) -> Option<Chosen> {
        if self.order.is_empty() {
            return None;
        }
        let at = self.order[self.position % self.order.len()];
        self.position += 1;
        self.services.get(at.0)?.nodes.get(at.1)?;
        Some(Chosen {
            services: Arc::clone(&self.services),
            at,
        })
    }
}

/// A node the selector chose, held by a share of the records it came from: an attempt carries
/// it through the client's layers without copying the node (its id, address and metadata).
#[derive(Clone)]
pub(crate) struct Chosen {
    services: Arc<Vec<Service>>,
    /// (service, node) index into `services`, checked when made.
    at: (usize, usize),
}

impl std::ops::Deref for Chosen {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.services[self.at.0].nodes[self.at.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Endpoint, MemoryRegistry, RegisterOptions, Registry};
    use std::sync::Arc;

    fn service(version: &str, id: &str, zone: &str) -> Service {
        Service {
            name: "svc".into(),
            version: version.into(),
            endpoints: vec![Endpoint {
                name: format!("H.{version}"),
                ..Default::default()
            }],
            nodes: vec![Node {
                id: id.into(),
                address: format!("127.0.0.1:{}", id.len()),
                metadata: [("zone".to_string(), zone.to_string())].into(),
            }],
            ..Default::default()
        }
    }

    async fn ids(selector: &RegistrySelector, filters: Vec<Filter>) -> Vec<String> {
        let mut next = selector
            .select(
                "svc",
                &SelectOptions {
                    filters,
                    strategy: None,
                },
            )
            .await
            .unwrap();
        let mut ids: Vec<String> = (0..next.len())
            .filter_map(|_| next.next_node().map(|n| n.id.clone()))
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn filters_by_version_label_and_endpoint() {
        let registry = Arc::new(MemoryRegistry::new());
        for (v, id, zone) in [
            ("v1", "a", "east"),
            ("v1", "b", "west"),
            ("v2", "c", "east"),
        ] {
            registry
                .register(&service(v, id, zone), RegisterOptions::default())
                .await
                .unwrap();
        }
        let selector = RegistrySelector::new(registry);
        assert_eq!(ids(&selector, vec![]).await, ["a", "b", "c"]);
        assert_eq!(
            ids(&selector, vec![Filter::Version("v1".into())]).await,
            ["a", "b"]
        );
        assert_eq!(
            ids(&selector, vec![Filter::Label("zone".into(), "east".into())]).await,
            ["a", "c"]
        );
        assert_eq!(
            ids(&selector, vec![Filter::Endpoint("H.v2".into())]).await,
            ["c"]
        );
        let none = selector
            .select(
                "svc",
                &SelectOptions {
                    filters: vec![Filter::Version("v9".into())],
                    strategy: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(none, SelectError::NoneAvailable("svc".into()));
        let missing = selector
            .select("nope", &SelectOptions::default())
            .await
            .unwrap_err();
        assert_eq!(missing, SelectError::NotFound("nope".into()));
    }
}
