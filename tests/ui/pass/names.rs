use micro::{Context, Result};
use micro_tests::proto::{EchoRequest, EchoResponse};
use std::sync::Arc;

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn call(&self, _ctx: &Context, req: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse { message: req.message, ..Default::default() })
    }

    async fn ping_pong(&self, _ctx: &micro::Context, _req: EchoRequest) -> micro::Result<EchoResponse> {
        Ok(EchoResponse::default())
    }
}

struct Renamed;

#[micro::handler(name = "Example")]
impl Renamed {
    async fn r#type(&self, _: &Context, _: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse::default())
    }
}

fn names(handler: Arc<dyn micro::server::Handler>) -> Vec<String> {
    handler.endpoints().iter().map(|e| e.name().to_string()).collect()
}

fn main() {
    assert_eq!(names(Arc::new(Greeter)), ["Greeter.Call", "Greeter.PingPong"]);
    assert_eq!(names(Arc::new(Renamed)), ["Example.Type"]);
}
