//! One gRPC request, start to finish: route, pick the codec, read the message, run the handler
//! within the deadline, and answer with the reply or a precise status.

use super::forward::Route;
use super::guard::guarded;
use super::handler::{Call, HandlerEndpoint};
use super::reply_body::ReplyBody;
use super::request::{self, EndHooks, Reply, ReplyKind, Request, To};
use super::Shared;
use crate::codec::{Codec, FrameCodec};
use crate::context::Context;
use crate::Error;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tonic::codec::Streaming;
use tonic::{Code, Status};

type Response = http::Response<tonic::body::Body>;

/// Serves one HTTP/2 request from `peer`.
pub(crate) async fn serve<B>(
    shared: Arc<Shared>,
    req: http::Request<B>,
    peer: Option<SocketAddr>,
) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let received = Instant::now();
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let service = shared.name.clone();

    if let Some(forward) = &shared.forward {
        let path = req.uri().path();
        if !shared.router.is_exact(path) {
            match super::forward::route(path, req.headers(), &shared.name) {
                Route::Here => {}
                Route::On(target) => {
                    let req = req.map(tonic::body::Body::new);
                    return Box::pin(super::forward::serve(&shared, forward, target, req, peer))
                        .await;
                }
                Route::Malformed(reason) => {
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    let err = Error::bad_request(&service, reason);
                    return Box::pin(super::refuse(req, err.to_status().into_http())).await;
                }
            }
        }
    }

    // The branches other than a unary call (forwarding, refusals, streams) are boxed: this
    // future is moved into every request's task, and an inline branch would make it several
    // KB to copy on each request.
    let (name, endpoint) = shared.router.route(req.uri().path());
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(codec) = Codec::from_content_type(content_type)
        .filter(|_| content_type.starts_with("application/grpc"))
    else {
        let err = Error::bad_request(
            &service,
            format!(
                "unsupported content type {content_type:?} for {name}: use application/grpc, application/grpc+proto or application/grpc+json"
            ),
        );
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        let mut rsp = err.to_status().into_http::<tonic::body::Body>();
        *rsp.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Box::pin(super::refuse(req, rsp)).await;
    };
    let Some(endpoint) = endpoint.cloned() else {
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        let err = Error::not_implemented(
            &service,
            format!("unknown endpoint {name} of service {service}"),
        );
        return Box::pin(super::refuse(
            req,
            with_codec(err.to_status().into_http(), codec),
        ))
        .await;
    };

    let deadline = match crate::grpc_timeout::decode(req.headers()) {
        Ok(timeout) => timeout.map(|t| received + t),
        Err(raw) => {
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            let err = Error::bad_request(
                &service,
                format!("invalid grpc-timeout {raw:?} calling {name}"),
            );
            return Box::pin(super::refuse(
                req,
                with_codec(err.to_status().into_http(), codec),
            ))
            .await;
        }
    };
    let ctx = Context {
        service,
        endpoint: name,
        metadata: crate::metadata::from_headers(req.headers()),
        deadline,
        account: None,
    };

    let call = Arrived {
        ctx,
        codec,
        peer,
        endpoint,
    };
    if matches!(call.endpoint.call, Call::Stream(_)) {
        return with_codec(Box::pin(serve_stream(call, req, &shared)).await, codec);
    }
    let mut grpc = tonic::server::Grpc::new(FrameCodec)
        .max_decoding_message_size(shared.max_message_size)
        .max_encoding_message_size(shared.max_message_size);
    let serve = Serve {
        call: Some(call),
        shared: Arc::clone(&shared),
    };
    with_codec(grpc.streaming(serve, req).await, codec)
}

/// A call routed to its endpoint, its body not yet read.
struct Arrived {
    ctx: Context,
    codec: Codec,
    peer: Option<SocketAddr>,
    endpoint: Arc<HandlerEndpoint>,
}

impl Arrived {
    /// The endpoint's answer to `body`: straight from the endpoint, or through the server's
    /// layers when it has any (and they apply to this endpoint).
    async fn answer(self, body: request::Body, shared: &Shared) -> crate::Result<Reply> {
        let stack = shared.stack_for(&self.endpoint);
        let request = Request {
            context: self.ctx,
            peer: self.peer,
            codec: self.codec,
            body,
            to: To::Endpoint(self.endpoint),
        };
        match stack {
            Some(stack) => tower::ServiceExt::oneshot(stack, request).await,
            None => request.dispatch().await,
        }
    }
}

/// Replies carry the request's codec in their content type.
fn with_codec(mut rsp: Response, codec: Codec) -> Response {
    rsp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(codec.grpc_content_type()),
    );
    rsp
}

/// The tonic service for one unary call, served as a stream at this level so that reading the
/// request (and its size limit) is ours to report.
struct Serve {
    /// Taken by the one call tonic makes.
    call: Option<Arrived>,
    shared: Arc<Shared>,
}

impl tonic::server::StreamingService<Bytes> for Serve {
    type Response = Bytes;
    type ResponseStream = BoxStream<'static, Result<Bytes, Status>>;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let Some(call) = self.call.take() else {
            let status = Status::internal("request served twice");
            return futures::future::ready(Err(status)).boxed();
        };
        let shared = Arc::clone(&self.shared);
        async move {
            let body = request.into_inner();
            let result = unary(call, body, &shared)
                .await
                .map(|reply| futures::stream::once(async { Ok(reply) }).boxed());
            if result.is_err() {
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok(tonic::Response::new(result?))
        }
        .boxed()
    }
}

async fn unary(
    call: Arrived,
    mut body: Streaming<Bytes>,
    shared: &Shared,
) -> Result<Bytes, Status> {
    let service = call.ctx.service.clone();
    let name = call.ctx.endpoint.clone();
    let arrived = tokio::time::timeout(shared.body_timeout, body.message());
    let request = match arrived.await {
        Err(_) => {
            let detail = format!(
                "the request to {name} did not arrive within the body timeout of {:?}",
                shared.body_timeout
            );
            return Err(Error::timeout(&service, detail).to_status());
        }
        Ok(Ok(Some(msg))) => msg,
        Ok(Ok(None)) => {
            return Err(
                Error::bad_request(&service, format!("no request message for {name}")).to_status(),
            )
        }
        Ok(Err(status)) => {
            return Err(request_error(
                &service,
                &name,
                status,
                shared.max_message_size,
            ))
        }
    };
    let deadline = call.ctx.deadline;
    let answer = call.answer(request::Body::Unary(request), shared);
    let reply = guarded(&service, &name, deadline, &shared.cut, "finish", answer).await?;
    match reply.kind {
        ReplyKind::Unary(bytes) => Ok(bytes),
        ReplyKind::Stream(_) | ReplyKind::Forwarded(_) => Err(Error::internal_server_error(
            &service,
            format!("{name} answered a unary call with a stream"),
        )
        .to_status()),
    }
}

/// A streaming call. tonic reads the request frames; the replies are written by `ReplyBody`,
/// straight from the handler's typed stream into the response's frames.
async fn serve_stream<B>(call: Arrived, req: http::Request<B>, shared: &Arc<Shared>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    // No compression here: say so rather than misread compressed frames.
    if let Some(encoding) = req
        .headers()
        .get("grpc-encoding")
        .filter(|e| e.as_bytes() != b"identity")
    {
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        let detail = format!(
            "requests compressed with {encoding:?} are not supported by {}",
            call.ctx.endpoint
        );
        return Status::unimplemented(detail).into_http();
    }
    let requests = Streaming::new_request(
        crate::codec::FrameDecoder::default(),
        req.into_body(),
        None,
        Some(shared.max_message_size),
    );
    match streaming(call, requests, shared).await {
        Ok(body) => http::Response::new(tonic::body::Body::new(body)),
        Err(status) => {
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            status.into_http()
        }
    }
}

/// Starts a streaming handler; its replies then flow until it ends, fails, panics or the
/// caller's deadline passes (which ends the stream with DeadlineExceeded).
async fn streaming(
    call: Arrived,
    body: Streaming<Bytes>,
    shared: &Arc<Shared>,
) -> Result<ReplyBody, Status> {
    let name = call.ctx.endpoint.clone();
    let deadline = call.ctx.deadline;
    let started = call.answer(request::Body::Stream(body.boxed()), shared);
    let reply = guarded(&shared.name, &name, deadline, &shared.cut, "start", started).await?;
    let ReplyKind::Stream(replies) = reply.kind else {
        return Err(Error::internal_server_error(
            &shared.name,
            format!("{name} answered a stream with a unary reply"),
        )
        .to_status());
    };
    let hooks =
        (!reply.on_end.is_empty()).then(|| EndHooks::new(reply.on_end, &shared.name, &name));
    Ok(ReplyBody::new(
        replies,
        deadline,
        name,
        Arc::clone(shared),
        hooks,
    ))
}

/// Errors reading the request, reworded to name the endpoint; tonic reports an oversized
/// message as OutOfRange, gRPC servers answer ResourceExhausted.
fn request_error(service: &str, name: &str, status: Status, limit: usize) -> Status {
    match status.code() {
        Code::OutOfRange => Error::too_large(
            service,
            format!(
                "request to {name} is larger than the limit of {limit} bytes ({})",
                status.message()
            ),
        )
        .to_status(),
        _ => Error::bad_request(
            service,
            format!("cannot read request of {name}: {}", status.message()),
        )
        .to_status(),
    }
}
