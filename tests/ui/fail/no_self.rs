use micro::{Context, Result};
use micro_tests::proto::{EchoRequest, EchoResponse};

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn call(_ctx: &Context, _req: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse::default())
    }
}

fn main() {}
