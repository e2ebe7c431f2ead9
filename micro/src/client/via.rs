//! Where a client sends its calls: to the nodes the selector picks, to the address a call was
//! given, or through a proxy (`MICRO_PROXY`, go-micro's `util/net.Proxy`).

use super::{CallOptions, Client};
use crate::registry::Node;
use crate::selector::{Next, SelectOptions};

/// The service `micro proxy` registers as, and what `MICRO_PROXY=service` means.
pub const PROXY_SERVICE: &str = "go.micro.proxy";

/// A proxy every call goes through, the real service named in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The proxy at `host:port`.
    Address(String),
    /// A node of this service (found in the registry).
    Service(String),
}

impl Via {
    /// `MICRO_PROXY`'s value: `host:port` is an address; `service` is `go.micro.proxy`; any
    /// other name is the proxy's service name. `None` when empty.
    pub fn parse(value: &str) -> Option<Via> {
        let value = value.trim();
        match value {
            "" => None,
            "service" => Some(Via::Service(PROXY_SERVICE.into())),
            v if v.contains(':') => Some(Via::Address(v.into())),
            v => Some(Via::Service(v.into())),
        }
    }
}

impl Client {
    /// The nodes to try for a call to `service`, and whether they are a proxy's. An address
    /// given with the call beats the proxy.
    pub(super) async fn nodes_for(
        &self,
        service: &str,
        opts: &CallOptions,
    ) -> crate::Result<(Next, bool)> {
        let alone = |address: &str| {
            Next::new(vec![Node {
                id: address.to_string(),
                address: address.to_string(),
                metadata: Default::default(),
            }])
        };
        if let Some(address) = &opts.address {
            return Ok((alone(address), false));
        }
        match &self.inner.proxy {
            Some(Via::Address(address)) => Ok((alone(address), true)),
            Some(Via::Service(proxy)) => {
                let next = self
                    .inner
                    .selector
                    .select(proxy, &SelectOptions::default())
                    .await?;
                Ok((next, true))
            }
            None => Ok((
                self.inner.selector.select(service, &opts.select).await?,
                false,
            )),
        }
    }

    /// The proxy this client sends through, if any.
    pub fn proxy(&self) -> Option<&Via> {
        self.inner.proxy.as_ref()
    }
}
