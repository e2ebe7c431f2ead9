//! The greeter: `Greeter.Call` answers `{"msg": "Hello <name>"}`.

use micro::{Context, Result};

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
}
