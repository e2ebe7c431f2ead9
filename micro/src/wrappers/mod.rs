//! Built-in layers (go-micro's wrappers, go-plugins' `wrapper/*`), each a tower `Layer` to
//! give [`ServiceBuilder::layer`](crate::service::ServiceBuilder::layer) or
//! [`ClientBuilder::layer`](crate::client::ClientBuilder::layer).
//!
//! - [`auth`]: tokens and rules checked on every call to a server.
//! - [`breaker`]: a circuit breaker per node and endpoint, for clients.
//! - [`rate_limit`]: requests per second per service or endpoint, for servers and clients.
//! - `metrics` (cargo feature `metrics`, on by default): Prometheus counts, durations and
//!   requests in flight for servers, clients and subscribers.
//! - `trace` (cargo feature `trace`, on by default): OpenTelemetry spans for the same, with W3C
//!   trace context in metadata, exported over OTLP.

pub mod auth;
pub mod breaker;
#[cfg(feature = "metrics")]
pub mod metrics;
mod observed;
pub mod rate_limit;
#[cfg(any(feature = "metrics", feature = "trace"))]
mod recent;
mod telemetry;
#[cfg(feature = "trace")]
pub mod trace;

pub use observed::Observed;
pub use telemetry::{Telemetry, TRACE_FLUSH_LIMIT};

pub use auth::AuthLayer;
pub use breaker::CircuitBreakerLayer;
pub use rate_limit::RateLimitLayer;
