use micro::Context;
use micro_tests::proto::EchoRequest;

struct Greeter;

#[micro::handler]
impl Greeter {
    async fn call(&self, _ctx: &Context, _req: EchoRequest) {}
}

fn main() {}
