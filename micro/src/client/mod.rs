//! The client: call any service by name, typed or in JSON.
//!
//! A call looks the service up through the [`Selector`], sends standard gRPC to the chosen node
//! over a pooled HTTP/2 connection, and retries failures worth retrying on the next node, within
//! one overall deadline.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let client = micro::Client::from_env()?;
//! let reply = client
//!     .call_json("go.micro.srv.greeter", "Greeter.Call", &serde_json::json!({"name": "John"}), Default::default())
//!     .await?;
//! assert_eq!(reply["msg"], "Hello John");
//! # Ok(()) }
//! ```

mod backoff;
mod pool;
mod publish;
mod retry;
mod stream;

pub use backoff::{exponential_backoff, no_backoff, Backoff};
pub use retry::should_retry;

use crate::codec::{Codec, FrameCodec, Message};
use crate::metadata::{Metadata, FROM_SERVICE};
use crate::registry::{Node, Registry};
use crate::selector::{Filter, Next, RegistrySelector, SelectOptions, Selector};
use crate::Error;
use bytes::Bytes;
use pool::Pool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default time a call may take, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 1;
/// Default largest message sent or received.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

const CLIENT_ID: &str = "go.micro.client";

/// Options of one call; anything unset takes the client's default.
///
/// ```
/// use std::time::Duration;
/// let opts = micro::CallOptions::default()
///     .timeout(Duration::from_secs(1))
///     .retries(3)
///     .metadata("user", "john");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Overall time for the call, retries included (default 5 s).
    pub timeout: Option<Duration>,
    /// Retries after the first attempt (default 1).
    pub retries: Option<u32>,
    /// Call this `host:port` instead of asking the selector.
    pub address: Option<String>,
    /// Metadata sent as gRPC headers.
    pub metadata: Metadata,
    /// Filters and strategy for choosing a node.
    pub select: SelectOptions,
    /// Wait before each attempt (default [`exponential_backoff`]).
    pub backoff: Option<Backoff>,
}

impl CallOptions {
    /// With this overall timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// With this many retries.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Calling this node address directly.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// With one more metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Only nodes of this version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.select.filters.push(Filter::Version(version.into()));
        self
    }

    /// With this backoff between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }
}

/// Why one attempt failed: the node could not be reached, or it answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No connection to the node (refused, reset, unreachable).
    #[error("{0}")]
    Connect(Error),
    /// The call reached the node and failed there, or ran out of time.
    #[error("{0}")]
    Call(Error),
}

impl CallError {
    /// The error the caller sees.
    pub fn into_error(self) -> Error {
        match self {
            CallError::Connect(e) | CallError::Call(e) => e,
        }
    }
}

/// Calls services by name. Cheap to clone; clones share connections and selector state.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    selector: Arc<dyn Selector>,
    pool: Pool,
    timeout: Duration,
    retries: u32,
    max_message_size: usize,
    /// The calling service's name, sent as `micro-from-service`.
    from_service: Option<String>,
    /// The registry, for a default broker made on first publish.
    registry: Option<Arc<dyn Registry>>,
    broker: std::sync::OnceLock<Arc<dyn crate::broker::Broker>>,
}

impl Client {
    /// A client finding services in `registry`, with go-micro's defaults.
    pub fn new(registry: Arc<dyn Registry>) -> Self {
        ClientBuilder::default().registry(registry).build()
    }

    /// A client of the registry named by `MICRO_REGISTRY` / `MICRO_REGISTRY_ADDRESS`.
    pub fn from_env() -> crate::Result<Self> {
        Ok(Self::new(crate::registry::from_env()?))
    }

    /// A builder for a client with other defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The selector this client picks nodes with.
    pub fn selector(&self) -> &Arc<dyn Selector> {
        &self.inner.selector
    }

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
        let timeout = opts.timeout.unwrap_or(self.inner.timeout);
        let deadline = Instant::now() + timeout;
        let retries = opts.retries.unwrap_or(self.inner.retries);
        let backoff = opts.backoff.unwrap_or(exponential_backoff);
        let mut next = match &opts.address {
            Some(address) => Next::new(vec![Node {
                id: address.clone(),
                address: address.clone(),
                metadata: Default::default(),
            }]),
            None => self.inner.selector.select(service, &opts.select).await?,
        };
        let path = grpc_path(service, endpoint);
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
            let Some(node) = next.next_node() else {
                break;
            };
            let result = self
                .attempt(node, &path, codec, body.clone(), remaining, &opts.metadata)
                .await
                .map_err(|e| describe(e, service, endpoint, node, timeout));
            match result {
                Ok(reply) => {
                    self.inner.selector.mark(service, node, Ok(()));
                    return Ok(reply);
                }
                Err(err) => {
                    self.inner.selector.mark(service, node, Err(&err));
                    let retry = should_retry(&err);
                    tracing::debug!(service, endpoint, node = %node.address, attempt, retry, error = %err, "call failed");
                    if !retry {
                        return Err(err.into_error());
                    }
                    last_error = Some(err.into_error());
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::timeout(
                CLIENT_ID,
                format!("call to {service}.{endpoint} timed out after {timeout:?}"),
            )
        }))
    }

    /// One attempt against one node.
    async fn attempt(
        &self,
        node: &Node,
        path: &http::uri::PathAndQuery,
        codec: Codec,
        body: Bytes,
        remaining: Duration,
        metadata: &Metadata,
    ) -> Result<Bytes, CallError> {
        let (mut grpc, request) = self.prepare(node, body, Some(remaining), metadata, codec)?;
        let call = async {
            grpc.ready()
                .await
                .map_err(|e| tonic::Status::from_error(Box::new(e)))?;
            grpc.unary(request, path.clone(), FrameCodec).await
        };
        match tokio::time::timeout(remaining, call).await {
            Err(_) => Err(CallError::Call(Error::timeout(
                CLIENT_ID,
                "deadline exceeded",
            ))),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(classify(&status)),
        }
    }
}

impl Client {
    /// A gRPC client on `node`'s pooled channel and a request carrying `payload`, the deadline,
    /// the metadata, the caller's name and the codec (for the content type).
    fn prepare<T>(
        &self,
        node: &Node,
        payload: T,
        timeout: Option<Duration>,
        metadata: &Metadata,
        codec: Codec,
    ) -> Result<(tonic::client::Grpc<pool::NodeChannel>, tonic::Request<T>), CallError> {
        let channel = self
            .inner
            .pool
            .get(&node.address)
            .map_err(CallError::Call)?
            .with_codec(codec);
        let grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(self.inner.max_message_size)
            .max_encoding_message_size(self.inner.max_message_size);
        let mut request = tonic::Request::new(payload);
        if let Some(timeout) = timeout {
            request
                .metadata_mut()
                .insert(GRPC_TIMEOUT, grpc_timeout(timeout));
        }
        crate::metadata::to_grpc(metadata, request.metadata_mut());
        if let Some(from) = &self.inner.from_service {
            if let Ok(v) = from.parse() {
                request.metadata_mut().insert(FROM_SERVICE, v);
            }
        }
        Ok((grpc, request))
    }
}

const GRPC_TIMEOUT: &str = "grpc-timeout";

/// A deadline as `grpc-timeout`, in whole milliseconds (at least one). tonic would send
/// microseconds, a value new on every call that HPACK must send as a literal; the few
/// millisecond values a client sends repeat, and go as one indexed byte.
fn grpc_timeout(timeout: Duration) -> tonic::metadata::AsciiMetadataValue {
    // Eight digits at most, as the spec allows: 99,999,999 ms is over a day. Written by hand
    // into one buffer: this runs on every call.
    let mut ms = timeout.as_millis().clamp(1, 99_999_999) as u32;
    let mut text = Vec::with_capacity(9);
    while ms > 0 {
        text.push(b'0' + (ms % 10) as u8);
        ms /= 10;
    }
    text.reverse();
    text.push(b'm');
    tonic::metadata::AsciiMetadataValue::try_from(bytes::Bytes::from(text))
        .unwrap_or_else(|_| tonic::metadata::AsciiMetadataValue::from_static("1m"))
}

/// The gRPC path for an endpoint: `/<service>.<Handler>/<Method>`, as go-micro's gRPC client
/// sends it. Built in one buffer that the path then owns.
fn grpc_path(service: &str, endpoint: &str) -> http::uri::PathAndQuery {
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

/// A status made by the transport (it has an error source; a server's has none) means the node
/// could not be reached, unless it is tonic's own deadline firing; anything else came from the
/// node.
fn classify(status: &tonic::Status) -> CallError {
    use std::error::Error as _;
    let mut source = status.source();
    let from_transport = source.is_some();
    while let Some(e) = source {
        // io::Error hides a custom error from source(): look inside it too.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if e.is::<tonic::TimeoutExpired>() || inner.is_some_and(|i| i.is::<tonic::TimeoutExpired>())
        {
            return CallError::Call(Error::timeout(CLIENT_ID, "deadline exceeded"));
        }
        source = e.source();
    }
    let unreachable = matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    );
    if from_transport && unreachable {
        CallError::Connect(Error::unavailable(CLIENT_ID, status.message()))
    } else {
        CallError::Call(Error::from_status(CLIENT_ID, status))
    }
}

/// Names the call in errors the client made itself, so they say what failed where.
fn describe(
    err: CallError,
    service: &str,
    endpoint: &str,
    node: &Node,
    timeout: Duration,
) -> CallError {
    let reword = |e: Error, detail: String| Error { detail, ..e };
    match err {
        CallError::Connect(e) => {
            let detail = format!("connecting to {service} at {}: {}", node.address, e.detail);
            CallError::Connect(reword(e, detail))
        }
        CallError::Call(e) if e.id == CLIENT_ID && e.code == 408 => {
            let detail = format!("call to {service}.{endpoint} timed out after {timeout:?}");
            CallError::Call(reword(e, detail))
        }
        other => other,
    }
}

/// Builds a [`Client`] with non-default settings.
#[derive(Debug, Default)]
pub struct ClientBuilder {
    registry: Option<Arc<dyn Registry>>,
    selector: Option<Arc<dyn Selector>>,
    broker: Option<Arc<dyn crate::broker::Broker>>,
    timeout: Option<Duration>,
    retries: Option<u32>,
    max_message_size: Option<usize>,
    from_service: Option<String>,
}

impl ClientBuilder {
    /// Find services in this registry (with the default selector).
    pub fn registry(mut self, registry: Arc<dyn Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Pick nodes with this selector (overrides [`registry`](Self::registry)).
    pub fn selector(mut self, selector: Arc<dyn Selector>) -> Self {
        self.selector = Some(selector);
        self
    }

    /// Publish through this broker (default: `MICRO_BROKER`, made on first publish).
    pub fn broker(mut self, broker: Arc<dyn crate::broker::Broker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Default overall timeout per call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Default retries per call.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Largest message sent or received (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// The calling service's name, sent with every call.
    pub fn from_service(mut self, name: impl Into<String>) -> Self {
        self.from_service = Some(name.into());
        self
    }

    /// The client. Without a registry or selector it uses the shared in-process registry.
    pub fn build(self) -> Client {
        let registry = self.registry;
        let selector = self.selector.unwrap_or_else(|| {
            let registry = registry
                .clone()
                .unwrap_or_else(crate::registry::MemoryRegistry::shared);
            Arc::new(RegistrySelector::new(registry))
        });
        let broker = std::sync::OnceLock::new();
        if let Some(b) = self.broker {
            let _ = broker.set(b);
        }
        Client {
            inner: Arc::new(Inner {
                selector,
                pool: Pool::default(),
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                retries: self.retries.unwrap_or(DEFAULT_RETRIES),
                max_message_size: self.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
                from_service: self.from_service,
                registry,
                broker,
            }),
        }
    }
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

    #[test]
    fn timeouts_go_in_whole_milliseconds() {
        let value = |d| grpc_timeout(d).to_str().unwrap().to_string();
        assert_eq!(value(Duration::from_millis(4_999)), "4999m");
        assert_eq!(value(Duration::from_micros(1_500)), "1m");
        assert_eq!(value(Duration::from_micros(10)), "1m", "never zero");
        assert_eq!(value(Duration::from_secs(5)), "5000m");
        assert_eq!(
            value(Duration::from_secs(10_000_000)),
            "99999999m",
            "eight digits"
        );
    }

    #[test]
    fn tonic_timeouts_are_timeouts_not_connection_errors() {
        let status = tonic::Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(matches!(classify(&status), CallError::Call(e) if e.code == 408));
        let wrapped =
            tonic::Status::from_error(Box::new(std::io::Error::other(tonic::TimeoutExpired(()))));
        assert!(
            matches!(classify(&wrapped), CallError::Call(e) if e.code == 408),
            "{wrapped:?}"
        );
    }

    #[test]
    fn a_status_from_a_server_is_not_a_connection_error() {
        let status = Error::unavailable("svc", "busy").to_status();
        assert!(matches!(classify(&status), CallError::Call(e) if e.code == 503 && e.id == "svc"));
    }
}
