//! # micro
//!
//! Microservices for Rust, after go-micro v2: services that register themselves, find each
//! other, balance load and talk standard gRPC in protobuf or JSON.
//!
//! - [`Service`] — a named server plus client, run until SIGTERM.
//! - [`Client`] — call any service by name: typed ([`Client::call`]) or JSON
//!   ([`Client::call_json`]).
//! - [`registry`] — service discovery; [`selector`] — load balancing.
//! - [`handler`] — turns an `impl` block into endpoints.
//!
//! ```ignore
//! // The whole program is examples/src/bin/greeter.rs.
//! use micro::{Context, Result};
//!
//! mod proto {
//!     micro::include_proto!("go.micro.srv.greeter");
//! }
//!
//! struct Greeter;
//!
//! #[micro::handler]
//! impl Greeter {
//!     async fn call(&self, _ctx: &Context, req: proto::Request) -> Result<proto::Response> {
//!         Ok(proto::Response { msg: format!("Hello {}", req.name) })
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<()> {
//!     micro::Service::builder().name("go.micro.srv.greeter").handler(Greeter).build()?.run().await
//! }
//! ```

#![forbid(unsafe_code)]

// Generated code names `::micro`, this crate's own included.
extern crate self as micro;

/// The API gateway's `go.api` types: what a service served with `micro api --handler=api`
/// receives (`Request`) and returns (`Response`).
pub mod api {
    crate::include_proto!("go.api");
}
pub mod broker;
pub mod client;
pub mod codec;
pub mod config;
pub mod context;
pub mod describe;
mod errors;
pub mod flags;
mod grpc_timeout;
pub mod metadata;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod service;
pub mod streaming;
pub mod web;

pub use client::{CallOptions, Client};
pub use context::Context;
pub use errors::{http_code, status_text, Error, Result, CLIENT_ID};
pub use flags::Flags;
pub use micro_macros::{handler, subscriber};

/// For implementing [`registry::Registry`] and [`selector::Selector`].
pub use async_trait::async_trait;
pub use service::Service;
pub use streaming::{ResponseStream, Streaming};

/// Includes the code `micro-build` generated for a proto package.
///
/// ```ignore
/// mod proto {
///     micro::include_proto!("go.micro.srv.greeter");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}

/// Re-exports for generated code; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use futures;
    pub use pbjson;
    pub use pbjson_types;
    pub use prost;
    pub use serde;
}
