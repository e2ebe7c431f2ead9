//! The server: one HTTP/2 gRPC listener serving every endpoint of a service.
//!
//! It dispatches on `Handler.Method` from the path, decodes each request with the codec its
//! content type names, registers itself in the registry while it runs, and on stop deregisters
//! first, then stops accepting and drains the calls in flight.

mod activity;
pub mod debug;
mod delivery;
pub mod forward;
mod grpc;
mod guard;
mod handler;
pub mod limits;
pub mod listener;
mod refuse;
pub(crate) mod register;
mod reply_body;
mod request;
mod router;
mod subscriber;
pub mod tls;

pub use handler::{Handler, HandlerEndpoint};
pub use limits::ConnectionLimits;
pub use listener::{Listener, Protocol};
pub use refuse::refuse;
pub use request::{Outcome, Reply, Request};

/// The layers around every endpoint of a server.
pub type Layers = crate::layer::Layers<Request, Reply>;
/// An endpoint with the server's layers around it.
pub type Stack = crate::layer::Stack<Request, Reply>;
pub use delivery::Delivery;
pub use subscriber::{Subscriber, SubscriberEndpoint, SubscriberLayers, SubscriberStack};

use crate::registry::{Metadata, Registry};
use debug::Stats;
use register::Registration;
use router::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
/// Default time given to calls in flight at shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server is: name, version, address, registration and limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Service name, e.g. `go.micro.srv.greeter`.
    pub name: String,
    /// Version, `latest` by default.
    pub version: String,
    /// Where to listen, `127.0.0.1:0` by default.
    pub address: String,
    /// The address to register, when it differs from the one listened on.
    pub advertise: Option<String>,
    /// Service metadata for the registry.
    pub metadata: Metadata,
    /// Registry to register in.
    pub registry: Arc<dyn Registry>,
    /// Name of the broker the service's subscribers use, for node metadata.
    pub broker: String,
    /// How long a registration lives (`MICRO_REGISTER_TTL`).
    pub register_ttl: Duration,
    /// How often to register again (`MICRO_REGISTER_INTERVAL`).
    pub register_interval: Duration,
    /// Largest message received or sent.
    pub max_message_size: usize,
    /// How long calls in flight may run after shutdown starts.
    pub drain_timeout: Duration,
    /// Bounds on connections: timeouts, keep-alive, the cap.
    pub limits: ConnectionLimits,
}

/// State every request of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub router: Router,
    pub max_message_size: usize,
    pub stats: Arc<Stats>,
    /// The layers around every endpoint, when there are any.
    pub stack: Option<Stack>,
    /// Whether the layers also wrap `Debug.*` and the gRPC health check.
    pub layer_debug: bool,
    /// The layers around `Debug.*` and the gRPC health check when the others are not (auth).
    pub internal_stack: Option<Stack>,
    /// Takes the calls for other services, when this server is a proxy.
    pub forward: Option<Arc<dyn forward::Forward>>,
    /// How long a unary request may take to arrive.
    pub body_timeout: Duration,
    /// Cancelled when shutdown's drain timeout has passed: calls still running end with
    /// Unavailable.
    pub cut: CancellationToken,
}

impl Shared {
    /// The layer stack `endpoint` is served through; `None` to call it directly.
    pub(crate) fn stack_for(&self, endpoint: &HandlerEndpoint) -> Option<Stack> {
        if endpoint.internal && !self.layer_debug {
            self.internal_stack.clone()
        } else {
            self.stack.clone()
        }
    }
}

/// A server to be started: options plus handlers.
#[derive(Debug)]
pub struct Server {
    options: ServerOptions,
    router: Router,
    stats: Arc<Stats>,
    layers: Layers,
    layer_debug: bool,
    internal_layers: Layers,
    forward: Option<Arc<dyn forward::Forward>>,
    tls: Option<tls::Tls>,
    /// Subscriber endpoints to list in the registry (the broker delivers to them).
    subscribers: Vec<crate::registry::Endpoint>,
}

impl Server {
    /// A server with these options, serving `Debug.Health`, `Debug.Stats` and
    /// `grpc.health.v1.Health/Check` from the start.
    pub fn new(options: ServerOptions) -> Self {
        let stats = Arc::new(Stats::new());
        let mut router = Router::default();
        for endpoint in debug::endpoints(Arc::clone(&stats)) {
            router.add_internal(endpoint);
        }
        router.add_exact("/grpc.health.v1.Health/Check", debug::grpc_health_check());
        Server {
            options,
            router,
            stats,
            layers: Layers::default(),
            layer_debug: false,
            internal_layers: Layers::default(),
            forward: None,
            tls: None,
            subscribers: Vec::new(),
        }
    }

    /// Serves over TLS with this certificate instead of h2c.
    pub fn tls(&mut self, tls: tls::Tls) {
        self.tls = Some(tls);
    }

    /// Hands every call addressed to another service (by its path's package, or the
    /// `micro-service` header) to `forward` instead of answering it: a proxy.
    pub fn forward(&mut self, forward: Arc<dyn forward::Forward>) {
        self.forward = Some(forward);
    }

    /// Serves every endpoint through these layers (outermost first).
    pub fn layers(&mut self, layers: Layers) {
        self.layers = layers;
    }

    /// Whether the layers also wrap `Debug.Health`, `Debug.Stats` and the gRPC health check
    /// (off: health checks pass whatever the layers would refuse).
    pub fn layer_debug_endpoints(&mut self, on: bool) {
        self.layer_debug = on;
    }

    /// Serves `Debug.Health`, `Debug.Stats` and the gRPC health check through these layers
    /// when the others do not wrap them ([`layer_debug_endpoints`](Self::layer_debug_endpoints)
    /// off): the auth layer, so that its rules decide who may read them too.
    pub fn internal_layers(&mut self, layers: Layers) {
        self.internal_layers = layers;
    }

    /// Lists a subscriber endpoint in the registry record.
    pub fn list_subscriber(&mut self, endpoint: crate::registry::Endpoint) {
        self.subscribers.push(endpoint);
    }

    /// Serves every endpoint of `handler`.
    pub fn handle(&mut self, handler: Arc<dyn Handler>) {
        for endpoint in handler.endpoints() {
            self.router.add(endpoint);
        }
    }

    /// Serves one endpoint.
    pub fn endpoint(&mut self, endpoint: HandlerEndpoint) {
        self.router.add(endpoint);
    }

    /// The endpoints the registry will list: handlers, then subscribers.
    pub fn endpoints(&self) -> Vec<crate::registry::Endpoint> {
        let mut endpoints = self.router.public_endpoints();
        endpoints.extend(self.subscribers.iter().cloned());
        endpoints
    }

    /// Binds, registers and starts serving. Returns once the service is registered, or once
    /// registration failed (it is then retried every second in the background).
    pub async fn start(self) -> crate::Result<RunningServer> {
        let endpoints = self.endpoints();
        let Server {
            options,
            router,
            stats,
            layers,
            layer_debug,
            internal_layers,
            forward,
            tls,
            ..
        } = self;
        let tcp = TcpListener::bind(&options.address).await.map_err(|e| {
            crate::Error::internal_server_error(
                &options.name,
                format!("cannot listen on {}: {e}", options.address),
            )
        })?;
        let listener = Listener::new(tcp, Protocol::Http2)
            .limits(options.limits.clone())
            .drain_timeout(options.drain_timeout);
        let secure = tls.is_some();
        let listener = match tls {
            Some(tls) => listener.tls(tls),
            None => listener,
        };
        let local = listener
            .local_addr()
            .map_err(|e| crate::Error::internal_server_error(&options.name, e.to_string()))?;
        let advertise = options
            .advertise
            .clone()
            .unwrap_or_else(|| advertise_address(local));
        let registration = Registration::new(&options, &advertise, endpoints, secure);
        let shared = Arc::new(Shared {
            name: options.name.clone(),
            router,
            max_message_size: options.max_message_size,
            stats,
            stack: (!layers.is_empty())
                .then(|| layers.around(tower::service_fn(Request::dispatch))),
            layer_debug,
            internal_stack: (!internal_layers.is_empty())
                .then(|| internal_layers.around(tower::service_fn(Request::dispatch))),
            forward,
            body_timeout: options.limits.body_timeout,
            cut: listener.cut_signal(),
        });

        let (stop_accepting, mut accepting) = watch::channel(false);
        let stop = async move {
            let _ = accepting.changed().await;
        };
        let serving = tokio::spawn(listener.serve(move |peer| grpc_service(&shared, peer), stop));
        // A registry that is away must not keep a service down: serve, and keep trying.
        let registered = match registration.register().await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "registration failed; serving anyway and retrying every second");
                false
            }
        };
        let heartbeat = registration.spawn_heartbeat(registered);
        tracing::info!(service = %options.name, address = %local, node = %registration.node_id(), "serving");
        Ok(RunningServer {
            local,
            registration,
            heartbeat,
            stop_accepting,
            serving: Some(serving),
        })
    }
}

/// The service one connection from `peer` is served by.
fn grpc_service(
    shared: &Arc<Shared>,
    peer: SocketAddr,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<tonic::body::Body>,
    Error = std::convert::Infallible,
    Future = impl std::future::Future + Send,
> + Clone
       + Send {
    let shared = Arc::clone(shared);
    tower::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok(grpc::serve(shared, req, Some(peer)).await) }
    })
}

/// The address to publish for a listener: the bound one, or loopback for a wildcard bind
/// (services here talk over loopback unless told to advertise another address).
fn advertise_address(local: SocketAddr) -> String {
    if local.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), local.port()).to_string()
    } else {
        local.to_string()
    }
}

/// A started server. Stop it with [`stop`](Self::stop); dropping it leaves it running.
#[derive(Debug)]
pub struct RunningServer {
    local: SocketAddr,
    registration: Registration,
    heartbeat: JoinHandle<()>,
    stop_accepting: watch::Sender<bool>,
    serving: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The registry id of this node.
    pub fn node_id(&self) -> &str {
        self.registration.node_id()
    }

    /// Graceful stop: deregister first, then stop accepting and drain calls in flight.
    pub async fn stop(mut self) -> crate::Result<()> {
        self.heartbeat.abort();
        let deregistered = self.registration.deregister().await;
        let _ = self.stop_accepting.send(true);
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
        deregistered
    }

    /// Abrupt stop, as a crash: the listener and connections close at once and the registry
    /// entry stays until its TTL runs out.
    pub fn kill(mut self) {
        self.heartbeat.abort();
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }
}
