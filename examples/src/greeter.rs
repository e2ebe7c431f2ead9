//! The greeter: `Greeter.Call` answers `{"msg": "Hello <name>"}`, `Greeter.Stream` sends
//! `count` numbered replies, `Greeter.PingPong` answers each `stroke` with the same stroke.

use futures::{Stream, StreamExt};
use micro::{Context, Result, Streaming};

/// Types and the typed `GreeterClient` generated from `proto/greeter/greeter.proto`.
pub mod proto {
    micro::include_proto!("go.micro.srv.greeter");
}

/// The service name the greeter registers under.
pub const SERVICE: &str = "go.micro.srv.greeter";

/// The greeter handler.
#[derive(Debug, Default, Clone)]
pub struct Greeter;

#[micro::handler]
impl Greeter {
    /// Greets by name.
    async fn call(&self, _ctx: &Context, req: proto::Request) -> Result<proto::Response> {
        Ok(proto::Response {
            msg: format!("Hello {}", req.name),
        })
    }

    /// Sends `count` replies numbered from 0.
    async fn stream(
        &self,
        _ctx: &Context,
        req: proto::StreamingRequest,
    ) -> Result<impl Stream<Item = Result<proto::StreamingResponse>> + Send + 'static> {
        Ok(futures::stream::iter(0..req.count.max(0))
            .map(|count| Ok(proto::StreamingResponse { count })))
    }

    /// Answers every ping with a pong of the same stroke.
    async fn ping_pong(
        &self,
        _ctx: &Context,
        pings: Streaming<proto::Ping>,
    ) -> Result<impl Stream<Item = Result<proto::Pong>> + Send + 'static> {
        Ok(pings.map(|ping| ping.map(|p| proto::Pong { stroke: p.stroke })))
    }
}
