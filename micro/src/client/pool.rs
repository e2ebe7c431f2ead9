//! One HTTP/2 connection per node, shared by every call to it: plain text, or TLS to a node
//! that registered `secure=true`.

use super::tls::ClientTls;
use crate::codec::Codec;
use crate::registry::Node;
use std::collections::HashMap;
use std::sync::RwLock;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Channels by node address; TLS ones also by the service whose certificate the node must
/// show. A channel multiplexes calls over one connection and reconnects by itself after a
/// failure.
#[derive(Debug)]
pub(crate) struct Pool {
    plain: RwLock<HashMap<String, NodeChannel>>,
    secure: RwLock<HashMap<String, HashMap<String, NodeChannel>>>,
    /// How to speak TLS, or why the client's TLS settings are unusable.
    tls: Result<ClientTls, String>,
}

impl Pool {
    /// A pool speaking TLS with `tls` to secure nodes.
    pub(super) fn new(tls: Result<ClientTls, String>) -> Pool {
        Pool {
            plain: Default::default(),
            secure: Default::default(),
            tls,
        }
    }

    /// The channel to `node` of `service`, made (without connecting yet) on first use.
    pub(super) fn get(&self, node: &Node, service: &str) -> Result<NodeChannel, crate::Error> {
        let address = node.address.as_str();
        // Unusable TLS settings fail every call, saying why, rather than go plain text.
        let secure = self.tls.as_ref().map_or(true, |tls| tls.wanted_for(node));
        let found = if secure {
            let secure = self.secure.read().unwrap_or_else(|e| e.into_inner());
            secure.get(address).and_then(|s| s.get(service)).cloned()
        } else {
            let plain = self.plain.read().unwrap_or_else(|e| e.into_inner());
            plain.get(address).cloned()
        };
        if let Some(ch) = found {
            return Ok(ch);
        }
        let scheme = if secure { "https" } else { "http" };
        let invalid = |e: &dyn std::fmt::Display| {
            crate::Error::bad_request(
                super::CLIENT_ID,
                format!("invalid node address {address:?}: {e}"),
            )
        };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| invalid(&e))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        if secure {
            let tls = self.tls.as_ref().map_err(|reason| {
                crate::Error::bad_request(
                    super::CLIENT_ID,
                    format!("calling {service} at {address}: this client's TLS settings are unusable: {reason}"),
                )
            })?;
            endpoint = endpoint
                .tls_config(tls.for_service(service))
                .map_err(|e| invalid(&e))?;
        }
        let made = NodeChannel {
            channel: endpoint.connect_lazy(),
            codec: Codec::Proto,
        };
        let ch = if secure {
            let mut secure = self.secure.write().unwrap_or_else(|e| e.into_inner());
            secure
                .entry(address.to_string())
                .or_default()
                .entry(service.to_string())
                .or_insert(made)
                .clone()
        } else {
            let mut plain = self.plain.write().unwrap_or_else(|e| e.into_inner());
            plain.entry(address.to_string()).or_insert(made).clone()
        };
        Ok(ch)
    }
}

/// A node's channel that sets the request's gRPC content type from its [`Codec`] (tonic always
/// writes `application/grpc`, which is protobuf; JSON calls need `application/grpc+json`).
#[derive(Debug, Clone)]
pub(crate) struct NodeChannel {
    channel: Channel,
    codec: Codec,
}

impl NodeChannel {
    /// The same connection, for calls in `codec`.
    pub(super) fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for NodeChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as tower::Service<http::Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        // tonic's `application/grpc` already means protobuf; only other codecs say theirs.
        if self.codec != Codec::Proto {
            req.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(self.codec.grpc_content_type()),
            );
        }
        self.channel.call(req)
    }
}
