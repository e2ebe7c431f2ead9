//! OpenTelemetry traces (go-plugins' `wrapper/trace/opentelemetry`) for servers, clients and
//! subscribers, on the OpenTelemetry project's own Rust crates (`opentelemetry`, its SDK, and
//! its OTLP exporter over the tonic the framework already uses).
//!
//! Each call a client makes, each call a server handles and each message a subscriber takes is
//! a span, and the trace crosses the wire in W3C `traceparent` and `tracestate` metadata, so a
//! Python, Go or Java OpenTelemetry peer continues the same trace. A server's span is the
//! current OpenTelemetry context while its handler runs, and its `traceparent` is put in the
//! handler's metadata too, so the calls the handler makes (with
//! [`CallOptions::from(&ctx)`](crate::CallOptions) or without) are its children. Each span is
//! also a `tracing` span named `request` with its `trace_id`, so the lines a handler logs carry
//! the trace they belong to.
//!
//! A [`Tracer`] gives the layers; it exports over OTLP/gRPC when given an endpoint. A `Service`
//! builds one and puts its layers outermost when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (as do the `micro` tools for their client), and flushes
//! it when it stops. Sampling is the SDK's: parent-based, always on, or as `OTEL_TRACES_SAMPLER`
//! says.

mod w3c;

use super::observed::{Observed, Peer};
use super::recent::Recent;
use crate::layer::Stack;
use crate::metadata::Metadata;
use crate::Error;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context as Otel, KeyValue, StringValue, Value};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument as _;

/// Why a [`Tracer`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The OTLP endpoint is not an `http://host:port` URL.
    #[error("the OTLP endpoint {0:?} is not http://host:port (https needs TLS, which micro's OTLP exporter is built without)")]
    Endpoint(String),
    /// The exporter needs a tokio runtime to send from.
    #[error(
        "exporting traces needs a tokio runtime: make the tracer (or build the service) inside one"
    )]
    NoRuntime,
    /// The exporter could not be built.
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter {
        /// The endpoint.
        endpoint: String,
        /// The exporter's words.
        reason: String,
    },
    /// Spans could not be flushed.
    #[error("cannot flush traces: {0}")]
    Flush(String),
}

/// The spans of one service (its `service.name`), and the layers that make them.
#[derive(Debug, Clone)]
pub struct Tracer {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// Whether spans are recorded; see [`Tracer::new`].
    recording: bool,
}

impl Tracer {
    /// Spans with ids and propagation, exported nowhere (for peers that record them, or to
    /// carry a caller's trace through).
    ///
    /// Nothing could read what such a span records, so with the SDK's default sampler (no
    /// `OTEL_TRACES_SAMPLER`) none is recorded: each call gets its ids (the caller's trace, a
    /// new span id, the caller's sampled flag or sampled) and carries them on, as a recorded
    /// span would, for a fraction of the cost.
    pub fn new(service: &str) -> Tracer {
        let mut tracer = Tracer::with_provider(
            SdkTracerProvider::builder()
                .with_resource(resource(service))
                .build(),
        );
        tracer.recording = std::env::var_os("OTEL_TRACES_SAMPLER").is_some();
        tracer
    }

    /// Spans exported in batches over OTLP/gRPC to `endpoint` (`http://host:4317`; a bare
    /// `host:port` means http). Call inside a tokio runtime; the exporter sends from it.
    pub fn exporting(service: &str, endpoint: &str) -> Result<Tracer, TraceError> {
        let endpoint = url(endpoint)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TraceError::NoRuntime);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| TraceError::Exporter {
                endpoint: endpoint.clone(),
                reason: e.to_string(),
            })?;
        tracing::info!(%endpoint, %service, "exporting traces over OTLP");
        Ok(Tracer::with_provider(
            SdkTracerProvider::builder()
                .with_resource(resource(service))
                .with_batch_exporter(Logged { exporter, endpoint })
                .build(),
        ))
    }

    /// Spans of a provider of your own (its sampler, processors and exporters).
    pub fn with_provider(provider: SdkTracerProvider) -> Tracer {
        let tracer = provider.tracer("micro");
        Tracer {
            provider,
            tracer,
            recording: true,
        }
    }

    /// The layer for a service's endpoints
    /// ([`ServiceBuilder::layer`](crate::service::ServiceBuilder::layer)).
    pub fn server(&self) -> TraceLayer {
        self.layer(Side::Server)
    }

    /// The layer for a client's calls, streams and publishes
    /// ([`ClientBuilder::layer`](crate::client::ClientBuilder::layer)).
    pub fn client(&self) -> TraceLayer {
        self.layer(Side::Client)
    }

    /// The layer for a service's subscribers
    /// ([`ServiceBuilder::subscriber_layer`](crate::service::ServiceBuilder::subscriber_layer)).
    pub fn subscriber(&self) -> TraceLayer {
        self.layer(Side::Subscriber)
    }

    fn layer(&self, side: Side) -> TraceLayer {
        TraceLayer {
            side,
            tracer: self.tracer.clone(),
            recording: self.recording,
        }
    }

    /// Sends every ended span now (the batch would go within 5 s, `OTEL_BSP_SCHEDULE_DELAY`).
    pub async fn flush(&self) -> Result<(), TraceError> {
        let provider = self.provider.clone();
        // The SDK's flush blocks until its exporter thread is done, and that thread sends
        // through this runtime: wait off it.
        tokio::task::spawn_blocking(move || provider.force_flush())
            .await
            .map_err(|e| TraceError::Flush(e.to_string()))?
            .map_err(|e| TraceError::Flush(e.to_string()))
    }
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_string())
        .build()
}

/// `endpoint` as the URL the exporter wants.
fn url(endpoint: &str) -> Result<String, TraceError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let url = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => Ok(url),
        _ => Err(TraceError::Endpoint(endpoint.to_string())),
    }
}

/// The OTLP exporter, saying when spans could not be sent rather than losing them unseen.
#[derive(Debug)]
struct Logged {
    exporter: opentelemetry_otlp::SpanExporter,
    endpoint: String,
}

impl SpanExporter for Logged {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.exporter.export(batch).await;
        if let Err(e) = &result {
            tracing::warn!(endpoint = %self.endpoint, spans, error = %e, "traces not exported");
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
    Subscriber,
}

/// Makes a span of every request of one side; see the [module](self).
#[derive(Debug, Clone)]
pub struct TraceLayer {
    side: Side,
    tracer: SdkTracer,
    recording: bool,
}

impl<Req, Rsp> tower::Layer<Stack<Req, Rsp>> for TraceLayer {
    type Service = TraceService<Stack<Req, Rsp>>;

    fn layer(&self, inner: Stack<Req, Rsp>) -> Self::Service {
        TraceService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service of a [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    layer: TraceLayer,
    inner: S,
}

impl TraceLayer {
    /// The span a request continues: the caller's from its metadata on a server or subscriber;
    /// on a client, the context the call is made in (a handler's span), else the trace its
    /// metadata carries (a handler's `ctx`), else none (a new trace).
    fn parent(&self, carrier: &Metadata) -> Otel {
        if self.side == Side::Client {
            let current = Otel::current();
            if current.span().span_context().is_valid() {
                return current;
            }
        }
        w3c::extract(carrier)
    }

    /// A context whose span has ids and no record: the parent's trace (or a new one), a new
    /// span id, the parent's sampled flag (sampled without a parent), as the SDK's default
    /// parent-based, always-on sampler decides.
    fn unrecorded(parent: Otel) -> Otel {
        use opentelemetry::trace::{SpanContext, TraceFlags};
        use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};
        let ids = RandomIdGenerator::default();
        let from = parent.span().span_context().clone();
        let (trace_id, flags, state) = if from.is_valid() {
            (
                from.trace_id(),
                from.trace_flags(),
                from.trace_state().clone(),
            )
        } else {
            (ids.new_trace_id(), TraceFlags::SAMPLED, Default::default())
        };
        let span = SpanContext::new(trace_id, ids.new_span_id(), flags, false, state);
        parent.with_remote_span_context(span)
    }
}

/// What the spans of one `(side, service, endpoint, topic)` are named and start with.
struct Names {
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
}

type NamesKey = (Side, Box<str>, Box<str>, Option<Box<str>>);

thread_local! {
    static NAMES: RefCell<Recent<NamesKey, Arc<Names>>> = const { RefCell::new(Recent::new()) };
    /// The attributes naming peers.
    static PEERS: RefCell<Recent<PeerKey, KeyValue>> = const { RefCell::new(Recent::new()) };
}

impl Names {
    fn of(side: Side, service: &str, endpoint: &str, topic: Option<&str>) -> Arc<Names> {
        NAMES.with_borrow_mut(|recent| {
            recent.get_or_make(
                |(s, sv, ep, tp)| {
                    *s == side && **ep == *endpoint && **sv == *service && tp.as_deref() == topic
                },
                || {
                    let key = (side, service.into(), endpoint.into(), topic.map(Into::into));
                    (key, Arc::new(Names::new(side, service, endpoint, topic)))
                },
            )
        })
    }

    fn new(side: Side, service: &str, endpoint: &str, topic: Option<&str>) -> Names {
        match (side, topic) {
            (Side::Client, Some(topic)) => Names {
                name: format!("publish {topic}"),
                kind: SpanKind::Producer,
                attributes: vec![
                    KeyValue::new("messaging.destination.name", text(topic)),
                    KeyValue::new("messaging.operation.type", "send"),
                ],
            },
            (Side::Subscriber, topic) => {
                let topic = topic.unwrap_or(service);
                Names {
                    name: format!("process {topic}"),
                    kind: SpanKind::Consumer,
                    attributes: vec![
                        KeyValue::new("messaging.destination.name", text(topic)),
                        KeyValue::new("messaging.operation.type", "process"),
                        KeyValue::new("micro.subscriber", text(endpoint)),
                    ],
                }
            }
            (side, _) => Names {
                name: format!("{service}/{endpoint}"),
                kind: if side == Side::Server {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                attributes: vec![
                    KeyValue::new("rpc.system", "grpc"),
                    KeyValue::new("rpc.service", text(service)),
                    KeyValue::new("rpc.method", text(endpoint)),
                ],
            },
        }
    }
}

#[derive(PartialEq)]
enum PeerKey {
    Caller(SocketAddr),
    Node(Box<str>),
}

/// The attribute naming the other end of a request.
fn peer(peer: Peer<'_>) -> KeyValue {
    PEERS.with_borrow_mut(|recent| {
        recent.get_or_make(
            |key| match (key, peer) {
                (PeerKey::Caller(a), Peer::Caller(b)) => *a == b,
                (PeerKey::Node(a), Peer::Node(b)) => **a == *b,
                _ => false,
            },
            || match peer {
                Peer::Caller(address) => (
                    PeerKey::Caller(address),
                    KeyValue::new("client.address", text(&address.to_string())),
                ),
                Peer::Node(address) => (
                    PeerKey::Node(address.into()),
                    KeyValue::new("server.address", text(address)),
                ),
            },
        )
    })
}

/// A string attribute value, shared by its clones.
fn text(s: &str) -> Value {
    Value::String(StringValue::from(Arc::<str>::from(s)))
}

impl<Req: Observed> tower::Service<Req> for TraceService<Stack<Req, Req::Response>> {
    type Response = Req::Response;
    type Error = Error;
    type Future = futures::future::BoxFuture<'static, crate::Result<Req::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<crate::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let side = self.layer.side;
        let parent = self.layer.parent(request.carrier());
        let (service, endpoint) = request.names();
        let log = tracing::info_span!(
            "request",
            side = ?side,
            service = %service,
            endpoint = %endpoint,
            trace_id = tracing::field::Empty,
        );
        if !self.layer.recording {
            let cx = TraceLayer::unrecorded(parent);
            w3c::inject(cx.span().span_context(), request.carrier());
            let call = self.inner.call(request);
            return joined(call, log, cx);
        }
        let names = Names::of(side, service, endpoint, request.topic());
        let mut attributes = Vec::with_capacity(names.attributes.len() + 1);
        attributes.extend(names.attributes.iter().cloned());
        attributes.extend(request.peer().map(peer));
        let span = self
            .layer
            .tracer
            .span_builder(names.name.clone())
            .with_kind(names.kind.clone())
            .with_attributes(attributes)
            .start_with_context(&self.layer.tracer, &parent);
        let cx = parent.with_span(span);
        // The next hop continues this span: the wire for a client, the handler's metadata for
        // a server or subscriber.
        w3c::inject(cx.span().span_context(), request.carrier());
        let call = self.inner.call(request);
        let ended = cx.clone();
        let traced = async move {
            match call.await {
                Ok(response) => Ok(Req::finish(
                    response,
                    Box::new(move |outcome| end(&ended, outcome)),
                )),
                Err(e) => {
                    end(&ended, Err(&e));
                    Err(e)
                }
            }
        };
        joined(traced, log, cx)
    }
}

/// `call` run in the OpenTelemetry context `cx` and inside the `tracing` span `log`, which
/// carries the trace id.
fn joined<T>(
    call: impl std::future::Future<Output = T> + Send + 'static,
    log: tracing::Span,
    cx: Otel,
) -> futures::future::BoxFuture<'static, T> {
    // Without a `tracing` subscriber that wants it, the log span is nothing to enter.
    if log.is_disabled() {
        return Box::pin(call.with_context(cx));
    }
    let trace_id = cx.span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        log.record("trace_id", tracing::field::display(trace_id));
    }
    Box::pin(call.instrument(log).with_context(cx))
}

/// Ends the span of `cx` with the request's outcome.
fn end(cx: &Otel, outcome: Result<(), &Error>) {
    let span = cx.span();
    match outcome {
        Ok(()) => span.set_attribute(KeyValue::new("rpc.grpc.status_code", 0)),
        Err(e) => {
            span.set_attribute(KeyValue::new("rpc.grpc.status_code", e.grpc_code() as i64));
            span.set_attribute(KeyValue::new("error.type", e.code.to_string()));
            span.set_status(Status::error(e.detail.clone()));
        }
    }
    span.end();
}
