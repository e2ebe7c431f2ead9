//! One HTTP/2 connection per node, shared by every call to it.

use crate::codec::Codec;
use std::collections::HashMap;
use std::sync::RwLock;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Channels by node address. A channel multiplexes calls over one connection and reconnects
/// by itself after a failure.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    channels: RwLock<HashMap<String, NodeChannel>>,
}

impl Pool {
    /// The channel of `address`, made (without connecting yet) on first use.
    pub(super) fn get(&self, address: &str) -> Result<NodeChannel, crate::Error> {
        if let Some(ch) = self
            .channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(address)
        {
            return Ok(ch.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| {
                crate::Error::bad_request(
                    super::CLIENT_ID,
                    format!("invalid node address {address:?}: {e}"),
                )
            })?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let mut channels = self.channels.write().unwrap_or_else(|e| e.into_inner());
        let ch = channels
            .entry(address.to_string())
            .or_insert_with(|| NodeChannel {
                channel: endpoint.connect_lazy(),
                codec: Codec::Proto,
            });
        Ok(ch.clone())
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
