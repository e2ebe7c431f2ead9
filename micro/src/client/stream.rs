//! Streaming calls: server, client and bidirectional streams over standard gRPC streaming.
//!
//! A stream goes to one node, chosen like any call, and is not retried (its requests may be
//! consumed). Streams have no deadline unless [`CallOptions::timeout`] sets one; with one, the
//! stream ends with a 408 when it passes.

use super::attempt::{Answer, Attempt, Kind, Payload};
use super::error::classify;
use super::wire::grpc_path;
use super::{CallError, CallOptions, Client, CLIENT_ID};
use crate::codec::{Codec, FrameCodec, Message};
use crate::streaming::{Frames, Side, Streaming};
use crate::Error;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use std::time::Instant;

impl Client {
    /// Bidirectional stream: `requests` flow to `endpoint` of `service`, replies come back on
    /// the returned stream, both in protobuf.
    pub async fn stream<Req: Message, Rsp: Message>(
        &self,
        service: &str,
        endpoint: &str,
        requests: impl Stream<Item = Req> + Send + 'static,
        opts: CallOptions,
    ) -> crate::Result<Streaming<Rsp>> {
        let frames = requests.map(|r| Bytes::from(prost::Message::encode_to_vec(&r)));
        let replies = self
            .stream_raw(service, endpoint, Codec::Proto, frames.boxed(), opts)
            .await?;
        Ok(Streaming::new(
            replies,
            Codec::Proto,
            Side::Client,
            service,
            endpoint,
        ))
    }

    /// Server stream: one request, a stream of replies.
    pub async fn server_stream<Req: Message, Rsp: Message>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Req,
        opts: CallOptions,
    ) -> crate::Result<Streaming<Rsp>> {
        let frame = Bytes::from(prost::Message::encode_to_vec(request));
        let frames = futures::stream::once(async move { frame });
        let replies = self
            .stream_raw(service, endpoint, Codec::Proto, frames.boxed(), opts)
            .await?;
        Ok(Streaming::new(
            replies,
            Codec::Proto,
            Side::Client,
            service,
            endpoint,
        ))
    }

    /// Client stream: a stream of requests, one reply.
    pub async fn client_stream<Req: Message, Rsp: Message>(
        &self,
        service: &str,
        endpoint: &str,
        requests: impl Stream<Item = Req> + Send + 'static,
        opts: CallOptions,
    ) -> crate::Result<Rsp> {
        let mut replies = self
            .stream::<Req, Rsp>(service, endpoint, requests, opts)
            .await?;
        replies.message().await?.ok_or_else(|| {
            Error::internal_server_error(
                CLIENT_ID,
                format!("{service}.{endpoint} ended without a reply"),
            )
        })
    }

    /// Any stream in JSON, with no compiled types: JSON values out, JSON values back.
    pub async fn stream_json(
        &self,
        service: &str,
        endpoint: &str,
        requests: impl Stream<Item = serde_json::Value> + Send + 'static,
        opts: CallOptions,
    ) -> crate::Result<Streaming<serde_json::Value>> {
        // Serialising a `Value` cannot fail.
        let frames = requests.map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
        let replies = self
            .stream_raw(service, endpoint, Codec::Json, frames.boxed(), opts)
            .await?;
        Ok(Streaming::json(replies, service, endpoint))
    }

    /// A stream of frames already encoded by `codec`; replies come back as frames.
    pub async fn stream_raw(
        &self,
        service: &str,
        endpoint: &str,
        codec: Codec,
        requests: BoxStream<'static, Bytes>,
        opts: CallOptions,
    ) -> crate::Result<Frames> {
        let (mut next, via_proxy) = self.nodes_for(service, &opts).await?;
        let node = next
            .next_chosen()
            .ok_or_else(|| Error::unavailable(CLIENT_ID, format!("no node of {service}")))?;
        let deadline = opts.timeout.map(|t| Instant::now() + t);
        let sent = self
            .dispatch(Attempt {
                kind: Kind::Stream,
                service: service.to_string(),
                endpoint: endpoint.to_string(),
                node: Some(node),
                number: 0,
                codec,
                timeout: opts.timeout,
                metadata: opts.metadata,
                payload: Payload::Stream(requests),
                call_timeout: opts.timeout.unwrap_or_default(),
                via_proxy,
            })
            .await?;
        let Answer::Stream(frames) = sent else {
            return Err(Error::internal_server_error(
                CLIENT_ID,
                format!("a layer answered a stream of {service}.{endpoint} with {sent:?}"),
            ));
        };
        Ok(match deadline {
            Some(deadline) => until_deadline(frames, deadline, format!("{service}.{endpoint}")),
            None => frames,
        })
    }

    pub(super) async fn open(
        &self,
        to: super::attempt::Target<'_>,
        endpoint: &str,
        codec: Codec,
        requests: BoxStream<'static, Bytes>,
        timeout: Option<std::time::Duration>,
        metadata: &crate::metadata::Metadata,
    ) -> Result<Frames, CallError> {
        let (mut grpc, request) = self.prepare(to, requests, timeout, metadata, codec)?;
        let path = grpc_path(to.service, endpoint);
        let opened = async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
            grpc.streaming(request, path, FrameCodec).await
        };
        let opened = match timeout {
            Some(t) => tokio::time::timeout(t, opened)
                .await
                .map_err(|_| CallError::DeadlineExceeded)?,
            None => opened.await,
        };
        match opened {
            Ok(response) => Ok(response.into_inner().boxed()),
            Err(status) => Err(classify(&status)),
        }
    }
}

/// Ends `frames` with DeadlineExceeded at `deadline`, should the server not end it first.
fn until_deadline(frames: Frames, deadline: Instant, what: String) -> Frames {
    let sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
    futures::stream::unfold((frames, sleep, false), move |(mut frames, mut sleep, done)| {
        let what = what.clone();
        async move {
            if done {
                return None;
            }
            tokio::select! {
                item = frames.next() => {
                    let end = !matches!(item, Some(Ok(_)));
                    item.map(|i| (i, (frames, sleep, end)))
                }
                _ = &mut sleep => {
                    let err = Error::timeout(CLIENT_ID, format!("stream {what} passed its deadline"));
                    Some((Err(err.to_status()), (frames, sleep, true)))
                }
            }
        }
    })
    .boxed()
}
