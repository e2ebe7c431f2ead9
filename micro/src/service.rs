//! A service: a server and a client under one name, configured from `MICRO_*` variables, run
//! until SIGINT or SIGTERM.
//!
//! ```no_run
//! # struct Greeter;
//! # #[micro::handler] impl Greeter {}
//! #[tokio::main]
//! async fn main() -> micro::Result<()> {
//!     micro::Service::builder()
//!         .name("go.micro.srv.greeter")
//!         .handler(Greeter)
//!         .build()?
//!         .run()
//!         .await
//! }
//! ```

use crate::broker::{Broker, SubscribeOptions, Subscription};
use crate::client::Client;
use crate::config::Config;
use crate::flags::Flags;
use crate::layer::StackLayer;
use crate::registry::{Metadata, Registry};
use crate::server::{ConnectionLimits, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE};
use crate::server::{
    Delivery, Handler, HandlerEndpoint, Layers, Reply, Request, RunningServer, Server,
    ServerOptions, Subscriber, SubscriberEndpoint, SubscriberLayers,
};
use crate::wrappers::Telemetry;
use crate::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A service ready to run.
#[derive(Debug)]
pub struct Service {
    server: Server,
    client: Client,
    name: String,
    broker: Arc<dyn Broker>,
    subscribers: Vec<(String, SubscriberEndpoint, SubscribeOptions)>,
    subscriber_layers: SubscriberLayers,
    /// The metrics and traces its settings ask for.
    telemetry: Telemetry,
}

impl Service {
    /// A builder, starting from the `MICRO_*` environment and go-micro's defaults.
    pub fn builder() -> ServiceBuilder {
        ServiceBuilder::default()
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client sharing this service's registry; it names this service as the caller.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The broker its subscribers and client use.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// Starts serving, registers, and subscribes its subscribers; returns a handle to stop it.
    pub async fn start(self) -> crate::Result<RunningService> {
        self.telemetry.start(&self.name).await?;
        let server = self.server.start().await?;
        let mut subscriptions = Vec::new();
        for (topic, endpoint, opts) in &self.subscribers {
            let handler = endpoint.handler(&self.name, &self.subscriber_layers);
            match self.broker.subscribe(topic, handler, opts.clone()).await {
                Ok(s) => subscriptions.push(s),
                Err(e) => {
                    for s in subscriptions {
                        let _ = s.unsubscribe().await;
                    }
                    let _ = server.stop().await;
                    return Err(e.into());
                }
            }
        }
        Ok(RunningService {
            server,
            client: self.client,
            broker: self.broker,
            subscriptions,
            telemetry: self.telemetry,
        })
    }

    /// Runs until SIGINT or SIGTERM, then deregisters, drains and returns.
    pub async fn run(self) -> crate::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `shutdown` completes, then deregisters, drains and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> crate::Result<()> {
        let running = self.start().await?;
        shutdown.await;
        tracing::info!("shutting down: deregistering, then draining calls in flight");
        running.stop().await
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM. The signal handlers are installed when
/// this is called, not when the future is first awaited: a signal that arrives while a service
/// is still starting (registering) then stops it gracefully instead of killing it.
/// Call it inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                _ = received(interrupt.as_mut()) => {},
                _ = received(terminate.as_mut()) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for `signal`; for ever when its handler could not be installed.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// A started service.
#[derive(Debug)]
pub struct RunningService {
    server: RunningServer,
    client: Client,
    broker: Arc<dyn Broker>,
    subscriptions: Vec<Subscription>,
    telemetry: Telemetry,
}

impl RunningService {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// This node's registry id.
    pub fn node_id(&self) -> &str {
        self.server.node_id()
    }

    /// The service's client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Graceful stop: unsubscribe, deregister, stop accepting, drain, then write what a
    /// buffering broker still holds.
    pub async fn stop(self) -> crate::Result<()> {
        for s in self.subscriptions {
            if let Err(e) = s.unsubscribe().await {
                tracing::warn!(error = %e, "unsubscribing failed");
            }
        }
        let stopped = self.server.stop().await;
        // Handlers that ran while draining may have published.
        if let Err(e) = self.broker.flush().await {
            tracing::warn!(error = %e, "messages still queued for the broker may be lost");
        }
        self.telemetry.flush().await;
        stopped
    }

    /// Abrupt stop, as if the process died: no deregistration.
    pub fn kill(self) {
        self.server.kill()
    }
}

/// Builds a [`Service`]. What the program sets here beats everything; an option it leaves
/// unset comes from the command line ([`Flags`]: `--registry`, `--server_address`, ...), then the
/// `MICRO_*` variables, then [`defaults`](Self::defaults), then go-micro's defaults.
///
/// [`build`](Self::build) reads the process's command line unless [`flags`](Self::flags) gave
/// them: a service in a test, or in a program with a parser of its own, passes its flags (or
/// `Flags::default()`) there.
#[derive(Default)]
pub struct ServiceBuilder {
    name: Option<String>,
    version: Option<String>,
    address: Option<String>,
    advertise: Option<String>,
    metadata: Metadata,
    registry: Option<Arc<dyn Registry>>,
    client: Option<Client>,
    handlers: Vec<Arc<dyn Handler>>,
    endpoints: Vec<HandlerEndpoint>,
    broker: Option<Arc<dyn Broker>>,
    subscribers: Vec<(String, Arc<dyn Subscriber>, SubscribeOptions)>,
    layers: Layers,
    layer_debug: bool,
    auth: Option<Arc<crate::auth::Policy>>,
    forward: Option<Arc<dyn crate::server::forward::Forward>>,
    tls: Option<crate::server::tls::Tls>,
    subscriber_layers: SubscriberLayers,
    register_ttl: Option<Duration>,
    register_interval: Option<Duration>,
    max_message_size: Option<usize>,
    drain_timeout: Option<Duration>,
    connection_limits: Option<ConnectionLimits>,
    flags: Option<Flags>,
    defaults: Option<Config>,
}

impl std::fmt::Debug for ServiceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ServiceBuilder {
    /// The service name, e.g. `go.micro.srv.greeter` (required).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The version (default `latest`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Where to listen (default `MICRO_SERVER_ADDRESS`, else `127.0.0.1:0`).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The address to register instead of the listening one (e.g. behind NAT).
    pub fn advertise(mut self, address: impl Into<String>) -> Self {
        self.advertise = Some(address.into());
        self
    }

    /// One service metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The registry (default `MICRO_REGISTRY`).
    pub fn registry(mut self, registry: Arc<dyn Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The broker (default `MICRO_BROKER`, else http over the service's registry).
    pub fn broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Subscribes a `#[micro::subscriber]` to `topic`: every instance gets every message.
    pub fn subscriber(self, topic: impl Into<String>, subscriber: impl Subscriber) -> Self {
        self.subscriber_with(topic, subscriber, SubscribeOptions::default())
    }

    /// Subscribes with options, e.g. a queue group so each message goes to one instance.
    pub fn subscriber_with(
        mut self,
        topic: impl Into<String>,
        subscriber: impl Subscriber,
        opts: SubscribeOptions,
    ) -> Self {
        self.subscribers
            .push((topic.into(), Arc::new(subscriber), opts));
        self
    }

    /// The client handlers call other services with (default: one on the same registry).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Serves the endpoints of a `#[micro::handler]` type.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handlers.push(Arc::new(handler));
        self
    }

    /// Serves every endpoint through `layer`, a tower [`Layer`](tower::Layer) over the
    /// endpoint's [`Stack`](crate::server::Stack) (go-micro's handler wrappers). The first layer added is the
    /// outermost: it sees each request first and its reply last. A layer can read and change
    /// the [`Request`]'s metadata, answer with any [`Error`] (which
    /// reaches the caller intact), time the call and see how it ended
    /// ([`Reply::on_end`](crate::server::Reply::on_end), at a stream's end for streams).
    pub fn layer(mut self, layer: impl StackLayer<Request, Reply>) -> Self {
        self.layers.push(layer);
        self
    }

    /// Delivers every message to the service's subscribers through `layer`, a tower
    /// [`Layer`](tower::Layer) over the subscriber's [`SubscriberStack`](crate::server::SubscriberStack) (go-micro's subscriber
    /// wrappers); the first added is the outermost. A layer's error is the subscriber's: logged,
    /// and without auto-ack a failed delivery.
    pub fn subscriber_layer(mut self, layer: impl StackLayer<Delivery, ()>) -> Self {
        self.subscriber_layers.push(layer);
        self
    }

    /// Serves over TLS (h2 with this certificate) instead of h2c.
    pub fn tls(mut self, tls: crate::server::tls::Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Hands every call for another service (by its path's package, or the `micro-service`
    /// header) to `forward`: the service is then a proxy, as `micro proxy` is.
    pub fn forward(mut self, forward: Arc<dyn crate::server::forward::Forward>) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Checks every call's token against `policy` (an [`AuthLayer`](crate::wrappers::AuthLayer)
    /// outside the other layers, and around `Debug.*` too), instead of what `MICRO_AUTH`,
    /// `MICRO_AUTH_PUBLIC_KEY` and `MICRO_AUTH_RULES` say.
    pub fn auth(mut self, policy: Arc<crate::auth::Policy>) -> Self {
        self.auth = Some(policy);
        self
    }

    /// Whether the layers also wrap `Debug.Health`, `Debug.Stats` and the gRPC health check
    /// (default: no, so health checks answer whatever the layers refuse).
    pub fn layer_debug_endpoints(mut self, on: bool) -> Self {
        self.layer_debug = on;
        self
    }

    /// Serves one endpoint built by hand.
    pub fn endpoint(mut self, endpoint: HandlerEndpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// How long a registration lives (default `MICRO_REGISTER_TTL`, else 60 s).
    pub fn register_ttl(mut self, ttl: Duration) -> Self {
        self.register_ttl = Some(ttl);
        self
    }

    /// How often to register again (default `MICRO_REGISTER_INTERVAL`, else 30 s).
    pub fn register_interval(mut self, interval: Duration) -> Self {
        self.register_interval = Some(interval);
        self
    }

    /// Largest message received or sent (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// How long calls in flight may run after shutdown starts (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// Bounds on the server's connections: timeouts, keep-alive pings and the cap (default
    /// the `MICRO_SERVER_*` variables, else [`ConnectionLimits::default`]).
    pub fn connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connection_limits = Some(limits);
        self
    }

    /// The command-line flags to use instead of this process's command line: from the
    /// program's own `clap` parser (with [`Flags`] flattened in), or `Flags::default()` for none.
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags = Some(flags);
        self
    }

    /// The program's defaults (e.g. `registry: "etcd"`), which the `MICRO_*` variables and the
    /// flags override; go-micro's defaults fill what it leaves.
    pub fn defaults(mut self, defaults: Config) -> Self {
        self.defaults = Some(defaults);
        self
    }

    /// Checks the options and builds the service. Without [`flags`](Self::flags) it parses the
    /// process's command line first: `--help` prints the flags and exits 0, a bad flag exits 2.
    pub fn build(self) -> crate::Result<Service> {
        let flags = self.flags.unwrap_or_else(|| {
            let about = match &self.name {
                Some(name) => format!("{name}: a micro service"),
                None => "A micro service".into(),
            };
            Flags::from_args(&about)
        });
        let config = flags.config(self.defaults.unwrap_or_default());
        let name = self
            .name
            .or(config.server_name.clone())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                Error::bad_request(
                    "go.micro.service",
                    "a service needs a name (the builder's .name(..), --server_name or MICRO_SERVER_NAME)",
                )
            })?;
        let registry = match self.registry {
            Some(r) => r,
            None => config.registry()?,
        };
        let max_message_size = self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let broker = match self.broker {
            Some(b) => b,
            None => config.broker(Arc::clone(&registry))?,
        };
        let telemetry = Telemetry::from_config(&config, &name)?;
        let (mut layers, mut subscriber_layers) = (self.layers, self.subscriber_layers);
        let auth = match self.auth {
            Some(policy) => Some(policy),
            None => crate::auth::Policy::from_settings(&config.auth)
                .map_err(|e| e.into_error(&name))?
                .map(Arc::new),
        };
        let mut internal_layers = Layers::default();
        if let Some(policy) = auth {
            // Outside the other layers (a refused call costs them nothing), inside telemetry's
            // (refusals are counted and traced).
            layers.push_outermost(crate::wrappers::AuthLayer::new(Arc::clone(&policy)));
            internal_layers.push(crate::wrappers::AuthLayer::new(policy));
        }
        telemetry.around_server(&mut layers);
        telemetry.around_subscribers(&mut subscriber_layers);
        let client_tls = crate::client::ClientTls::from_files(&config.client_tls)
            .map_err(|e| Error::bad_request(&name, format!("client TLS: {e}")))?;
        let client = self.client.unwrap_or_else(|| {
            let builder = match &config.auth.token {
                Some(token) => Client::builder().token(token.clone()),
                None => Client::builder(),
            };
            telemetry
                .around_client(builder)
                .tls(client_tls)
                .registry(Arc::clone(&registry))
                .broker(Arc::clone(&broker))
                .from_service(name.clone())
                .max_message_size(max_message_size)
                .build()
        });
        let options = ServerOptions {
            name: name.clone(),
            version: self
                .version
                .or(config.server_version.clone())
                .unwrap_or_else(|| "latest".into()),
            address: self
                .address
                .or(config.server_address)
                .unwrap_or_else(|| "127.0.0.1:0".into()),
            advertise: self.advertise,
            metadata: self.metadata,
            registry,
            broker: broker.name().to_string(),
            register_ttl: self.register_ttl.unwrap_or(config.register_ttl),
            register_interval: self.register_interval.unwrap_or(config.register_interval),
            max_message_size,
            drain_timeout: self.drain_timeout.unwrap_or(DEFAULT_DRAIN_TIMEOUT),
            limits: self
                .connection_limits
                .unwrap_or_else(|| config.connection_limits.clone()),
        };
        let mut server = Server::new(options);
        server.layers(layers);
        server.layer_debug_endpoints(self.layer_debug);
        server.internal_layers(internal_layers);
        if let Some(forward) = self.forward {
            server.forward(forward);
        }
        let tls = match self.tls {
            Some(tls) => Some(tls),
            None => crate::server::tls::Tls::from_files(&config.server_tls)
                .map_err(|e| Error::bad_request(&name, format!("server TLS: {e}")))?,
        };
        if let Some(tls) = tls {
            server.tls(tls);
        }
        for handler in self.handlers {
            server.handle(handler);
        }
        for endpoint in self.endpoints {
            server.endpoint(endpoint);
        }
        let mut subscribers = Vec::new();
        for (topic, subscriber, opts) in self.subscribers {
            for endpoint in subscriber.endpoints() {
                server.list_subscriber(endpoint.info(&topic));
                subscribers.push((topic.clone(), endpoint, opts.clone()));
            }
        }
        Ok(Service {
            server,
            client,
            name,
            broker,
            subscribers,
            subscriber_layers,
            telemetry,
        })
    }
}
