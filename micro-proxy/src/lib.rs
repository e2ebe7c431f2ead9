//! The micro service proxy, as a library: a gRPC server that forwards every call to the service
//! its path names (micro v2's `micro proxy`). Callers that cannot or should not do discovery send
//! every call to it; it finds a node through the registry and the selector and passes the call
//! on as it came: headers, metadata and raw frames (protobuf, JSON or any other codec, nothing
//! decoded), unary or streaming, and gives back the node's response, status and trailers
//! unchanged.
//!
//! A [`Proxy`] is a [`Forward`](micro::server::forward::Forward): put it in any
//! [`micro::Service`] with [`ServiceBuilder::forward`](micro::service::ServiceBuilder::forward).
//! The service keeps serving its own endpoints (`Debug.Health`, `Debug.Stats`), registers as
//! usual, and its server layers see every forwarded call too, so metrics, tracing, rate limits
//! and auth put on the proxy apply to every service behind it:
//!
//! ```no_run
//! # async fn run() -> micro::Result<()> {
//! use micro::wrappers::metrics::MetricsLayer;
//! use micro_proxy::{Backend, Proxy};
//!
//! let client = micro::Client::builder().no_proxy().build();
//! let proxy = Proxy::new(client, Backend::Discover);
//! micro::Service::builder()
//!     .name(micro::client::PROXY_SERVICE)
//!     .address("127.0.0.1:8081")
//!     .flags(micro::Flags::default())
//!     .layer(MetricsLayer::server())
//!     .forward(proxy.forwarder())
//!     .build()?
//!     .run()
//!     .await
//! # }
//! ```

mod backend;
mod forward;
mod replay;
mod upstream;

pub use backend::Backend;
pub use forward::Proxy;

/// The id of the errors the proxy answers with itself.
pub const PROXY_ID: &str = micro::client::PROXY_SERVICE;
