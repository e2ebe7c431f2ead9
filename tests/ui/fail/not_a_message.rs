use micro::{Context, Result};
use micro_tests::proto::EchoResponse;

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn call(&self, _ctx: &Context, _req: String) -> Result<EchoResponse> {
        Ok(EchoResponse::default())
    }
}

fn main() {}
