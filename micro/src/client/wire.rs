//! What goes on the wire for a call: its gRPC path, and the request with its deadline, metadata
//! and codec on the node's pooled channel.

use super::{pool, CallError, Client, CLIENT_ID};
use crate::codec::Codec;
use crate::metadata::{Metadata, FROM_SERVICE};
use crate::registry::Node;
use bytes::Bytes;
use std::time::Duration;

impl Client {
    /// A gRPC client on `node`'s pooled channel and a request carrying `payload`, the deadline,
    /// the metadata, the caller's name and the codec (for the content type).
    pub(super) fn prepare<T>(
        &self,
        to: super::attempt::Target<'_>,
        payload: T,
        timeout: Option<Duration>,
        metadata: &Metadata,
        codec: Codec,
    ) -> Result<(tonic::client::Grpc<pool::NodeChannel>, tonic::Request<T>), CallError> {
        let channel = self
            .inner
            .pool
            .get(to.node, self.identity_for(to.service, to.via_proxy))
            .map_err(CallError::Call)?
            .with_codec(codec);
        let grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(self.inner.max_message_size)
            .max_encoding_message_size(self.inner.max_message_size);
        let mut request = tonic::Request::new(payload);
        if let Some(timeout) = timeout {
            request.metadata_mut().insert(
                crate::grpc_timeout::HEADER,
                crate::grpc_timeout::encode(timeout),
            );
        }
        crate::metadata::to_grpc(metadata, request.metadata_mut());
        if let Some(token) = &self.inner.authorization {
            if !metadata.contains_key(crate::auth::AUTHORIZATION) {
                request
                    .metadata_mut()
                    .insert(crate::auth::AUTHORIZATION, token.clone());
            }
        }
        if let Some(from) = &self.inner.from_service {
            if let Ok(v) = from.parse() {
                request.metadata_mut().insert(FROM_SERVICE, v);
            }
        }
        let size = crate::metadata::header_list_size(request.metadata().as_ref());
        if size + crate::metadata::PROTOCOL_HEADER_BYTES > crate::metadata::MAX_HEADER_BYTES {
            let detail = format!(
                "the call's metadata is {size} bytes; with the protocol's own headers that is over the {} bytes of headers a server accepts",
                crate::metadata::MAX_HEADER_BYTES
            );
            return Err(CallError::Call(crate::Error::new(CLIENT_ID, detail, 431)));
        }
        Ok((grpc, request))
    }
}

impl Client {
    /// Sends a gRPC request as it is (headers, body frames, trailers: nothing decoded) to
    /// `node` of `service`, over the client's pooled connection to it (TLS when the node is
    /// secure), and returns the response as it comes: what a proxy forwards with. An `Err` is
    /// a transport failure, before any response.
    pub async fn send_http(
        &self,
        node: &Node,
        service: &str,
        request: http::Request<tonic::body::Body>,
    ) -> crate::Result<Result<http::Response<tonic::body::Body>, tonic::transport::Error>> {
        use tower::ServiceExt;
        let channel = self.inner.pool.get(node, service)?;
        Ok(channel.oneshot(request).await)
    }
}

/// The gRPC path for an endpoint: `/<service>.<Handler>/<Method>`, as go-micro's gRPC client
/// sends it. Built in one buffer that the path then owns.
pub(super) fn grpc_path(service: &str, endpoint: &str) -> http::uri::PathAndQuery {
    let (handler, method) = endpoint.split_once('.').unwrap_or(("", endpoint));
    let mut path = String::with_capacity(service.len() + endpoint.len() + 2);
    path.push('/');
    path.push_str(service);
    if !handler.is_empty() {
        path.push('.');
        path.push_str(handler);
    }
    path.push('/');
    path.push_str(method);
    http::uri::PathAndQuery::from_maybe_shared(Bytes::from(path))
        .unwrap_or_else(|_| http::uri::PathAndQuery::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_go_micro() {
        assert_eq!(
            grpc_path("go.micro.srv.greeter", "Greeter.Call").as_str(),
            "/go.micro.srv.greeter.Greeter/Call"
        );
        assert_eq!(grpc_path("svc", "Func").as_str(), "/svc/Func");
    }
}
