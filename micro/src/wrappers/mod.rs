//! Built-in layers (go-micro's wrappers, go-plugins' `wrapper/*`), each a tower `Layer` to
//! give [`ServiceBuilder::layer`](crate::service::ServiceBuilder::layer) or
//! [`ClientBuilder::layer`](crate::client::ClientBuilder::layer).
//!
//! - [`breaker`]: a circuit breaker per node and endpoint, for clients.

pub mod breaker;

pub use breaker::CircuitBreakerLayer;
