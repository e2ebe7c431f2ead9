//! Benchmarks of micro. `cargo bench -p micro-benches` runs them:
//!
//! - `codec`: protobuf and JSON encode/decode of the greeter's messages;
//! - `call`: one call round trip, client to server over loopback, in one process;
//! - `registry`: selector lookups through the cache, `list_services` with 1,000 services;
//! - `stream`: streamed messages per second, micro next to raw tonic on the same proto;
//! - `broker`: publish -> deliver, micro on NATS next to raw async-nats, and the http broker;
//! - `cli`: whole-process time of `micro list services` and `micro call`;
//! - `web`: the dashboard's overview with 1,000 registered services.
//!
//! This library holds the baseline, a raw tonic greeter from the same proto, and [`load`], the
//! load harness of the `micro-bench` binary (`scripts/bench`), which runs every case next to its
//! baseline with concurrent callers and servers in their own processes.

pub mod load;

/// tonic's own code for `proto/greeter/greeter.proto`.
pub mod raw {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("go.micro.srv.greeter");
}

use futures::{Stream, StreamExt};
use raw::greeter_server::{Greeter, GreeterServer};
use raw::{Ping, Pong, Request, Response, StreamingRequest, StreamingResponse};
use std::pin::Pin;
use tonic::Status;

type Replies<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The greeter written against tonic alone.
#[derive(Debug, Default)]
pub struct RawGreeter;

#[tonic::async_trait]
impl Greeter for RawGreeter {
    async fn call(
        &self,
        req: tonic::Request<Request>,
    ) -> Result<tonic::Response<Response>, Status> {
        Ok(tonic::Response::new(Response {
            msg: format!("Hello {}", req.into_inner().name),
        }))
    }

    type StreamStream = Replies<StreamingResponse>;

    async fn stream(
        &self,
        req: tonic::Request<StreamingRequest>,
    ) -> Result<tonic::Response<Self::StreamStream>, Status> {
        let count = req.into_inner().count.max(0);
        Ok(tonic::Response::new(
            futures::stream::iter(0..count)
                .map(|count| Ok(StreamingResponse { count }))
                .boxed(),
        ))
    }

    type PingPongStream = Replies<Pong>;

    async fn ping_pong(
        &self,
        req: tonic::Request<tonic::Streaming<Ping>>,
    ) -> Result<tonic::Response<Self::PingPongStream>, Status> {
        let pongs = req
            .into_inner()
            .map(|p| p.map(|p| Pong { stroke: p.stroke }));
        Ok(tonic::Response::new(pongs.boxed()))
    }
}

/// Serves [`RawGreeter`] with tonic on a free loopback port; returns its address. TCP_NODELAY is
/// on, as micro's server sets it: without it Nagle's algorithm stalls small writes.
pub async fn serve_raw_greeter() -> std::net::SocketAddr {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let incoming = tonic::transport::server::TcpIncoming::bind(loopback)
        .expect("binding")
        .with_nodelay(Some(true));
    let address = incoming.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(GreeterServer::new(RawGreeter))
            .serve_with_incoming(incoming),
    );
    address
}

/// [`serve_raw_greeter`] over TLS with this certificate and key (PEM): the floor of the TLS
/// cases, tonic's own TLS (rustls, ring).
pub async fn serve_raw_greeter_tls(cert: &[u8], key: &[u8]) -> std::net::SocketAddr {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let incoming = tonic::transport::server::TcpIncoming::bind(loopback)
        .expect("binding")
        .with_nodelay(Some(true));
    let address = incoming.local_addr().expect("address");
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(cert, key));
    let mut server = tonic::transport::Server::builder()
        .tls_config(tls)
        .expect("TLS settings");
    tokio::spawn(
        server
            .add_service(GreeterServer::new(RawGreeter))
            .serve_with_incoming(incoming),
    );
    address
}
