use futures::Stream;
use micro::{Context, Result};
use micro_tests::proto::{EchoRequest, EchoResponse};

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn stream(&self, _ctx: &Context, _req: EchoRequest) -> Result<impl Stream<Item = Result<EchoResponse>>> {
        Ok(futures::stream::empty())
    }
}

fn main() {}
