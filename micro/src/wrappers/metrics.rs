//! Prometheus metrics (go-plugins' `wrapper/monitoring/prometheus`) for servers, clients and
//! subscribers, on the `prometheus-client` crate (the Prometheus project's own Rust client):
//!
//! - `micro_request_total{side, service, endpoint, status}`: requests, by how they ended
//!   (`status` is `ok` or the error's code, e.g. `500`);
//! - `micro_request_duration_seconds{side, service, endpoint}`: a histogram of their durations;
//! - `micro_request_in_flight{side, service, endpoint}`: requests being served or sent now;
//! - `micro_circuit_state{node, service, endpoint}`: each circuit of a
//!   [`CircuitBreakerLayer`](super::CircuitBreakerLayer) that has changed state: 0 closed,
//!   1 half-open, 2 open.
//!
//! `side` is `server`, `client` or `subscriber`. A stream counts when it ends (a client stream
//! the caller drops before its end as `499`); a publish as a client request to the topic, with
//! an empty endpoint. Every layer of a process counts into one registry,
//! served in the OpenMetrics text format by [`serve`] (which a `Service` and the `micro` tools do
//! at `MICRO_METRICS_ADDRESS` when it is set).

use super::observed::Observed;
use super::recent::Recent;
use crate::layer::Stack;
use crate::Error;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

/// Prometheus' default buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    side: &'static str,
    service: String,
    endpoint: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    side: &'static str,
    service: String,
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Circuit {
    node: String,
    service: String,
    endpoint: String,
}

type Histograms = Family<Call, Histogram, fn() -> Histogram>;

/// The metrics of this process.
#[derive(Debug)]
struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    duration: Histograms,
    in_flight: Family<Call, Gauge>,
    circuits: Family<Circuit, Gauge>,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let requests = Family::<Outcome, Counter>::default();
        let duration = Histograms::new_with_constructor(histogram);
        let in_flight = Family::<Call, Gauge>::default();
        let circuits = Family::<Circuit, Gauge>::default();
        registry.register(
            "micro_request",
            "Requests served (server), sent (client) or delivered (subscriber), by outcome",
            requests.clone(),
        );
        registry.register_with_unit(
            "micro_request_duration",
            "How long requests took",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "micro_request_in_flight",
            "Requests under way",
            in_flight.clone(),
        );
        registry.register(
            "micro_circuit_state",
            "Circuit breaker state per node and endpoint: 0 closed, 1 half-open, 2 open",
            circuits.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            circuits,
        }
    })
}

/// Every metric of this process in the OpenMetrics text format.
pub fn encode() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &metrics().registry);
    text
}

/// Sets the gauge of one circuit (see [`CircuitBreakerLayer`](super::CircuitBreakerLayer)).
pub(crate) fn circuit_state(node: &str, service: &str, endpoint: &str, value: i64) {
    let circuit = Circuit {
        node: node.to_string(),
        service: service.to_string(),
        endpoint: endpoint.to_string(),
    };
    metrics().circuits.get_or_create(&circuit).set(value);
}

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of one `(side, service, endpoint)`: cloned handles into the families, so a
/// request finds them without the families' locks or hashing its labels.
#[derive(Clone)]
struct Handles {
    service: Arc<str>,
    endpoint: Arc<str>,
    in_flight: Gauge,
    duration: Histogram,
    ok: Counter,
}

type HandlesKey = (&'static str, Arc<str>, Arc<str>);

thread_local! {
    static HANDLES: RefCell<Recent<HandlesKey, Handles>> = const { RefCell::new(Recent::new()) };
}

impl Handles {
    fn of(side: &'static str, service: &str, endpoint: &str) -> Handles {
        HANDLES.with_borrow_mut(|recent| {
            recent.get_or_make(
                |(s, sv, ep)| *s == side && **ep == *endpoint && **sv == *service,
                || {
                    let m = metrics();
                    let call = Call {
                        side,
                        service: service.to_string(),
                        endpoint: endpoint.to_string(),
                    };
                    let (service, endpoint): (Arc<str>, Arc<str>) =
                        (service.into(), endpoint.into());
                    let handles = Handles {
                        service: Arc::clone(&service),
                        endpoint: Arc::clone(&endpoint),
                        in_flight: m.in_flight.get_or_create(&call).clone(),
                        duration: m.duration.get_or_create(&call).clone(),
                        ok: m.requests.get_or_create(&call.outcome("ok")).clone(),
                    };
                    ((side, service, endpoint), handles)
                },
            )
        })
    }
}

impl Call {
    fn outcome(&self, status: &str) -> Outcome {
        Outcome {
            side: self.side,
            service: self.service.clone(),
            endpoint: self.endpoint.clone(),
            status: status.to_string(),
        }
    }
}

/// One request being measured: in flight until it ends, then counted and timed.
struct Measure {
    side: &'static str,
    handles: Handles,
    started: Instant,
}

impl Measure {
    fn start(side: &'static str, service: &str, endpoint: &str) -> Measure {
        let handles = Handles::of(side, service, endpoint);
        handles.in_flight.inc();
        Measure {
            side,
            handles,
            started: Instant::now(),
        }
    }

    fn end(self, outcome: Result<(), &Error>) {
        self.handles.in_flight.dec();
        self.handles
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                self.handles.ok.inc();
            }
            Err(e) => {
                let outcome = Outcome {
                    side: self.side,
                    service: self.handles.service.to_string(),
                    endpoint: self.handles.endpoint.to_string(),
                    status: e.code.to_string(),
                };
                metrics().requests.get_or_create(&outcome).inc();
            }
        }
    }
}

/// Measures requests of one side.
#[derive(Debug, Clone, Copy)]
pub struct MetricsLayer {
    side: &'static str,
}

impl MetricsLayer {
    /// For a service's endpoints ([`ServiceBuilder::layer`](crate::service::ServiceBuilder::layer)).
    pub fn server() -> Self {
        MetricsLayer { side: "server" }
    }

    /// For a client's calls, streams and publishes
    /// ([`ClientBuilder::layer`](crate::client::ClientBuilder::layer)).
    pub fn client() -> Self {
        MetricsLayer { side: "client" }
    }

    /// For a service's subscribers
    /// ([`ServiceBuilder::subscriber_layer`](crate::service::ServiceBuilder::subscriber_layer)).
    pub fn subscriber() -> Self {
        MetricsLayer { side: "subscriber" }
    }
}

impl<Req, Rsp> tower::Layer<Stack<Req, Rsp>> for MetricsLayer {
    type Service = MetricsService<Stack<Req, Rsp>>;

    fn layer(&self, inner: Stack<Req, Rsp>) -> Self::Service {
        MetricsService {
            side: self.side,
            inner,
        }
    }
}

/// The service of a [`MetricsLayer`].
#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    side: &'static str,
    inner: S,
}

impl<Req: Observed> tower::Service<Req> for MetricsService<Stack<Req, Req::Response>> {
    type Response = Req::Response;
    type Error = Error;
    type Future = futures::future::BoxFuture<'static, crate::Result<Req::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<crate::Result<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (service, endpoint) = request.names();
        let measure = Measure::start(self.side, service, endpoint);
        let call = self.inner.call(request);
        Box::pin(async move {
            match call.await {
                Ok(response) => Ok(Req::finish(
                    response,
                    Box::new(move |outcome| measure.end(outcome)),
                )),
                Err(e) => {
                    measure.end(Err(&e));
                    Err(e)
                }
            }
        })
    }
}

/// Serves [`encode`] at `http://address/metrics` until the process ends; returns the address
/// bound. Only one exporter runs per process: later calls return the first one's address.
pub async fn serve(address: &str) -> std::io::Result<std::net::SocketAddr> {
    static BOUND: tokio::sync::OnceCell<std::net::SocketAddr> = tokio::sync::OnceCell::const_new();
    BOUND
        .get_or_try_init(|| async {
            let listener = tokio::net::TcpListener::bind(address).await?;
            let bound = listener.local_addr()?;
            tokio::spawn(exporter(listener));
            tracing::info!(address = %bound, "metrics at /metrics");
            Ok(bound)
        })
        .await
        .copied()
}

async fn exporter(listener: tokio::net::TcpListener) {
    use hyper_util::rt::TokioIo;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let service =
            hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                let rsp = if req.uri().path() == "/metrics" {
                    http::Response::builder()
                        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
                        .body(http_body_util::Full::new(bytes::Bytes::from(encode())))
                } else {
                    http::Response::builder()
                        .status(http::StatusCode::NOT_FOUND)
                        .body(http_body_util::Full::new(bytes::Bytes::from_static(
                            b"metrics are at /metrics\n",
                        )))
                };
                rsp.map_err(|e| std::io::Error::other(e.to_string()))
            });
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}
