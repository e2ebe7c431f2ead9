//! # micro
//!
//! Microservices for Rust, after go-micro v2: services that register themselves, find each
//! other, balance load and talk standard gRPC in protobuf or JSON.
//!
//! A handler, a service serving it, and a client calling it by name (compiled and run as a
//! test; `examples/src/bin/greeter.rs` is the same with its own proto):
//!
//! ```
//! use micro::server::debug::proto::{HealthRequest, HealthResponse};
//! use micro::{CallOptions, Context, Result};
//!
//! struct Greeter;
//!
//! #[micro::handler]
//! impl Greeter {
//!     // Endpoint `Greeter.Hello`.
//!     async fn hello(&self, _ctx: &Context, req: HealthRequest) -> Result<HealthResponse> {
//!         Ok(HealthResponse { status: format!("hello {}", req.service) })
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<()> {
//!     // In one process the memory registry is enough; `--registry=etcd` or mDNS between hosts.
//!     let registry = micro::registry::MemoryRegistry::shared();
//!     let service = micro::Service::builder()
//!         .flags(micro::Flags::default()) // not this test's command line
//!         .name("go.micro.srv.greeter")
//!         .registry(registry.clone())
//!         .handler(Greeter)
//!         .build()?
//!         .start()
//!         .await?;
//!
//!     let client = micro::Client::new(registry);
//!     let request = HealthRequest { service: "John".into() };
//!     let reply: HealthResponse = client
//!         .call("go.micro.srv.greeter", "Greeter.Hello", &request, CallOptions::default())
//!         .await?;
//!     assert_eq!(reply.status, "hello John");
//!     service.stop().await
//! }
//! ```
//!
//! ## How a call flows
//!
//! The modules stack bottom to top, none importing one above it: [`codec`], [`metadata`] and
//! [`Error`] → [`registry`] and [`broker`] → [`selector`] and [`config`] → [`client`] and
//! [`server`] → [`service`].
//!
//! 1. [`Client::call`] encodes the request with a [`codec::Codec`] (protobuf, or JSON for
//!    [`Client::call_json`]).
//! 2. The [`selector`] looks the service up in the [`registry`] (etcd behind a
//!    [`registry::CacheRegistry`], so no round trip per call) and picks a node by its strategy,
//!    skipping nodes that just failed.
//! 3. The client sends one gRPC request on that node's pooled HTTP/2 connection, with the
//!    deadline as `grpc-timeout` and the [`metadata`] as headers; failures worth it are retried
//!    on the next node until the deadline.
//! 4. The node's [`server`] routes `Handler.Method` to the endpoint the handler macro made,
//!    decodes with the codec its content type names, and runs the handler with a [`Context`]
//!    (service, endpoint, metadata, deadline).
//! 5. The reply, or the handler's [`Error`] as a gRPC status, goes back the same way; streams
//!    ([`Streaming`], [`ResponseStream`]) do the same frame by frame.
//!
//! Events go through a [`broker`] instead: `publish` on one side, a
//! [`subscriber`](macro@subscriber) on the other. [`config`] and [`Flags`] say which registry,
//! broker and address a [`Service`] uses.

#![forbid(unsafe_code)]

// Generated code names `::micro`, this crate's own included.
extern crate self as micro;

/// The API gateway's `go.api` types: what a service served with `micro api --handler=api`
/// receives (`Request`) and returns (`Response`).
pub mod api {
    crate::include_proto!("go.api");
}
pub mod auth;
pub mod broker;
pub mod client;
pub mod codec;
pub mod config;
pub mod context;
pub mod describe;
mod errors;
pub mod flags;
pub mod grpc_timeout;
pub mod layer;
pub mod metadata;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod service;
pub mod streaming;
pub mod tls;
pub mod web;
pub mod wrappers;

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
