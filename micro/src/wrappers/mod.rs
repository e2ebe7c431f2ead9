//! Built-in layers (go-micro's wrappers, go-plugins' `wrapper/*`), each a tower `Layer` to
//! give [`ServiceBuilder::layer`](crate::service::ServiceBuilder::layer) or
//! [`ClientBuilder::layer`](crate::client::ClientBuilder::layer).
//!
//! - [`breaker`]: a circuit breaker per node and endpoint, for clients.
//! - [`rate_limit`]: requests per second per service or endpoint, for servers and clients.
//! - `metrics` (cargo feature `metrics`, on by default): Prometheus counts, durations and
//!   requests in flight for servers, clients and subscribers.

pub mod breaker;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod rate_limit;

pub use breaker::CircuitBreakerLayer;
pub use rate_limit::RateLimitLayer;
