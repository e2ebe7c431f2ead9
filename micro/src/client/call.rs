//! Unary calls: typed, JSON, or bytes already encoded; one overall deadline, the selector's
//! nodes in turn, and a retry on the next node for failures worth retrying.

use super::attempt::{Answer, Attempt, Kind, Parts, Payload};
use super::error::{classify, Attempted};
use super::{exponential_backoff, CallError, CallOptions, Client, CLIENT_ID};
use crate::codec::{Codec, FrameCodec, Message};
use crate::metadata::Metadata;
use crate::registry::Node;
use crate::Error;
use bytes::Bytes;
use std::time::{Duration, Instant};

impl Client {
    /// Calls `endpoint` (`Handler.Method`) of `service` with a typed request, in protobuf.
    pub async fn call<Req: Message, Rsp: Message>(
        &self,
        service: &str,
        endpoint: &str,
        request: &Req,
        opts: CallOptions,
    ) -> crate::Result<Rsp> {
        let body = Codec::Proto.encode(request).map_err(|e| {
            Error::bad_request(
                CLIENT_ID,
                format!("encoding request to {service}.{endpoint}: {e}"),
            )
        })?;
        let reply = self
            .call_raw(service, endpoint, Codec::Proto, body, opts)
            .await?;
        Codec::Proto.decode(&reply).map_err(|e| {
            Error::internal_server_error(
                CLIENT_ID,
                format!("decoding reply of {service}.{endpoint}: {e}"),
            )
        })
    }

    /// Calls `endpoint` of `service` with JSON and returns the JSON reply: no compiled types
    /// needed on this side.
    pub async fn call_json(
        &self,
        service: &str,
        endpoint: &str,
        request: &serde_json::Value,
        opts: CallOptions,
    ) -> crate::Result<serde_json::Value> {
        let body = serde_json::to_vec(request).map_err(|e| {
            Error::bad_request(
                CLIENT_ID,
                format!("encoding request to {service}.{endpoint}: {e}"),
            )
        })?;
        let reply = self
            .call_raw(service, endpoint, Codec::Json, body.into(), opts)
            .await?;
        if reply.is_empty() {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_slice(&reply).map_err(|e| {
            Error::internal_server_error(
                CLIENT_ID,
                format!("decoding reply of {service}.{endpoint}: {e}"),
            )
        })
    }

    /// Calls `endpoint` of `service` with a body already encoded by `codec`; returns the
    /// reply's bytes in the same codec.
    pub async fn call_raw(
        &self,
        service: &str,
        endpoint: &str,
        codec: Codec,
        body: Bytes,
        opts: CallOptions,
    ) -> crate::Result<Bytes> {
        let limit = self.inner.max_message_size;
        if body.len() > limit {
            let detail = format!(
                "the request to {service}.{endpoint} is {} bytes, over the limit of {limit} bytes",
                body.len()
            );
            return Err(Error::too_large(CLIENT_ID, detail));
        }
        let timeout = opts.timeout.unwrap_or(self.inner.timeout);
        let deadline = Instant::now() + timeout;
        let backoff = opts.backoff.unwrap_or(exponential_backoff);
        let attempt_timeout = opts.attempt_timeout.or(self.inner.attempt_timeout);
        let (mut next, via_proxy) = self.nodes_for(service, &opts).await?;
        // Behind a proxy, the proxy retries (as go-micro's client does).
        let retries = match via_proxy {
            true => 0,
            false => opts.retries.unwrap_or(self.inner.retries),
        };
        let mut last_error = None;
        for attempt in 0..=retries {
            let wait = backoff(attempt);
            if !wait.is_zero() {
                if Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let remaining = match attempt_timeout {
                Some(limit) => remaining.min(limit),
                None => remaining,
            };
            let Some(chosen) = next.next_chosen() else {
                break;
            };
            let node: &Node = &chosen;
            let sent = match &self.inner.stack {
                // Without layers, nothing is built for the attempt: its parts are borrowed.
                None => {
                    self.send_parts(Parts {
                        service,
                        endpoint,
                        node: Some(node),
                        codec,
                        timeout: Some(remaining),
                        metadata: &opts.metadata,
                        payload: Payload::Call(body.clone()),
                        call_timeout: timeout,
                        via_proxy,
                    })
                    .await
                }
                Some(_) => {
                    self.dispatch(Attempt {
                        kind: Kind::Call,
                        service: service.to_string(),
                        endpoint: endpoint.to_string(),
                        node: Some(chosen.clone()),
                        number: attempt,
                        codec,
                        timeout: Some(remaining),
                        metadata: opts.metadata.clone(),
                        payload: Payload::Call(body.clone()),
                        call_timeout: timeout,
                        via_proxy,
                    })
                    .await
                }
            };
            match sent {
                Ok(Answer::Call(reply)) => return Ok(reply),
                Ok(other) => {
                    return Err(Error::internal_server_error(
                        CLIENT_ID,
                        format!("a layer answered a call to {service}.{endpoint} with {other:?}"),
                    ))
                }
                // Connection errors (503), deadlines (408) and the node's 500s: go-micro's
                // RetryOnError.
                Err(err) => {
                    let retry = err.is_retryable();
                    tracing::debug!(service, endpoint, node = %node.address, attempt, retry, error = %err, "call failed");
                    if !retry {
                        return Err(err);
                    }
                    last_error = Some(err);
                }
            }
        }
        // Out of attempts or of time: the last failure says why, or the deadline does.
        Err(last_error.unwrap_or_else(|| {
            CallError::DeadlineExceeded.into_error(&Attempted {
                service,
                endpoint,
                node: "",
                timeout,
            })
        }))
    }

    /// One attempt against one node.
    pub(super) async fn attempt(
        &self,
        to: super::attempt::Target<'_>,
        path: &http::uri::PathAndQuery,
        codec: Codec,
        body: Bytes,
        remaining: Duration,
        metadata: &Metadata,
    ) -> Result<Bytes, CallError> {
        let (mut grpc, request) = self.prepare(to, body, Some(remaining), metadata, codec)?;
        let call = async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
            grpc.unary(request, path.clone(), FrameCodec).await
        };
        match tokio::time::timeout(remaining, call).await {
            Err(_) => Err(CallError::DeadlineExceeded),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(classify(&status)),
        }
    }
}
