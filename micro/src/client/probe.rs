//! Bringing nodes back: a node taken out of rotation (it refused a connection, did not answer
//! in time, or said it is unavailable) returns once it answers a health check, and not before,
//! so no caller's call is the one that finds out it is still down. The first probe goes at
//! once: a node that merely missed a caller's short deadline is back within a round trip.

use super::{Client, Inner};
use crate::codec::Codec;
use crate::metadata::Metadata;
use crate::registry::Node;
use crate::selector::Outcome;
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often a node out of rotation is probed after the first probe (at once).
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long a probe waits for the node's answer. A probe starts at most `PROBE_EVERY` after
/// the last failure, so its own failure lands within the selector's shortest period out (1 s)
/// and a node still down never drifts back into rotation between probes.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Probes of a node whose registration cannot be checked (no registry) stop after this many.
const MAX_UNCHECKED_PROBES: u32 = 120;
/// What a probe calls: every micro server answers it, and any gRPC answer shows the node is
/// there.
const PROBE_PATH: &str = "/grpc.health.v1.Health/Check";

/// The nodes being probed, by id.
#[derive(Debug, Default)]
pub(crate) struct Probes {
    probing: Mutex<HashSet<String>>,
}

impl Client {
    /// Tells the selector how a call to `node` of `service` went; a node that failed so as to be
    /// taken out of rotation is then probed until it answers. The client reports its own calls;
    /// whatever calls nodes for it (a proxy) reports through here too.
    pub fn mark(&self, service: &str, node: &Node, outcome: Outcome) {
        self.inner.selector.mark(service, node, outcome);
        if matches!(outcome, Outcome::Unreachable | Outcome::TimedOut) {
            self.probe(service, node);
        }
    }

    /// Starts probing `node`, unless it is probed already.
    fn probe(&self, service: &str, node: &Node) {
        // Outside a runtime there is nothing to probe with; the period out still ends.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut probing = self
                .inner
                .probes
                .probing
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !probing.insert(node.id.clone()) {
                return;
            }
        }
        let inner = Arc::downgrade(&self.inner);
        runtime.spawn(probe_until_back(inner, service.to_string(), node.clone()));
    }
}

/// Probes `node` until it answers, leaves the registry, or the client is dropped; each failed
/// probe keeps it out of rotation.
async fn probe_until_back(inner: Weak<Inner>, service: String, node: Node) {
    let path = http::uri::PathAndQuery::from_static(PROBE_PATH);
    let mut probes = 0u32;
    loop {
        // The first probe at once: a node that only missed one deadline is back in a moment.
        if probes > 0 {
            tokio::time::sleep(PROBE_EVERY).await;
        }
        let Some(inner) = inner.upgrade() else { return };
        let client = Client { inner };
        probes += 1;
        let registered = match &client.inner.registry {
            Some(registry) => registry.get_service(&service).await.is_ok_and(|versions| {
                versions
                    .iter()
                    .any(|v| v.nodes.iter().any(|n| n.id == node.id))
            }),
            None => probes <= MAX_UNCHECKED_PROBES,
        };
        if !registered {
            break;
        }
        client.inner.selector.started(&service, &node);
        let answered = client
            .attempt(
                // Nodes left rotation under the service called, a proxy's among them when
                // calls go through one.
                super::attempt::Target {
                    node: &node,
                    service: &service,
                    via_proxy: client.inner.proxy.is_some(),
                },
                &path,
                Codec::Proto,
                Bytes::new(),
                PROBE_TIMEOUT,
                &Metadata::new(),
            )
            .await;
        // Any answer, even an error status, is the node answering.
        let back = !matches!(
            answered,
            Err(super::CallError::Connect(_) | super::CallError::DeadlineExceeded)
        );
        if back {
            tracing::info!(%service, node = %node.id, address = %node.address, "node answers again; back in rotation");
            client
                .inner
                .selector
                .mark(&service, &node, Outcome::Succeeded);
            break;
        }
        client
            .inner
            .selector
            .mark(&service, &node, Outcome::Unreachable);
    }
    if let Some(inner) = inner.upgrade() {
        let mut probing = inner
            .probes
            .probing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        probing.remove(&node.id);
    }
}
