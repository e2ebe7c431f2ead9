use micro::Result;
use micro_tests::proto::{EchoRequest, EchoResponse};

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn call(&self, _ctx: String, _req: EchoRequest) -> Result<EchoResponse> {
        Ok(EchoResponse::default())
    }
}

fn main() {}
