//! One gRPC request, start to finish: route, pick the codec, read the message, run the handler
//! within the deadline, and answer with the reply or a precise status.

use super::handler::{Call, Replies, StreamFn, UnaryFn};
use super::Shared;
use crate::codec::{Codec, FrameCodec};
use crate::context::Context;
use crate::Error;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::codec::Streaming;
use tonic::{Code, Status};

type Response = http::Response<tonic::body::Body>;

/// Serves one HTTP/2 request.
pub(crate) async fn serve<B>(shared: Arc<Shared>, req: http::Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let received = Instant::now();
    shared.stats.requests.fetch_add(1, Ordering::Relaxed);
    let service = shared.name.clone();

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
        return refuse(req, rsp).await;
    };
    let Some(endpoint) = endpoint.cloned() else {
        shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        let err = Error::not_implemented(
            &service,
            format!("unknown endpoint {name} of service {service}"),
        );
        return refuse(req, with_codec(err.to_status().into_http(), codec)).await;
    };

    let deadline = match crate::grpc_timeout::decode(req.headers()) {
        Ok(timeout) => timeout.map(|t| received + t),
        Err(raw) => {
            shared.stats.errors.fetch_add(1, Ordering::Relaxed);
            let err = Error::bad_request(
                &service,
                format!("invalid grpc-timeout {raw:?} calling {name}"),
            );
            return refuse(req, with_codec(err.to_status().into_http(), codec)).await;
        }
    };
    let ctx = Context {
        service,
        endpoint: name,
        metadata: crate::metadata::from_headers(req.headers()),
        deadline,
    };

    let call = match &endpoint.call {
        Call::Unary(f) => Arc::clone(f),
        Call::Stream(f) => {
            return with_codec(
                serve_stream(f.as_ref(), ctx, codec, req, &shared).await,
                codec,
            )
        }
    };
    let mut grpc = tonic::server::Grpc::new(FrameCodec)
        .max_decoding_message_size(shared.max_message_size)
        .max_encoding_message_size(shared.max_message_size);
    let serve = Serve {
        call: Some((call, ctx)),
        codec,
        shared: Arc::clone(&shared),
    };
    with_codec(grpc.streaming(serve, req).await, codec)
}

/// How much of a refused request's body is read before answering, and for how long.
const DRAIN_LIMIT: usize = 64 << 10;
const DRAIN_TIME: Duration = Duration::from_millis(250);

/// Answers a request refused before its body was read, reading the body first (a little, for a
/// short while): answering while the caller is still sending makes the server reset the
/// stream, and some clients (curl among them) then drop the answer and report only an HTTP/2
/// framing error instead of the precise status.
async fn refuse<B>(req: http::Request<B>, rsp: Response) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    use http_body_util::BodyExt;
    let body = http_body_util::Limited::new(req.into_body(), DRAIN_LIMIT);
    let _ = tokio::time::timeout(DRAIN_TIME, body.collect()).await;
    rsp
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
    call: Option<(Arc<UnaryFn>, Context)>,
    codec: Codec,
    shared: Arc<Shared>,
}

impl tonic::server::StreamingService<Bytes> for Serve {
    type Response = Bytes;
    type ResponseStream = BoxStream<'static, Result<Bytes, Status>>;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let Some((call, ctx)) = self.call.take() else {
            let status = Status::internal("request served twice");
            return futures::future::ready(Err(status)).boxed();
        };
        let codec = self.codec;
        let shared = Arc::clone(&self.shared);
        async move {
            let body = request.into_inner();
            let result = unary(call.as_ref(), ctx, codec, body, &shared)
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
    call: &UnaryFn,
    ctx: Context,
    codec: Codec,
    mut body: Streaming<Bytes>,
    shared: &Shared,
) -> Result<Bytes, Status> {
    let service = ctx.service.clone();
    let name = ctx.endpoint.clone();
    let request = match body.message().await {
        Ok(Some(msg)) => msg,
        Ok(None) => {
            return Err(
                Error::bad_request(&service, format!("no request message for {name}")).to_status(),
            )
        }
        Err(status) => {
            return Err(request_error(
                &service,
                &name,
                status,
                shared.max_message_size,
            ))
        }
    };
    let deadline = ctx.deadline;
    let handler = AssertUnwindSafe(call(ctx, codec, request)).catch_unwind();
    let outcome = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), handler).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Error::timeout(
                    &service,
                    format!("{name} did not finish before the caller's deadline"),
                )
                .to_status())
            }
        },
        None => handler.await,
    };
    match outcome {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(mut err)) => {
            if err.id.is_empty() {
                err.id = service;
            }
            Err(err.to_status())
        }
        Err(panic) => {
            let what = panic_message(&*panic);
            tracing::error!(endpoint = %name, panic = %what, "handler panicked");
            Err(
                Error::internal_server_error(&service, format!("{name} panicked: {what}"))
                    .to_status(),
            )
        }
    }
}

/// A streaming call. tonic reads the request frames; the replies are written by [`ReplyBody`],
/// straight from the handler's typed stream into the response's frames.
async fn serve_stream<B>(
    call: &StreamFn,
    ctx: Context,
    codec: Codec,
    req: http::Request<B>,
    shared: &Arc<Shared>,
) -> Response
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
            ctx.endpoint
        );
        return Status::unimplemented(detail).into_http();
    }
    let requests = Streaming::new_request(
        FrameCodec,
        req.into_body(),
        None,
        Some(shared.max_message_size),
    );
    match streaming(call, ctx, codec, requests, shared).await {
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
    call: &StreamFn,
    ctx: Context,
    codec: Codec,
    body: Streaming<Bytes>,
    shared: &Arc<Shared>,
) -> Result<ReplyBody, Status> {
    let service = ctx.service.clone();
    let name = ctx.endpoint.clone();
    let deadline = ctx.deadline;
    let started = AssertUnwindSafe(call(ctx, codec, body.boxed())).catch_unwind();
    let replies = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), started).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Error::timeout(
                    &service,
                    format!("{name} did not start before the caller's deadline"),
                )
                .to_status())
            }
        },
        None => started.await,
    };
    let replies = match replies {
        Ok(Ok(replies)) => replies,
        Ok(Err(err)) => return Err(err.to_status()),
        Err(panic) => {
            let what = panic_message(&*panic);
            tracing::error!(endpoint = %name, panic = %what, "handler panicked");
            return Err(
                Error::internal_server_error(&service, format!("{name} panicked: {what}"))
                    .to_status(),
            );
        }
    };
    Ok(ReplyBody {
        replies,
        buf: BytesMut::with_capacity(FLUSH_AT),
        deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d.into()))),
        service,
        name,
        shared: Arc::clone(shared),
        end: None,
        done: false,
    })
}

/// Replies are sent once this much is written, or when the handler has no more ready.
const FLUSH_AT: usize = 32 << 10;

/// The response body of a streaming call: the handler's replies as gRPC frames, several to a
/// write when they come quickly, then the final status as trailers. A handler error ends the
/// stream with its status, a panic with Internal, and the deadline with DeadlineExceeded.
struct ReplyBody {
    replies: Box<dyn Replies>,
    /// Frames written and not yet sent.
    buf: BytesMut,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    service: String,
    name: String,
    shared: Arc<Shared>,
    /// How the stream ends, once known; sent after the frames before it.
    end: Option<Status>,
    done: bool,
}

impl ReplyBody {
    /// Writes replies while the handler has them ready, until the buffer is full or the stream
    /// has ended.
    fn fill(&mut self, cx: &mut std::task::Context<'_>) {
        use std::task::Poll;
        let limit = self.shared.max_message_size;
        while self.end.is_none() && self.buf.len() < FLUSH_AT {
            let start = self.buf.len();
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.replies.poll_frame(cx, &mut self.buf)
            }));
            self.end = match polled {
                Ok(Poll::Ready(Some(Ok(len)))) if len <= limit => continue,
                Ok(Poll::Ready(Some(Ok(len)))) => {
                    self.buf.truncate(start);
                    let detail = format!(
                        "a reply of {} is {len} bytes, over the limit of {limit} bytes",
                        self.name
                    );
                    Some(Error::too_large(&self.service, detail).to_status())
                }
                Ok(Poll::Ready(Some(Err(mut err)))) => {
                    self.buf.truncate(start);
                    if err.id.is_empty() {
                        err.id = self.service.clone();
                    }
                    Some(err.to_status())
                }
                Ok(Poll::Ready(None)) => Some(Status::ok("")),
                Ok(Poll::Pending) => match self
                    .deadline
                    .as_mut()
                    .map(|d| std::future::Future::poll(d.as_mut(), cx))
                {
                    Some(Poll::Ready(())) => {
                        let detail = format!("{} passed the caller's deadline", self.name);
                        Some(Error::timeout(&self.service, detail).to_status())
                    }
                    _ => return,
                },
                Err(panic) => {
                    self.buf.truncate(start);
                    let what = panic_message(&*panic);
                    tracing::error!(endpoint = %self.name, panic = %what, "handler panicked mid-stream");
                    let detail = format!("{} panicked: {what}", self.name);
                    Some(Error::internal_server_error(&self.service, detail).to_status())
                }
            };
        }
    }
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        this.fill(cx);
        if !this.buf.is_empty() {
            let frames = this.buf.split().freeze();
            return Poll::Ready(Some(Ok(http_body::Frame::data(frames))));
        }
        let Some(end) = this.end.take() else {
            return Poll::Pending;
        };
        this.done = true;
        if end.code() != Code::Ok {
            this.shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut trailers = http::HeaderMap::new();
        if let Err(e) = end.add_header(&mut trailers) {
            return Poll::Ready(Some(Err(e)));
        }
        Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two replies, then a panic.
    struct PanicsAfterTwo(usize);

    impl Replies for PanicsAfterTwo {
        fn poll_frame(
            &mut self,
            _cx: &mut std::task::Context<'_>,
            buf: &mut BytesMut,
        ) -> std::task::Poll<Option<crate::Result<usize>>> {
            self.0 += 1;
            if self.0 > 2 {
                panic!("boom");
            }
            let reply = crate::server::debug::proto::HealthResponse {
                status: self.0.to_string(),
            };
            let msg = crate::codec::Codec::Json.encode_frame(&reply, buf);
            std::task::Poll::Ready(Some(
                msg.map_err(|e| Error::internal_server_error("t", e.to_string())),
            ))
        }
    }

    #[tokio::test]
    async fn a_panic_mid_stream_ends_it_with_internal_after_the_replies_before() {
        use http_body_util::BodyExt;
        let shared = Arc::new(Shared {
            name: "svc".into(),
            router: Default::default(),
            max_message_size: 1 << 20,
            stats: Default::default(),
        });
        let body = ReplyBody {
            replies: Box::new(PanicsAfterTwo(0)),
            buf: BytesMut::new(),
            deadline: None,
            service: "svc".into(),
            name: "Svc.Stream".into(),
            shared: Arc::clone(&shared),
            end: None,
            done: false,
        };
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        let data = collected.to_bytes();
        // Two frames: flag, length, JSON.
        assert_eq!(
            &data[..],
            b"\0\0\0\0\x0e{\"status\":\"1\"}\0\0\0\0\x0e{\"status\":\"2\"}"
        );
        let status = Status::from_header_map(&trailers).expect("a status");
        assert_eq!(status.code(), Code::Internal);
        let err = Error::from_status("svc", &status);
        assert_eq!(err.detail, "Svc.Stream panicked: boom");
        assert_eq!(shared.stats.errors.load(Ordering::Relaxed), 1);
    }
}
